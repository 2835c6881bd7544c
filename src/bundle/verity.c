/* verity.c — dm-verity hash trees: build, check all, and the verity view.
 *
 * Level 0 holds the digests of the data blocks, level k+1 the digests of the
 * (zero-padded) blocks of level k, until a level fits in one block; the root
 * is the digest of that top block. On disk the top level comes first. */
#include "verity.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/sha256_pair.h"
#include "common/util.h"
#include "view/crypt_view.h"

#define DIGESTS_PER_BLOCK (ROTA_VERITY_BLOCK / ROTA_VERITY_DIGEST) /* 128 */
#define MAX_LEVELS 10                                             /* 128^10 blocks > 2^64 bytes */
#define CHUNK_BLOCKS 256u      /* 1 MiB: the unit of work (and of read-ahead advice on a mapping) */
#define READ_CHUNK_BLOCKS 32u  /* 128 KiB per pread when the source cannot be mapped (stays in L2) */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older kernels return EINVAL, which is ignored */
#endif

typedef struct {
	guint64 data_blocks;
	guint levels;
	guint64 blocks[MAX_LEVELS]; /* hash blocks in level k (0 = bottom) */
	guint64 start[MAX_LEVELS];  /* first block of level k, counted from the tree start */
	guint64 total;              /* hash blocks in all levels */
} Geometry;

static void geometry_init(Geometry *g, guint64 data_size)
{
	memset(g, 0, sizeof(*g));
	g->data_blocks = data_size / ROTA_VERITY_BLOCK;
	while (g->data_blocks > 1 && ((g->data_blocks - 1) >> (7 * g->levels)) != 0)
		g->levels++;
	for (guint k = 0; k < g->levels; k++) {
		guint64 div = (guint64)1 << (7 * (k + 1));
		g->blocks[k] = (g->data_blocks + div - 1) / div;
		g->total += g->blocks[k];
	}
	/* The top level is stored first, then each lower level. */
	guint64 pos = 0;
	for (guint k = g->levels; k-- > 0;) {
		g->start[k] = pos;
		pos += g->blocks[k];
	}
}

/* Entries (digests) stored in level k. */
static guint64 geometry_entries(const Geometry *g, guint k)
{
	return k == 0 ? g->data_blocks : g->blocks[k - 1];
}

guint64 rota_verity_tree_size(guint64 data_size)
{
	Geometry g;
	geometry_init(&g, data_size);
	return g.total * ROTA_VERITY_BLOCK;
}

static gboolean check_data_size(guint64 data_size, GError **error)
{
	if (data_size == 0 || data_size % ROTA_VERITY_BLOCK != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "verity data size %" G_GUINT64_FORMAT " is not a positive multiple of 4096", data_size);
		return FALSE;
	}
	return TRUE;
}

/* ---- hashing ---- */

/* Digest of one block: the salt, then the block. */
static void hash_block(const guint8 *salt, const guint8 *block, guint8 out[32])
{
	rota_sha256_prefixed(salt, 32, block, ROTA_VERITY_BLOCK, out);
}

/* Digests of n consecutive blocks, two at a time (sha256_pair.h). */
static void hash_blocks(const guint8 *salt, const guint8 *blocks, guint64 n, guint8 *out)
{
	rota_sha256_blocks(salt, 32, blocks, n, ROTA_VERITY_BLOCK, out);
}

/* ---- reading data blocks ---- */

/* madvise() on the pages holding [p, p+len) of a mapping; advice only, so
 * failures are ignored. */
static void advise(const guint8 *p, gsize len, int advice)
{
	static gsize page;
	guintptr start, end;

	if (g_once_init_enter(&page)) {
		long sz = sysconf(_SC_PAGESIZE);
		g_once_init_leave(&page, sz > 0 ? (gsize)sz : 4096);
	}
	start = (guintptr)p & ~(guintptr)(page - 1);
	end = (guintptr)p + len;
	if (len > 0)
		(void)madvise((void *)start, end - start, advice);
}

