/* test_crypt_view.c — the crypt payload cipher (bundle-format.md §6.1):
 * AES-256-CBC per 4 KiB block with plain64 IVs counting 512-byte sectors,
 * checked against the openssl CLI, also on long-lived reused contexts;
 * in-place encryption of a file on all cores; the decrypting view over
 * random ranges; size rejections. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "view/crypt_view.h"
#include "view/view.h"

static const guint8 KEY[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
			       0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
			       0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};

static void fill(guint8 *buf, gsize len, guint32 seed)
{
	GRand *r = g_rand_new_with_seed(seed);
	for (gsize i = 0; i < len; i++)
		buf[i] = (guint8)g_rand_int(r);
	g_rand_free(r);
}

static gchar *hex(const guint8 *b, gsize n)
{
	GString *s = g_string_new(NULL);
	for (gsize i = 0; i < n; i++)
		g_string_append_printf(s, "%02x", b[i]);
	return g_string_free(s, FALSE);
}

/* `openssl enc -aes-256-cbc -nopad -K KEY -iv IV` of one block. */
static guint8 *openssl_enc(const guint8 *block, const gchar *iv_hex, gboolean decrypt)
{
	g_autofree gchar *in_path = NULL;
	g_autofree gchar *out_path = NULL;
	g_autofree gchar *key_hex = hex(KEY, 32);
	g_autofree gchar *err = NULL;
	g_autoptr(GError) error = NULL;
	gchar *out = NULL;
	gsize len = 0;
	gint status = 0;
	int fd = g_file_open_tmp("rota-crypt-in-XXXXXX", &in_path, &error);

	g_assert_no_error(error);
	close(fd);
	out_path = g_strconcat(in_path, ".out", NULL);
	g_assert_true(g_file_set_contents(in_path, (const gchar *)block, ROTA_CRYPT_BLOCK, NULL));
	{
		const gchar *argv[] = {"openssl", "enc",	 "-aes-256-cbc", decrypt ? "-d" : "-e", "-nopad", "-K",
				       key_hex,	  "-iv",	 iv_hex,	 "-in",		       in_path,	 "-out",
				       out_path,  NULL};
		g_assert_true(g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
					   NULL, NULL, &err, &status, &error));
	}
	g_assert_no_error(error);
	if (status != 0)
		g_error("openssl enc failed: %s", err);
	g_assert_true(g_file_get_contents(out_path, &out, &len, NULL));
	g_assert_cmpuint(len, ==, ROTA_CRYPT_BLOCK);
	g_unlink(in_path);
	g_unlink(out_path);
	return (guint8 *)out;
}

/* Block n's IV is uint64_le(n * 8) followed by 8 zero bytes. */
static void test_iv_scheme(void)
{
	static const struct {
		guint64 block;
		const gchar *iv;
	} cases[] = {
		{0, "00000000000000000000000000000000"},
		{1, "08000000000000000000000000000000"},
		{2, "10000000000000000000000000000000"},
		{32, "00010000000000000000000000000000"},
		{0x123456789aull, "d0c4b3a2910000000000000000000000"}, /* 0x123456789a * 8 = 0x91a2b3c4d0 */
	};
	g_autofree guint8 *plain = g_malloc(ROTA_CRYPT_BLOCK);
	g_autoptr(GError) error = NULL;

	fill(plain, ROTA_CRYPT_BLOCK, 42);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree guint8 *buf = g_memdup2(plain, ROTA_CRYPT_BLOCK);
		g_autofree guint8 *want = openssl_enc(plain, cases[i].iv, FALSE);
		g_assert_true(rota_crypt_blocks(KEY, cases[i].block, buf, 1, TRUE, &error));
		g_assert_no_error(error);
		g_assert_cmpmem(buf, ROTA_CRYPT_BLOCK, want, ROTA_CRYPT_BLOCK);
		/* and back: openssl decrypts what rota encrypted, rota what openssl did */
		g_autofree guint8 *back = openssl_enc(buf, cases[i].iv, TRUE);
		g_assert_cmpmem(back, ROTA_CRYPT_BLOCK, plain, ROTA_CRYPT_BLOCK);
		g_assert_true(rota_crypt_blocks(KEY, cases[i].block, buf, 1, FALSE, &error));
		g_assert_cmpmem(buf, ROTA_CRYPT_BLOCK, plain, ROTA_CRYPT_BLOCK);
	}
	/* a block encrypted at one index does not decrypt at another */
	{
		g_autofree guint8 *buf = g_memdup2(plain, ROTA_CRYPT_BLOCK);
		g_assert_true(rota_crypt_blocks(KEY, 1, buf, 1, TRUE, &error));
		g_assert_true(rota_crypt_blocks(KEY, 2, buf, 1, FALSE, &error));
		g_assert_true(memcmp(buf, plain, 64) != 0);
	}
	/* CBC restarts per block: n blocks at once equal n single calls */
	{
		g_autofree guint8 *many = g_malloc(5 * ROTA_CRYPT_BLOCK);
		g_autofree guint8 *single = NULL;
		fill(many, 5 * ROTA_CRYPT_BLOCK, 7);
		single = g_memdup2(many, 5 * ROTA_CRYPT_BLOCK);
		g_assert_true(rota_crypt_blocks(KEY, 10, many, 5, TRUE, &error));
		for (int b = 0; b < 5; b++)
			g_assert_true(rota_crypt_blocks(KEY, 10 + b, single + b * ROTA_CRYPT_BLOCK, 1, TRUE, &error));
		g_assert_cmpmem(many, 5 * ROTA_CRYPT_BLOCK, single, 5 * ROTA_CRYPT_BLOCK);
	}
}

