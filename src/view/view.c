/* view.c — the view base (reference counting, range checks) and the two
 * simplest views: a local file and a window into another view. */
#define _GNU_SOURCE /* statx */
#include "view.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
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

const guint8 *rota_view_map(RotaView *view, guint64 off, gsize len)
{
	guint64 end;

	if (len == 0 || !view->ops->map || !rota_add_u64(off, len, &end) || end > view->size)
		return NULL;
	return view->ops->map(view, off, len);
}

void rota_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	if (!view->ops->will_read || off >= view->size || len == 0)
		return;
	view->ops->will_read(view, off, MIN(len, view->size - off));
}

gboolean rota_view_read_blocks(guint64 off, void *buf, gsize len, RotaViewBlockFunc fill, gpointer data,
			       GError **error)
{
	guint64 end = off + len;
	guint64 last = (end - 1) / ROTA_VIEW_BLOCK;
	guint64 whole_end = end / ROTA_VIEW_BLOCK; /* blocks before this one end inside the range */
	guint8 *dst = buf;
	guint8 scratch[ROTA_VIEW_BLOCK];
	gboolean ok = TRUE;

	for (guint64 b = off / ROTA_VIEW_BLOCK; b <= last && ok;) {
		guint64 block_off = b * ROTA_VIEW_BLOCK;

		if (block_off >= off && b < whole_end) {
			ok = fill(b, (gsize)(whole_end - b), dst + (block_off - off), data, error);
			b = whole_end;
		} else {
			guint64 from = MAX(off, block_off), to = MIN(end, block_off + ROTA_VIEW_BLOCK);
			ok = fill(b, 1, scratch, data, error);
			if (ok)
				memcpy(dst + (from - off), scratch + (from - block_off), to - from);
			b++;
		}
	}
	if (!ok)
		memset(buf, 0, len);
	return ok;
}

#define SHA256_CHUNK (1u << 20)

gchar *rota_view_sha256(RotaView *view, GError **error)
{
	g_autofree guint8 *buf = g_malloc(SHA256_CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	guint8 digest[32];
	gboolean ok = TRUE;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (guint64 off = 0; off < view->size && ok;) {
		gsize n = (gsize)MIN((guint64)SHA256_CHUNK, view->size - off);
		ok = rota_view_read_at(view, off, buf, n, error);
		EVP_DigestUpdate(ctx, buf, n);
		off += n;
	}
	EVP_DigestFinal_ex(ctx, digest, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? rota_hex_encode(digest, 32) : NULL;
}

/* ---- file view ---- */

typedef struct {
	RotaView base;
	int fd;
	gpointer map; /* NULL: not tried yet; MAP_FAILED: not mapped (see file_view_map); else size bytes */
} FileView;

/* File systems whose files can shrink under us without any local process
 * doing it (another client, a FUSE daemon): never mapped. */
static gboolean fs_is_remote(int fd)
{
	static const gint64 remote[] = {
		0x6969,     /* NFS */
		0x65735546, /* FUSE */
		0x517B,     /* SMB */
		0xFF534D42, /* CIFS */
		0xFE534D42, /* SMB2 */
		0x01021997, /* 9P */
		0x00C36400, /* Ceph */
		0x5346414F, /* AFS */
		0x47504653, /* GPFS */
		0x0BD00BD0, /* Lustre */
	};
	struct statfs sfs;

	if (fstatfs(fd, &sfs) != 0)
		return TRUE;
	for (gsize i = 0; i < G_N_ELEMENTS(remote); i++) {
		if ((gint64)(guint32)sfs.f_type == remote[i])
			return TRUE;
	}
	return FALSE;
}

/* The owner of the block device the file's file system is mounted from
 * can rewrite the file's blocks whatever the file's owner and mode say
 * (e.g. a loop device that a user set up through udisks over an image
 * holding root-owned files), so it must be root, as RAUC requires
 * (bundle-format.md §8.4; its device mode is not checked there either).
 * The rootfs is trusted. The mount is found in mountinfo by its mount ID
 * (statx), or where that is unknown (Linux < 5.8) by its device number:
 * the files of a btrfs subvolume have a device number of their own that
 * mountinfo does not show. A file system without a block device behind it
 * (tmpfs, overlayfs, ...) has none to check. */
static gboolean check_mount_device(int fd, const struct stat *st, const gchar *name, GError **error)
{
	g_autofree gchar *mountinfo = NULL;
	g_auto(GStrv) lines = NULL;
	struct stat root;
	struct statx stx;
	guint64 mnt_id = 0;

	if (stat("/", &root) == 0 && root.st_dev == st->st_dev)
		return TRUE;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID))
		mnt_id = stx.stx_mnt_id;
	if (!g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, NULL)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: unable to find mounted device for bundle", name);
		return FALSE;
	}
	lines = g_strsplit(mountinfo, "\n", -1);
	for (gchar **l = lines; *l; l++) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS */
		g_auto(GStrv) f = g_strsplit(*l, " ", -1);
		g_autofree gchar *source = NULL;
		guint major, minor;
		guint64 id;
		gchar **sep = f;
		struct stat dev;

		if (g_strv_length(f) < 3 || sscanf(f[0], "%" G_GUINT64_FORMAT, &id) != 1 ||
		    sscanf(f[2], "%u:%u", &major, &minor) != 2)
			continue;
		if (mnt_id ? id != mnt_id : makedev(major, minor) != st->st_dev)
			continue;
		while (*sep && !g_str_equal(*sep, "-"))
			sep++;
		if (!*sep || !sep[1] || !sep[2])
			continue;
		source = g_strcompress(sep[2]); /* octal escapes such as \040 */
		if (stat(source, &dev) != 0 || !S_ISBLK(dev.st_mode))
			continue;
		if (dev.st_uid != 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: unsafe uid %u for mounted device %s", name,
				    (guint)dev.st_uid, source);
			return FALSE;
		}
	}
	return TRUE;
}

