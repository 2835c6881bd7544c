/* slot_writer.c — see slot_writer.h.
 *
 * Raw copies run as a pipeline: reader threads pull the image through the
 * view stack (verity check, decompression) while the calling thread writes
 * it in order, with O_DIRECT where the slot allows; behind the writes, a
 * read-back thread reads each written range from the device again and a
 * hashing thread hashes the slot, to be compared with the manifest. */
#define _GNU_SOURCE /* sync_file_range, O_DIRECT, fallocate */
#include "slot_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/parallel.h"
#include "common/spawn.h"
#include "install/adaptive.h"
#include "install/slot_boot.h"
#include "install/slot_mtd.h"
#include "common/util.h"
#include "system/mount.h"

#define COPY_CHUNK (4u << 20)
#define MIN_CHUNK (64u << 10)
/* Progress of an image's copy and read-back (two passes, each half of the
 * step) is emitted once the step grew by 0.25 %; with chunks of at most
 * 1/256 of the image, each emission covers less than 1 % of the image. */
#define PROGRESS_MIN_STEP 0.0025

/* Chunks of at most 1/256 of the image (64 KiB to 4 MiB), so progress can
 * advance in steps below 1 % of any image larger than 16 MiB. */
static gsize chunk_size_for(guint64 size)
{
	guint64 chunk = (size / 256 + MIN_CHUNK - 1) / MIN_CHUNK * MIN_CHUNK;
	return (gsize)CLAMP(chunk, MIN_CHUNK, COPY_CHUNK);
}
#define COPY_BUFFERS 4

/* ---- choosing a writer (the HEAD table, the part rota implements) ---- */

gboolean rota_writer_select(const RotaImage *image, const RotaSlot *slot, RotaWriterKind *out, GError **error)
{
	const gchar *itype = rota_image_get_type(image, NULL);
	const gchar *stype = slot->type;
	gboolean fs_slot = g_str_equal(stype, "ext4") || g_str_equal(stype, "vfat");

	if (g_strv_contains((const gchar *const *)image->hooks, "install")) {
		*out = ROTA_WRITER_HOOK;
		return TRUE;
	}
	if (!itype) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "No 'type=' set and unable to map extension of file '%s' to known image type",
			    image->filename ? image->filename : "(none)");
		return FALSE;
	}
	if (g_str_equal(stype, "raw") && (g_str_equal(itype, "raw") || g_str_equal(itype, "ext4") ||
					  g_str_equal(itype, "vfat") || g_str_equal(itype, "squashfs"))) {
		*out = ROTA_WRITER_RAW;
		return TRUE;
	}
	if (fs_slot && (g_str_equal(itype, "raw") || g_str_equal(itype, stype))) {
		*out = ROTA_WRITER_FS;
		return TRUE;
	}
	if (fs_slot && g_str_equal(itype, "tar")) {
		*out = ROTA_WRITER_TAR;
		return TRUE;
	}
	if (g_str_equal(stype, "ext4") && g_str_equal(itype, "emptyfs")) {
		*out = ROTA_WRITER_EMPTYFS;
		return TRUE;
	}
	if (rota_boot_accepts(itype, stype)) {
		*out = ROTA_WRITER_BOOT;
		return TRUE;
	}
	if (rota_mtd_accepts(itype, stype)) {
		*out = ROTA_WRITER_MTD;
		return TRUE;
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Unsupported image type '%s' for slot type '%s'", itype, stype);
	return FALSE;
}

/* ---- raw copy ---- */

typedef struct {
	RotaView *src;
	guint64 size;
	gsize chunk;
	GAsyncQueue *free_q; /* empty buffers */
	GAsyncQueue *full_q; /* Chunk*, NULL-data chunk = one reader finished */
	GMutex lock;         /* guards next and error */
	guint64 next;        /* offset of the next chunk to read */
	GError *error;
	gint stop;
} Pipeline;

typedef struct {
	guint8 *data;
	guint64 off;
	gsize len;
} Chunk;

#define READERS 2 /* reading through the view stack decompresses: use both cores */

/* The read-back hash is one SHA-256 stream, so no copy can be faster than
 * one core hashes. The threads that feed it (decoding readers, the
 * read-back reader) run this many nice levels below it: where they share a
 * core with the hash, the scheduler gives the core to the hash, and they
 * only need to stay ahead of it. (On a RAM-backed slot an lz4 install went
 * from 0.82 to 0.72 s per GiB.) */
#define FEEDER_NICE_STEPS 10

static gpointer reader_thread(gpointer data)
{
	Pipeline *p = data;

	rota_thread_lower_priority(FEEDER_NICE_STEPS);

	while (!g_atomic_int_get(&p->stop)) {
		Chunk *c;
		GError *local = NULL;
		guint64 off;

		/* A buffer first, then an offset: the chunk the writer waits for
		 * must never wait for a buffer held by chunks behind it. */
		c = g_async_queue_pop(p->free_q);
		g_mutex_lock(&p->lock);
		off = p->next;
		p->next = MIN(p->size, p->next + p->chunk);
		g_mutex_unlock(&p->lock);
		if (off >= p->size) {
			g_async_queue_push(p->free_q, c);
			break;
		}
		c->off = off;
		c->len = (gsize)MIN((guint64)p->chunk, p->size - off);
		if (!rota_view_read_at(p->src, off, c->data, c->len, &local)) {
			g_mutex_lock(&p->lock);
			if (!p->error)
				p->error = local;
			else
				g_error_free(local);
			g_mutex_unlock(&p->lock);
			g_atomic_int_set(&p->stop, 1);
			g_async_queue_push(p->free_q, c);
			break;
		}
		g_async_queue_push(p->full_q, c);
	}
	g_async_queue_push(p->full_q, g_new0(Chunk, 1)); /* this reader is done */
	return NULL;
}