/* One context used for many blocks, in any order, across borrowings, gives
 * what openssl gives for each block alone: the per-block IV fix-up on a
 * context that is never re-initialised is exact. */
static void test_context_reuse(void)
{
	static const guint64 order[] = {7, 0, 1, 0x123456789aull, 3, 2, 2, 9};
	g_autoptr(RotaCrypt) enc = rota_crypt_new(KEY, TRUE);
	g_autoptr(RotaCrypt) dec = rota_crypt_new(KEY, FALSE);
	g_autofree guint8 *plain = g_malloc(ROTA_CRYPT_BLOCK);
	g_autoptr(GError) error = NULL;

	fill(plain, ROTA_CRYPT_BLOCK, 4242);
	for (gsize i = 0; i < G_N_ELEMENTS(order); i++) {
		g_autofree guint8 *buf = g_memdup2(plain, ROTA_CRYPT_BLOCK);
		g_autofree guint8 *want = NULL;
		g_autofree gchar *iv = NULL;
		guint64 sector = order[i] * 8;
		guint8 iv_bytes[16] = {0};
		RotaCryptCtx *ctx;

		for (int k = 0; k < 8; k++)
			iv_bytes[k] = (guint8)(sector >> (8 * k));
		iv = hex(iv_bytes, 16);
		want = openssl_enc(plain, iv, FALSE);
		ctx = rota_crypt_begin(enc, &error);
		g_assert_no_error(error);
		g_assert_true(rota_crypt_run(ctx, order[i], buf, 1, &error));
		rota_crypt_end(ctx);
		g_assert_cmpmem(buf, ROTA_CRYPT_BLOCK, want, ROTA_CRYPT_BLOCK);
		ctx = rota_crypt_begin(dec, &error);
		g_assert_true(rota_crypt_run(ctx, order[i], buf, 1, &error));
		rota_crypt_end(ctx);
		g_assert_cmpmem(buf, ROTA_CRYPT_BLOCK, plain, ROTA_CRYPT_BLOCK);
	}
	/* two contexts borrowed at once are independent */
	{
		g_autofree guint8 *a = g_memdup2(plain, ROTA_CRYPT_BLOCK);
		g_autofree guint8 *b = g_memdup2(plain, ROTA_CRYPT_BLOCK);
		g_autofree guint8 *want = g_memdup2(plain, ROTA_CRYPT_BLOCK);
		RotaCryptCtx *x = rota_crypt_begin(enc, &error);
		RotaCryptCtx *y = rota_crypt_begin(enc, &error);

		g_assert_true(x != y);
		g_assert_true(rota_crypt_run(x, 5, a, 1, &error));
		g_assert_true(rota_crypt_run(y, 6, b, 1, &error));
		rota_crypt_end(y);
		rota_crypt_end(x);
		g_assert_true(rota_crypt_blocks(KEY, 5, want, 1, TRUE, &error));
		g_assert_cmpmem(a, ROTA_CRYPT_BLOCK, want, ROTA_CRYPT_BLOCK);
		g_assert_true(memcmp(a, b, ROTA_CRYPT_BLOCK) != 0);
	}
}

static gchar *write_tmp(const guint8 *data, gsize len)
{
	gchar *path = NULL;
	int fd = g_file_open_tmp("rota-crypt-XXXXXX", &path, NULL);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(g_file_set_contents(path, (const gchar *)data, (gssize)len, NULL));
	return path;
}

/* encrypt_fd of a multi-MiB file on all cores equals per-block encryption
 * on one thread, and the crypt view gives back the plaintext anywhere. */
