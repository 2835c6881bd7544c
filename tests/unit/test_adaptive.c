/* test_adaptive.c — the block-hash-index (install-and-runtime.md §8.1):
 * its size limit, and adaptive writes into file-backed slots: which local
 * chunks are taken. tests/cli/test_adaptive.py covers whole installs. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "bundle/hash_index.h"
#include "install/adaptive.h"
#include "system/context.h"
#include "system/status.h"
#include "common/util.h"

#define CHUNK ROTA_CHUNK

/* ---- a view of any size that counts its reads and fails them ---- */

typedef struct {
	RotaView base;
	gint reads;
} HugeView;

static gboolean huge_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	HugeView *self = (HugeView *)view;

	(void)buf;
	g_atomic_int_inc(&self->reads);
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "huge: read of %" G_GSIZE_FORMAT " at %" G_GUINT64_FORMAT, len, off);
	return FALSE;
}

static void huge_finalize(RotaView *view)
{
	(void)view;
}

static const RotaViewOps huge_ops = {.read_at = huge_read_at, .finalize = huge_finalize};

/* The spec limits an index to 0x7FFFFFF chunks: beyond that 32 × chunks
 * no longer fits 32 bits, so a larger image or slot is refused up front
 * instead of being read (and, on 32-bit systems, hashed into a buffer
 * whose size wrapped around). */
static void test_compute_too_large(void)
{
	const guint64 sizes[] = {(guint64)0x8000000 * CHUNK, (guint64)1 << 42, G_MAXUINT64 / CHUNK * CHUNK};

	for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
		HugeView *v = rota_view_alloc(sizeof(HugeView), &huge_ops, sizes[i], "huge");
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) index = rota_hash_index_compute(&v->base, sizes[i], &error);

		g_assert_null(index);
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT);
		g_assert_nonnull(strstr(error->message, "is too large"));
		g_assert_cmpint(v->reads, ==, 0);
		rota_view_unref(&v->base);
	}
}

/* ---- adaptive writes into file slots ---- */

typedef struct {
	gchar *dir;
	RotaContext ctx;
	RotaSlot *target, *seed;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = NULL, *text = NULL;

	(void)data;
	f->dir = g_dir_make_tmp("rota-adaptive-XXXXXX", &error);
	g_assert_no_error(error);
	conf = g_build_filename(f->dir, "system.conf", NULL);
	text = g_strdup_printf("[system]\ncompatible=Test\nbootloader=noop\ndata-directory=%s/data\n"
			       "[slot.rootfs.0]\ndevice=%s/a.img\ntype=raw\nbootname=A\n"
			       "[slot.rootfs.1]\ndevice=%s/b.img\ntype=raw\nbootname=B\n",
			       f->dir, f->dir, f->dir);
	g_assert_true(g_file_set_contents(conf, text, -1, NULL));
	f->ctx.config = rota_config_load(conf, &error);
	g_assert_no_error(error);
	f->ctx.status = rota_status_store_new(f->ctx.config, &error);
	g_assert_no_error(error);
	f->seed = rota_config_find_slot(f->ctx.config, "rootfs.0");
	f->target = rota_config_find_slot(f->ctx.config, "rootfs.1");
	f->seed->state = ROTA_SLOT_BOOTED;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

	(void)data;
	rota_status_store_free(f->ctx.status);
	rota_config_free(f->ctx.config);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(f->dir);
}

/* A chunk filled with the byte b (b != 0). */
static void fill_chunk(guint8 *dst, guint8 b)
{
	memset(dst, b, CHUNK);
}

static gchar *write_chunks(Fixture *f, const gchar *name, const guint8 *pattern, gsize n)
{
	g_autofree guint8 *data = g_malloc0(n * CHUNK);
	gchar *path = g_build_filename(f->dir, name, NULL);

	for (gsize i = 0; i < n; i++)
		if (pattern[i])
			fill_chunk(data + i * CHUNK, pattern[i]);
	g_assert_true(g_file_set_contents(path, (gchar *)data, (gssize)(n * CHUNK), NULL));
	return path;
}

static void assert_file_chunks(const gchar *path, const guint8 *pattern, gsize n)
{
	g_autofree gchar *data = NULL;
	gsize len;

	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	g_assert_cmpuint(len, >=, n * CHUNK);
	for (gsize i = 0; i < n; i++)
		for (gsize j = 0; j < CHUNK; j++)
			if ((guint8)data[i * CHUNK + j] != pattern[i])
				g_error("chunk %" G_GSIZE_FORMAT " byte %" G_GSIZE_FORMAT ": %u, expected %u", i, j,
					(guint8)data[i * CHUNK + j], pattern[i]);
}

