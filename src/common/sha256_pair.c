/* sha256_pair.c — two SHA-256 streams interleaved on the x86 SHA extensions.
 *
 * Each SHA256RNDS2 instruction depends on the one before it, so a single
 * stream runs at the instruction's latency while the unit could start a new
 * one every cycle or two. Running the rounds of two messages side by side
 * keeps it busy: on this project's AMD EPYC machine a pair of 4 KiB blocks
 * takes 1.17x the time of one (1.71x the throughput; docs/benchmarks.md). The
 * lanes are plain C with compiler intrinsics; the scheme (ABEF/CDGH state
 * registers, SHA256MSG1/MSG2 message schedule) is the one Intel documents
 * for these instructions. Other CPUs use OpenSSL one digest at a time. */
/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 but skip EVP's
 * provider dispatch and context reset, ~2% of a 4 KiB block's hash. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sha256_pair.h"

#include <openssl/sha.h>
#include <string.h>

/* ROTA_NO_SHA_NI_CODE builds what other architectures get. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(ROTA_NO_SHA_NI_CODE)
#define HAVE_SHA_NI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define SHA_BLOCK 64

/* A message prefix || data read in SHA-256 blocks without copying it
 * together: blocks that straddle the two parts, and the padding, are
 * assembled in a small buffer. */
typedef struct {
	const guint8 *prefix;
	gsize prefix_len;
	const guint8 *data;
	gsize total; /* prefix_len + data length */
} Message;

static void openssl_sha256(const Message *m, guint8 out[ROTA_SHA256_LEN])
{
	SHA256_CTX ctx;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, m->prefix, m->prefix_len);
	SHA256_Update(&ctx, m->data, m->total - m->prefix_len);
	SHA256_Final(out, &ctx);
}

#ifdef HAVE_SHA_NI_CODE

#define SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Blocks hashed for a message of total bytes: the data, 0x80, zeros, and
 * the 64-bit bit length. */
static gsize message_blocks(gsize total)
{
	return (total + 1 + 8 + SHA_BLOCK - 1) / SHA_BLOCK;
}

/* Byte at offset off of prefix || data || padding. */
static guint8 message_byte(const Message *m, gsize off)
{
	if (off < m->prefix_len)
		return m->prefix[off];
	if (off < m->total)
		return m->data[off - m->prefix_len];
	if (off == m->total)
		return 0x80;
	gsize padded = message_blocks(m->total) * SHA_BLOCK;
	if (off >= padded - 8) {
		guint64 bits = (guint64)m->total * 8;
		return (guint8)(bits >> (8 * (padded - 1 - off)));
	}
	return 0;
}

/* The 64 bytes of block i: a pointer into the caller's memory when they lie
 * within one part, else assembled into buf. */
static const guint8 *message_block(const Message *m, gsize i, guint8 buf[SHA_BLOCK])
{
	gsize off = i * SHA_BLOCK;
	if (off + SHA_BLOCK <= m->prefix_len)
		return m->prefix + off;
	if (off >= m->prefix_len && off + SHA_BLOCK <= m->total)
		return m->data + (off - m->prefix_len);
	for (gsize k = 0; k < SHA_BLOCK; k++)
		buf[k] = message_byte(m, off + k);
	return buf;
}

static const guint32 K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* One lane's state in the layout SHA256RNDS2 wants: {A,B,E,F} and {C,D,G,H}. */
typedef struct {
	__m128i abef, cdgh;
} Lane;

SHA_TARGET static Lane lane_init(void)
{
	/* Initial values H0..H7 = A..H, arranged as described above. */
	Lane l;
	l.abef = _mm_set_epi32(0x6a09e667, 0xbb67ae85, 0x510e527f, 0x9b05688c);
	l.cdgh = _mm_set_epi32(0x3c6ef372, 0xa54ff53a, 0x1f83d9ab, 0x5be0cd19);
	return l;
}

/* Message words are big-endian. */
SHA_TARGET static __m128i load_words(const guint8 *p)
{
	const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), swap);
}

/* Next four schedule words W[t..t+3] from the previous sixteen, held as
 * w0 = W[t-16..t-13] ... w3 = W[t-4..t-1]. MSG1 adds sigma0 of the older
 * words, the ALIGNR supplies W[t-7..t-4], and MSG2 adds sigma1 of the
 * newest ones. */
SHA_TARGET static __m128i schedule(__m128i w0, __m128i w1, __m128i w2, __m128i w3)
{
	__m128i x = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
	return _mm_sha256msg2_epu32(x, w3);
}

/* Four rounds with schedule words w (big-endian already swapped). */
SHA_TARGET static void four_rounds(Lane *l, __m128i w, gsize group)
{
	__m128i wk = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K[4 * group]));
	l->cdgh = _mm_sha256rnds2_epu32(l->cdgh, l->abef, wk);
	l->abef = _mm_sha256rnds2_epu32(l->abef, l->cdgh, _mm_shuffle_epi32(wk, 0x0e));
}

/* One 64-byte block into each lane. The two lanes' instructions alternate,
 * which is the point: each lane's rounds wait on each other, not on the
 * other lane's. */
