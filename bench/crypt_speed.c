/* crypt_speed.c — how fast rota verifies and decrypts a crypt payload.
 *
 * Usage: crypt_speed [--repeat=N] [--threads=LIST] [--chunk=BYTES] --key=KEY [--cert=CERT] KEYRING BUNDLE
 *
 * Opens BUNDLE with rota_bundle_open() (envelope decrypted with KEY,
 * signature verified against KEYRING), reads the payload once to warm the
 * page cache, then for each thread count (default "1,all") times, best of
 * N runs (default 3):
 *
 *   verify          rota_verity_check_all() over the payload (what `extract`
 *                   does before reading): SHA-256 of every data+tree block
 *   decrypt         reading the data area through a crypt view over the
 *                   *unverified* file (AES-256-CBC only, plus the copy)
 *   verify+decrypt  reading the data area through the view bundles use:
 *                   the decrypting verity view over the file (each block
 *                   copied, hashed, checked, then decrypted in one pass),
 *                   CHUNK bytes per read (default 128 KiB, squashfs-like
 *                   reads are smaller), each thread a contiguous share of
 *                   the data area
 *   verify+decrypt-stacked  the same through the former two-pass stack:
 *                   crypt view → verity view → file
 *
 * and, in memory on one core, the per-block work with no I/O or copies:
 *   mem-aes         rota_crypt_run() decrypting 64 MiB
 *   mem-sha         SHA-256(salt+block) per block (as verity.c does it)
 *   mem-sha+aes     both per block, hash then decrypt
 *
 * Output: one line per measurement,
 *   crypt_speed: <what> threads=<n> bytes=<b> best_s=<s> mib_s=<r>
 * (bytes = data area for decrypt and verify+decrypt, payload for verify).
 */
#include <glib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "bundle/verity.h"
#include "common/util.h"
#include "view/crypt_view.h"

static gint opt_repeat = 3;
static gchar *opt_threads = NULL;
static gint opt_chunk = 128 * 1024;
static gchar *opt_key = NULL;
static gchar *opt_cert = NULL;
static gchar *opt_only = NULL;