static gboolean run_adaptive(Fixture *f, const gchar *image_path, RotaAdaptiveStats *stats, GError **error)
{
	g_autoptr(RotaView) image = rota_file_view_new(image_path, error);
	g_autoptr(GBytes) index = image ? rota_hash_index_compute(image, rota_view_get_size(image), error) : NULL;
	RotaAdaptiveJob job = {.ctx = &f->ctx, .target = f->target, .seed = f->seed, .image = image, .image_index = index};

	return index && rota_adaptive_write(&job, stats, error);
}

/* Writes the three files (one pattern byte per chunk), runs the adaptive
 * write and checks that the target then holds the image. */
#define RUN_CASE(f, image, target, seed, st)                                                                       \
	run_case(f, image, G_N_ELEMENTS(image), target, G_N_ELEMENTS(target), seed, G_N_ELEMENTS(seed), st)
static void run_case(Fixture *f, const guint8 *image, gsize n_image, const guint8 *target, gsize n_target,
		     const guint8 *seed, gsize n_seed, RotaAdaptiveStats *st)
{
	g_autofree gchar *img = write_chunks(f, "image", image, n_image);
	g_autofree gchar *t = write_chunks(f, "b.img", target, n_target);
	g_autofree gchar *s = write_chunks(f, "a.img", seed, n_seed);
	g_autoptr(GError) error = NULL;

	g_assert_true(run_adaptive(f, img, st, &error));
	g_assert_no_error(error);
	assert_file_chunks(t, image, n_image);
}

/* Chunks come from the target itself (also from further on), from the
 * seed, and the rest from the image. The target holds one chunk five
 * times (duplicates once leaked in the lookup; the sanitizer build runs
 * with G_SLICE=always-malloc to see such leaks, see meson.build). */
static void test_sources(Fixture *f, gconstpointer data)
{
	const guint8 image[] = {1, 2, 3, 4, 0, 5, 6};
	const guint8 target[] = {9, 2, 9, 9, 7, 9, 4, 9};
	const guint8 seed[] = {3, 6, 8};
	RotaAdaptiveStats st;

	(void)data;
	RUN_CASE(f, image, target, seed, &st);
	g_assert_cmpuint(st.chunks, ==, 7);
	g_assert_cmpuint(st.zero, ==, 1);
	g_assert_cmpuint(st.from_target, ==, 2); /* 2 in place, 4 from chunk 6 */
	g_assert_cmpuint(st.from_active, ==, 2); /* 3 and 6 */
	g_assert_cmpuint(st.from_bundle, ==, 2); /* 1 and 5 */
}

/* A chunk the target holds twice, below and beyond the current position,
 * is taken from the copy not yet overwritten (spec §8.2: the lowest chunk
 * in the valid range), not refetched because the lowest copy has gone. */
static void test_target_duplicate(Fixture *f, gconstpointer data)
{
	const guint8 image[] = {1, 2, 3, 4, 5, 6};
	const guint8 target[] = {6, 9, 9, 9, 9, 9, 9, 6};
	const guint8 seed[] = {8};
	RotaAdaptiveStats st;

	(void)data;
	RUN_CASE(f, image, target, seed, &st);
	g_assert_cmpuint(st.from_target, ==, 1); /* 6 from chunk 7 */
	g_assert_cmpuint(st.from_bundle, ==, 5);
}

/* Storing an index keeps only the current content's: older hash-*
 * directories go, also when a crash left a temporary file in one. */