/* Data hashing reads the bundle straight from a read-only mapping when the
 * source view offers one (rota_view_map(): a local file that only its owner
 * can shrink, see view.c), and through pread otherwise. Mapping saves the
 * copy out of the page cache and keeps the hashed bytes in cache: the check
 * runs at 87-89% of openssl's SHA-256 speed instead of 76-80%. The size is
 * checked before mapping (rota_view_map() returns NULL for a range beyond
 * the view and the file view maps nothing when the file is already shorter),
 * so a short file still fails through pread with an error naming the
 * offset. */

/* ---- parallel hashing of data blocks ---- */

/* One worker hashes data blocks [first, last) read through source (or fd).
 * Without `expected` it stores the digests in `out`; with it, it compares
 * and records the lowest mismatching block. */
typedef struct {
	RotaView *source;
	const guint8 *salt;
	guint64 first, last;
	guint8 *out;            /* data_blocks * 32, or NULL */
	const guint8 *expected; /* data_blocks * 32, or NULL */
	guint64 bad_block;      /* G_MAXUINT64 when all matched */
	GError *error;
	gint *stop;             /* set when the result is no longer wanted */
} DataJob;

static gpointer data_job_run(gpointer data)
{
	DataJob *job = data;
	g_autofree guint8 *buf = NULL;
	const guint8 *map = NULL;
	guint8 digests[CHUNK_BLOCKS * 32];
	G_STATIC_ASSERT(READ_CHUNK_BLOCKS <= CHUNK_BLOCKS);

	if (job->last > job->first && (job->last - job->first) <= G_MAXSIZE / ROTA_VERITY_BLOCK)
		map = rota_view_map(job->source, job->first * ROTA_VERITY_BLOCK,
				    (gsize)(job->last - job->first) * ROTA_VERITY_BLOCK);
	if (map)
		advise(map, (gsize)(job->last - job->first) * ROTA_VERITY_BLOCK, MADV_SEQUENTIAL);
	else
		buf = g_malloc(READ_CHUNK_BLOCKS * ROTA_VERITY_BLOCK);
	job->bad_block = G_MAXUINT64;
	for (guint64 b = job->first; b < job->last && job->bad_block == G_MAXUINT64 && !g_atomic_int_get(job->stop);) {
		guint64 n = MIN(map ? CHUNK_BLOCKS : READ_CHUNK_BLOCKS, job->last - b);
		const guint8 *blocks;

		if (map) {
			/* Page tables for this chunk in one call instead of a fault
			 * per 64 KiB (fault-around), and read-ahead for the next. */
			blocks = map + (b - job->first) * ROTA_VERITY_BLOCK;
			advise(blocks, n * ROTA_VERITY_BLOCK, MADV_POPULATE_READ);
			if (b + n < job->last)
				advise(blocks + n * ROTA_VERITY_BLOCK,
				       MIN(CHUNK_BLOCKS, job->last - b - n) * ROTA_VERITY_BLOCK, MADV_WILLNEED);
		} else {
			if (!rota_view_read_at(job->source, b * ROTA_VERITY_BLOCK, buf, n * ROTA_VERITY_BLOCK,
					       &job->error))
				break;
			blocks = buf;
		}
		if (job->out) {
			hash_blocks(job->salt, blocks, n, job->out + b * 32);
		} else {
			hash_blocks(job->salt, blocks, n, digests);
			for (guint64 i = 0; i < n; i++) {
				if (memcmp(job->expected + (b + i) * 32, digests + i * 32, 32) != 0) {
					job->bad_block = b + i;
					break;
				}
			}
		}
		b += n;
	}
	return NULL;
}

/* Work for the calling thread while the data jobs run; returning FALSE
 * abandons them (their result is then meaningless). */
typedef gboolean (*SideTask)(gpointer data);