SHA_TARGET static void compress_pair(Lane *a, Lane *b, const guint8 *pa, const guint8 *pb)
{
	Lane a0 = *a, b0 = *b;
	__m128i wa[4], wb[4];
#pragma GCC unroll 16
	for (gsize g = 0; g < 16; g++) {
		__m128i na, nb;
		if (g < 4) {
			na = load_words(pa + 16 * g);
			nb = load_words(pb + 16 * g);
		} else {
			na = schedule(wa[g % 4], wa[(g + 1) % 4], wa[(g + 2) % 4], wa[(g + 3) % 4]);
			nb = schedule(wb[g % 4], wb[(g + 1) % 4], wb[(g + 2) % 4], wb[(g + 3) % 4]);
		}
		wa[g % 4] = na;
		wb[g % 4] = nb;
		four_rounds(a, na, g);
		four_rounds(b, nb, g);
	}
	a->abef = _mm_add_epi32(a->abef, a0.abef);
	a->cdgh = _mm_add_epi32(a->cdgh, a0.cdgh);
	b->abef = _mm_add_epi32(b->abef, b0.abef);
	b->cdgh = _mm_add_epi32(b->cdgh, b0.cdgh);
}

/* The digest: A..H as big-endian words. */
SHA_TARGET static void lane_digest(const Lane *l, guint8 out[ROTA_SHA256_LEN])
{
	guint32 w[8];
	_mm_storeu_si128((__m128i *)&w[0], l->abef); /* F E B A */
	_mm_storeu_si128((__m128i *)&w[4], l->cdgh); /* H G D C */
	const guint32 words[8] = {w[3], w[2], w[7], w[6], w[1], w[0], w[5], w[4]};
	for (gsize i = 0; i < 8; i++) {
		guint32 be = GUINT32_TO_BE(words[i]);
		memcpy(out + 4 * i, &be, 4);
	}
}

/* Also prefetches [ahead, ahead+ahead_len) a few lines per block, spread
 * over the whole pair so that the prefetches never queue behind each other. */
SHA_TARGET static void sha_ni_pair(const Message *ma, const Message *mb, const guint8 *ahead, gsize ahead_len,
				   guint8 out_a[ROTA_SHA256_LEN], guint8 out_b[ROTA_SHA256_LEN])
{
	Lane a = lane_init(), b = lane_init();
	guint8 buf_a[SHA_BLOCK], buf_b[SHA_BLOCK];
	gsize n = message_blocks(ma->total);
	gsize lines = (ahead_len + 63) / 64, per_block = (lines + n - 1) / n;
	for (gsize i = 0; i < n; i++) {
		for (gsize l = i * per_block; l < MIN(lines, (i + 1) * per_block); l++)
			__builtin_prefetch(ahead + 64 * l);
		compress_pair(&a, &b, message_block(ma, i, buf_a), message_block(mb, i, buf_b));
	}
	lane_digest(&a, out_a);
	lane_digest(&b, out_b);
}

static gboolean cpu_has_sha_ni(void)
{
	unsigned eax, ebx, ecx, edx;
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return FALSE;
	gboolean ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
		return FALSE;
	gboolean sha = (ebx >> 29) & 1;
	return ssse3 && sse41 && sha;
}

gboolean rota_sha256_pair_accelerated(void)
{
	static gsize checked = 0;
	static gboolean has = FALSE;
	if (g_once_init_enter(&checked)) {
		/* ROTA_NO_SHA_NI=1 forces the fallback so that tests can compare both. */
		has = cpu_has_sha_ni() && g_strcmp0(g_getenv("ROTA_NO_SHA_NI"), "1") != 0;
		g_once_init_leave(&checked, 1);
	}
	return has;
}

#else

gboolean rota_sha256_pair_accelerated(void)
{
	return FALSE;
}

#endif

void rota_sha256_pair(const guint8 *prefix, gsize prefix_len, const guint8 *a, const guint8 *b, gsize len,
		      const guint8 *ahead, gsize ahead_len, guint8 out_a[ROTA_SHA256_LEN],
		      guint8 out_b[ROTA_SHA256_LEN])
{
	Message ma = {prefix, prefix_len, a, prefix_len + len};
	Message mb = {prefix, prefix_len, b, prefix_len + len};
#ifdef HAVE_SHA_NI_CODE
	if (rota_sha256_pair_accelerated()) {
		sha_ni_pair(&ma, &mb, ahead, ahead_len, out_a, out_b);
		return;
	}
#endif
	(void)ahead;
	(void)ahead_len;
	openssl_sha256(&ma, out_a);
	openssl_sha256(&mb, out_b);
}

/* A lone message goes to OpenSSL: its one-stream SHA-NI code beats the
 * pair code run with one lane idle. */
void rota_sha256_prefixed(const guint8 *prefix, gsize prefix_len, const guint8 *data, gsize len,
			  guint8 out[ROTA_SHA256_LEN])
{
	Message m = {prefix, prefix_len, data, prefix_len + len};
	openssl_sha256(&m, out);
}

void rota_sha256_blocks(const guint8 *prefix, gsize prefix_len, const guint8 *blocks, gsize n, gsize block_len,
			guint8 *out)
{
	gsize i = 0;
	for (; i + 1 < n; i += 2)
		rota_sha256_pair(prefix, prefix_len, blocks + i * block_len, blocks + (i + 1) * block_len, block_len,
				 NULL, 0, out + i * ROTA_SHA256_LEN, out + (i + 1) * ROTA_SHA256_LEN);
	if (i < n)
		rota_sha256_prefixed(prefix, prefix_len, blocks + i * block_len, block_len, out + i * ROTA_SHA256_LEN);
}