static void test_store_removes_old_indexes(Fixture *f, gconstpointer data)
{
	const gchar *old_sha = "1111111111111111111111111111111111111111111111111111111111111111";
	const gchar *new_sha = "2222222222222222222222222222222222222222222222222222222222222222";
	g_autofree gchar *slot_dir = g_build_filename(f->dir, "data", "slot.rootfs.1", NULL);
	g_autofree gchar *old_hash = g_strdup_printf("hash-%s", old_sha);
	g_autofree gchar *old_dir = g_build_filename(slot_dir, old_hash, NULL);
	g_autofree gchar *old_tmp = g_build_filename(old_dir, "block-hash-index.tmp-AB12CD", NULL);
	g_autofree gchar *new_index = NULL;
	g_autoptr(GBytes) index = g_bytes_new(rota_zero_chunk_digest, 32);
	g_autoptr(GError) error = NULL;

	(void)data;
	g_assert_true(rota_hash_index_store(&f->ctx, f->target, old_sha, index, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(old_tmp, "partial", -1, NULL));
	g_assert_true(rota_hash_index_store(&f->ctx, f->target, new_sha, index, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(old_dir, G_FILE_TEST_EXISTS));
	new_index = g_strdup_printf("%s/hash-%s/block-hash-index", slot_dir, new_sha);
	g_assert_true(g_file_test(new_index, G_FILE_TEST_IS_REGULAR));
}

/* A chunk that repeats in the image is fetched once: its later copies come
 * from the target, where the first was written (also when that one was
 * still waiting in a run of chunks to fetch). */
static void test_repeated_chunks_fetched_once(Fixture *f, gconstpointer data)
{
	const guint8 image[] = {5, 6, 5, 5, 7, 6};
	const guint8 target[] = {9, 9, 9, 9, 9, 9};
	const guint8 seed[] = {8};
	RotaAdaptiveStats st;

	(void)data;
	RUN_CASE(f, image, target, seed, &st);
	g_assert_cmpuint(st.from_bundle, ==, 3); /* 5, 6, 7 */
	g_assert_cmpuint(st.bundle_bytes, ==, 3 * CHUNK);
	g_assert_cmpuint(st.from_target, ==, 3); /* 5, 5, 6 again */
}

/* A target being rewritten (status no longer "ok") takes the index of its
 * earlier content, kept as a hint, instead of hashing itself: shown here
 * with a stale hint, which only costs a hit (chunk 6 really holds 3, the
 * hint says 7), never correctness. */
static void test_hint_for_rewritten_target(Fixture *f, gconstpointer data)
{
	const guint8 image[] = {3, 1};
	const guint8 target[] = {9, 9, 9, 9, 9, 9, 3, 9};
	const guint8 claimed[] = {9, 9, 9, 9, 9, 9, 7, 9};
	const guint8 seed[] = {8};
	const gchar *sha = "3333333333333333333333333333333333333333333333333333333333333333";
	g_autofree gchar *claimed_path = write_chunks(f, "claimed", claimed, G_N_ELEMENTS(claimed));
	g_autoptr(RotaView) claimed_view = rota_file_view_new(claimed_path, NULL);
	g_autoptr(GBytes) hint = rota_hash_index_compute(claimed_view, rota_view_get_size(claimed_view), NULL);
	g_autofree gchar *kept = NULL;
	RotaAdaptiveStats st;

	(void)data;
	g_assert_true(rota_hash_index_store(&f->ctx, f->target, sha, hint, NULL));
	rota_hash_index_keep_as_hint(&f->ctx, f->target, sha);
	kept = g_build_filename(f->dir, "data", "slot.rootfs.1", "hash-unknown", "block-hash-index", NULL);
	g_assert_true(g_file_test(kept, G_FILE_TEST_IS_REGULAR));
	RUN_CASE(f, image, target, seed, &st);
	g_assert_cmpuint(st.from_target, ==, 0); /* the hint was used: a fresh index finds 3 at chunk 6 */
	g_assert_cmpuint(st.from_bundle, ==, 2);

	/* without the hint the slot is hashed, and chunk 6 is found */
	g_assert_cmpint(g_unlink(kept), ==, 0);
	RUN_CASE(f, image, target, seed, &st);
	g_assert_cmpuint(st.from_target, ==, 1);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hash-index/too-large", test_compute_too_large);
	g_test_add("/adaptive/sources", Fixture, NULL, fixture_setup, test_sources, fixture_teardown);
	g_test_add("/adaptive/target-duplicate", Fixture, NULL, fixture_setup, test_target_duplicate, fixture_teardown);
	g_test_add("/adaptive/repeated-chunks-fetched-once", Fixture, NULL, fixture_setup,
		   test_repeated_chunks_fetched_once, fixture_teardown);
	g_test_add("/adaptive/hint-for-rewritten-target", Fixture, NULL, fixture_setup, test_hint_for_rewritten_target,
		   fixture_teardown);
	g_test_add("/adaptive/store-removes-old-indexes", Fixture, NULL, fixture_setup, test_store_removes_old_indexes,
		   fixture_teardown);
	return g_test_run();
}
