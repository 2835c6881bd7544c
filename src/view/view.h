/* view.h — random-access, read-only byte sources that stack.
 *
 * A view has a size and read_at(). Source views (file, http) produce bytes;
 * the verity view returns only bytes it has checked against the signed root
 * hash; the squashfs reader sits on top of any view. Views are
 * reference-counted and thread-safe for concurrent read_at() calls. */
#pragma once

#include <glib.h>

#include "common/error.h"

typedef struct _RotaView RotaView;

typedef struct {
	/* Reads exactly len bytes at off; the caller has checked the range. */
	gboolean (*read_at)(RotaView *view, guint64 off, void *buf, gsize len, GError **error);
	void (*finalize)(RotaView *view);
	/* Optional: a read-only pointer to the len bytes at off (the caller has
	 * checked the range), or NULL when the bytes cannot be mapped. The
	 * pointer stays valid for the life of the view. */
	const guint8 *(*map)(RotaView *view, guint64 off, gsize len);
	/* Optional: a hint that [off, off+len) (inside the view) will be read
	 * soon. Layers translate it to the bytes they will read below; a
	 * remote source fetches such a range in one request. */
	void (*will_read)(RotaView *view, guint64 off, guint64 len);
} RotaViewOps;

struct _RotaView {
	const RotaViewOps *ops;
	guint64 size;
	gchar *name; /* for messages: file name or URL, plus the layer */
	gint refcount;
};

/* For implementations: allocate a view struct of struct_size bytes. */
gpointer rota_view_alloc(gsize struct_size, const RotaViewOps *ops, guint64 size, const gchar *name);

#define ROTA_VIEW_BLOCK 4096u

/* For views that produce whole 4 KiB blocks (verity, crypt): puts blocks
 * [first_block, first_block + n) at dst. */
typedef gboolean (*RotaViewBlockFunc)(guint64 first_block, gsize n, guint8 *dst, gpointer data, GError **error);

/* For their read_at: serves [off, off+len) (len > 0) with fill, which gets
 * the blocks wholly inside the range in one call straight into buf and each
 * partial block at either end in a scratch block (of which the wanted part
 * is copied). On failure buf is zeroed: a caller that ignores the error
 * still gets no byte of a block that failed, nor of its neighbours. */
gboolean rota_view_read_blocks(guint64 off, void *buf, gsize len, RotaViewBlockFunc fill, gpointer data,
			       GError **error);

RotaView *rota_view_ref(RotaView *view);
void rota_view_unref(RotaView *view);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaView, rota_view_unref)

guint64 rota_view_get_size(RotaView *view);
const gchar *rota_view_get_name(RotaView *view);

/* Reads exactly len bytes at off; a range beyond the view's size is an
 * error naming the offset. */
gboolean rota_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error);

/* Zero-copy access: a read-only pointer to the len bytes at off, valid
 * until the view is finalized, or NULL when this view cannot map them (a
 * view without a map operation, a range beyond its size, a file rota does
 * not map; see view.c). NULL is never an error: the caller falls back to
 * rota_view_read_at(), which reports any problem with the range. Mapped
 * bytes are whatever the file holds at the moment they are touched: a
 * caller that must return checked bytes copies them first and checks the
 * copy. */
const guint8 *rota_view_map(RotaView *view, guint64 off, gsize len);

/* Tells the view that [off, off+len) will be read soon (clipped to its
 * size; a no-op for views that cannot use it). Reads that scatter, such as
 * adaptive updates fetching the chunks a device lacks, use it so that a
 * remote source fetches exactly those bytes instead of guessing. */
void rota_view_will_read(RotaView *view, guint64 off, guint64 len);

/* The sha256 (lower-case hex) of all bytes of view, read front to back. */
gchar *rota_view_sha256(RotaView *view, GError **error);

/* A view of a whole local file (pread on a private fd; rota_view_map()
 * maps the file read-only on first use when it is safe, see view.c). */
RotaView *rota_file_view_new(const gchar *path, GError **error);
/* Same, over an fd the view takes ownership of. */
RotaView *rota_file_view_new_from_fd(int fd, const gchar *name, GError **error);
/* The file descriptor behind a file view, or -1 for other views. */
int rota_file_view_get_fd(RotaView *view);

/* TRUE when only its owner (root or us) can change the file behind view and
 * it is on a local filesystem: bytes checked once then stay what was
 * checked (plain bundles are hashed once, then read again). */
gboolean rota_file_view_check_private(RotaView *view, GError **error);
/* TRUE when no one holds the file open for writing (bundle-format.md §8.5,
 * CVE-2020-25860): a writer that opened it before its owner or mode were
 * checked could still change it. Tested with a read lease, released at
 * once. */
gboolean rota_file_view_check_no_writers(RotaView *view, GError **error);

/* A window [offset, offset+size) of parent (e.g. the payload of a bundle). */
RotaView *rota_sub_view_new(RotaView *parent, guint64 offset, guint64 size, GError **error);
