/* sha256_pair.h — two independent SHA-256 digests computed together.
 *
 * dm-verity hashes many equal-sized blocks that do not depend on each
 * other. A single SHA-256 stream waits on the latency of every round
 * instruction; two streams interleaved fill those gaps, so on CPUs with the
 * SHA extensions a pair costs not much more than one (see sha256_pair.c). */
#pragma once

#include <glib.h>

#define ROTA_SHA256_LEN 32

/* out_a = SHA-256(prefix || a), out_b = SHA-256(prefix || b), where a and b
 * are both len bytes. The inputs may alias each other; the outputs must not
 * overlap any input. Meanwhile the
 * cache lines of [ahead, ahead+ahead_len) are prefetched (ahead may be NULL):
 * the next blocks of a mapping, say, which would otherwise arrive cold. */
void rota_sha256_pair(const guint8 *prefix, gsize prefix_len, const guint8 *a, const guint8 *b, gsize len,
		      const guint8 *ahead, gsize ahead_len, guint8 out_a[ROTA_SHA256_LEN],
		      guint8 out_b[ROTA_SHA256_LEN]);

/* The digests of n consecutive blocks of block_len bytes, each prefixed,
 * into out (n * 32 bytes), two at a time. */
void rota_sha256_blocks(const guint8 *prefix, gsize prefix_len, const guint8 *blocks, gsize n, gsize block_len,
			guint8 *out);

/* out = SHA-256(prefix || data), one message. */
void rota_sha256_prefixed(const guint8 *prefix, gsize prefix_len, const guint8 *data, gsize len,
			  guint8 out[ROTA_SHA256_LEN]);

/* TRUE when the interleaved SHA-NI code runs on this CPU; otherwise both
 * calls above fall back to OpenSSL, one digest after the other. */
gboolean rota_sha256_pair_accelerated(void);
