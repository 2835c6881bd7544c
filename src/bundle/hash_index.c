/* hash_index.c — see hash_index.h. */
#include "hash_index.h"

#include <openssl/evp.h>

#include "common/util.h"

#define RUN_CHUNKS 256u /* reads of 1 MiB */

const guint8 rota_zero_chunk_digest[32] = {
	0xad, 0x7f, 0xac, 0xb2, 0x58, 0x6f, 0xc6, 0xe9, 0x66, 0xc0, 0x04, 0xd7, 0xd1, 0xd1, 0x6b, 0x02,
	0x4f, 0x58, 0x05, 0xff, 0x7c, 0xb4, 0x7c, 0x7a, 0x85, 0xda, 0xbd, 0x8b, 0x48, 0x89, 0x2c, 0xa7};

void rota_chunk_digest(const guint8 *chunk, guint8 out[32])
{
	EVP_Digest(chunk, ROTA_CHUNK, out, NULL, EVP_sha256(), NULL);
}

typedef struct {
	RotaView *view;
	guint64 first, last;
	guint8 *out;
	GError *error;
} IndexJob;

static gpointer index_job_run(gpointer data)
{
	IndexJob *job = data;
	g_autofree guint8 *buf = g_malloc(RUN_CHUNKS * ROTA_CHUNK);

	for (guint64 c = job->first; c < job->last;) {
		gsize n = (gsize)MIN((guint64)RUN_CHUNKS, job->last - c);
		if (!rota_view_read_at(job->view, c * ROTA_CHUNK, buf, n * ROTA_CHUNK, &job->error))
			break;
		for (gsize i = 0; i < n; i++)
			rota_chunk_digest(buf + i * ROTA_CHUNK, job->out + (c + i) * 32);
		c += n;
	}
	return NULL;
}

GBytes *rota_hash_index_compute(RotaView *view, guint64 size, GError **error)
{
	guint64 chunks = size / ROTA_CHUNK;
	guint n = (guint)MAX(1, MIN((guint64)rota_worker_count(), chunks / RUN_CHUNKS));
	g_autofree IndexJob *jobs = g_new0(IndexJob, n);
	g_autofree GThread **threads = g_new0(GThread *, n);
	guint8 *out;
	gboolean ok = TRUE;

	if (size == 0 || size % ROTA_CHUNK != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: image/partition size (%" G_GUINT64_FORMAT
			    ") is not a multiple of 4096 bytes", rota_view_get_name(view), size);
		return NULL;
	}
	out = g_malloc(chunks * 32);
	for (guint i = 0; i < n; i++) {
		jobs[i] = (IndexJob){.view = view, .first = chunks * i / n, .last = chunks * (i + 1) / n, .out = out};
		threads[i] = g_thread_new("rota-index", index_job_run, &jobs[i]);
	}
	for (guint i = 0; i < n; i++) {
		g_thread_join(threads[i]);
		if (jobs[i].error && ok) {
			g_propagate_error(error, g_steal_pointer(&jobs[i].error));
			ok = FALSE;
		}
		g_clear_error(&jobs[i].error);
	}
	if (!ok) {
		g_free(out);
		return NULL;
	}
	return g_bytes_new_take(out, chunks * 32);
}

