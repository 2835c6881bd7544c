/* adaptive.c — see adaptive.h. Every chunk taken from a local slot is
 * hashed again before it is written, because slots may be read-write and
 * change after their index was cached; chunks from the bundle are already
 * verified by the verity view. */
#include "adaptive.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define RUN_CHUNKS 256u /* bundle reads of up to 1 MiB */

/* ---- the per-slot cache ---- */

static gchar *index_path(RotaContext *ctx, RotaSlot *slot, const gchar *sha256)
{
	g_autofree gchar *dir = g_strdup_printf("slot.%s", slot->name);
	g_autofree gchar *hash = g_strdup_printf("hash-%s", sha256);
	return g_build_filename(ctx->config->data_directory, dir, hash, "block-hash-index", NULL);
}

/* Removes the files in dir that keep is not (NULL: all of them, and then
 * dir): the index and any temporary file a crash left beside it, which
 * would otherwise keep an old directory from ever being removed. */
static void remove_cache_files(const gchar *dir, const gchar *keep)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const gchar *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree gchar *file = g_build_filename(dir, name, NULL);
		if (g_strcmp0(name, keep) != 0)
			g_unlink(file);
	}
	if (!keep)
		g_rmdir(dir);
}

gboolean rota_hash_index_store(RotaContext *ctx, RotaSlot *slot, const gchar *sha256, GBytes *index, GError **error)
{
	g_autofree gchar *path = index_path(ctx, slot, sha256);
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *slot_dir = g_path_get_dirname(dir);
	g_autoptr(GDir) d = NULL;
	const gchar *name;

	/* Only the index of the current content is worth keeping. */
	d = g_dir_open(slot_dir, 0, NULL);
	while (d && (name = g_dir_read_name(d))) {
		g_autofree gchar *sub = g_build_filename(slot_dir, name, NULL);
		if (g_str_has_prefix(name, "hash-"))
			remove_cache_files(sub, g_str_equal(sub, dir) ? "block-hash-index" : NULL);
	}
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create %s: %s", dir, g_strerror(err));
		return FALSE;
	}
	return rota_write_file_atomic(path, g_bytes_get_data(index, NULL), g_bytes_get_size(index), 0600, error);
}

#define HINT "unknown" /* hash-unknown: the index of a slot's earlier content */

void rota_hash_index_keep_as_hint(RotaContext *ctx, RotaSlot *slot, const gchar *sha256)
{
	g_autofree gchar *path = index_path(ctx, slot, sha256);
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *hint = index_path(ctx, slot, HINT);
	g_autofree gchar *hint_dir = g_path_get_dirname(hint);

	if (!ctx->config->data_directory || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
		return;
	remove_cache_files(hint_dir, NULL);
	if (rename(dir, hint_dir) != 0)
		g_message("adaptive: cannot keep %s as a hint: %s", dir, g_strerror(errno));
}

/* The index file at path if it fits a device of size bytes, else NULL. */
static GBytes *read_cached_index(const gchar *path, guint64 size)
{
	gchar *data = NULL;
	gsize len = 0;

	if (g_file_get_contents(path, &data, &len, NULL) && len % 32 == 0 && len / 32 * ROTA_CHUNK <= size)
		return g_bytes_new_take(data, len);
	g_free(data);
	return NULL;
}

/* The slot's index: the cached one for its recorded content, the hint left
 * from its earlier content while it is being rewritten, or computed. */
static GBytes *slot_index(RotaContext *ctx, RotaSlot *slot, RotaView *dev, GError **error)
{
	g_auto(RotaSlotStatus) st = {0};
	g_autofree gchar *path = NULL;
	GBytes *cached;
	/* A slot larger than an index can be is indexed as far as it can be:
	 * its beginning still serves (an index may cover a prefix, §8.1). */
	guint64 size = MIN(rota_view_get_size(dev) / ROTA_CHUNK, (guint64)ROTA_HASH_INDEX_MAX_CHUNKS) * ROTA_CHUNK;

	rota_status_load(ctx->status, slot, &st);
	if (st.sha256 && g_strcmp0(st.status, "ok") == 0)
		path = index_path(ctx, slot, st.sha256);
	else if (ctx->config->data_directory)
		path = index_path(ctx, slot, HINT);
	cached = path ? read_cached_index(path, size) : NULL;
	if (cached) {
		g_debug("adaptive: slot %s: index from %s", slot->name, path);
		return cached;
	}
	return size ? rota_hash_index_compute(dev, size, error) : g_bytes_new(NULL, 0);
}

/* ---- lookup ---- */

/* The chunk numbers of an index sorted by digest (then number), searched
 * by bisection: 4 bytes per chunk, where a hash table of digests took ~100
 * (hundreds of MB for the two indexes of a 4 GiB slot pair). */
typedef struct {
	guint32 *order; /* chunk numbers; an index has at most 0x7FFFFFF */
	gsize n;
	GBytes *index;
	gboolean highest_wins;
} Lookup;

static gint by_digest(gconstpointer a, gconstpointer b, gpointer index)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
	int r = memcmp((const guint8 *)index + (gsize)x * 32, (const guint8 *)index + (gsize)y * 32, 32);

	return r ? r : (x > y) - (x < y);
}