/* The next chunk in file order: readers finish out of order, but the slot
 * is written, and read back, front to back. NULL when all readers ended. */
static Chunk *next_in_order(Pipeline *p, GPtrArray *early, guint64 expect, guint *running)
{
	for (;;) {
		Chunk *c;
		for (guint i = 0; i < early->len; i++) {
			c = early->pdata[i];
			if (c->off == expect)
				return g_ptr_array_steal_index_fast(early, i);
		}
		if (*running == 0)
			return NULL;
		c = g_async_queue_pop(p->full_q);
		if (!c->data) {
			g_free(c);
			(*running)--;
		} else if (c->off == expect) {
			return c;
		} else {
			g_ptr_array_add(early, c);
		}
	}
}

static gboolean check_device_size(int fd, guint64 size, GError **error)
{
	struct stat st;
	guint64 dev_size = 0;

	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &dev_size) == 0 && dev_size < size) {
		/* RAUC's text: the caller's "Failed updating slot S: " names the slot. */
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Slot (%" G_GUINT64_FORMAT " bytes) is too small for image (%" G_GUINT64_FORMAT " bytes).", dev_size,
			    size);
		return FALSE;
	}
	return TRUE;
}

static int open_slot_device(const RotaSlot *slot, GError **error)
{
	struct stat st;
	int flags = O_WRONLY | O_CLOEXEC;
	int fd;

	if (stat(slot->device, &st) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Destination device '%s' for slot '%s' not found", slot->device,
			    slot->name);
		return -1;
	}
	/* O_EXCL fails on a mounted block device; a boot region lives on the
	 * whole disk, whose other partitions are in use (RAUC opens it shared). */
	if (S_ISBLK(st.st_mode) && !rota_boot_is_region_type(slot->type))
		flags |= O_EXCL;
	fd = open(slot->device, flags);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open slot %s (%s): %s", slot->name, slot->device,
			    g_strerror(err));
	}
	return fd;
}

/* O_DIRECT needs buffers, offsets and lengths aligned to the device's
 * logical block size; 4 KiB covers devices with 512-byte and 4 KiB blocks. */
#define DIRECT_ALIGN 4096u
#define READBACK_BUFFERS 3

static gboolean direct_ok(guint64 off, gsize len)
{
	return off % DIRECT_ALIGN == 0 && len % DIRECT_ALIGN == 0;
}

static guint8 *aligned_alloc_or_die(gsize size)
{
	void *p = NULL;

	if (posix_memalign(&p, DIRECT_ALIGN, size) != 0)
		g_error("out of memory allocating %" G_GSIZE_FORMAT " bytes", size);
	return p;
}

/* A descriptor for the slot that bypasses the page cache, or -1 where the
 * file system or driver refuses O_DIRECT (then the page cache is used). No
 * O_EXCL: the writing descriptor already holds the block device. */
static int open_direct(const gchar *device, int flags)
{
	return open(device, flags | O_DIRECT | O_CLOEXEC);
}

/* pread or pwrite until done: 0, or the errno of the failure (ENODATA: end
 * of file while reading). */
static int io_all(int fd, gboolean write, guint8 *buf, gsize len, guint64 off)
{
	while (len > 0) {
		ssize_t r = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return write ? EIO : ENODATA;
		buf += r;
		len -= (gsize)r;
		off += (guint64)r;
	}
	return 0;
}

static void set_io_error(GError **error, const gchar *what, gboolean write, guint64 off, int err)
{
	if (err == ENODATA)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: unexpected end of file at offset %" G_GUINT64_FORMAT,
			    what, off);
	else
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: %s failed at offset %" G_GUINT64_FORMAT ": %s", what,
			    write ? "write" : "read", off, g_strerror(err));
}

/* The slot as the copy writes it: aligned chunks go around the page cache
 * (no copy into it, no writeback or eviction work, and a write error shows
 * in the write itself); the rest, and slots without O_DIRECT, through it.
 * Chunks of zeros (free space in a filesystem image) become zeroed ranges
 * where the slot can do that without moving the data: an unwritten extent
 * in a file, WRITE ZEROES (or the kernel's own zeroing) on a block device.
 * They are read back like everything else. */
typedef struct {
	int fd;           /* page cache */
	int direct_fd;    /* O_DIRECT, -1 if unavailable */
	gboolean no_zero; /* FALLOC_FL_ZERO_RANGE failed once: write zeros */
	const gchar *what;
} SlotOut;

static gboolean is_zero(const guint8 *buf, gsize len)
{
	static const guint8 zeros[16];

	/* The first 16 bytes zero and each byte equal to the one 16 before it. */
	if (len <= sizeof zeros)
		return memcmp(buf, zeros, len) == 0;
	return memcmp(buf, zeros, sizeof zeros) == 0 && memcmp(buf, buf + sizeof zeros, len - sizeof zeros) == 0;
}

