/* http_view.c — caching and read-ahead over the fetch helper.
 *
 * All state sits under one lock, held across fetches: the helper serves one
 * request at a time anyway, and a second reader waiting for the lock mostly
 * finds its bytes cached when it gets it. At most one request is in flight
 * ahead of the reader (the pending read-ahead); a miss elsewhere first
 * collects it, since replies come back in order. */
#include "http_view.h"

#include <string.h>

#include "common/util.h"
#include "net/fetch_client.h"
#include "net/fetch_protocol.h"

#define TAIL_BYTES (64u << 10)      /* trailer + CMS of any usual bundle in the first request */
#define MAX_WINDOW (1u << 20)       /* bounds the overshoot at the end of a sequential run */
#define CACHE_BYTES (8u << 20)
#define N_STREAMS 4                 /* data, hash tree, squashfs tables, one spare */
#define NEEDED_BLOCK 4096u
#define MAX_PEM_FILE (512u << 10)
/* The largest bundle a server may announce (256 TiB): the size comes from
 * the network, and the read bitmap and range arithmetic are sized by it. */
#define MAX_BUNDLE_SIZE ((guint64)1 << 48)

typedef struct {
	guint64 off;
	gsize len;
	guint8 *data;
	guint64 used; /* LRU tick */
	gboolean pinned;
} Chunk;

typedef struct {
	guint64 next;  /* end of the last range fetched for this stream */
	gsize window;  /* size of that range */
	guint64 start; /* where the stream's contiguous reads began */
	guint64 used;
	guint64 hint_end; /* end of the announced range being fetched, 0 if none */
} Stream;

typedef struct {
	guint64 off, end;
} Range;

typedef struct {
	RotaView base;
	GMutex lock;
	RotaFetchClient *client;
	guint64 max_download;
	GPtrArray *chunks; /* Chunk* */
	gsize cached;
	Stream streams[N_STREAMS];
	guint64 tick;
	gboolean pending;  /* a read-ahead request is in flight */
	guint64 pending_off;
	gsize pending_len;
	Stream *pending_stream;
	GArray *announced;  /* Range: will_read() ranges, sorted, touching ones merged */
	guint8 *needed_map; /* one bit per 4 KiB block read through the view */
	guint64 needed;
	gint64 started;     /* monotonic µs */
} HttpView;

gboolean rota_is_http_url(const gchar *path)
{
	return rota_fetch_is_url(path);
}

gchar *rota_http_url_for_display(const gchar *url)
{
	return rota_fetch_redact_url(url);
}

static void chunk_free(gpointer p)
{
	Chunk *c = p;
	g_free(c->data);
	g_free(c);
}

/* ---- cache ---- */

static Chunk *find_chunk(HttpView *self, guint64 off)
{
	for (guint i = 0; i < self->chunks->len; i++) {
		Chunk *c = self->chunks->pdata[i];
		if (off >= c->off && off - c->off < c->len)
			return c;
	}
	return NULL;
}

/* Start of the first cached chunk after off, or the view's size. */
static guint64 next_cached(HttpView *self, guint64 off)
{
	guint64 next = self->base.size;

	for (guint i = 0; i < self->chunks->len; i++) {
		Chunk *c = self->chunks->pdata[i];
		if (c->off > off)
			next = MIN(next, c->off);
	}
	return next;
}

static void evict_for(HttpView *self, gsize len)
{
	while (self->cached + len > CACHE_BYTES) {
		guint victim = G_MAXUINT;
		for (guint i = 0; i < self->chunks->len; i++) {
			Chunk *c = self->chunks->pdata[i];
			if (!c->pinned && (victim == G_MAXUINT || c->used < ((Chunk *)self->chunks->pdata[victim])->used))
				victim = i;
		}
		if (victim == G_MAXUINT)
			return;
		self->cached -= ((Chunk *)self->chunks->pdata[victim])->len;
		g_ptr_array_remove_index_fast(self->chunks, victim);
	}
}

static Chunk *add_chunk(HttpView *self, guint64 off, gsize len, guint8 *data)
{
	Chunk *c = g_new0(Chunk, 1);

	evict_for(self, len);
	c->off = off;
	c->len = len;
	c->data = data;
	c->used = ++self->tick;
	g_ptr_array_add(self->chunks, c);
	self->cached += len;
	return c;
}

