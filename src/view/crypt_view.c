/* crypt_view.c — see crypt_view.h. Each 4 KiB block is an independent CBC
 * chain, so blocks can be processed in any order and on any thread. */
#include "crypt_view.h"

#include <openssl/evp.h>
#include <string.h>

#include "common/parallel.h"
#include "common/util.h"

#define CHUNK_BLOCKS 256u /* 1 MiB per read */

static void plain64_iv(guint64 block, guint8 iv[16])
{
	guint64 sector = block * (ROTA_CRYPT_BLOCK / 512);

	memset(iv, 0, 16);
	for (int i = 0; i < 8; i++)
		iv[i] = (guint8)(sector >> (8 * i));
}

gboolean rota_crypt_blocks(const guint8 key[32], guint64 first_block, guint8 *data, gsize n, gboolean encrypt,
			   GError **error)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	gboolean ok = ctx && EVP_CipherInit_ex2(ctx, EVP_aes_256_cbc(), key, NULL, encrypt ? 1 : 0, NULL) == 1 &&
		      EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;

	for (gsize i = 0; ok && i < n; i++) {
		guint8 iv[16];
		guint8 *block = data + i * ROTA_CRYPT_BLOCK;
		int outl = 0;
		plain64_iv(first_block + i, iv);
		ok = EVP_CipherInit_ex2(ctx, NULL, NULL, iv, -1, NULL) == 1 &&
		     EVP_CipherUpdate(ctx, block, &outl, block, ROTA_CRYPT_BLOCK) == 1 && outl == ROTA_CRYPT_BLOCK;
	}
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "AES-256-CBC failed on payload block %" G_GUINT64_FORMAT,
			    first_block);
	return ok;
}

/* ---- encrypting a file in place ---- */

typedef struct {
	int fd;
	const guint8 *key;
} EncryptJob;

static gboolean encrypt_range(guint64 first, guint64 last, gpointer data, GError **error)
{
	EncryptJob *job = data;
	g_autofree guint8 *buf = g_malloc(CHUNK_BLOCKS * ROTA_CRYPT_BLOCK);

	for (guint64 b = first; b < last;) {
		gsize n = (gsize)MIN((guint64)CHUNK_BLOCKS, last - b);
		guint64 off = b * ROTA_CRYPT_BLOCK;
		if (!rota_pread_exact(job->fd, buf, n * ROTA_CRYPT_BLOCK, off, "payload", error) ||
		    !rota_crypt_blocks(job->key, b, buf, n, TRUE, error) ||
		    !rota_pwrite_exact(job->fd, buf, n * ROTA_CRYPT_BLOCK, off, "payload", error))
			return FALSE;
		b += n;
	}
	return TRUE;
}

gboolean rota_crypt_encrypt_fd(int fd, guint64 size, const guint8 key[32], GError **error)
{
	EncryptJob job = {.fd = fd, .key = key};

	if (size % ROTA_CRYPT_BLOCK != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Input size %" G_GUINT64_FORMAT " must be a multiple of 4096",
			    size);
		return FALSE;
	}
	return rota_parallel_ranges(size / ROTA_CRYPT_BLOCK, CHUNK_BLOCKS, encrypt_range, &job, error);
}

/* ---- the view ---- */

typedef struct {
	RotaView base;
	RotaView *lower;
	guint8 key[32];
} CryptView;

static gboolean crypt_view_read_partial(CryptView *self, guint64 off, void *buf, gsize len, GError **error)
{
	guint64 first = off / ROTA_CRYPT_BLOCK;
	guint64 last = (off + len - 1) / ROTA_CRYPT_BLOCK;
	g_autofree guint8 *chunk = g_malloc(MIN((guint64)CHUNK_BLOCKS, last - first + 1) * ROTA_CRYPT_BLOCK);
	guint8 *dst = buf;

	for (guint64 b = first; b <= last;) {
		gsize n = (gsize)MIN((guint64)CHUNK_BLOCKS, last - b + 1);
		guint64 chunk_off = b * ROTA_CRYPT_BLOCK;
		guint64 from = MAX(off, chunk_off), to = MIN(off + len, chunk_off + n * ROTA_CRYPT_BLOCK);

		if (!rota_view_read_at(self->lower, chunk_off, chunk, n * ROTA_CRYPT_BLOCK, error) ||
		    !rota_crypt_blocks(self->key, b, chunk, n, FALSE, error))
			return FALSE;
		memcpy(dst + (from - off), chunk + (from - chunk_off), to - from);
		b += n;
	}
	return TRUE;
}

static gboolean crypt_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	CryptView *self = (CryptView *)view;

	/* Whole blocks decrypt in the caller's buffer: no copy, no allocation. */
	if (off % ROTA_CRYPT_BLOCK == 0 && len % ROTA_CRYPT_BLOCK == 0)
		return rota_view_read_at(self->lower, off, buf, len, error) &&
		       rota_crypt_blocks(self->key, off / ROTA_CRYPT_BLOCK, buf, len / ROTA_CRYPT_BLOCK, FALSE, error);
	return crypt_view_read_partial(self, off, buf, len, error);
}

static void crypt_view_finalize(RotaView *view)
{
	CryptView *self = (CryptView *)view;
	memset(self->key, 0, sizeof(self->key)); /* the payload key lives no longer than needed */
	rota_view_unref(self->lower);
}

static const RotaViewOps crypt_view_ops = {
	.read_at = crypt_view_read_at,
	.finalize = crypt_view_finalize,
};

RotaView *rota_crypt_view_new(RotaView *lower, const guint8 key[32], GError **error)
{
	CryptView *self;

	if (lower->size % ROTA_CRYPT_BLOCK != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: encrypted data size %" G_GUINT64_FORMAT
			    " is not a multiple of 4096", lower->name, lower->size);
		return NULL;
	}
	self = rota_view_alloc(sizeof(CryptView), &crypt_view_ops, lower->size, lower->name);
	self->lower = rota_view_ref(lower);
	memcpy(self->key, key, 32);
	return &self->base;
}