/* Writes one chunk; *direct tells whether nothing of it went through the
 * page cache (so nothing there needs flushing before the read-back). */
static gboolean slot_out_write(SlotOut *out, guint8 *buf, gsize len, guint64 off, gboolean *direct, GError **error)
{
	if (!out->no_zero && is_zero(buf, len)) {
		/* Whole blocks become unwritten extents or WRITE ZEROES; a file
		 * system may zero a partial block in the page cache instead. */
		*direct = direct_ok(off, len);
		if (fallocate(out->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) == 0)
			return TRUE;
		out->no_zero = TRUE; /* unsupported here: the zeros are written below */
	}
	*direct = out->direct_fd >= 0 && direct_ok(off, len);
	if (*direct) {
		int err = io_all(out->direct_fd, TRUE, buf, len, off);
		if (err == 0)
			return TRUE;
		if (err != EINVAL) {
			set_io_error(error, out->what, TRUE, off, err);
			return FALSE;
		}
		/* Opened but refused (a file system wanting more alignment): the
		 * page cache from here on; rewriting the whole chunk is harmless. */
		close(out->direct_fd);
		out->direct_fd = -1;
		*direct = FALSE;
	}
	return rota_pwrite_exact(out->fd, buf, len, off, out->what, error);
}

/* Reading back what was written, while the copy goes on: a reading thread
 * fetches each written range from the device (with O_DIRECT straight into
 * its buffers, no page cache copy) and a hashing thread hashes the slot in
 * order, so one range is read from the device while the last is hashed. */
typedef struct {
	int fd;                 /* the slot, read-only, page cache */
	int direct_fd;          /* O_DIRECT, -1 if unavailable */
	const gchar *what;
	gsize buf_size;
	guint8 *bufs[READBACK_BUFFERS];
	GAsyncQueue *ranges;    /* Range* to read; len 0 = end */
	GAsyncQueue *filled;    /* Range* read (data set), to hash; len 0 = end */
	GAsyncQueue *free_bufs; /* guint8* */
	EVP_MD_CTX *md;
	GError *error;          /* the reading thread's */
	GThread *reader, *hasher;
} Readback;

typedef struct {
	guint64 off;
	gsize len;
	guint8 *data;
} Range;

/* Reads [off, off+len) of the slot into buf from the device, not from the
 * page cache: O_DIRECT, or (unaligned, or O_DIRECT refused) after dropping
 * the range from the cache. */