/* Runs data jobs over all data blocks on n_threads threads (and side, if
 * given, on the calling thread meanwhile; with one thread, side first).
 * Returns the first bad block (or G_MAXUINT64) in *bad_block. */
static gboolean hash_data_parallel(RotaView *source, const Geometry *g, const guint8 *salt, guint8 *out,
				   const guint8 *expected, guint n_threads, SideTask side, gpointer side_data,
				   guint64 *bad_block, GError **error)
{
	guint n = n_threads ? n_threads : rota_worker_count();
	g_autofree DataJob *jobs = NULL;
	g_autofree GThread **threads = NULL;
	gboolean ok = TRUE;
	gint stop = 0;

	n = (guint)MAX(1, MIN((guint64)n, g->data_blocks / CHUNK_BLOCKS));
	jobs = g_new0(DataJob, n);
	threads = g_new0(GThread *, n);
	for (guint i = 0; i < n; i++) {
		jobs[i] = (DataJob){.source = source, .salt = salt, .out = out, .expected = expected, .stop = &stop};
		jobs[i].first = g->data_blocks * i / n;
		jobs[i].last = g->data_blocks * (i + 1) / n;
		jobs[i].bad_block = G_MAXUINT64;
		threads[i] = n > 1 ? g_thread_new("verity", data_job_run, &jobs[i]) : NULL;
	}
	if (side && !side(side_data))
		g_atomic_int_set(&stop, 1);
	if (n == 1 && !stop)
		data_job_run(&jobs[0]);
	*bad_block = G_MAXUINT64;
	for (guint i = 0; i < n; i++) {
		if (threads[i])
			g_thread_join(threads[i]);
		if (jobs[i].error && ok) {
			g_propagate_error(error, jobs[i].error);
			jobs[i].error = NULL;
			ok = FALSE;
		}
		g_clear_error(&jobs[i].error);
		*bad_block = MIN(*bad_block, jobs[i].bad_block);
	}
	return ok;
}

/* Packs level k's entries into its zero-padded blocks, then hashes those
 * blocks into the entries of level k+1 (or the root for the top). */
static void hash_level_blocks(const guint8 *salt, const guint8 *level_blocks, guint64 n_blocks, guint8 *out)
{
	hash_blocks(salt, level_blocks, n_blocks, out);
}

gboolean rota_verity_append_tree(int fd, guint64 data_size, const guint8 salt[32], guint8 out_root[32],
				 GError **error)
{
	Geometry g;
	g_autoptr(RotaView) source = NULL;
	g_autofree guint8 *entries = NULL;
	guint64 bad;

	if (!check_data_size(data_size, error))
		return FALSE;
	geometry_init(&g, data_size);
	{
		g_autoptr(RotaView) whole = rota_file_view_new_from_fd(dup(fd), "bundle", error);
		if (!whole)
			return FALSE;
		source = rota_sub_view_new(whole, 0, data_size, error);
		if (!source)
			return FALSE;
	}
	entries = g_malloc(g.data_blocks * 32);
	if (!hash_data_parallel(source, &g, salt, entries, NULL, 0, NULL, NULL, &bad, error))
		return FALSE;

	for (guint k = 0; k < g.levels; k++) {
		guint64 n_entries = geometry_entries(&g, k);
		g_autofree guint8 *blocks = g_malloc0(g.blocks[k] * ROTA_VERITY_BLOCK);
		memcpy(blocks, entries, n_entries * 32);
		if (!rota_pwrite_exact(fd, blocks, g.blocks[k] * ROTA_VERITY_BLOCK,
				       data_size + g.start[k] * ROTA_VERITY_BLOCK, "bundle hash tree", error)) {
			return FALSE;
		}
		g_free(entries);
		entries = g_malloc(g.blocks[k] * 32);
		hash_level_blocks(salt, blocks, g.blocks[k], entries);
	}
	/* After the top level (one block) entries holds exactly the root; with a
	 * single data block, the root is that block's digest. */
	memcpy(out_root, entries, 32);
	return TRUE;
}

