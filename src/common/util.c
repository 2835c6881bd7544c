/* util.c — helpers shared by every module (see util.h). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

void rota_fsync_parent_dir(const gchar *path)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
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

void rota_remove_tree(const gchar *path)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const gchar *name;

		while (dir && (name = g_dir_read_name(dir))) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			rota_remove_tree(child);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}