static gboolean readback_read(Readback *rb, guint8 *buf, gsize len, guint64 off, GError **error)
{
	int err;

	if (rb->direct_fd >= 0 && direct_ok(off, len)) {
		err = io_all(rb->direct_fd, FALSE, buf, len, off);
		if (err != EINVAL)
			goto done;
		close(rb->direct_fd);
		rb->direct_fd = -1;
	}
	posix_fadvise(rb->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	err = io_all(rb->fd, FALSE, buf, len, off);
done:
	if (err != 0)
		set_io_error(error, rb->what, FALSE, off, err);
	return err == 0;
}

static gpointer readback_read_thread(gpointer data)
{
	Readback *rb = data;

	rota_thread_lower_priority(FEEDER_NICE_STEPS);

	for (;;) {
		g_autofree Range *r = g_async_queue_pop(rb->ranges);
		if (r->len == 0)
			break;
		for (gsize done = 0; done < r->len && !rb->error;) {
			Range *piece = g_new(Range, 1);
			piece->off = r->off + done;
			piece->len = MIN(rb->buf_size, r->len - done);
			piece->data = g_async_queue_pop(rb->free_bufs);
			if (!readback_read(rb, piece->data, piece->len, piece->off, &rb->error)) {
				g_async_queue_push(rb->free_bufs, piece->data);
				g_free(piece);
				break; /* the rest is drained unread */
			}
			done += piece->len;
			g_async_queue_push(rb->filled, piece);
		}
	}
	g_async_queue_push(rb->filled, g_new0(Range, 1));
	return NULL;
}

static gpointer readback_hash_thread(gpointer data)
{
	Readback *rb = data;

	for (;;) {
		g_autofree Range *r = g_async_queue_pop(rb->filled);
		if (r->len == 0)
			break;
		EVP_DigestUpdate(rb->md, r->data, r->len);
		g_async_queue_push(rb->free_bufs, r->data);
	}
	return NULL;
}

/* buf_size: the largest piece read at once (the copy's chunk size). */
static gboolean readback_start(Readback *rb, const gchar *device, gsize buf_size, GError **error)
{
	rb->fd = open(device, O_RDONLY | O_CLOEXEC);
	if (rb->fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open %s to read it back: %s", device, g_strerror(err));
		return FALSE;
	}
	rb->direct_fd = open_direct(device, O_RDONLY);
	rb->what = device;
	rb->buf_size = buf_size;
	rb->ranges = g_async_queue_new();
	rb->filled = g_async_queue_new();
	rb->free_bufs = g_async_queue_new();
	for (guint i = 0; i < READBACK_BUFFERS; i++) {
		rb->bufs[i] = aligned_alloc_or_die(buf_size);
		g_async_queue_push(rb->free_bufs, rb->bufs[i]);
	}
	rb->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(rb->md, EVP_sha256(), NULL);
	rb->reader = g_thread_new("rota-readback", readback_read_thread, rb);
	rb->hasher = g_thread_new("rota-rb-hash", readback_hash_thread, rb);
	return TRUE;
}

/* Hands a written range to the read-back once it is on the device: a
 * direct write is there already, a write through the page cache is
 * flushed and dropped first. */
static void readback_queue(Readback *rb, int wfd, guint64 off, gsize len, gboolean direct)
{
	Range *r = g_new0(Range, 1);

	if (!direct) {
		sync_file_range(wfd, (off_t)off, (off_t)len,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
		posix_fadvise(wfd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	}
	r->off = off;
	r->len = len;
	g_async_queue_push(rb->ranges, r);
}

/* Ends the read-back and compares the digest with expected (hex). */
static gboolean readback_finish(Readback *rb, const RotaSlot *slot, const gchar *expected, GError **error)
{
	guint8 digest[32];
	g_autofree gchar *hex = NULL;
	gboolean ok;

	g_async_queue_push(rb->ranges, g_new0(Range, 1));
	g_thread_join(rb->reader);
	g_thread_join(rb->hasher);
	EVP_DigestFinal_ex(rb->md, digest, NULL);
	EVP_MD_CTX_free(rb->md);
	g_async_queue_unref(rb->ranges);
	g_async_queue_unref(rb->filled);
	g_async_queue_unref(rb->free_bufs);
	for (guint i = 0; i < READBACK_BUFFERS; i++)
		free(rb->bufs[i]);
	close(rb->fd);
	if (rb->direct_fd >= 0)
		close(rb->direct_fd);
	if (rb->error) {
		g_propagate_error(error, rb->error);
		return FALSE;
	}
	hex = rota_hex_encode(digest, 32);
	ok = g_strcmp0(hex, expected) == 0;
	if (!ok)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
			    "slot %s: written data does not match the image (sha256 %s, expected %s)", slot->name, hex,
			    expected);
	return ok;
}

/* Copies size bytes of src to out at offset, reading and writing in
 * parallel, and reading back with rb when given. Progress is reported as
 * bytes written of progress_total. */
static gboolean copy_view(RotaView *src, SlotOut *out, guint64 offset, Readback *rb, RotaProgress *progress,
			  guint64 progress_total, GError **error)
{
	Pipeline p = {.src = src, .size = rota_view_get_size(src), .chunk = chunk_size_for(rota_view_get_size(src))};
	g_autofree Chunk *chunks = g_new0(Chunk, COPY_BUFFERS);
	g_autoptr(GPtrArray) early = g_ptr_array_new();
	GThread *threads[READERS];
	guint running = READERS;
	gboolean ok = TRUE;
	guint64 written = 0;
	Chunk *c;

	p.free_q = g_async_queue_new();
	p.full_q = g_async_queue_new();
	g_mutex_init(&p.lock);
	for (guint i = 0; i < COPY_BUFFERS; i++) {
		chunks[i].data = aligned_alloc_or_die(p.chunk);
		g_async_queue_push(p.free_q, &chunks[i]);
	}
	/* The whole image will be read, in order but by several threads: a
	 * streamed bundle can then fetch it in large windows ahead of them. */
	rota_view_will_read(src, 0, p.size);
	for (guint i = 0; i < READERS; i++)
		threads[i] = g_thread_new("rota-read", reader_thread, &p);
	while ((c = next_in_order(&p, early, written, &running)) != NULL) {
		gboolean direct = FALSE;

		if (ok && !slot_out_write(out, c->data, c->len, offset + c->off, &direct, error)) {
			ok = FALSE;
			g_atomic_int_set(&p.stop, 1);
		}
		if (ok && rb)
			readback_queue(rb, out->fd, offset + c->off, c->len, direct);
		written += c->len;
		if (ok)
			rota_progress_set_fraction_fine(progress, written, progress_total, PROGRESS_MIN_STEP);
		g_async_queue_push(p.free_q, c);
	}
	for (guint i = 0; i < READERS; i++)
		g_thread_join(threads[i]);
	if (ok && p.error) {
		g_propagate_error(error, g_steal_pointer(&p.error));
		ok = FALSE;
	}
	g_clear_error(&p.error);
	g_mutex_clear(&p.lock);
	for (guint i = 0; i < COPY_BUFFERS; i++)
		free(chunks[i].data);
	g_async_queue_unref(p.free_q);
	g_async_queue_unref(p.full_q);
	/* fsync is per file, not per descriptor: it covers the direct writes
	 * too, and flushes the device's write cache. */
	if (ok && fsync(out->fd) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: fsync failed: %s", out->what, g_strerror(err));
		ok = FALSE;
	}
	return ok;
}

/* Reads back size bytes of the slot at offset and compares their sha256.
 * With progress, the read-back is the second half of the step (after
 * copy_view's first half). */
static gboolean verify_written(const RotaSlot *slot, guint64 offset, guint64 size, const gchar *expected,
			       RotaProgress *progress, GError **error)
{
	gsize chunk = chunk_size_for(size);
	g_autofree guint8 *buf = g_malloc(chunk);
	g_autofree gchar *hex = NULL;
	EVP_MD_CTX *ctx;
	guint8 digest[32];
	gboolean ok = TRUE;
	int fd = open(slot->device, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot reopen slot %s to verify it: %s", slot->name,
			    g_strerror(err));
		return FALSE;
	}
	/* Read what the device holds, not what the page cache remembers. */
	posix_fadvise(fd, (off_t)offset, (off_t)size, POSIX_FADV_DONTNEED);
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (guint64 off = 0; off < size && ok;) {
		gsize n = (gsize)MIN((guint64)chunk, size - off);
		ok = rota_pread_exact(fd, buf, n, offset + off, slot->device, error);
		EVP_DigestUpdate(ctx, buf, n);
		off += n;
		rota_progress_set_fraction_fine(progress, size + off, 2 * size, PROGRESS_MIN_STEP);
	}
	EVP_DigestFinal_ex(ctx, digest, NULL);
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (!ok)
		return FALSE;
	hex = rota_hex_encode(digest, 32);
	if (g_strcmp0(hex, expected) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
			    "slot %s: written data does not match the image (sha256 %s, expected %s)", slot->name, hex,
			    expected);
		return FALSE;
	}
	return TRUE;
}

