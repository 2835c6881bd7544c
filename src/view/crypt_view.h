/* crypt_view.h — AES-256-CBC per 4 KiB block, the payload encryption of
 * crypt bundles (bundle-format.md §6.1: dm-crypt aes-cbc-plain64 with 4096
 * byte sectors, IV = little-endian (block × 8), i.e. counting 512-byte
 * sectors). The view decrypts a (verified) lower view on the fly; the
 * same block function encrypts payloads when bundles are made. */
#pragma once

#include <glib.h>

#include "view/view.h"

#define ROTA_CRYPT_BLOCK 4096u
#define ROTA_CRYPT_KEY_SIZE 32u

/* En- or decrypts n whole blocks in place, the first being block number
 * first_block of the payload. */
gboolean rota_crypt_blocks(const guint8 key[32], guint64 first_block, guint8 *data, gsize n, gboolean encrypt,
			   GError **error);

/* Encrypts [0, size) of fd in place on all cores (size a multiple of 4096). */
gboolean rota_crypt_encrypt_fd(int fd, guint64 size, const guint8 key[32], GError **error);

/* A view of the plaintext of lower (whose size must be a multiple of 4096). */
RotaView *rota_crypt_view_new(RotaView *lower, const guint8 key[32], GError **error);