/* Whether 4 KiB block b has been read through the view. */
static gboolean block_read(HttpView *self, guint64 b)
{
	return (self->needed_map[b / 8] & (1u << (b % 8))) != 0;
}

/* Start of the first block in [from, to) that has been read already, or to:
 * an announced range is fetched only up to there (the rest was read and
 * evicted, except where two readers share a block). */
static guint64 unread_until(HttpView *self, guint64 from, guint64 to)
{
	for (guint64 b = (from + NEEDED_BLOCK - 1) / NEEDED_BLOCK; b * NEEDED_BLOCK < to; b++) {
		if (block_read(self, b))
			return b * NEEDED_BLOCK;
	}
	return to;
}

/* ---- fetching ---- */

static gboolean check_budget(HttpView *self, gsize len, GError **error)
{
	RotaFetchCounters n;

	if (!self->max_download)
		return TRUE;
	rota_fetch_client_get_counters(self->client, &n);
	/* The counters come from the helper: no sum that could wrap. */
	if (n.downloaded <= self->max_download && len <= self->max_download - n.downloaded)
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "%s: downloading %" G_GSIZE_FORMAT " more bytes would exceed the limit of %" G_GUINT64_FORMAT " bytes",
		    self->base.name, len, self->max_download);
	return FALSE;
}

static gboolean send_read(HttpView *self, guint64 off, gsize len, GError **error)
{
	return check_budget(self, len, error) && rota_fetch_client_send_read(self->client, off, len, error);
}