/* Copies src into the slot at offset. With sha256, the slot is read back
 * while the copy runs and must hash to it. progress_total: the denominator
 * for copy_view's progress. */
static gboolean write_raw(RotaView *src, RotaSlot *slot, guint64 offset, guint64 expected_size, const gchar *sha256,
			  RotaProgress *progress, guint64 progress_total, GError **error)
{
	Readback rb = {0};
	g_autoptr(GError) rb_error = NULL;
	SlotOut out = {.what = slot->device};
	gboolean ok;

	if (rota_view_get_size(src) != expected_size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Written size (%" G_GUINT64_FORMAT ") != image size (%" G_GUINT64_FORMAT ")",
			    rota_view_get_size(src), expected_size);
		return FALSE;
	}
	out.fd = open_slot_device(slot, error);
	if (out.fd < 0)
		return FALSE;
	out.direct_fd = open_direct(slot->device, O_WRONLY);
	ok = check_device_size(out.fd, offset + expected_size, error) &&
	     (!sha256 || readback_start(&rb, slot->device, chunk_size_for(expected_size), error));
	ok = ok && copy_view(src, &out, offset, sha256 ? &rb : NULL, progress, progress_total, error);
	if (out.direct_fd >= 0)
		close(out.direct_fd);
	close(out.fd);
	if (rb.reader && !readback_finish(&rb, slot, sha256, ok ? error : &rb_error))
		ok = FALSE;
	return ok;
}

gboolean rota_writer_copy_range(RotaView *src, RotaSlot *slot, guint64 offset, const gchar *sha256,
				RotaProgress *progress, GError **error)
{
	guint64 size = rota_view_get_size(src);
	return write_raw(src, slot, offset, size, sha256, progress, size, error);
}

gboolean rota_writer_verify_range(const RotaSlot *slot, guint64 offset, guint64 size, const gchar *sha256,
				  GError **error)
{
	return verify_written(slot, offset, size, sha256, NULL, error);
}

/* ---- adaptive writes ---- */

static gboolean wants_adaptive(const RotaWriteJob *job)
{
	gboolean want = FALSE;

	/* Methods from newer bundle formats are skipped, not errors (spec §3.5). */
	for (gchar **m = job->image->adaptive; *m; m++) {
		if (g_str_equal(*m, "block-hash-index"))
			want = TRUE;
		else
			g_message("Ignoring unknown adaptive method '%s' for image %s", *m, job->image->filename);
	}
	if (want && !job->hooks->ctx->config->data_directory) {
		g_message("Ignoring adaptive method since 'data-directory' is not configured");
		return FALSE;
	}
	return want;
}

/* The image's block-hash-index from the bundle (verified like all payload). */
static GBytes *bundle_image_index(RotaWriteJob *job, GError **error)
{
	RotaSquashfs *sqfs = rota_bundle_get_squashfs(job->hooks->bundle, error);
	g_autofree gchar *name = g_strdup_printf("%s.block-hash-index", job->image->filename);
	return sqfs ? rota_squashfs_load_file(sqfs, name, (gsize)(job->image->size / ROTA_CHUNK * 32 + 1), error) : NULL;
}

/* The slot a seed chunk may come from: booted or active, same class. */
static RotaSlot *seed_slot(const RotaWriteJob *job)
{
	const RotaConfig *c = job->hooks->ctx->config;

	for (guint i = 0; i < c->slots->len; i++) {
		RotaSlot *s = c->slots->pdata[i];
		if (s != job->slot && g_str_equal(s->sclass, job->slot->sclass) && s->state != ROTA_SLOT_INACTIVE)
			return s;
	}
	return NULL;
}

static void report_adaptive(RotaWriteJob *job, const RotaAdaptiveStats *st)
{
	g_autofree gchar *msg = g_strdup_printf(
		"adaptive update of %s: %" G_GUINT64_FORMAT " chunks: %" G_GUINT64_FORMAT " zero, %" G_GUINT64_FORMAT
		" in target slot, %" G_GUINT64_FORMAT " from active slot, %" G_GUINT64_FORMAT " from bundle (%" G_GUINT64_FORMAT
		" bytes), %" G_GUINT64_FORMAT " written",
		job->slot->name, st->chunks, st->zero, st->from_target, st->from_active, st->from_bundle, st->bundle_bytes,
		st->written);
	if (job->hooks->message)
		job->hooks->message(msg, job->hooks->message_data);
	else
		g_message("%s", msg);
	if (job->stats)
		*job->stats = *st;
}