/* Whether mapping the file is safe, and the mapping (or MAP_FAILED).
 *
 * Touching a mapped page beyond the end of a file that was truncated after
 * mmap() raises SIGBUS, which would kill the process instead of giving the
 * "short read at offset N" error pread gives. The size is checked right
 * before mapping (a file already shorter than the view is never mapped, so
 * reads of it fail through pread as before), but a later truncation cannot
 * be excluded. So rota maps only files that nobody but their owner (us or
 * root) can shrink: owned by our effective uid or by root, no group or
 * other write permission (with POSIX ACLs the group bits are the mask, so
 * this covers named ACL entries too), on a local file system whose block
 * device (if any) is root's. Whoever can
 * truncate such a file can kill this process anyway, so SIGBUS crosses no
 * privilege boundary. Anything else, e.g. a bundle owned by an ordinary
 * user handed to rota running as root, is read with pread only.
 *
 * Mapped bytes are not snapshots: a writer can change them at any time (as
 * with pread between two reads). Callers that must return checked bytes
 * (the verity view) copy first and check the copy. */
gboolean rota_file_view_check_private(RotaView *view, GError **error)
{
	int fd = rota_file_view_get_fd(view);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot stat", view->name);
		return FALSE;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: unsafe bundle uid %u (must be root or %u)", view->name,
			    (guint)st.st_uid, (guint)geteuid());
		return FALSE;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: unsafe bundle permissions 0%o (group or others may write)",
			    view->name, (guint)(st.st_mode & 07777));
		return FALSE;
	}
	if (fs_is_remote(fd)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: bundle is stored on an unsafe (remote or FUSE) filesystem",
			    view->name);
		return FALSE;
	}
	return check_mount_device(fd, &st, view->name, error);
}

gboolean rota_file_view_check_no_writers(RotaView *view, GError **error)
{
	int fd = rota_file_view_get_fd(view);
	int err = 0;

	if (fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
		err = errno;
	else if (fcntl(fd, F_GETLEASE) != F_RDLCK)
		err = EINVAL;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	if (!err)
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: unsafe bundle: %s", view->name,
		    err == EAGAIN   ? "existing open file descriptor (another process has it open for writing)"
		    : err == EACCES ? "cannot take a lease on it (missing capability CAP_LEASE?)"
				    : g_strerror(err));
	return FALSE;
}

static gpointer file_view_try_map(FileView *self)
{
	guint64 size = self->base.size;
	struct stat st;
	gpointer m;

	if (size == 0 || size > G_MAXSIZE || fstat(self->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (guint64)st.st_size < size)
		return MAP_FAILED;
	if (!rota_file_view_check_private(&self->base, NULL))
		return MAP_FAILED;
	m = mmap(NULL, (gsize)size, PROT_READ, MAP_SHARED, self->fd, 0);
	return m == MAP_FAILED || m == NULL ? MAP_FAILED : m;
}

static const guint8 *file_view_map(RotaView *view, guint64 off, gsize len)
{
	FileView *self = (FileView *)view;
	gpointer m = g_atomic_pointer_get(&self->map);

	(void)len;
	if (m == NULL) {
		/* Racing threads may both map; one mapping wins, the other goes. */
		gpointer fresh = file_view_try_map(self);
		if (!g_atomic_pointer_compare_and_exchange(&self->map, NULL, fresh) && fresh != MAP_FAILED)
			munmap(fresh, (gsize)view->size);
		m = g_atomic_pointer_get(&self->map);
	}
	return m == MAP_FAILED ? NULL : (const guint8 *)m + off;
}

static gboolean file_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	FileView *self = (FileView *)view;
	return rota_pread_exact(self->fd, buf, len, off, view->name, error);
}

static void file_view_finalize(RotaView *view)
{
	FileView *self = (FileView *)view;

	if (self->map != NULL && self->map != MAP_FAILED)
		munmap(self->map, (gsize)view->size);
	close(self->fd);
}

static const RotaViewOps file_view_ops = {
	.read_at = file_view_read_at,
	.finalize = file_view_finalize,
	.map = file_view_map,
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
	if (S_ISBLK(st.st_mode)) {
		/* Slots on block devices (adaptive updates read them): st_size is 0. */
		guint64 dev_size = 0;
		if (ioctl(fd, BLKGETSIZE64, &dev_size) != 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot get the device size: %s", name, g_strerror(err));
			close(fd);
			return NULL;
		}
		st.st_size = (off_t)dev_size;
	} else if (!S_ISREG(st.st_mode)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: not a regular file or block device", name);
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

static const guint8 *sub_view_map(RotaView *view, guint64 off, gsize len)
{
	SubView *self = (SubView *)view;
	return rota_view_map(self->parent, self->offset + off, len);
}

static void sub_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	SubView *self = (SubView *)view;
	rota_view_will_read(self->parent, self->offset + off, len);
}

static void sub_view_finalize(RotaView *view)
{
	rota_view_unref(((SubView *)view)->parent);
}

static const RotaViewOps sub_view_ops = {
	.read_at = sub_view_read_at,
	.finalize = sub_view_finalize,
	.map = sub_view_map,
	.will_read = sub_view_will_read,
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