static void test_encrypt_fd_and_view(void)
{
	const gsize size = 9 * 1024 * 1024 + 3 * ROTA_CRYPT_BLOCK; /* several 1 MiB chunks per thread + a tail */
	g_autofree guint8 *plain = g_malloc(size);
	g_autofree guint8 *expect = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *cipher = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL;
	g_autoptr(RotaView) view = NULL;
	gsize clen = 0;
	GRand *r;
	int fd;

	g_assert_cmpuint(rota_worker_count(), >=, 1);
	fill(plain, size, 1234);
	expect = g_memdup2(plain, size);
	for (gsize b = 0; b < size / ROTA_CRYPT_BLOCK; b++)
		g_assert_true(rota_crypt_blocks(KEY, b, expect + b * ROTA_CRYPT_BLOCK, 1, TRUE, &error));

	path = write_tmp(plain, size);
	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(rota_crypt_encrypt_fd(fd, size, KEY, &error));
	g_assert_no_error(error);
	close(fd);
	g_assert_true(g_file_get_contents(path, &cipher, &clen, NULL));
	g_assert_cmpuint(clen, ==, size);
	g_assert_true(memcmp(cipher, expect, size) == 0);

	file = rota_file_view_new(path, &error);
	g_assert_no_error(error);
	view = rota_crypt_view_new(file, KEY, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rota_view_get_size(view), ==, size);

	/* whole, edges, and random ranges (unaligned, spanning blocks and chunks) */
	{
		g_autofree guint8 *all = g_malloc(size);
		g_assert_true(rota_view_read_at(view, 0, all, size, &error));
		g_assert_true(memcmp(all, plain, size) == 0);
	}
	r = g_rand_new_with_seed(99);
	for (int i = 0; i < 500; i++) {
		guint64 off = g_rand_int_range(r, 0, (gint32)size);
		gsize maxlen = MIN(size - off, (gsize)(i % 10 == 0 ? 3 * 1024 * 1024 : 20000));
		gsize len = 1 + g_rand_int_range(r, 0, (gint32)maxlen);
		g_autofree guint8 *buf = g_malloc(len);
		g_assert_true(rota_view_read_at(view, off, buf, len, &error));
		g_assert_no_error(error);
		if (memcmp(buf, plain + off, len) != 0)
			g_error("mismatch at offset %" G_GUINT64_FORMAT " length %" G_GSIZE_FORMAT, off, len);
	}
	g_rand_free(r);
	{
		guint8 b;
		g_assert_true(rota_view_read_at(view, size - 1, &b, 1, &error));
		g_assert_cmpuint(b, ==, plain[size - 1]);
		g_assert_false(rota_view_read_at(view, size, &b, 1, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		g_clear_error(&error);
	}
	/* the wrong key reads garbage, not the plaintext */
	{
		guint8 other[32];
		guint8 buf[64];
		memcpy(other, KEY, 32);
		other[31] ^= 1;
		g_autoptr(RotaView) wrong = rota_crypt_view_new(file, other, &error);
		g_assert_true(rota_view_read_at(wrong, 4096, buf, sizeof(buf), &error));
		g_assert_true(memcmp(buf, plain + 4096, sizeof(buf)) != 0);
	}
	g_unlink(path);
}

/* Small files take the single-thread path and still match. */
static void test_encrypt_fd_small(void)
{
	g_autofree guint8 *plain = g_malloc(2 * ROTA_CRYPT_BLOCK);
	g_autofree guint8 *expect = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *cipher = NULL;
	g_autoptr(GError) error = NULL;
	gsize clen;
	int fd;

	fill(plain, 2 * ROTA_CRYPT_BLOCK, 5);
	expect = g_memdup2(plain, 2 * ROTA_CRYPT_BLOCK);
	g_assert_true(rota_crypt_blocks(KEY, 0, expect, 2, TRUE, &error));
	path = write_tmp(plain, 2 * ROTA_CRYPT_BLOCK);
	fd = open(path, O_RDWR);
	g_assert_true(rota_crypt_encrypt_fd(fd, 2 * ROTA_CRYPT_BLOCK, KEY, &error));
	close(fd);
	g_assert_true(g_file_get_contents(path, &cipher, &clen, NULL));
	g_assert_cmpmem(cipher, clen, expect, 2 * ROTA_CRYPT_BLOCK);
	g_unlink(path);
}

static void test_not_multiple_rejected(void)
{
	g_autofree guint8 *data = g_malloc0(3 * ROTA_CRYPT_BLOCK);
	g_autofree gchar *path = write_tmp(data, ROTA_CRYPT_BLOCK + 1);
	g_autofree gchar *after = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL;
	g_autoptr(RotaView) view = NULL;
	gsize len;
	int fd = open(path, O_RDWR);

	g_assert_false(rota_crypt_encrypt_fd(fd, ROTA_CRYPT_BLOCK + 1, KEY, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "multiple of 4096"));
	g_clear_error(&error);
	close(fd);
	/* nothing was touched */
	g_assert_true(g_file_get_contents(path, &after, &len, NULL));
	g_assert_cmpmem(after, len, data, ROTA_CRYPT_BLOCK + 1);

	file = rota_file_view_new(path, &error);
	g_assert_no_error(error);
	view = rota_crypt_view_new(file, KEY, &error);
	g_assert_null(view);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "not a multiple of 4096"));
	g_unlink(path);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/crypt/iv-scheme", test_iv_scheme);
	g_test_add_func("/crypt/context-reuse", test_context_reuse);
	g_test_add_func("/crypt/encrypt-fd-and-view", test_encrypt_fd_and_view);
	g_test_add_func("/crypt/encrypt-fd-small", test_encrypt_fd_small);
	g_test_add_func("/crypt/not-multiple-of-4096", test_not_multiple_rejected);
	return g_test_run();
}