static GOptionEntry entries[] = {
	{"repeat", 0, 0, G_OPTION_ARG_INT, &opt_repeat, "runs per measurement (best is reported)", "N"},
	{"threads", 0, 0, G_OPTION_ARG_STRING, &opt_threads, "thread counts, comma-separated, 'all' = all cores", "LIST"},
	{"chunk", 0, 0, G_OPTION_ARG_INT, &opt_chunk, "bytes per read through the views", "BYTES"},
	{"key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "decryption key", "PEM"},
	{"cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "decryption certificate", "PEM"},
	{"only", 0, 0, G_OPTION_ARG_STRING, &opt_only,
	 "run only this measurement (verify, decrypt, verify+decrypt, verify+decrypt-stacked, mem)", "WHAT"},
	{NULL}};

static gboolean want(const gchar *what)
{
	return !opt_only || g_str_equal(opt_only, what);
}

static void report(const gchar *what, guint threads, guint64 bytes, gdouble best)
{
	printf("crypt_speed: %s threads=%u bytes=%" G_GUINT64_FORMAT " best_s=%.4f mib_s=%.1f\n", what, threads, bytes,
	       best, bytes / 1048576.0 / best);
	fflush(stdout);
}

static volatile guint8 sink;

typedef struct {
	RotaView *view;
	guint64 first, last; /* byte range */
	GError *error;
} ReadJob;

static gpointer read_job_run(gpointer data)
{
	ReadJob *job = data;
	g_autofree guint8 *buf = g_malloc(opt_chunk);
	guint8 acc = 0;

	for (guint64 off = job->first; off < job->last;) {
		gsize n = (gsize)MIN((guint64)opt_chunk, job->last - off);
		if (!rota_view_read_at(job->view, off, buf, n, &job->error))
			return NULL;
		acc ^= buf[0] ^ buf[n - 1];
		off += n;
	}
	sink ^= acc; /* keep the reads observable */
	return NULL;
}

/* Reads [0, size) of view on n threads, contiguous shares aligned to 1 MiB. */
static gboolean read_all(RotaView *view, guint64 size, guint n, GError **error)
{
	g_autofree ReadJob *jobs = g_new0(ReadJob, n);
	g_autofree GThread **threads = g_new0(GThread *, n);
	guint64 units = (size + 1048575) / 1048576;
	gboolean ok = TRUE;

	for (guint i = 0; i < n; i++) {
		jobs[i].view = view;
		jobs[i].first = MIN(size, units * i / n * 1048576);
		jobs[i].last = MIN(size, units * (i + 1) / n * 1048576);
		threads[i] = g_thread_new("read", read_job_run, &jobs[i]);
	}
	for (guint i = 0; i < n; i++) {
		g_thread_join(threads[i]);
		if (jobs[i].error) {
			if (ok)
				g_propagate_error(error, g_steal_pointer(&jobs[i].error));
			ok = FALSE;
			g_clear_error(&jobs[i].error);
		}
	}
	return ok;
}

/* In memory, one core: 0 = aes, 1 = sha, 2 = sha then aes per block. */
static gdouble time_mem(int what, const guint8 key[32], guint64 blocks)
{
	const gsize buf_blocks = 16384; /* 64 MiB */
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	g_autoptr(RotaCrypt) crypt = rota_crypt_new(key, FALSE);
	RotaCryptCtx *cctx = rota_crypt_begin(crypt, NULL);
	guint8 salt[32], digest[32];
	guint8 *buf = g_malloc(buf_blocks * ROTA_CRYPT_BLOCK);
	gint64 t0;

	memset(salt, 0x5a, sizeof(salt));
	for (gsize i = 0; i < buf_blocks * ROTA_CRYPT_BLOCK; i++)
		buf[i] = (guint8)(i * 2654435761u >> 13);
	t0 = g_get_monotonic_time();
	for (guint64 b = 0; b < blocks;) {
		/* 32 blocks (128 KiB) at a time, like a read through the stack */
		guint64 n = MIN((guint64)32, blocks - b);
		guint8 *p = buf + (b % buf_blocks) * ROTA_CRYPT_BLOCK;
		if (what != 0) {
			for (guint64 i = 0; i < n; i++) {
				EVP_DigestInit_ex2(ctx, md, NULL);
				EVP_DigestUpdate(ctx, salt, 32);
				EVP_DigestUpdate(ctx, p + i * ROTA_CRYPT_BLOCK, ROTA_CRYPT_BLOCK);
				EVP_DigestFinal_ex(ctx, digest, NULL);
				p[i * ROTA_CRYPT_BLOCK] ^= digest[0];
			}
		}
		if (what != 1)
			rota_crypt_run(cctx, b, p, n, NULL);
		b += n;
	}
	gdouble s = (g_get_monotonic_time() - t0) / 1e6;
	rota_crypt_end(cctx);
	EVP_MD_CTX_free(ctx);
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
	guint8 salt[32], root[32], key[32];
	guint64 data_size, tree_size;
	guint ncores = rota_worker_count();

	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &error) || argc != 3 || opt_repeat < 1 || opt_chunk < 1) {
		fprintf(stderr, "usage: crypt_speed [--repeat=N] [--threads=1,all] [--chunk=BYTES] --key=KEY [--cert=CERT] "
				"KEYRING BUNDLE%s%s\n",
			error ? ": " : "", error ? error->message : "");
		return 2;
	}
	keyring.path = g_strdup(argv[1]);
	opts.keyring = &keyring;
	opts.decrypt_key = opt_key;
	opts.decrypt_cert = opt_cert;
	opts.max_signature_size = 64u * 1024 * 1024;
	bundle = rota_bundle_open(argv[2], &opts, &error);
	if (!bundle) {
		fprintf(stderr, "crypt_speed: %s\n", error->message);
		return 1;
	}
	if (bundle->format != ROTA_FORMAT_CRYPT) {
		fprintf(stderr, "crypt_speed: %s is not a crypt bundle\n", argv[2]);
		return 1;
	}
	tree_size = bundle->manifest->verity_size;
	data_size = bundle->payload_size - tree_size;
	if (!rota_hex_decode(bundle->manifest->verity_salt, salt, 32) ||
	    !rota_hex_decode(bundle->manifest->verity_hash, root, 32) ||
	    !rota_hex_decode(bundle->manifest->crypt_key, key, 32)) {
		fprintf(stderr, "crypt_speed: bad verity-salt, verity-hash or crypt-key\n");
		return 1;
	}
	printf("crypt_speed: bundle=%s enveloped=%d payload=%" G_GUINT64_FORMAT " data=%" G_GUINT64_FORMAT
	       " tree=%" G_GUINT64_FORMAT " cores=%u chunk=%d\n",
	       argv[2], bundle->enveloped, bundle->payload_size, data_size, tree_size, ncores, opt_chunk);

	/* Warm the page cache (dropping it needs root and is not what we time). */
	{
		g_autoptr(RotaView) region = rota_sub_view_new(bundle->file, 0, bundle->payload_size, &error);
		if (!region || !rota_verity_check_all(region, data_size, tree_size, salt, root, 0, &error)) {
			fprintf(stderr, "crypt_speed: %s\n", error->message);
			return 1;
		}
	}

	counts = g_strsplit(opt_threads ? opt_threads : "1,all", ",", -1);
	for (gchar **c = counts; *c; c++) {
		guint n = g_str_equal(*c, "all") ? ncores : (guint)atoi(*c);
		gdouble best_v = G_MAXDOUBLE, best_d = G_MAXDOUBLE, best_vd = G_MAXDOUBLE, best_st = G_MAXDOUBLE;
		if (n == 0) {
			fprintf(stderr, "crypt_speed: bad thread count '%s'\n", *c);
			return 2;
		}
		for (gint r = 0; r < opt_repeat; r++) {
			g_autoptr(RotaView) region = rota_sub_view_new(bundle->file, 0, bundle->payload_size, &error);
			g_autoptr(RotaView) data = region ? rota_sub_view_new(bundle->file, 0, data_size, &error) : NULL;
			g_autoptr(RotaView) raw = data ? rota_crypt_view_new(data, key, &error) : NULL;
			g_autoptr(RotaView) verity = NULL;
			g_autoptr(RotaView) stack = NULL;
			gint64 t0;

			if (!raw) {
				fprintf(stderr, "crypt_speed: %s\n", error->message);
				return 1;
			}
			if (!want("verify"))
				goto decrypt;
			t0 = g_get_monotonic_time();
			if (!rota_verity_check_all(region, data_size, tree_size, salt, root, n, &error)) {
				fprintf(stderr, "crypt_speed: %s\n", error->message);
				return 1;
			}
			best_v = MIN(best_v, (g_get_monotonic_time() - t0) / 1e6);
		decrypt:
			if (!want("decrypt"))
				goto stack;
			t0 = g_get_monotonic_time();
			if (!read_all(raw, data_size, n, &error)) {
				fprintf(stderr, "crypt_speed: %s\n", error->message);
				return 1;
			}
			best_d = MIN(best_d, (g_get_monotonic_time() - t0) / 1e6);
		stack:
			/* a fresh verity view each run: its hash-block cache starts cold */
			if (want("verify+decrypt")) {
				g_autoptr(RotaView) fused = NULL;
				t0 = g_get_monotonic_time();
				fused = rota_verity_view_new_decrypting(region, data_size, tree_size, salt, root, key, &error);
				if (!fused || !read_all(fused, data_size, n, &error)) {
					fprintf(stderr, "crypt_speed: %s\n", error->message);
					return 1;
				}
				best_vd = MIN(best_vd, (g_get_monotonic_time() - t0) / 1e6);
			}
			if (want("verify+decrypt-stacked")) {
				t0 = g_get_monotonic_time();
				verity = rota_verity_view_new(region, data_size, tree_size, salt, root, &error);
				stack = verity ? rota_crypt_view_new(verity, key, &error) : NULL;
				if (!stack || !read_all(stack, data_size, n, &error)) {
					fprintf(stderr, "crypt_speed: %s\n", error->message);
					return 1;
				}
				best_st = MIN(best_st, (g_get_monotonic_time() - t0) / 1e6);
			}
		}
		if (want("verify"))
			report("verify", n, bundle->payload_size, best_v);
		if (want("decrypt"))
			report("decrypt", n, data_size, best_d);
		if (want("verify+decrypt"))
			report("verify+decrypt", n, data_size, best_vd);
		if (want("verify+decrypt-stacked"))
			report("verify+decrypt-stacked", n, data_size, best_st);
	}

	if (want("mem")) {
		guint64 blocks = 65536; /* 256 MiB */
		gdouble b[3] = {G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE};
		static const gchar *names[3] = {"mem-aes", "mem-sha", "mem-sha+aes"};
		for (gint r = 0; r < opt_repeat; r++)
			for (int w = 0; w < 3; w++)
				b[w] = MIN(b[w], time_mem(w, key, blocks));
		for (int w = 0; w < 3; w++)
			report(names[w], 1, blocks * ROTA_CRYPT_BLOCK, b[w]);
	}
	memset(key, 0, sizeof(key));
	return 0;
}
