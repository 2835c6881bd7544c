/* squashfs.h — writing bundle payloads and reading files from them, with
 * libsquashfs only (no mksquashfs, no mount, no root).
 *
 * The writer turns a directory into a squashfs 4.0 image that RAUC, the
 * kernel and unsquashfs read. The reader works over any RotaView, so bundle
 * files are read through the verity view at random offsets without
 * extracting anything. */
#pragma once

#include <glib.h>

#include "view/view.h"

typedef struct {
	gchar *compressor;   /* "gzip" (default, like mksquashfs), "xz", "zstd", "lz4", "lzo" */
	guint32 block_size;  /* default 131072, power of two, 4096..1048576 */
	gboolean pad_4k;     /* pad the image to a multiple of 4096 (default TRUE) */
	gboolean block_size_given; /* -b was among the arguments */
} RotaSquashfsOptions;

void rota_squashfs_options_init(RotaSquashfsOptions *opts);
void rota_squashfs_options_clear(RotaSquashfsOptions *opts);
/* Parses a subset of mksquashfs arguments (shell-split string):
 * -comp NAME, -b SIZE (bytes or with K/M suffix), and the flags RAUC passes that
 * mean nothing here (-all-root, -no-xattrs, -noappend, -no-progress, -quiet,
 * -nopad is rejected). Unknown arguments are an error naming them. */
gboolean rota_squashfs_options_parse_args(RotaSquashfsOptions *opts, const gchar *args, GError **error);

/* Writes a squashfs image of the directory tree at srcdir to fd, starting at
 * offset 0 of an empty file. Regular files, directories and symlinks are
 * stored; all owners are root (0:0), no xattrs, mtime 0 for reproducibility of
 * structure. Returns the image size (padded when opts->pad_4k). */
gboolean rota_squashfs_write_dir(const gchar *srcdir, int fd, const RotaSquashfsOptions *opts,
				 guint64 *out_size, GError **error);

typedef struct _RotaSquashfs RotaSquashfs;

/* Opens a squashfs image over view (which it references). Checks the
 * superblock: magic, version 4.0, bytes_used within the view. */
RotaSquashfs *rota_squashfs_open(RotaView *view, GError **error);
void rota_squashfs_free(RotaSquashfs *sqfs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaSquashfs, rota_squashfs_free)

/* Size of the file at path (relative to the root, e.g. "manifest.raucm"). */
gboolean rota_squashfs_file_size(RotaSquashfs *sqfs, const gchar *path, guint64 *out_size, GError **error);
/* Reads len bytes at off of the regular file at path. Thread-safe. */
gboolean rota_squashfs_read_file(RotaSquashfs *sqfs, const gchar *path, guint64 off, void *buf, gsize len,
				 GError **error);
/* Reads a whole (small) file; fails if larger than max_size. */
GBytes *rota_squashfs_load_file(RotaSquashfs *sqfs, const gchar *path, gsize max_size, GError **error);

/* Writes every file, directory and symlink of the image below destdir (which
 * must not exist), using n_threads workers (0 = all cores). File contents
 * come through the view, so a corrupted block fails the extraction with the
 * view's error. Symlinks are created as stored; no path escapes destdir. */
gboolean rota_squashfs_extract(RotaSquashfs *sqfs, const gchar *destdir, guint n_threads, GError **error);

/* Copies the regular file at path out of the image to dest (created with
 * mode, must not exist). For hooks and handlers that must run from disk. */
gboolean rota_squashfs_copy_file_out(RotaSquashfs *sqfs, const gchar *path, const gchar *dest, int mode,
				     GError **error);

/* A view of one regular file in the image, for code that reads any byte
 * source (slot writers). The view must not outlive sqfs. */
RotaView *rota_squashfs_file_view_new(RotaSquashfs *sqfs, const gchar *path, GError **error);
