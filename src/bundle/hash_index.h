/* hash_index.h — the block-hash-index of adaptive images (install-and-
 * runtime.md §8.1): a flat file of SHA-256 digests of consecutive 4 KiB
 * chunks, no salt, no header. Bundles carry it next to the image as
 * <filename>.block-hash-index; devices cache one per slot. */
#pragma once

#include <glib.h>

#include "view/view.h"

#define ROTA_CHUNK 4096u
/* The most chunks an index may have (spec §8.1, as RAUC): 32 bytes each
 * still fit in 32 bits, so the index fits a gsize on 32-bit systems too. */
#define ROTA_HASH_INDEX_MAX_CHUNKS 0x7FFFFFFu

/* SHA-256 of 4096 zero bytes: such chunks need no source at all. */
extern const guint8 rota_zero_chunk_digest[32];

void rota_chunk_digest(const guint8 *chunk, guint8 out[32]);

/* Index of the first size bytes of view (size a non-zero multiple of 4096,
 * at most ROTA_HASH_INDEX_MAX_CHUNKS chunks), hashed on all cores. */
GBytes *rota_hash_index_compute(RotaView *view, guint64 size, GError **error);
