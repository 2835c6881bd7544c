/* hash_index.c — see hash_index.h. */
#include "hash_index.h"

#include "common/parallel.h"
#include "common/sha256_pair.h"
#include "common/util.h"

#define RUN_CHUNKS 256u /* reads of 1 MiB */

const guint8 rota_zero_chunk_digest[32] = {
	0xad, 0x7f, 0xac, 0xb2, 0x58, 0x6f, 0xc6, 0xe9, 0x66, 0xc0, 0x04, 0xd7, 0xd1, 0xd1, 0x6b, 0x02,
	0x4f, 0x58, 0x05, 0xff, 0x7c, 0xb4, 0x7c, 0x7a, 0x85, 0xda, 0xbd, 0x8b, 0x48, 0x89, 0x2c, 0xa7};

void rota_chunk_digest(const guint8 *chunk, guint8 out[32])
{
	rota_sha256_prefixed(NULL, 0, chunk, ROTA_CHUNK, out);
}

typedef struct {
	RotaView *view;
	guint8 *out;
} IndexJob;

static gboolean index_range(guint64 first, guint64 last, gpointer data, GError **error)
{
	IndexJob *job = data;
	g_autofree guint8 *buf = g_malloc(RUN_CHUNKS * ROTA_CHUNK);

	for (guint64 c = first; c < last;) {
		gsize n = (gsize)MIN((guint64)RUN_CHUNKS, last - c);
		if (!rota_view_read_at(job->view, c * ROTA_CHUNK, buf, n * ROTA_CHUNK, error))
			return FALSE;
		rota_sha256_blocks(NULL, 0, buf, n, ROTA_CHUNK, job->out + c * 32); /* two at a time */
		c += n;
	}
	return TRUE;
}

GBytes *rota_hash_index_compute(RotaView *view, guint64 size, GError **error)
{
	guint64 chunks = size / ROTA_CHUNK;
	IndexJob job = {.view = view};

	if (size == 0 || size % ROTA_CHUNK != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: image/partition size (%" G_GUINT64_FORMAT
			    ") is not a multiple of 4096 bytes", rota_view_get_name(view), size);
		return NULL;
	}
	if (chunks > ROTA_HASH_INDEX_MAX_CHUNKS) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "%s: image/partition size (%" G_GUINT64_FORMAT ") is too large",
			    rota_view_get_name(view), size);
		return NULL;
	}
	job.out = g_malloc((gsize)chunks * 32);
	if (!rota_parallel_ranges(chunks, RUN_CHUNKS, index_range, &job, error)) {
		g_free(job.out);
		return NULL;
	}
	return g_bytes_new_take(job.out, (gsize)chunks * 32);
}