/* For a digest held by several chunks, lookup_find() gives the lowest
 * chunk number, or the highest with highest_wins: the target's old chunks
 * are valid only from the current position on, and its highest copy of a
 * digest stays valid the longest. */
static void lookup_init(Lookup *l, GBytes *index, gboolean highest_wins)
{
	gsize len;
	const guint8 *d = g_bytes_get_data(index, &len);

	l->index = g_bytes_ref(index);
	l->highest_wins = highest_wins;
	l->n = MIN(len / 32, (gsize)ROTA_HASH_INDEX_MAX_CHUNKS);
	l->order = g_new(guint32, MAX(l->n, 1));
	for (gsize i = 0; i < l->n; i++)
		l->order[i] = (guint32)i;
	g_qsort_with_data(l->order, (gint)l->n, sizeof(guint32), by_digest, (gpointer)d);
}

static void lookup_clear(Lookup *l)
{
	g_free(l->order);
	if (l->index)
		g_bytes_unref(l->index);
}

/* Chunk number holding digest, or -1. */
static gint64 lookup_find(Lookup *l, const guint8 *digest)
{
	const guint8 *d = l->index ? g_bytes_get_data(l->index, NULL) : NULL;
	gsize lo = 0, hi = l->n;

	/* The first entry whose digest is >= digest, or with highest_wins the
	 * first one > digest; the entry before it then is the highest match. */
	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;
		int r = memcmp(d + (gsize)l->order[mid] * 32, digest, 32);
		if (r < 0 || (r == 0 && l->highest_wins))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (l->highest_wins) {
		if (lo == 0)
			return -1;
		lo--;
	}
	if (lo >= l->n || memcmp(d + (gsize)l->order[lo] * 32, digest, 32) != 0)
		return -1;
	return (gint64)l->order[lo];
}

/* ---- writing ---- */

typedef struct {
	RotaAdaptiveJob *job;
	RotaAdaptiveStats *stats;
	int fd;              /* target, read-write */
	RotaView *target;    /* target device (for re-reading old chunks) */
	RotaView *seed;      /* seed device or NULL */
	Lookup target_old;
	Lookup seed_lookup;
	Lookup image_lookup; /* the image's own index: chunks that repeat in it */
	const guint8 *want;  /* image index */
} Adaptive;

/* Reads chunk `from` of dev into buf and checks it still has digest. */
static gboolean take_local(RotaView *dev, gint64 from, const guint8 *digest, guint8 *buf)
{
	guint8 have[32];

	if (from < 0 || !rota_view_read_at(dev, (guint64)from * ROTA_CHUNK, buf, ROTA_CHUNK, NULL))
		return FALSE;
	rota_chunk_digest(buf, have);
	return memcmp(have, digest, 32) == 0;
}