/* ---- checking a whole payload ---- */

static gboolean padding_is_zero(const guint8 *block, guint64 used_entries)
{
	for (gsize i = used_entries * 32; i < ROTA_VERITY_BLOCK; i++) {
		if (block[i])
			return FALSE;
	}
	return TRUE;
}

static void set_corrupt(GError **error, const gchar *name, const gchar *what, guint64 offset)
{
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
		    "%s: bundle payload is corrupted: %s at offset %" G_GUINT64_FORMAT " does not match the signed root hash",
		    name, what, offset);
}

/* Checks every hash block of tree (in memory) bottom-up to the root. The
 * level-0 entries are checked against data by the caller. */
static gboolean check_tree_levels(const Geometry *g, const guint8 *tree, const guint8 *salt, const guint8 *root,
				  guint64 data_size, const gchar *name, GError **error)
{
	gboolean ok = TRUE;

	for (guint k = 0; k < g->levels && ok; k++) {
		guint64 n_entries = geometry_entries(g, k);
		for (guint64 m = 0; m < g->blocks[k] && ok; m++) {
			const guint8 *block = tree + (g->start[k] + m) * ROTA_VERITY_BLOCK;
			guint64 offset = data_size + (g->start[k] + m) * ROTA_VERITY_BLOCK;
			guint64 used = MIN((guint64)DIGESTS_PER_BLOCK, n_entries - m * DIGESTS_PER_BLOCK);
			const guint8 *expected;
			guint8 digest[32];

			if (!padding_is_zero(block, used)) {
				g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
					    "%s: bundle payload is corrupted: hash tree block at offset %" G_GUINT64_FORMAT
					    " has non-zero padding", name, offset);
				ok = FALSE;
				break;
			}
			hash_block(salt, block, digest);
			if (k + 1 == g->levels)
				expected = root;
			else
				expected = tree + (g->start[k + 1] + m / DIGESTS_PER_BLOCK) * ROTA_VERITY_BLOCK +
					   (m % DIGESTS_PER_BLOCK) * 32;
			if (memcmp(digest, expected, 32) != 0) {
				set_corrupt(error, name, "hash tree block", offset);
				ok = FALSE;
			}
		}
	}
	return ok;
}

typedef struct {
	const Geometry *g;
	const guint8 *tree, *salt, *root;
	guint64 data_size;
	const gchar *name;
	GError *error;
} TreeCheck;

static gboolean tree_check_run(gpointer data)
{
	TreeCheck *tc = data;
	return check_tree_levels(tc->g, tc->tree, tc->salt, tc->root, tc->data_size, tc->name, &tc->error);
}

gboolean rota_verity_check_all(RotaView *source, guint64 data_size, guint64 tree_size, const guint8 salt[32],
			       const guint8 root[32], guint n_threads, GError **error)
{
	Geometry g;
	g_autofree guint8 *tree = NULL;
	g_autofree guint8 *level0 = NULL;
	g_autoptr(RotaView) data = NULL;
	TreeCheck tree_check;
	GError *data_error = NULL;
	gboolean ok;
	guint64 bad;

	if (!check_data_size(data_size, error))
		return FALSE;
	geometry_init(&g, data_size);
	if (tree_size != g.total * ROTA_VERITY_BLOCK) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: verity-size %" G_GUINT64_FORMAT " does not fit a data area of %" G_GUINT64_FORMAT
			    " bytes (expected %" G_GUINT64_FORMAT ")",
			    source->name, tree_size, data_size, g.total * ROTA_VERITY_BLOCK);
		return FALSE;
	}
	tree = g_malloc(MAX(tree_size, 1));
	if (!rota_view_read_at(source, data_size, tree, tree_size, error))
		return FALSE;

	/* Level 0 entries, contiguous (the bottom level is the last on disk); a
	 * single-block payload is covered by the root directly. */
	level0 = g_malloc(g.data_blocks * 32);
	if (g.levels == 0)
		memcpy(level0, root, 32);
	else
		memcpy(level0, tree + g.start[0] * ROTA_VERITY_BLOCK, g.data_blocks * 32);
	data = rota_sub_view_new(source, 0, data_size, error);
	if (!data)
		return FALSE;
	/* The tree is checked up to the root while the data jobs compare the
	 * data against its (not yet trusted) bottom level: a bad tree is
	 * reported as such and the data result is then thrown away. */
	tree_check = (TreeCheck){&g, tree, salt, root, data_size, source->name, NULL};
	ok = hash_data_parallel(data, &g, salt, NULL, level0, n_threads, tree_check_run, &tree_check, &bad, &data_error);
	if (tree_check.error) {
		g_clear_error(&data_error);
		g_propagate_error(error, tree_check.error);
		return FALSE;
	}
	if (!ok) {
		g_propagate_error(error, data_error);
		return FALSE;
	}
	if (bad != G_MAXUINT64) {
		set_corrupt(error, source->name, "data block", bad * ROTA_VERITY_BLOCK);
		return FALSE;
	}
	return TRUE;
}