/* Writes the image via its index; FALSE (with the reason) means a full copy is needed. */
static gboolean write_adaptive(RotaWriteJob *job, RotaView *src, GBytes *index, GError **error)
{
	RotaAdaptiveStats stats;
	RotaAdaptiveJob aj = {.ctx = job->hooks->ctx,
			      .target = job->slot,
			      .seed = seed_slot(job),
			      .image = src,
			      .image_index = index,
			      .sha256 = job->image->sha256,
			      .progress = job->progress};

	if (!rota_adaptive_write(&aj, &stats, error))
		return FALSE;
	report_adaptive(job, &stats);
	return TRUE;
}

static gboolean write_image(RotaWriteJob *job, RotaView *src, GError **error)
{
	g_autoptr(GBytes) index = NULL;
	g_autoptr(GError) local = NULL;
	gboolean adaptive = FALSE;

	if (wants_adaptive(job)) {
		index = bundle_image_index(job, &local);
		adaptive = index && write_adaptive(job, src, index, &local);
		if (!adaptive)
			g_warning("Continuing after adaptive mode error: %s", local->message);
	}
	/* A full copy reads the slot back as it goes; adaptive writes skip and
	 * reorder chunks, so their slot is read back afterwards. */
	if (!adaptive && !write_raw(src, job->slot, 0, job->image->size, job->image->sha256, job->progress,
				    job->image->size, error))
		return FALSE;
	if (adaptive && !verify_written(job->slot, 0, job->image->size, job->image->sha256, NULL, error))
		return FALSE;
	g_clear_error(&local);
	if (index && !rota_hash_index_store(job->hooks->ctx, job->slot, job->image->sha256, index, &local))
		g_warning("cannot cache the block-hash-index of slot %s: %s", job->slot->name, local->message);
	return TRUE;
}

/* ---- filesystems and tar ---- */

static gboolean make_filesystem(const RotaSlot *slot, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_auto(GStrv) extra = NULL;

	if (slot->extra_mkfs_opts && !g_shell_parse_argv(slot->extra_mkfs_opts, NULL, &extra, NULL)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "slot %s: cannot parse extra-mkfs-opts", slot->name);
		return FALSE;
	}
	if (g_str_equal(slot->type, "ext4")) {
		g_ptr_array_add(argv, g_strdup("mkfs.ext4"));
		g_ptr_array_add(argv, g_strdup("-F"));
		if (strlen(slot->name) <= 16) {
			g_ptr_array_add(argv, g_strdup("-L"));
			g_ptr_array_add(argv, g_strdup(slot->name));
		}
		g_ptr_array_add(argv, g_strdup("-I256"));
	} else {
		g_autofree gchar *label = g_ascii_strup(slot->name, 11);
		g_strdelimit(label, "*?.,;:/\\|+=<>[]\"", '_');
		g_ptr_array_add(argv, g_strdup("mkfs.vfat"));
		g_ptr_array_add(argv, g_strdup("-n"));
		g_ptr_array_add(argv, g_strdup(label));
	}
	for (gchar **e = extra; e && *e; e++)
		g_ptr_array_add(argv, g_strdup(*e));
	g_ptr_array_add(argv, g_strdup(slot->device));
	g_ptr_array_add(argv, NULL);
	return rota_spawn_sync((const gchar *const *)argv->pdata, NULL, NULL, error);
}

/* libarchive pulls the tar through this callback, which hashes as it goes. */
typedef struct {
	RotaView *src;
	guint64 off;
	guint8 *buf;
	EVP_MD_CTX *md;
	GError *error;
	RotaProgress *progress;
} TarSource;

static la_ssize_t tar_read(struct archive *a, void *data, const void **out)
{
	TarSource *t = data;
	gsize n = (gsize)MIN((guint64)COPY_CHUNK, rota_view_get_size(t->src) - t->off);

	if (n && !rota_view_read_at(t->src, t->off, t->buf, n, &t->error)) {
		archive_set_error(a, EIO, "%s", t->error->message);
		return -1;
	}
	EVP_DigestUpdate(t->md, t->buf, n);
	t->off += n;
	rota_progress_set_fraction(t->progress, t->off, rota_view_get_size(t->src));
	*out = t->buf;
	return (la_ssize_t)n;
}

