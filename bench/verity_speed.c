/* verity_speed.c — how fast rota checks a whole verity payload.
 *
 * Usage: verity_speed [--repeat=N] [--threads=LIST] KEYRING BUNDLE
 *
 * Opens BUNDLE with rota_bundle_open() (signature verified against KEYRING),
 * reads the payload once to warm the page cache, then times opening the file
 * afresh and rota_verity_check_all() over the payload (which reads from a
 * read-only mapping of the bundle when rota may map it, see
 * src/view/view.c, and by pread otherwise) N times (default 3) for each
 * thread count (default "1,all") and prints the best run as MiB/s of payload
 * (data + hash tree) per second.
 *
 * For reference it also times, in memory and on one core, the hashing that
 * the check does per 4 KiB block (SHA-256 over salt + block, as
 * EVP_DigestInit_ex2/Update/Update/Final): "hash-only" is the ceiling the
 * check can reach per core; "hash-only-presalted" is the same with the salt
 * absorbed once and the context copied per block (EVP_MD_CTX_copy_ex), which
 * gives the same digests.
 *
 * "check_all" opens the bundle afresh for every run, as a new rota process
 * would, so mapping the file and setting up its page tables is included;
 * "check_all-warm-map" reuses one open bundle whose mapping an earlier run
 * has populated (as the verity view does after the full check during
 * extraction).
 *
 * Output: one line per measurement,
 *   verity_speed: <what> threads=<n> bytes=<b> best_s=<s> mib_s=<r>
 */
#include <glib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "bundle/verity.h"
#include "common/util.h"

static gint opt_repeat = 3;
static gchar *opt_threads = NULL;

static GOptionEntry entries[] = {
	{"repeat", 0, 0, G_OPTION_ARG_INT, &opt_repeat, "runs per thread count (best is reported)", "N"},
	{"threads", 0, 0, G_OPTION_ARG_STRING, &opt_threads, "thread counts, comma-separated, 'all' = all cores", "LIST"},
	{NULL}};

static void report(const gchar *what, guint threads, guint64 bytes, gdouble best)
{
	printf("verity_speed: %s threads=%u bytes=%" G_GUINT64_FORMAT " best_s=%.4f mib_s=%.1f\n", what, threads, bytes,
	       best, bytes / 1048576.0 / best);
	fflush(stdout);
}

/* In-memory hashing of `blocks` 4 KiB blocks the way verity.c does it. */
static gdouble time_hash_only(gboolean presalted, guint64 blocks)
{
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD_CTX *salted = EVP_MD_CTX_new();
	guint8 salt[32], digest[32];
	guint8 *buf = g_malloc(256 * ROTA_VERITY_BLOCK);
	gint64 t0;

	memset(salt, 0x5a, sizeof(salt));
	for (gsize i = 0; i < 256 * ROTA_VERITY_BLOCK; i++)
		buf[i] = (guint8)(i * 2654435761u >> 13);
	EVP_DigestInit_ex2(salted, md, NULL);
	EVP_DigestUpdate(salted, salt, 32);
	t0 = g_get_monotonic_time();
	for (guint64 b = 0; b < blocks; b++) {
		const guint8 *block = buf + (b % 256) * ROTA_VERITY_BLOCK;
		if (presalted) {
			EVP_MD_CTX_copy_ex(ctx, salted);
		} else {
			EVP_DigestInit_ex2(ctx, md, NULL);
			EVP_DigestUpdate(ctx, salt, 32);
		}
		EVP_DigestUpdate(ctx, block, ROTA_VERITY_BLOCK);
		EVP_DigestFinal_ex(ctx, digest, NULL);
		buf[b % 256] ^= digest[0]; /* keep the work observable */
	}
	gdouble s = (g_get_monotonic_time() - t0) / 1e6;
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(salted);
	EVP_MD_free(md);
	g_free(buf);
	return s;
}