/* ---- the verity view ---- */

typedef struct {
	RotaView base;
	RotaView *source;
	Geometry g;
	guint64 data_size;
	guint8 salt[32];
	guint8 root[32];
	GMutex lock;       /* serialises filling the cache */
	guint8 **cache;    /* verified hash blocks by tree block index, NULL until verified; an entry
			    * is set once (atomically, lock held) and freed only by finalize */
	RotaCrypt *crypt;  /* decrypting views (crypt bundles): the payload key, else NULL */
} VerityView;

/* Returns the verified hash block m of level k (lock held). */
static const guint8 *verified_hash_block(VerityView *self, guint k, guint64 m, GError **error)
{
	guint64 index = self->g.start[k] + m;
	guint64 offset = self->data_size + index * ROTA_VERITY_BLOCK;
	guint64 used = MIN((guint64)DIGESTS_PER_BLOCK, geometry_entries(&self->g, k) - m * DIGESTS_PER_BLOCK);
	g_autofree guint8 *block = NULL;
	const guint8 *expected;
	guint8 digest[32];

	if (self->cache[index])
		return self->cache[index];
	if (k + 1 == self->g.levels) {
		expected = self->root;
	} else {
		const guint8 *parent = verified_hash_block(self, k + 1, m / DIGESTS_PER_BLOCK, error);
		if (!parent)
			return NULL;
		expected = parent + (m % DIGESTS_PER_BLOCK) * 32;
	}
	block = g_malloc(ROTA_VERITY_BLOCK);
	if (!rota_view_read_at(self->source, offset, block, ROTA_VERITY_BLOCK, error))
		return NULL;
	hash_block(self->salt, block, digest);
	if (memcmp(digest, expected, 32) != 0) {
		set_corrupt(error, self->base.name, "hash tree block", offset);
		return NULL;
	}
	if (!padding_is_zero(block, used)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
			    "%s: bundle payload is corrupted: hash tree block at offset %" G_GUINT64_FORMAT
			    " has non-zero padding", self->base.name, offset);
		return NULL;
	}
	g_atomic_pointer_set(&self->cache[index], g_steal_pointer(&block));
	return self->cache[index];
}

/* The expected digest of data block b (a pointer into the root or a
 * verified, cached hash block), or NULL with error set. */
static const guint8 *expected_data_digest(VerityView *self, guint64 b, GError **error)
{
	guint64 m = b / DIGESTS_PER_BLOCK;
	const guint8 *block;

	if (self->g.levels == 0)
		return self->root;
	/* Cached blocks never change once set: no lock on the hot path. */
	block = g_atomic_pointer_get(&self->cache[self->g.start[0] + m]);
	if (!block) {
		g_mutex_lock(&self->lock);
		block = verified_hash_block(self, 0, m, error);
		g_mutex_unlock(&self->lock);
		if (!block)
			return NULL;
	}
	return block + (b % DIGESTS_PER_BLOCK) * 32;
}