static gboolean extract_entries(struct archive *in, const gchar *mount_point, GError **error)
{
	g_autoptr(GString) msg = NULL;
	/* ARCHIVE_EXTRACT_SECURE_SYMLINKS refuses a symlink anywhere in an
	 * entry's absolute path, also above the slot's mount point (a
	 * mountprefix like /var/run/rauc with /var/run -> /run): the entries
	 * go below the mount point's real path. */
	g_autofree gchar *dest = realpath(mount_point, NULL);
	struct archive *out;
	struct archive_entry *entry;
	/* No ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS: every entry is rewritten
	 * to an absolute path below dest (archive-absolute names included, as
	 * GNU tar strips their leading '/'), which that flag would refuse. */
	int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
		    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS;
	gboolean ok = TRUE;
	int r;

	if (!dest) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot resolve %s: %s", mount_point, g_strerror(err));
		return FALSE;
	}
	out = archive_write_disk_new();
	archive_write_disk_set_options(out, flags);
	while (ok && (r = archive_read_next_header(in, &entry)) == ARCHIVE_OK) {
		g_autofree gchar *path = g_build_filename(dest, archive_entry_pathname(entry), NULL);
		const gchar *link = archive_entry_hardlink(entry);
		g_autofree gchar *link_path = link ? g_build_filename(dest, link, NULL) : NULL;
		const void *block;
		size_t size;
		la_int64_t offset;

		archive_entry_set_pathname(entry, path);
		if (link_path)
			archive_entry_set_hardlink(entry, link_path);
		ok = archive_write_header(out, entry) >= ARCHIVE_WARN;
		/* A warning on a data block still delivers the block: write it. */
		while (ok && archive_entry_size(entry) > 0) {
			r = archive_read_data_block(in, &block, &size, &offset);
			if (r == ARCHIVE_EOF)
				break;
			if (r < ARCHIVE_WARN)
				ok = FALSE;
			else
				ok = archive_write_data_block(out, block, size, offset) >= ARCHIVE_WARN;
		}
		if (!ok)
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "extracting '%s': %s", archive_entry_pathname(entry),
				    archive_error_string(out) ? archive_error_string(out) : archive_error_string(in));
	}
	if (ok && r != ARCHIVE_EOF) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "reading tar archive: %s", archive_error_string(in));
		ok = FALSE;
	}
	if (archive_write_close(out) != ARCHIVE_OK && ok) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "finishing extraction: %s", archive_error_string(out));
		ok = FALSE;
	}
	archive_write_free(out);
	return ok;
}

gboolean rota_writer_extract_tar(RotaView *src, const gchar *dest, const gchar *sha256, RotaProgress *progress,
				 GError **error)
{
	TarSource t = {.src = src, .buf = g_malloc(COPY_CHUNK), .md = EVP_MD_CTX_new(), .progress = progress};
	struct archive *in = archive_read_new();
	guint8 digest[32];
	gboolean ok;

	EVP_DigestInit_ex(t.md, EVP_sha256(), NULL);
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	archive_read_support_format_gnutar(in);
	ok = archive_read_open(in, &t, NULL, tar_read, NULL) == ARCHIVE_OK;
	if (!ok)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "not a tar archive: %s",
			    t.error ? t.error->message : archive_error_string(in));
	ok = ok && extract_entries(in, dest, error);
	/* Hash whatever follows the end-of-archive marker too. */
	while (ok && t.off < rota_view_get_size(src)) {
		const void *unused;
		if (tar_read(in, &t, &unused) < 0)
			ok = FALSE;
	}
	archive_read_free(in);
	EVP_DigestFinal_ex(t.md, digest, NULL);
	EVP_MD_CTX_free(t.md);
	g_free(t.buf);
	if (!ok && t.error && error && !*error)
		g_propagate_error(error, g_steal_pointer(&t.error));
	g_clear_error(&t.error);
	if (ok && sha256) {
		g_autofree gchar *hex = rota_hex_encode(digest, 32);
		if (!g_str_equal(hex, sha256)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT, "tar archive sha256 %s does not match the manifest (%s)",
				    hex, sha256);
			ok = FALSE;
		}
	}
	return ok;
}

/* ---- one job, with hooks ---- */

static gboolean has_hook(const RotaWriteJob *job, const gchar *name)
{
	return g_strv_contains((const gchar *const *)job->image->hooks, name);
}

static gboolean run_hook(RotaWriteJob *job, const gchar *name, const gchar *arg, const gchar *mount_point,
			 GError **error)
{
	g_autofree gchar *image_path = NULL;

	if (!has_hook(job, name))
		return TRUE;
	/* The image's place in the stand-in bundle mount point. Its bytes are
	 * staged there only for `install` hooks (which must read them): copying a
	 * whole rootfs for pre/post hooks would cost its size in temporary space. */
	if (job->image->filename)
		image_path = g_build_filename(job->hooks->bundle_dir, job->image->filename, NULL);
	return rota_hooks_run_slot_hook(job->hooks, arg, job->slot, job->image, image_path, mount_point, error);
}

/* Runs a hook with the slot mounted (filesystem slots), as RAUC does. */
static gboolean run_hook_mounted(RotaWriteJob *job, const gchar *name, const gchar *arg, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree gchar *mp = NULL;
	gboolean ok;

	if (!has_hook(job, name))
		return TRUE;
	mp = rota_mount_slot(job->hooks->ctx->config, job->slot, error);
	if (!mp)
		return FALSE;
	ok = run_hook(job, name, arg, mp, error);
	if (!rota_umount_slot(mp, ok ? error : &local))
		ok = FALSE;
	return ok;
}

static gboolean resize_ext4(const RotaSlot *slot, GError **error)
{
	const gchar *argv[] = {"resize2fs", slot->device, NULL};
	return rota_spawn_sync(argv, NULL, NULL, error);
}

