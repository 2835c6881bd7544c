/* test_sha256_pair.c — the interleaved SHA-256 pair agrees with OpenSSL for
 * every split of prefix and data around SHA-256's 64-byte blocks and its
 * padding, on the SHA-NI code and on the fallback. */
#include <openssl/evp.h>
#include <string.h>

#include "common/sha256_pair.h"

static void reference(const guint8 *prefix, gsize prefix_len, const guint8 *data, gsize len, guint8 out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	g_assert_nonnull(ctx);
	g_assert_cmpint(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), ==, 1);
	g_assert_cmpint(EVP_DigestUpdate(ctx, prefix, prefix_len), ==, 1);
	g_assert_cmpint(EVP_DigestUpdate(ctx, data, len), ==, 1);
	g_assert_cmpint(EVP_DigestFinal_ex(ctx, out, NULL), ==, 1);
	EVP_MD_CTX_free(ctx);
}

static guint8 *pattern(gsize len, guint32 seed)
{
	guint8 *p = g_malloc(len);
	GRand *rand = g_rand_new_with_seed(seed);
	for (gsize i = 0; i < len; i++)
		p[i] = (guint8)g_rand_int(rand);
	g_rand_free(rand);
	return p;
}

/* Lengths on both sides of every boundary that matters: 55/56 bytes (the
 * length field no longer fits the last block), 64, and a prefix that ends
 * inside, at or after a block. */
static void check_all_splits(void)
{
	g_autofree guint8 *prefix = pattern(200, 1);
	g_autofree guint8 *data = pattern(9000, 2);
	const gsize prefix_lens[] = {0, 1, 32, 55, 56, 63, 64, 65, 128, 129};
	const gsize lens[] = {0, 1, 7, 23, 24, 31, 32, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, 8191};

	for (gsize p = 0; p < G_N_ELEMENTS(prefix_lens); p++) {
		for (gsize l = 0; l < G_N_ELEMENTS(lens); l++) {
			const guint8 *a = data, *b = data + 777;
			gsize len = lens[l];
			guint8 want_a[32], want_b[32], got_a[32], got_b[32], one[32];

			reference(prefix, prefix_lens[p], a, len, want_a);
			reference(prefix, prefix_lens[p], b, len, want_b);
			rota_sha256_pair(prefix, prefix_lens[p], a, b, len, NULL, 0, got_a, got_b);
			g_assert_cmpmem(got_a, 32, want_a, 32);
			g_assert_cmpmem(got_b, 32, want_b, 32);
			rota_sha256_prefixed(prefix, prefix_lens[p], b, len, one);
			g_assert_cmpmem(one, 32, want_b, 32);
		}
	}
}

static void test_matches_openssl(void)
{
	check_all_splits();
}

/* The fallback (no SHA-NI, or ROTA_NO_SHA_NI set) must agree as well; the
 * choice is made once per process, hence the subprocess. */
static void test_fallback_matches_openssl(void)
{
	if (g_test_subprocess()) {
		g_setenv("ROTA_NO_SHA_NI", "1", TRUE);
		g_assert_false(rota_sha256_pair_accelerated());
		check_all_splits();
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

/* A known answer, so that a wrong reference could not hide a wrong pair:
 * SHA-256("abc") from FIPS 180-2, as prefix "a" and data "bc". */
static void test_known_answer(void)
{
	static const guint8 abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
				       0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
				       0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	guint8 a[32], b[32];

	rota_sha256_pair((const guint8 *)"a", 1, (const guint8 *)"bc", (const guint8 *)"bc", 2, NULL, 0, a, b);
	g_assert_cmpmem(a, 32, abc, 32);
	g_assert_cmpmem(b, 32, abc, 32);
	/* No prefix at all (the hash index's chunk digests). */
	rota_sha256_pair(NULL, 0, (const guint8 *)"abc", (const guint8 *)"abc", 3, NULL, 0, a, b);
	g_assert_cmpmem(a, 32, abc, 32);
	rota_sha256_prefixed(NULL, 0, (const guint8 *)"abc", 3, b);
	g_assert_cmpmem(b, 32, abc, 32);
}

/* rota_sha256_blocks: even and odd counts, each digest in its place; the
 * prefetch hint must not change any result. */
static void test_blocks_and_prefetch(void)
{
	g_autofree guint8 *salt = pattern(32, 3);
	g_autofree guint8 *blocks = pattern(5 * 4096, 4);
	guint8 out[5 * 32];

	for (gsize n = 1; n <= 5; n++) {
		memset(out, 0, sizeof(out));
		rota_sha256_blocks(salt, 32, blocks, n, 4096, out);
		for (gsize i = 0; i < n; i++) {
			guint8 want[32];
			reference(salt, 32, blocks + i * 4096, 4096, want);
			g_assert_cmpmem(out + i * 32, 32, want, 32);
		}
	}
	{
		guint8 a[32], b[32], want[32];
		rota_sha256_pair(salt, 32, blocks, blocks + 4096, 4096, blocks + 2 * 4096, 3 * 4096, a, b);
		reference(salt, 32, blocks, 4096, want);
		g_assert_cmpmem(a, 32, want, 32);
		reference(salt, 32, blocks + 4096, 4096, want);
		g_assert_cmpmem(b, 32, want, 32);
	}
}

/* On a CPU with the SHA extensions the SHA-NI lanes are what runs (else
 * every test above would only test OpenSSL against itself). */
static void test_accelerated_when_available(void)
{
	g_autofree gchar *info = NULL;
	gboolean cpu = g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL) && strstr(info, " sha_ni");

	if (g_strcmp0(g_getenv("ROTA_NO_SHA_NI"), "1") == 0) {
		g_assert_false(rota_sha256_pair_accelerated());
		return;
	}
#if defined(__x86_64__) && !defined(ROTA_NO_SHA_NI_CODE)
	g_assert_cmpint(rota_sha256_pair_accelerated(), ==, cpu);
#else
	(void)cpu;
	g_assert_false(rota_sha256_pair_accelerated());
#endif
	if (!rota_sha256_pair_accelerated())
		g_test_message("no SHA-NI here: the interleaved lanes were not exercised");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sha256_pair/matches-openssl", test_matches_openssl);
	g_test_add_func("/sha256_pair/fallback-matches-openssl", test_fallback_matches_openssl);
	g_test_add_func("/sha256_pair/known-answer", test_known_answer);
	g_test_add_func("/sha256_pair/blocks-and-prefetch", test_blocks_and_prefetch);
	g_test_add_func("/sha256_pair/accelerated-when-available", test_accelerated_when_available);
	return g_test_run();
}