/* Writes chunk c unless the target already holds exactly these bytes. */
static gboolean put_chunk(Adaptive *a, guint64 c, const guint8 *buf, GError **error)
{
	guint8 current[ROTA_CHUNK];

	if (rota_view_read_at(a->target, c * ROTA_CHUNK, current, ROTA_CHUNK, NULL) &&
	    memcmp(current, buf, ROTA_CHUNK) == 0)
		return TRUE;
	a->stats->written++;
	return rota_pwrite_exact(a->fd, buf, ROTA_CHUNK, c * ROTA_CHUNK, a->job->target->device, error);
}

/* The first chunk of the image with chunk c's content, if it comes before
 * c: once written, c is copied from there instead of fetched again. */
static gint64 earlier_copy(Adaptive *a, guint64 c)
{
	gint64 first = lookup_find(&a->image_lookup, a->want + c * 32);
	return first < (gint64)c ? first : -1;
}

/* Tries the local sources for chunk c; TRUE with buf filled when found. */
static gboolean find_local(Adaptive *a, guint64 c, guint8 *buf)
{
	const guint8 *d = a->want + c * 32;
	gint64 at;

	if (memcmp(d, rota_zero_chunk_digest, 32) == 0) {
		memset(buf, 0, ROTA_CHUNK);
		a->stats->zero++;
		return TRUE;
	}
	/* The target itself: this very chunk, or one not yet overwritten. */
	at = lookup_find(&a->target_old, d);
	if (take_local(a->target, (gint64)c, d, buf) || (at >= (gint64)c && take_local(a->target, at, d, buf)) ||
	    take_local(a->target, earlier_copy(a, c), d, buf)) {
		a->stats->from_target++;
		return TRUE;
	}
	at = lookup_find(&a->seed_lookup, d);
	if (a->seed && take_local(a->seed, at, d, buf)) {
		a->stats->from_active++;
		return TRUE;
	}
	return FALSE;
}

/* Reads chunks [first, first+n) from the bundle in one request and writes them. */
static gboolean copy_from_bundle(Adaptive *a, guint64 first, guint64 n, GError **error)
{
	g_autofree guint8 *buf = g_malloc(n * ROTA_CHUNK);

	if (!rota_view_read_at(a->job->image, first * ROTA_CHUNK, buf, n * ROTA_CHUNK, error))
		return FALSE;
	a->stats->from_bundle += n;
	a->stats->bundle_bytes += n * ROTA_CHUNK;
	for (guint64 i = 0; i < n; i++) {
		if (!put_chunk(a, first + i, buf + i * ROTA_CHUNK, error))
			return FALSE;
	}
	return TRUE;
}

/* Whether the indexes say chunk c can come from a device slot: the same
 * choice find_local() makes, without reading (and checking) the chunk. */
static gboolean indexed_locally(Adaptive *a, guint64 c)
{
	const guint8 *d = a->want + c * 32;
	gsize target_len = 0;
	const guint8 *target = a->target_old.index ? g_bytes_get_data(a->target_old.index, &target_len) : NULL;

	return memcmp(d, rota_zero_chunk_digest, 32) == 0 ||
	       (target && (c + 1) * 32 <= target_len && memcmp(target + c * 32, d, 32) == 0) ||
	       lookup_find(&a->target_old, d) >= (gint64)c || earlier_copy(a, c) >= 0 ||
	       (a->seed && lookup_find(&a->seed_lookup, d) >= 0);
}

/* Announces every run of chunks the bundle will have to supply, before
 * the first is read: a streamed bundle then fetches each stretch of them
 * exactly, neighbours in one request, and reads ahead across runs. */
static void announce_bundle_reads(Adaptive *a)
{
	guint64 run = 0;

	for (guint64 c = 0; c <= a->stats->chunks; c++) {
		if (c < a->stats->chunks && !indexed_locally(a, c)) {
			run++;
			continue;
		}
		if (run)
			rota_view_will_read(a->job->image, (c - run) * ROTA_CHUNK, run * ROTA_CHUNK);
		run = 0;
	}
}