static gboolean run_tar(RotaWriteJob *job, RotaView *src, GError **error)
{
	const RotaConfig *config = job->hooks->ctx->config;
	g_autoptr(GError) local = NULL;
	g_autofree gchar *mp = NULL;
	gboolean ok;

	if (!run_hook(job, "pre-install", "slot-pre-install", NULL, error) || !make_filesystem(job->slot, error))
		return FALSE;
	if (job->kind == ROTA_WRITER_EMPTYFS)
		return run_hook_mounted(job, "post-install", "slot-post-install", error);
	mp = rota_mount_slot(config, job->slot, error);
	if (!mp)
		return FALSE;
	ok = rota_writer_extract_tar(src, mp, job->image->sha256, job->progress, error) &&
	     run_hook(job, "post-install", "slot-post-install", mp, error);
	if (!rota_umount_slot(mp, ok ? error : &local))
		ok = FALSE;
	return ok;
}

static RotaView *image_view(RotaWriteJob *job, GError **error)
{
	RotaSquashfs *sqfs = rota_bundle_get_squashfs(job->hooks->bundle, error);
	return sqfs ? rota_squashfs_file_view_new(sqfs, job->image->filename, error) : NULL;
}

gboolean rota_writer_run(RotaWriteJob *job, GError **error)
{
	g_autoptr(RotaView) src = NULL;
	gboolean mtd = job->kind == ROTA_WRITER_MTD;
	/* ubifs slots are mounted for their hooks, as RAUC does. */
	gboolean fs = job->kind == ROTA_WRITER_FS || (mtd && g_str_equal(job->slot->type, "ubifs"));

	if (job->kind == ROTA_WRITER_HOOK) {
		g_autofree gchar *path = job->image->filename ? rota_hooks_stage_image(job->hooks, job->image, error) : NULL;
		if (job->image->filename && !path)
			return FALSE;
		return rota_hooks_run_slot_hook(job->hooks, "slot-install", job->slot, job->image, path, NULL, error);
	}
	if (job->kind != ROTA_WRITER_EMPTYFS) {
		src = image_view(job, error);
		if (!src)
			return FALSE;
	}
	if (job->kind == ROTA_WRITER_BOOT)
		return rota_boot_write(job, src, error); /* runs its hooks itself, around the switch */
	if (job->kind == ROTA_WRITER_TAR || job->kind == ROTA_WRITER_EMPTYFS)
		return run_tar(job, src, error);
	if (!(fs ? run_hook_mounted(job, "pre-install", "slot-pre-install", error)
		 : run_hook(job, "pre-install", "slot-pre-install", NULL, error)))
		return FALSE;
	if (!(mtd ? rota_mtd_write(src, job->slot, job->image->size, job->image->sha256, job->progress, error)
		  : write_image(job, src, error)))
		return FALSE;
	if (fs && job->slot->resize && g_str_equal(job->slot->type, "ext4") && !resize_ext4(job->slot, error))
		return FALSE;
	return fs ? run_hook_mounted(job, "post-install", "slot-post-install", error)
		  : run_hook(job, "post-install", "slot-post-install", NULL, error);
}

gboolean rota_writer_write_file(const RotaConfig *config, RotaSlot *slot, const gchar *image_path, const gchar *type,
				GError **error)
{
	g_autoptr(RotaView) src = rota_file_view_new(image_path, error);
	RotaImage image = {.filename = g_path_get_basename(image_path), .type = g_strdup(type),
			   .hooks = (gchar *[]){NULL}};
	RotaWriterKind kind;
	gboolean ok = FALSE;

	if (src && rota_writer_select(&image, slot, &kind, error)) {
		if (kind == ROTA_WRITER_TAR) {
			g_autofree gchar *mp = NULL;
			g_autoptr(GError) local = NULL;
			ok = make_filesystem(slot, error) && (mp = rota_mount_slot(config, slot, error)) &&
			     rota_writer_extract_tar(src, mp, NULL, NULL, error);
			if (mp && !rota_umount_slot(mp, ok ? error : &local))
				ok = FALSE;
		} else if (kind == ROTA_WRITER_RAW || kind == ROTA_WRITER_FS) {
			/* The slot's handler as an install runs it (RAUC's write-slot
			 * does): an ext4 slot with resize=true is grown to fill it. */
			ok = write_raw(src, slot, 0, rota_view_get_size(src), NULL, NULL, 0, error) &&
			     (kind != ROTA_WRITER_FS || !slot->resize || !g_str_equal(slot->type, "ext4") ||
			      resize_ext4(slot, error));
		} else if (kind == ROTA_WRITER_MTD) {
			ok = rota_mtd_write(src, slot, rota_view_get_size(src), NULL, NULL, error);
			if (!ok)
				g_prefix_error(error, "Failed writing slot %s: ", slot->name);
		} else if (kind == ROTA_WRITER_BOOT) {
			RotaWriteJob job = {.image = &image, .slot = slot, .kind = kind};
			image.size = rota_view_get_size(src);
			ok = rota_boot_write(&job, src, error);
			if (!ok)
				g_prefix_error(error, "Failed writing slot %s: ", slot->name);
		} else {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "write-slot cannot write images of type %s", type);
		}
	}
	g_free(image.filename);
	g_free(image.type);
	return ok;
}