/* One read_at's state. */
typedef struct {
	VerityView *self;
	RotaCryptCtx *crypt;   /* decrypting views: this read's cipher context */
	const guint8 *map;     /* the requested blocks in the source's mapping, or NULL */
	guint64 map_first;     /* the block at map */
	guint64 map_end;       /* the block after the last mapped one */
} VerityRead;

/* Puts data blocks [b, b+n) at dst, checks each against the tree and, in a
 * decrypting view, decrypts it right after its check while it is still in
 * L1: a block is decrypted only once it has matched, so no plaintext of an
 * unverified block is ever produced. The blocks are copied first (from the
 * source's mapping when it has one, else by reading) and the copy is what
 * gets hashed and decrypted: bytes in a mapping could change between
 * hashing and copying, the copy cannot. */
static gboolean load_checked_blocks(VerityRead *rd, guint64 b, guint64 n, guint8 *dst, GError **error)
{
	VerityView *self = rd->self;

	if (!rd->map && !rota_view_read_at(self->source, b * ROTA_VERITY_BLOCK, dst, n * ROTA_VERITY_BLOCK, error))
		return FALSE;
	/* Two blocks at a time: a pair hashes nearly as fast as one block. */
	for (guint64 i = 0; i < n;) {
		guint64 k = MIN(2, n - i);
		guint8 *blocks = dst + i * ROTA_VERITY_BLOCK;
		const guint8 *ahead = NULL;
		gsize ahead_len = 0;
		guint8 digests[2 * 32];

		if (rd->map) {
			const guint8 *src = rd->map + (b + i - rd->map_first) * ROTA_VERITY_BLOCK;
			memcpy(blocks, src, k * ROTA_VERITY_BLOCK);
			if (b + i + k < rd->map_end) {
				ahead = src + k * ROTA_VERITY_BLOCK;
				ahead_len = MIN(2, rd->map_end - (b + i + k)) * ROTA_VERITY_BLOCK;
			}
		}
		if (k == 2)
			rota_sha256_pair(self->salt, 32, blocks, blocks + ROTA_VERITY_BLOCK, ROTA_VERITY_BLOCK, ahead,
					 ahead_len, digests, digests + 32);
		else
			hash_block(self->salt, blocks, digests);
		/* Block by block, so that the first bad block is the one
		 * reported even when the second's hash block is bad too. */
		for (guint64 j = 0; j < k; j++) {
			const guint8 *expected = expected_data_digest(self, b + i + j, error);
			if (!expected)
				return FALSE;
			if (memcmp(digests + j * 32, expected, 32) != 0) {
				set_corrupt(error, self->base.name, "data block", (b + i + j) * ROTA_VERITY_BLOCK);
				return FALSE;
			}
		}
		if (rd->crypt && !rota_crypt_run(rd->crypt, b + i, blocks, k, error))
			return FALSE;
		i += k;
	}
	return TRUE;
}

/* Pread goes in 128 KiB pieces, so that what was read is still in L2 when
 * it is hashed. */
static gboolean verity_view_fill(guint64 first_block, gsize n, guint8 *dst, gpointer data, GError **error)
{
	VerityRead *rd = data;

	for (guint64 b = first_block; b < first_block + n;) {
		guint64 k = MIN(rd->map ? G_MAXUINT64 : READ_CHUNK_BLOCKS, first_block + n - b);
		if (!load_checked_blocks(rd, b, k, dst + (b - first_block) * ROTA_VERITY_BLOCK, error))
			return FALSE;
		b += k;
	}
	return TRUE;
}

