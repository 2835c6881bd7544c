/* view.c — the view base (reference counting, range checks) and the two
 * simplest views: a local file and a window into another view. */
#include "view.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

gpointer rota_view_alloc(gsize struct_size, const RotaViewOps *ops, guint64 size, const gchar *name)
{
	RotaView *view;

	g_return_val_if_fail(struct_size >= sizeof(RotaView), NULL);
	view = g_malloc0(struct_size);
	view->ops = ops;
	view->size = size;
	view->name = g_strdup(name);
	view->refcount = 1;
	return view;
}

RotaView *rota_view_ref(RotaView *view)
{
	g_atomic_int_inc(&view->refcount);
	return view;
}

void rota_view_unref(RotaView *view)
{
	if (!view || !g_atomic_int_dec_and_test(&view->refcount))
		return;
	if (view->ops->finalize)
		view->ops->finalize(view);
	g_free(view->name);
	g_free(view);
}

guint64 rota_view_get_size(RotaView *view)
{
	return view->size;
}

const gchar *rota_view_get_name(RotaView *view)
{
	return view->name;
}

gboolean rota_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	guint64 end;

	if (!rota_add_u64(off, len, &end) || end > view->size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: read of %" G_GSIZE_FORMAT " bytes at offset %" G_GUINT64_FORMAT
			    " is beyond its size %" G_GUINT64_FORMAT,
			    view->name, len, off, view->size);
		return FALSE;
	}
	if (len == 0)
		return TRUE;
	return view->ops->read_at(view, off, buf, len, error);
}

/* ---- file view ---- */

typedef struct {
	RotaView base;
	int fd;
} FileView;

static gboolean file_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	FileView *self = (FileView *)view;
	return rota_pread_exact(self->fd, buf, len, off, view->name, error);
}

static void file_view_finalize(RotaView *view)
{
	close(((FileView *)view)->fd);
}

static const RotaViewOps file_view_ops = {
	.read_at = file_view_read_at,
	.finalize = file_view_finalize,
};

RotaView *rota_file_view_new_from_fd(int fd, const gchar *name, GError **error)
{
	struct stat st;
	FileView *self;

	if (fstat(fd, &st) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot stat: %s", name, g_strerror(err));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: not a regular file", name);
		close(fd);
		return NULL;
	}
	self = rota_view_alloc(sizeof(FileView), &file_view_ops, (guint64)st.st_size, name);
	self->fd = fd;
	return &self->base;
}

RotaView *rota_file_view_new(const gchar *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot open: %s", path, g_strerror(err));
		return NULL;
	}
	return rota_file_view_new_from_fd(fd, path, error);
}

int rota_file_view_get_fd(RotaView *view)
{
	return view->ops == &file_view_ops ? ((FileView *)view)->fd : -1;
}

/* ---- sub view ---- */

typedef struct {
	RotaView base;
	RotaView *parent;
	guint64 offset;
} SubView;

static gboolean sub_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	SubView *self = (SubView *)view;
	return rota_view_read_at(self->parent, self->offset + off, buf, len, error);
}

static void sub_view_finalize(RotaView *view)
{
	rota_view_unref(((SubView *)view)->parent);
}

static const RotaViewOps sub_view_ops = {
	.read_at = sub_view_read_at,
	.finalize = sub_view_finalize,
};

RotaView *rota_sub_view_new(RotaView *parent, guint64 offset, guint64 size, GError **error)
{
	guint64 end;
	SubView *self;

	if (!rota_add_u64(offset, size, &end) || end > parent->size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: region at offset %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
			    " bytes lies outside the file (%" G_GUINT64_FORMAT " bytes)",
			    parent->name, offset, size, parent->size);
		return NULL;
	}
	self = rota_view_alloc(sizeof(SubView), &sub_view_ops, size, parent->name);
	self->parent = rota_view_ref(parent);
	self->offset = offset;
	return &self->base;
}