/* Asks for the next window of stream s without waiting for it. */
static gboolean read_ahead(HttpView *self, Stream *s, GError **error)
{
	gsize window = MIN(s->window * 2, (gsize)MAX_WINDOW);
	guint64 end = MIN(s->next + window, next_cached(self, s->next));

	if (s->hint_end) /* what comes after an announced range is unknown */
		end = unread_until(self, s->next, MIN(end, s->hint_end));
	if (s->next >= self->base.size || end <= s->next || find_chunk(self, s->next))
		return TRUE;
	g_debug("%s: read-ahead %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT, self->base.name, s->next, end - s->next);
	if (!send_read(self, s->next, (gsize)(end - s->next), error))
		return FALSE;
	self->pending = TRUE;
	self->pending_off = s->next;
	self->pending_len = (gsize)(end - s->next);
	self->pending_stream = s;
	s->next = end;
	s->window = self->pending_len;
	s->used = ++self->tick;
	return TRUE;
}

/* Receives the read-ahead in flight. When the reader has arrived in it
 * (chain), the stream's next window goes out right away. */
static gboolean finish_pending(HttpView *self, gboolean chain, GError **error)
{
	g_autofree guint8 *data = g_malloc(self->pending_len);
	Stream *s = self->pending_stream;

	self->pending = FALSE;
	if (!rota_fetch_client_recv_read(self->client, data, self->pending_len, error))
		return FALSE;
	add_chunk(self, self->pending_off, self->pending_len, g_steal_pointer(&data));
	return !chain || read_ahead(self, s, error);
}

static gboolean range_needed(HttpView *self, guint64 off, gsize len)
{
	for (guint64 b = off / NEEDED_BLOCK; len && b <= (off + len - 1) / NEEDED_BLOCK; b++) {
		if (!block_read(self, b))
			return FALSE;
	}
	return TRUE;
}

/* The stream whose last fetch ends at off and was read completely, or NULL. */
static Stream *adjacent_stream(HttpView *self, guint64 off)
{
	for (guint i = 0; i < N_STREAMS; i++) {
		Stream *s = &self->streams[i];
		if (s->window && s->next == off && s->next >= s->window && range_needed(self, s->next - s->window, s->window))
			return s;
	}
	return NULL;
}

/* Reading ahead in the background needs evidence: SEQUENTIAL_EVIDENCE
 * contiguous bytes read in full. Scattered reads (adaptive updates fetching
 * runs of missing chunks) must not start read-ahead they would mostly waste. */
#define SEQUENTIAL_EVIDENCE (256u << 10)

static gboolean is_sequential(const Stream *s)
{
	return s && s->next - s->start >= SEQUENTIAL_EVIDENCE;
}

static Stream *oldest_stream(HttpView *self)
{
	Stream *oldest = &self->streams[0];

	for (guint i = 1; i < N_STREAMS; i++) {
		if (self->streams[i].used < oldest->used)
			oldest = &self->streams[i];
	}
	return oldest;
}

/* ---- announced ranges ---- */

/* Index of the first announced range that ends at or after off. */
static guint first_reaching(GArray *ranges, guint64 off)
{
	guint lo = 0, hi = ranges->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		if (g_array_index(ranges, Range, mid).end < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds [off, end), merged with every range it overlaps or touches, so
 * that adjacent announcements become one request. */
static void announce(HttpView *self, guint64 off, guint64 end)
{
	guint i = first_reaching(self->announced, off), j = i;
	Range merged = {off, end};

	while (j < self->announced->len && g_array_index(self->announced, Range, j).off <= end) {
		Range *r = &g_array_index(self->announced, Range, j);
		merged.off = MIN(merged.off, r->off);
		merged.end = MAX(merged.end, r->end);
		j++;
	}
	if (j > i)
		g_array_remove_range(self->announced, i, j - i);
	g_array_insert_val(self->announced, i, merged);
}

/* End of the announced range that holds off, or 0. */
static guint64 hinted_end(HttpView *self, guint64 off)
{
	guint i = first_reaching(self->announced, off + 1);

	if (i < self->announced->len && g_array_index(self->announced, Range, i).off <= off)
		return g_array_index(self->announced, Range, i).end;
	return 0;
}

/* Serves a miss at off (nothing in flight): fetches a window there, or
 * reads a large request straight into buf. *done = bytes of buf filled. */
static gboolean fetch_miss(HttpView *self, guint64 off, guint8 *buf, gsize len, gsize *done, GError **error)
{
	Stream *s = adjacent_stream(self, off);
	gboolean adjacent = s != NULL;
	gboolean sequential = is_sequential(s);
	guint64 limit = next_cached(self, off);
	guint64 hint_end = hinted_end(self, off);
	gsize window;
	g_autofree guint8 *data = NULL;

	*done = 0;
	if (!s) {
		s = oldest_stream(self);
		s->start = off;
	}
	/* A new stream fetches exactly what was asked; each fully read fetch
	 * that the next read continues doubles the next one (a run of n bytes
	 * costs O(log n) requests and at most its own size in excess), and only
	 * a proven sequential stream (or an announced range, below) also reads
	 * ahead in the background. */
	window = adjacent ? MIN(s->window * 2, (gsize)MAX_WINDOW) : len;
	/* An announced range is fetched as announced (the rest of it read
	 * ahead): scattered reads then cost exactly what they need, without
	 * the doubling's excess at the end of each run. */
	s->hint_end = hint_end;
	if (hint_end)
		window = (gsize)(unread_until(self, off + len, MIN(hint_end, off + MAX_WINDOW)) - off);
	s->used = ++self->tick;
	g_debug("%s: miss at %" G_GUINT64_FORMAT "+%" G_GSIZE_FORMAT " (%s)", self->base.name, off, len,
		sequential ? "sequential" : "new stream");
	if (len >= MAX_WINDOW) {
		/* Large reads bypass the cache: they would only evict it. */
		gsize n = (gsize)MIN((guint64)MIN(len, (gsize)ROTA_FETCH_MAX_READ), limit - off);
		if (!send_read(self, off, n, error) || !rota_fetch_client_recv_read(self->client, buf, n, error))
			return FALSE;
		s->next = off + n;
		s->window = MAX_WINDOW;
		*done = n;
	} else {
		gsize n = (gsize)MIN((guint64)MAX(window, len), limit - off);
		data = g_malloc(n);
		if (!send_read(self, off, n, error) || !rota_fetch_client_recv_read(self->client, data, n, error))
			return FALSE;
		add_chunk(self, off, n, g_steal_pointer(&data));
		s->next = off + n;
		s->window = n;
	}
	return !(sequential || hint_end) || read_ahead(self, s, error);
}

static gboolean serve(HttpView *self, guint64 off, guint8 *buf, gsize len, GError **error)
{
	while (len > 0) {
		Chunk *c = find_chunk(self, off);
		gsize n;

		if (c) {
			n = (gsize)MIN((guint64)len, c->off + c->len - off);
			memcpy(buf, c->data + (off - c->off), n);
			/* A chunk read completely (by however many readers) is
			 * behind them: evict it first, before read-ahead nobody
			 * has used yet. */
			c->used = !c->pinned && range_needed(self, c->off, c->len) ? 0 : ++self->tick;
		} else if (self->pending) {
			gboolean inside = off >= self->pending_off && off - self->pending_off < self->pending_len;
			if (!finish_pending(self, inside, error))
				return FALSE;
			continue;
		} else if (!fetch_miss(self, off, buf, len, &n, error)) {
			return FALSE;
		} else if (n == 0) {
			continue; /* now cached */
		}
		off += n;
		buf += n;
		len -= n;
	}
	return TRUE;
}

static void mark_needed(HttpView *self, guint64 off, gsize len)
{
	guint64 last = (off + len - 1) / NEEDED_BLOCK;

	for (guint64 b = off / NEEDED_BLOCK; b <= last; b++) {
		if (block_read(self, b))
			continue;
		self->needed_map[b / 8] |= (guint8)(1u << (b % 8));
		self->needed += MIN((guint64)NEEDED_BLOCK, self->base.size - b * NEEDED_BLOCK);
	}
}

static gboolean http_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	HttpView *self = (HttpView *)view;
	gboolean ok;

	g_mutex_lock(&self->lock);
	mark_needed(self, off, len);
	ok = serve(self, off, buf, len, error);
	g_mutex_unlock(&self->lock);
	return ok;
}

static void http_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	HttpView *self = (HttpView *)view;

	g_mutex_lock(&self->lock);
	announce(self, off, off + len);
	g_mutex_unlock(&self->lock);
}

static void http_view_finalize(RotaView *view)
{
	HttpView *self = (HttpView *)view;

	rota_fetch_client_free(self->client);
	if (self->chunks)
		g_ptr_array_unref(self->chunks);
	g_free(self->needed_map);
	if (self->announced)
		g_array_unref(self->announced);
	g_mutex_clear(&self->lock);
}

static const RotaViewOps http_view_ops = {
	.read_at = http_view_read_at,
	.finalize = http_view_finalize,
	.will_read = http_view_will_read,
};

/* ---- setup ---- */

/* A PEM file for the helper (which cannot open root's files): its bytes,
 * or a pkcs11: URI passed as it is. */
static gboolean add_credential(GVariantDict *d, const gchar *path, const gchar *key, const gchar *uri_key,
			       GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) local = NULL;
	gsize len;

	if (!path)
		return TRUE;
	if (g_str_has_prefix(path, "pkcs11:")) {
		if (!uri_key) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: a pkcs11: URI cannot be a CA file", path);
			return FALSE;
		}
		g_variant_dict_insert(d, uri_key, "s", path);
		return TRUE;
	}
	if (!g_file_get_contents(path, &data, &len, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot read %s: %s", path, local->message);
		return FALSE;
	}
	if (len > MAX_PEM_FILE) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "%s: %" G_GSIZE_FORMAT " bytes is too large for a PEM file", path, len);
		return FALSE;
	}
	g_variant_dict_insert_value(d, key, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, len, 1));
	return TRUE;
}