static gboolean verity_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	VerityRead rd = {.self = (VerityView *)view};
	guint64 last = (off + len - 1) / ROTA_VERITY_BLOCK;
	gboolean ok;

	rd.map_first = off / ROTA_VERITY_BLOCK;
	rd.map_end = last + 1;
	rd.map = rota_view_map(rd.self->source, rd.map_first * ROTA_VERITY_BLOCK,
			       (gsize)(rd.map_end - rd.map_first) * ROTA_VERITY_BLOCK);
	if (rd.self->crypt && !(rd.crypt = rota_crypt_begin(rd.self->crypt, error)))
		return FALSE;
	ok = rota_view_read_blocks(off, buf, len, verity_view_fill, &rd, error);
	if (rd.crypt)
		rota_crypt_end(rd.crypt);
	return ok;
}

/* The source will be asked for whole data blocks, the lowest-level hash
 * blocks that cover them, and the few blocks of the levels above (stored
 * first; once verified they stay cached). */
static void verity_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	VerityView *self = (VerityView *)view;
	guint64 first = off / ROTA_VERITY_BLOCK, end = (off + len + ROTA_VERITY_BLOCK - 1) / ROTA_VERITY_BLOCK;

	rota_view_will_read(self->source, first * ROTA_VERITY_BLOCK, (end - first) * ROTA_VERITY_BLOCK);
	if (self->g.levels > 1)
		rota_view_will_read(self->source, self->data_size, self->g.start[0] * ROTA_VERITY_BLOCK);
	if (self->g.levels > 0) {
		guint64 m0 = first / DIGESTS_PER_BLOCK, m1 = (end - 1) / DIGESTS_PER_BLOCK + 1;
		rota_view_will_read(self->source, self->data_size + (self->g.start[0] + m0) * ROTA_VERITY_BLOCK,
				    (m1 - m0) * ROTA_VERITY_BLOCK);
	}
}

static void verity_view_finalize(RotaView *view)
{
	VerityView *self = (VerityView *)view;

	for (guint64 i = 0; i < self->g.total; i++)
		g_free(self->cache[i]);
	g_free(self->cache);
	g_mutex_clear(&self->lock);
	rota_crypt_free(self->crypt);
	rota_view_unref(self->source);
}

static const RotaViewOps verity_view_ops = {
	.read_at = verity_view_read_at,
	.finalize = verity_view_finalize,
	.will_read = verity_view_will_read,
};

static RotaView *verity_view_new(RotaView *source, guint64 data_size, guint64 tree_size, const guint8 salt[32],
				 const guint8 root[32], const guint8 *key, GError **error)
{
	VerityView *self;
	Geometry g;
	guint64 end;

	if (!check_data_size(data_size, error))
		return NULL;
	geometry_init(&g, data_size);
	if (tree_size != g.total * ROTA_VERITY_BLOCK || !rota_add_u64(data_size, tree_size, &end) ||
	    end > source->size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: verity-size %" G_GUINT64_FORMAT " does not fit a data area of %" G_GUINT64_FORMAT
			    " bytes in a payload of %" G_GUINT64_FORMAT " bytes",
			    source->name, tree_size, data_size, source->size);
		return NULL;
	}
	self = rota_view_alloc(sizeof(VerityView), &verity_view_ops, data_size, source->name);
	self->source = rota_view_ref(source);
	self->g = g;
	self->data_size = data_size;
	memcpy(self->salt, salt, 32);
	memcpy(self->root, root, 32);
	g_mutex_init(&self->lock);
	self->cache = g_new0(guint8 *, MAX(g.total, 1));
	if (key)
		self->crypt = rota_crypt_new(key, FALSE);
	return &self->base;
}

RotaView *rota_verity_view_new(RotaView *source, guint64 data_size, guint64 tree_size, const guint8 salt[32],
			       const guint8 root[32], GError **error)
{
	return verity_view_new(source, data_size, tree_size, salt, root, NULL, error);
}

RotaView *rota_verity_view_new_decrypting(RotaView *source, guint64 data_size, guint64 tree_size,
					  const guint8 salt[32], const guint8 root[32], const guint8 key[32],
					  GError **error)
{
	return verity_view_new(source, data_size, tree_size, salt, root, key, error);
}
