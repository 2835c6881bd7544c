/* crypt_view.h — AES-256-CBC per 4 KiB block, the payload encryption of
 * crypt bundles (bundle-format.md §6.1: dm-crypt aes-cbc-plain64 with 4096
 * byte sectors, IV = little-endian (block × 8), i.e. counting 512-byte
 * sectors). RotaCrypt is the keyed cipher: bundles are encrypted with it
 * when made, and the verity view decrypts with it each block it has just
 * verified (rota_verity_view_new_decrypting(), one pass per block). The
 * crypt view decrypts any lower view; bundles do not stack it on the
 * verity view (that would be a second pass over every byte). */
#pragma once

#include <glib.h>

#include "view/view.h"

#define ROTA_CRYPT_BLOCK ROTA_VIEW_BLOCK
#define ROTA_CRYPT_KEY_SIZE 32u

/* A payload key, for use on any number of threads. Each user borrows a
 * context (rota_crypt_begin) that was keyed once when first made and is
 * kept for the next borrower, so a block costs the cipher and nothing else:
 * no allocation, no key schedule, no re-initialisation. */
typedef struct _RotaCrypt RotaCrypt;
typedef struct _RotaCryptCtx RotaCryptCtx;

RotaCrypt *rota_crypt_new(const guint8 key[32], gboolean encrypt);
/* Wipes the key; every borrowed context must have been returned. */
void rota_crypt_free(RotaCrypt *crypt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaCrypt, rota_crypt_free)

/* A context for one thread's use until rota_crypt_end(). */
RotaCryptCtx *rota_crypt_begin(RotaCrypt *crypt, GError **error);
void rota_crypt_end(RotaCryptCtx *ctx);

/* En- or decrypts n whole blocks in place, the first being block number
 * first_block of the payload. */
gboolean rota_crypt_run(RotaCryptCtx *ctx, guint64 first_block, guint8 *data, gsize n, GError **error);

/* The same with a one-off key (tests, benchmarks). */
gboolean rota_crypt_blocks(const guint8 key[32], guint64 first_block, guint8 *data, gsize n, gboolean encrypt,
			   GError **error);

/* Encrypts [0, size) of fd in place on all cores (size a multiple of 4096). */
gboolean rota_crypt_encrypt_fd(int fd, guint64 size, const guint8 key[32], GError **error);

/* A view of the plaintext of lower (whose size must be a multiple of 4096).
 * It decrypts whatever lower returns: over an unverified source it yields
 * unverified plaintext. */
RotaView *rota_crypt_view_new(RotaView *lower, const guint8 key[32], GError **error);