static gboolean write_all_chunks(Adaptive *a, GError **error)
{
	guint8 buf[ROTA_CHUNK];
	guint64 missing_start = 0, missing = 0;

	for (guint64 c = 0; c < a->stats->chunks; c++) {
		/* A copy of a chunk still waiting in the run to fetch: fetch
		 * the run first, so that the copy can come from the target. */
		if (missing && earlier_copy(a, c) >= (gint64)missing_start) {
			if (!copy_from_bundle(a, missing_start, missing, error))
				return FALSE;
			missing = 0;
		}
		if (find_local(a, c, buf)) {
			if (missing && !copy_from_bundle(a, missing_start, missing, error))
				return FALSE;
			missing = 0;
			if (!put_chunk(a, c, buf, error))
				return FALSE;
		} else {
			if (!missing)
				missing_start = c;
			/* Runs of missing chunks become one bundle read. */
			if (++missing == RUN_CHUNKS) {
				if (!copy_from_bundle(a, missing_start, missing, error))
					return FALSE;
				missing = 0;
			}
		}
		rota_progress_set_fraction(a->job->progress, c + 1, a->stats->chunks);
	}
	return !missing || copy_from_bundle(a, missing_start, missing, error);
}

static gboolean open_sources(Adaptive *a, GError **error)
{
	RotaAdaptiveJob *job = a->job;
	g_autoptr(GBytes) target_index = NULL;
	struct stat st;
	int rfd;

	/* O_EXCL on a block device fails while it is mounted, as for full copies. */
	a->fd = open(job->target->device,
		     O_RDWR | O_CLOEXEC | (stat(job->target->device, &st) == 0 && S_ISBLK(st.st_mode) ? O_EXCL : 0));
	rfd = open(job->target->device, O_RDONLY | O_CLOEXEC);
	if (a->fd < 0 || rfd < 0) {
		int err = errno;
		if (rfd >= 0)
			close(rfd);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open slot %s: %s", job->target->name, g_strerror(err));
		return FALSE;
	}
	a->target = rota_file_view_new_from_fd(rfd, job->target->device, error);
	if (!a->target)
		return FALSE;
	if (rota_view_get_size(a->target) < rota_view_get_size(job->image)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "slot %s is smaller than the image", job->target->name);
		return FALSE;
	}
	target_index = slot_index(job->ctx, job->target, a->target, error);
	if (!target_index)
		return FALSE;
	lookup_init(&a->target_old, target_index, TRUE);
	rota_progress_set_fraction(job->progress, 1, 10);
	if (job->seed) {
		g_autoptr(GBytes) seed_index = NULL;
		g_autoptr(GError) local = NULL;
		a->seed = rota_file_view_new(job->seed->device, &local);
		seed_index = a->seed ? slot_index(job->ctx, job->seed, a->seed, &local) : NULL;
		if (seed_index)
			lookup_init(&a->seed_lookup, seed_index, FALSE);
		else
			g_message("adaptive: not using slot %s: %s", job->seed->name, local->message);
	}
	return TRUE;
}

gboolean rota_adaptive_write(RotaAdaptiveJob *job, RotaAdaptiveStats *stats, GError **error)
{
	Adaptive a = {.job = job, .stats = stats, .fd = -1};
	guint64 size = rota_view_get_size(job->image);
	gboolean ok;

	memset(stats, 0, sizeof(*stats));
	stats->chunks = size / ROTA_CHUNK;
	if (size % ROTA_CHUNK != 0 || g_bytes_get_size(job->image_index) != stats->chunks * 32) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "block-hash-index of %" G_GSIZE_FORMAT " bytes does not fit an image of %" G_GUINT64_FORMAT " bytes",
			    g_bytes_get_size(job->image_index), size);
		return FALSE;
	}
	a.want = g_bytes_get_data(job->image_index, NULL);
	lookup_init(&a.image_lookup, job->image_index, FALSE);
	ok = open_sources(&a, error);
	if (ok)
		announce_bundle_reads(&a);
	ok = ok && write_all_chunks(&a, error);
	if (ok && fsync(a.fd) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: fsync failed: %s", job->target->device, g_strerror(err));
		ok = FALSE;
	}
	if (a.fd >= 0)
		close(a.fd);
	if (a.target)
		rota_view_unref(a.target);
	if (a.seed)
		rota_view_unref(a.seed);
	lookup_clear(&a.target_old);
	lookup_clear(&a.seed_lookup);
	lookup_clear(&a.image_lookup);
	return ok;
}