static void add_uint(GVariantDict *d, const gchar *key, guint value)
{
	if (value)
		g_variant_dict_insert(d, key, "u", (guint32)value);
}

static GVariant *build_config(const gchar *url, const RotaHttpOptions *o, GError **error)
{
	g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
	const gchar *const none[] = {NULL};

	g_variant_dict_insert(&d, ROTA_FETCH_KEY_URL, "s", url);
	if (!add_credential(&d, o->tls_cert, ROTA_FETCH_KEY_TLS_CERT, ROTA_FETCH_KEY_TLS_CERT_URI, error) ||
	    !add_credential(&d, o->tls_key, ROTA_FETCH_KEY_TLS_KEY, ROTA_FETCH_KEY_TLS_KEY_URI, error) ||
	    !add_credential(&d, o->tls_ca, ROTA_FETCH_KEY_TLS_CA, NULL, error))
		return NULL;
	g_variant_dict_insert(&d, ROTA_FETCH_KEY_NO_VERIFY, "b", o->tls_no_verify);
	g_variant_dict_insert_value(&d, ROTA_FETCH_KEY_HEADERS, g_variant_new_strv(o->headers ? o->headers : none, -1));
	g_variant_dict_insert_value(&d, ROTA_FETCH_KEY_INFO_HEADERS,
				    g_variant_new_strv(o->info_headers ? o->info_headers : none, -1));
	add_uint(&d, ROTA_FETCH_KEY_MAX_REDIRECTS, o->max_redirects);
	add_uint(&d, ROTA_FETCH_KEY_CONNECT_TIMEOUT, o->connect_timeout);
	add_uint(&d, ROTA_FETCH_KEY_LOW_SPEED_TIME, o->low_speed_time);
	add_uint(&d, ROTA_FETCH_KEY_RETRIES, o->retries);
	add_uint(&d, ROTA_FETCH_KEY_RETRY_DELAY, o->retry_delay_ms);
	return g_variant_dict_end(&d);
}

