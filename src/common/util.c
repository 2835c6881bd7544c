/* util.c — helpers shared by every module (see util.h). */
#define _GNU_SOURCE /* statx */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

gchar *rota_hex_encode(const guint8 *data, gsize len)
{
	static const char digits[] = "0123456789abcdef";
	gchar *out = g_malloc(len * 2 + 1);

	for (gsize i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0xf];
	}
	out[len * 2] = '\0';
	return out;
}

gboolean rota_hex_decode(const gchar *hex, guint8 *out, gsize out_len)
{
	if (!hex || strlen(hex) != out_len * 2)
		return FALSE;
	for (gsize i = 0; i < out_len; i++) {
		int hi = g_ascii_xdigit_value(hex[2 * i]);
		int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return FALSE;
		out[i] = (guint8)(hi << 4 | lo);
	}
	return TRUE;
}

gboolean rota_pread_exact(int fd, void *buf, gsize len, guint64 off, const gchar *what, GError **error)
{
	guint8 *p = buf;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: read failed at offset %" G_GUINT64_FORMAT ": %s",
				    what, off, g_strerror(err));
			return FALSE;
		}
		if (r == 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: unexpected end of file at offset %" G_GUINT64_FORMAT,
				    what, off);
			return FALSE;
		}
		p += r;
		len -= (gsize)r;
		off += (guint64)r;
	}
	return TRUE;
}

gboolean rota_pwrite_exact(int fd, const void *buf, gsize len, guint64 off, const gchar *what, GError **error)
{
	const guint8 *p = buf;

	while (len > 0) {
		ssize_t r = pwrite(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : EIO;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: write failed at offset %" G_GUINT64_FORMAT ": %s",
				    what, off, g_strerror(err));
			return FALSE;
		}
		p += r;
		len -= (gsize)r;
		off += (guint64)r;
	}
	return TRUE;
}

gboolean rota_write_all(int fd, const void *buf, gsize len, const gchar *what, GError **error)
{
	const guint8 *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : EIO;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: write failed: %s", what, g_strerror(err));
			return FALSE;
		}
		p += r;
		len -= (gsize)r;
	}
	return TRUE;
}

gboolean rota_is_plain_filename(const gchar *name)
{
	return name && *name && !strchr(name, '/') && g_strcmp0(name, ".") != 0 && g_strcmp0(name, "..") != 0;
}

gboolean rota_is_safe_relative_path(const gchar *rel)
{
	g_auto(GStrv) parts = NULL;

	if (!rel || !*rel || g_path_is_absolute(rel))
		return FALSE;
	parts = g_strsplit(rel, "/", -1);
	for (gchar **p = parts; *p; p++) {
		if (g_strcmp0(*p, "..") == 0)
			return FALSE;
	}
	return TRUE;
}

gboolean rota_write_file_atomic(const gchar *path, const void *data, gsize len, mode_t mode, GError **error)
{
	g_autofree gchar *tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, (int)mode);

	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot create temporary file: %s", path, g_strerror(err));
		return FALSE;
	}
	if (!rota_write_all(fd, data, len, tmp, error) || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		if (error && !*error)
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot sync: %s", tmp, g_strerror(errno));
		close(fd);
		unlink(tmp);
		return FALSE;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		int err = errno;
		unlink(tmp);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot rename into place: %s", path, g_strerror(err));
		return FALSE;
	}
	rota_fsync_parent_dir(path);
	return TRUE;
}

void rota_fsync_dir(const gchar *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

void rota_fsync_parent_dir(const gchar *path)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	rota_fsync_dir(dir);
}

guint rota_worker_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (guint)MIN(n, 64) : 1;
}

gchar *rota_format_size(guint64 size)
{
	g_autofree gchar *human = g_format_size(size);
	return g_strdup_printf("%s (%" G_GUINT64_FORMAT " bytes)", human, size);
}

/* Which mount an entry is on: the device, and the mount id where the
 * kernel tells it (a bind mount of the same filesystem has the same device). */
typedef struct {
	dev_t dev;
	guint64 mnt_id;
	gboolean has_mnt_id;
	gboolean is_dir;
} TreeEntry;

static gboolean tree_entry_at(int dfd, const gchar *name, int flags, TreeEntry *e)
{
	struct statx stx;

	if (statx(dfd, name, flags, STATX_TYPE | STATX_MNT_ID, &stx) != 0)
		return FALSE;
	e->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	e->has_mnt_id = (stx.stx_mask & STATX_MNT_ID) != 0;
	e->mnt_id = stx.stx_mnt_id;
	e->is_dir = S_ISDIR(stx.stx_mode);
	return TRUE;
}

static gboolean same_mount(const TreeEntry *a, const TreeEntry *b)
{
	return a->dev == b->dev && (!a->has_mnt_id || !b->has_mnt_id || a->mnt_id == b->mnt_id);
}

/* Removes name below dfd. Everything is looked up relative to an open
 * directory and without following symlinks, so an entry swapped for a
 * symlink meanwhile cannot redirect the removal; a directory on another
 * mount than where the removal started (a bind mount into an artifact
 * tree, say) is not emptied, only its rmdir is tried (and fails). */
static void remove_at(int dfd, const gchar *name, const TreeEntry *top)
{
	TreeEntry e;
	DIR *dir;
	struct dirent *d;
	int fd;

	if (!tree_entry_at(dfd, name, AT_SYMLINK_NOFOLLOW, &e))
		return;
	if (!e.is_dir) {
		unlinkat(dfd, name, 0);
		return;
	}
	fd = same_mount(&e, top) ? openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir && fd >= 0)
		close(fd);
	while (dir && (d = readdir(dir)) != NULL) {
		if (g_strcmp0(d->d_name, ".") != 0 && g_strcmp0(d->d_name, "..") != 0)
			remove_at(dirfd(dir), d->d_name, top);
	}
	if (dir)
		closedir(dir);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

void rota_remove_tree(const gchar *path)
{
	g_autofree gchar *parent = g_path_get_dirname(path);
	TreeEntry top;

	/* The removal stays on the mount of the directory holding path. */
	if (!tree_entry_at(AT_FDCWD, parent, 0, &top))
		return;
	remove_at(AT_FDCWD, path, &top);
}
