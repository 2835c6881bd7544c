/* util.h — small helpers shared by every module: hex coding, checked
 * arithmetic, exact positional I/O, path safety and file writing. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "error.h"

/* Lower-case hex of len bytes. */
gchar *rota_hex_encode(const guint8 *data, gsize len);
/* Decodes exactly out_len bytes from hex (either case); FALSE on any other input. */
gboolean rota_hex_decode(const gchar *hex, guint8 *out, gsize out_len);

/* a + b into *out; FALSE on overflow. */
static inline gboolean rota_add_u64(guint64 a, guint64 b, guint64 *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* Reads exactly len bytes at off from fd (retrying short reads). The error
 * names `what` (usually a file name) and the offset. */
gboolean rota_pread_exact(int fd, void *buf, gsize len, guint64 off, const gchar *what, GError **error);
/* Writes exactly len bytes at off. */
gboolean rota_pwrite_exact(int fd, const void *buf, gsize len, guint64 off, const gchar *what, GError **error);
/* Appends exactly len bytes at the current position. */
gboolean rota_write_all(int fd, const void *buf, gsize len, const gchar *what, GError **error);

/* TRUE when name is a single path component that is not "", "." or "..". */
gboolean rota_is_plain_filename(const gchar *name);
/* TRUE when rel is relative, has no ".." components and is not empty. */
gboolean rota_is_safe_relative_path(const gchar *rel);

/* Writes data to path via a temporary file in the same directory, fsync and
 * rename, so readers see the old or the new file, never a mix. */
gboolean rota_write_file_atomic(const gchar *path, const void *data, gsize len, mode_t mode, GError **error);

/* Removes path and, for a directory, everything below it (symlinks are
 * removed, never followed, even if one replaces a directory meanwhile).
 * Stays on the mount of path's parent: a filesystem or bind mount inside
 * the tree is not emptied. Errors are ignored: used for cleanup. */
void rota_remove_tree(const gchar *path);

/* fsyncs the directory dir itself (entries created, renamed or removed in it). */
void rota_fsync_dir(const gchar *dir);
/* fsyncs the directory holding path, so a rename into it is durable. */
void rota_fsync_parent_dir(const gchar *path);

/* Number of worker threads for CPU-bound work (online cores, at least 1). */
guint rota_worker_count(void);

/* Human-readable size like RAUC's ("65.5 kB (65536 bytes)"). */
gchar *rota_format_size(guint64 size);