RotaView *rota_http_view_new(const gchar *url, const RotaHttpOptions *opts, GError **error)
{
	static const RotaHttpOptions defaults = {0};
	const RotaHttpOptions *o = opts ? opts : &defaults;
	g_autofree gchar *name = rota_fetch_redact_url(url);
	g_autoptr(RotaFetchClient) client = NULL;
	g_autoptr(GVariant) config = NULL;
	g_autoptr(GBytes) tail = NULL;
	gint64 started = g_get_monotonic_time();
	guint64 total = 0;
	HttpView *self;
	gsize tail_len;
	guint8 *data;

	if (!rota_is_http_url(url)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: not an http:// or https:// URL", name);
		return NULL;
	}
	config = build_config(url, o, error);
	if (!config)
		return NULL;
	g_variant_ref_sink(config);
	client = rota_fetch_client_new(o->sandbox_user, error);
	if (!client || !rota_fetch_client_configure(client, config, TAIL_BYTES, &total, &tail, error))
		return NULL;
	if (total > MAX_BUNDLE_SIZE) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: server reports a bundle of %" G_GUINT64_FORMAT " bytes, more than the %" G_GUINT64_FORMAT
			    " bytes rota accepts", name, total, MAX_BUNDLE_SIZE);
		return NULL;
	}
	if (o->max_download_size && total > o->max_download_size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "%s: bundle of %" G_GUINT64_FORMAT " bytes exceeds the download limit of %" G_GUINT64_FORMAT " bytes",
			    name, total, o->max_download_size);
		return NULL;
	}
	self = rota_view_alloc(sizeof(HttpView), &http_view_ops, total, name);
	g_mutex_init(&self->lock);
	self->client = g_steal_pointer(&client);
	self->max_download = o->max_download_size;
	self->started = started;
	self->chunks = g_ptr_array_new_with_free_func(chunk_free);
	self->announced = g_array_new(FALSE, FALSE, sizeof(Range));
	self->needed_map = g_malloc0((gsize)(total / (NEEDED_BLOCK * 8) + 1));
	tail_len = g_bytes_get_size(tail);
	data = g_bytes_unref_to_data(g_steal_pointer(&tail), &tail_len);
	add_chunk(self, total - tail_len, tail_len, data)->pinned = TRUE;
	return &self->base;
}

gboolean rota_http_view_get_stats(RotaView *view, RotaHttpStats *out)
{
	HttpView *self = (HttpView *)view;
	RotaFetchCounters n;

	if (view->ops != &http_view_ops)
		return FALSE;
	g_mutex_lock(&self->lock);
	rota_fetch_client_get_counters(self->client, &n);
	out->downloaded = n.downloaded;
	out->requests = n.requests;
	out->retries = n.retries;
	out->needed = self->needed;
	out->seconds = (gdouble)(g_get_monotonic_time() - self->started) / G_USEC_PER_SEC;
	g_mutex_unlock(&self->lock);
	return TRUE;
}

GPid rota_http_view_get_helper_pid(RotaView *view)
{
	return view->ops == &http_view_ops ? rota_fetch_client_get_pid(((HttpView *)view)->client) : 0;
}