int main(int argc, char **argv)
{
	g_autoptr(GOptionContext) octx = g_option_context_new("KEYRING BUNDLE");
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaBundle) bundle = NULL;
	g_auto(RotaKeyring) keyring = {0};
	g_auto(GStrv) counts = NULL;
	RotaBundleOpenOptions opts = {0};
	guint8 salt[32], root[32];
	guint64 data_size, tree_size;
	guint ncores = rota_worker_count();

	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &error) || argc != 3 || opt_repeat < 1) {
		fprintf(stderr, "usage: verity_speed [--repeat=N] [--threads=1,all] KEYRING BUNDLE%s%s\n",
			error ? ": " : "", error ? error->message : "");
		return 2;
	}
	keyring.path = g_strdup(argv[1]);
	opts.keyring = &keyring;
	bundle = rota_bundle_open(argv[2], &opts, &error);
	if (!bundle) {
		fprintf(stderr, "verity_speed: %s\n", error->message);
		return 1;
	}
	if (bundle->format != ROTA_FORMAT_VERITY) {
		fprintf(stderr, "verity_speed: %s is not a verity bundle\n", argv[2]);
		return 1;
	}
	tree_size = bundle->manifest->verity_size;
	data_size = bundle->payload_size - tree_size;
	if (!rota_hex_decode(bundle->manifest->verity_salt, salt, 32) ||
	    !rota_hex_decode(bundle->manifest->verity_hash, root, 32)) {
		fprintf(stderr, "verity_speed: bad verity-salt or verity-hash\n");
		return 1;
	}
	printf("verity_speed: bundle=%s payload=%" G_GUINT64_FORMAT " data=%" G_GUINT64_FORMAT " tree=%" G_GUINT64_FORMAT
	       " cores=%u\n",
	       argv[2], bundle->payload_size, data_size, tree_size, ncores);

	/* Warm the page cache (dropping it needs root and is not what we time). */
	{
		g_autoptr(RotaView) region = rota_sub_view_new(bundle->file, 0, bundle->payload_size, &error);
		if (!region || !rota_verity_check_all(region, data_size, tree_size, salt, root, 0, &error)) {
			fprintf(stderr, "verity_speed: %s\n", error->message);
			return 1;
		}
	}

	counts = g_strsplit(opt_threads ? opt_threads : "1,all", ",", -1);
	for (guint i = 0; i < 2 * g_strv_length(counts); i++) {
		const gchar *c = counts[i % g_strv_length(counts)];
		gboolean warm = i >= g_strv_length(counts);
		guint n = g_str_equal(c, "all") ? ncores : (guint)atoi(c);
		gdouble best = G_MAXDOUBLE;
		if (n == 0) {
			fprintf(stderr, "verity_speed: bad thread count '%s'\n", c);
			return 2;
		}
		for (gint r = 0; r < opt_repeat; r++) {
			/* A fresh file view per run, as in a new rota process: the
			 * time includes mapping the bundle and faulting its pages in
			 * (warm: the bundle's own view, mapped by earlier runs). */
			gint64 t0 = g_get_monotonic_time();
			g_autoptr(RotaView) file = warm ? rota_view_ref(bundle->file) : rota_file_view_new(argv[2], &error);
			g_autoptr(RotaView) region = file ? rota_sub_view_new(file, 0, bundle->payload_size, &error) : NULL;
			if (!region || !rota_verity_check_all(region, data_size, tree_size, salt, root, n, &error)) {
				fprintf(stderr, "verity_speed: %s\n", error->message);
				return 1;
			}
			best = MIN(best, (g_get_monotonic_time() - t0) / 1e6);
		}
		report(warm ? "check_all-warm-map" : "check_all", n, bundle->payload_size, best);
	}

	/* Per-core ceiling: the same hashing in memory, 256 MiB worth of blocks. */
	{
		guint64 blocks = 65536;
		gdouble best = G_MAXDOUBLE, best_pre = G_MAXDOUBLE;
		for (gint r = 0; r < opt_repeat; r++) {
			best = MIN(best, time_hash_only(FALSE, blocks));
			best_pre = MIN(best_pre, time_hash_only(TRUE, blocks));
		}
		report("hash-only", 1, blocks * ROTA_VERITY_BLOCK, best);
		report("hash-only-presalted", 1, blocks * ROTA_VERITY_BLOCK, best_pre);
	}
	return 0;
}
