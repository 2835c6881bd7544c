/* test_http_view.c — the HTTP view through the real rota-fetch helper,
 * against a small in-process Range server (keep-alive, one thread per
 * connection) that can also misbehave. */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "view/http_view.h"

typedef enum { SERVE_OK, SERVE_200, SERVE_GROW_AFTER_FIRST } ServeMode;

typedef struct {
	int listen_fd;
	guint16 port;
	guint8 *data;
	gsize size;
	ServeMode mode;
	gint requests;
	GThread *thread;
} Server;

static gboolean read_head(int fd, GString *head)
{
	char c;

	g_string_truncate(head, 0);
	while (!g_str_has_suffix(head->str, "\r\n\r\n")) {
		if (read(fd, &c, 1) != 1 || head->len > 16384)
			return FALSE;
		g_string_append_c(head, c);
	}
	return TRUE;
}

static void send_all(int fd, const void *buf, gsize len)
{
	const guint8 *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (gsize)n;
	}
}

/* Parses "Range: bytes=a-b" or "bytes=-n" into [*a, *b]. */
static gboolean parse_range(const gchar *head, gsize size, guint64 *a, guint64 *b)
{
	const gchar *r = strstr(head, "\r\nRange: bytes=");
	guint64 x, y;

	if (!r)
		return FALSE;
	r += strlen("\r\nRange: bytes=");
	if (*r == '-') {
		x = g_ascii_strtoull(r + 1, NULL, 10);
		*a = x >= size ? 0 : size - x;
		*b = size - 1;
		return TRUE;
	}
	x = g_ascii_strtoull(r, (gchar **)&r, 10);
	if (*r != '-')
		return FALSE;
	y = g_ascii_strtoull(r + 1, NULL, 10);
	*a = x;
	*b = MIN(y, size - 1);
	return x <= *b;
}

static gpointer serve_connection(gpointer data)
{
	Server *srv = ((gpointer *)data)[0];
	int fd = GPOINTER_TO_INT(((gpointer *)data)[1]);
	g_autoptr(GString) head = g_string_new(NULL);

	g_free(data);
	while (read_head(fd, head)) {
		gint n = g_atomic_int_add(&srv->requests, 1);
		gsize size = srv->mode == SERVE_GROW_AFTER_FIRST && n > 0 ? srv->size + 4096 : srv->size;
		guint64 a, b;
		g_autofree gchar *reply = NULL;

		if (srv->mode == SERVE_200 || !parse_range(head->str, size, &a, &b)) {
			reply = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n", srv->size);
			send_all(fd, reply, strlen(reply));
			send_all(fd, srv->data, srv->size);
			continue;
		}
		reply = g_strdup_printf("HTTP/1.1 206 Partial Content\r\nContent-Length: %" G_GUINT64_FORMAT
					"\r\nContent-Range: bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT "/%" G_GSIZE_FORMAT
					"\r\n\r\n",
					b - a + 1, a, b, size);
		send_all(fd, reply, strlen(reply));
		send_all(fd, srv->data + a, (gsize)MIN(b + 1, (guint64)srv->size) - a);
	}
	close(fd);
	return NULL;
}

static gpointer accept_loop(gpointer data)
{
	Server *srv = data;

	for (;;) {
		int fd = accept(srv->listen_fd, NULL, NULL);
		gpointer *args;
		if (fd < 0)
			return NULL;
		args = g_new(gpointer, 2);
		args[0] = srv;
		args[1] = GINT_TO_POINTER(fd);
		g_thread_unref(g_thread_new("conn", serve_connection, args));
	}
}

static Server *server_start(gsize size, ServeMode mode)
{
	Server *srv = g_new0(Server, 1);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	GRand *rand = g_rand_new_with_seed(42);

	srv->size = size;
	srv->mode = mode;
	srv->data = g_malloc(size);
	for (gsize i = 0; i < size; i++)
		srv->data[i] = (guint8)g_rand_int(rand);
	g_rand_free(rand);
	srv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	g_assert_cmpint(bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(listen(srv->listen_fd, 16), ==, 0);
	g_assert_cmpint(getsockname(srv->listen_fd, (struct sockaddr *)&addr, &alen), ==, 0);
	srv->port = ntohs(addr.sin_port);
	srv->thread = g_thread_new("accept", accept_loop, srv);
	return srv;
}

/* The accept thread and its connections are left to process exit. */
static gchar *server_url(Server *srv)
{
	return g_strdup_printf("http://127.0.0.1:%u/bundle.raucb", srv->port);
}

static const RotaHttpOptions quick = {.retries = 1, .retry_delay_ms = 10, .low_speed_time = 5};

static void test_sequential(void)
{
	Server *srv = server_start(3 * 1024 * 1024 + 1000, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, &error);
	g_autofree guint8 *buf = g_malloc(srv->size);
	RotaHttpStats st;

	g_assert_no_error(error);
	g_assert_cmpuint(rota_view_get_size(v), ==, srv->size);
	g_assert_cmpint(g_atomic_int_get(&srv->requests), ==, 1);
	/* Squashfs-like: 128 KiB reads, front to back. */
	for (gsize off = 0; off < srv->size; off += 131072) {
		gsize n = MIN(131072, srv->size - off);
		rota_view_read_at(v, off, buf + off, n, &error);
		g_assert_no_error(error);
	}
	g_assert_cmpmem(buf, srv->size, srv->data, srv->size);
	g_assert_true(rota_http_view_get_stats(v, &st));
	g_assert_cmpuint(st.needed, ==, srv->size);
	g_assert_cmpuint(st.downloaded, <=, srv->size + 65536);
	g_assert_cmpuint(st.requests, <=, 3 + 10);
	g_assert_cmpuint(st.requests, ==, (guint64)g_atomic_int_get(&srv->requests));
	g_assert_cmpuint(rota_http_view_get_helper_pid(v), >, 0);
}

static void test_tail_only(void)
{
	Server *srv = server_start(1024 * 1024, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, NULL);
	guint8 buf[8];

	g_assert_nonnull(v);
	g_assert_true(rota_view_read_at(v, srv->size - 8, buf, 8, NULL));
	g_assert_true(rota_view_read_at(v, srv->size - 5000, buf, 8, NULL));
	g_assert_cmpint(g_atomic_int_get(&srv->requests), ==, 1);
}

static void test_small_bundle(void)
{
	Server *srv = server_start(1000, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, NULL);
	guint8 buf[1000];

	g_assert_nonnull(v);
	g_assert_cmpuint(rota_view_get_size(v), ==, 1000);
	g_assert_true(rota_view_read_at(v, 0, buf, 1000, NULL));
	g_assert_cmpmem(buf, 1000, srv->data, 1000);
}

typedef struct {
	RotaView *view;
	Server *srv;
	guint seed;
	gboolean ok;
} Reader;

static gpointer random_reader(gpointer data)
{
	Reader *r = data;
	GRand *rand = g_rand_new_with_seed(r->seed);
	guint8 buf[20000];

	r->ok = TRUE;
	for (int i = 0; i < 200 && r->ok; i++) {
		gsize len = (gsize)g_rand_int_range(rand, 1, sizeof(buf));
		guint64 off = (guint64)g_rand_int_range(rand, 0, (gint32)(r->srv->size - len));
		r->ok = rota_view_read_at(r->view, off, buf, len, NULL) && memcmp(buf, r->srv->data + off, len) == 0;
	}
	g_rand_free(rand);
	return NULL;
}

static void test_two_threads(void)
{
	Server *srv = server_start(2 * 1024 * 1024, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, NULL);
	Reader a = {v, srv, 1, FALSE}, b = {v, srv, 2, FALSE};
	GThread *ta, *tb;

	g_assert_nonnull(v);
	ta = g_thread_new("a", random_reader, &a);
	tb = g_thread_new("b", random_reader, &b);
	g_thread_join(ta);
	g_thread_join(tb);
	g_assert_true(a.ok);
	g_assert_true(b.ok);
}

/* Reads [off, off+len) in 4 KiB pieces, as the verity view does. */
static void read_in_blocks(RotaView *v, Server *srv, guint64 off, gsize len)
{
	guint8 buf[4096];

	for (guint64 at = off; at < off + len; at += sizeof(buf)) {
		gsize n = (gsize)MIN((guint64)sizeof(buf), off + len - at);
		g_assert_true(rota_view_read_at(v, at, buf, n, NULL));
		g_assert_cmpmem(buf, n, srv->data + at, n);
	}
}

/* Announced scattered runs (an adaptive update's missing chunks) cost
 * exactly their bytes; touching announcements become one request. */
static void test_announced_runs(void)
{
	Server *srv = server_start(4 * 1024 * 1024, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, NULL);
	RotaHttpStats before, after;

	g_assert_nonnull(v);
	g_assert_true(rota_http_view_get_stats(v, &before));
	rota_view_will_read(v, 2 * 1024 * 1024, 8192);
	rota_view_will_read(v, 102400, 40960);
	rota_view_will_read(v, 143360, 20480); /* touches the one before */
	read_in_blocks(v, srv, 102400, 40960 + 20480);
	read_in_blocks(v, srv, 2 * 1024 * 1024, 8192);
	g_assert_true(rota_http_view_get_stats(v, &after));
	g_assert_cmpuint(after.downloaded - before.downloaded, ==, 40960 + 20480 + 8192);
	g_assert_cmpuint(after.requests - before.requests, ==, 2);
}

typedef struct {
	RotaView *view;
	Server *srv;
	gint *next_chunk;
	gboolean ok;
} ChunkReader;

/* Takes 1 MiB chunks in turn from a shared counter, reads each in 128 KiB
 * pieces: the pattern of an install's reader threads. */
static gpointer chunk_reader(gpointer data)
{
	ChunkReader *r = data;
	g_autofree guint8 *buf = g_malloc(131072);
	gint c;

	r->ok = TRUE;
	while (r->ok && (guint64)(c = g_atomic_int_add(r->next_chunk, 1)) * 1048576 < r->srv->size) {
		for (guint64 off = (guint64)c * 1048576; r->ok && off < MIN((guint64)(c + 1) * 1048576, r->srv->size);
		     off += 131072) {
			gsize n = (gsize)MIN((guint64)131072, r->srv->size - off);
			r->ok = rota_view_read_at(r->view, off, buf, n, NULL) && memcmp(buf, r->srv->data + off, n) == 0;
		}
	}
	return NULL;
}

/* Two readers working through one announced range in turns fetch it once,
 * in large windows. */
static void test_announced_two_readers(void)
{
	Server *srv = server_start(12 * 1024 * 1024 + 5000, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, NULL);
	gint next = 0;
	ChunkReader a = {v, srv, &next, FALSE}, b = {v, srv, &next, FALSE};
	RotaHttpStats st;
	GThread *ta, *tb;

	g_assert_nonnull(v);
	rota_view_will_read(v, 0, srv->size);
	ta = g_thread_new("a", chunk_reader, &a);
	tb = g_thread_new("b", chunk_reader, &b);
	g_thread_join(ta);
	g_thread_join(tb);
	g_assert_true(a.ok && b.ok);
	g_assert_true(rota_http_view_get_stats(v, &st));
	g_assert_cmpuint(st.needed, ==, srv->size);
	g_assert_cmpuint(st.downloaded, <=, srv->size + 65536);
	g_assert_cmpuint(st.requests, <=, 13 + 4);
}

static void test_no_ranges(void)
{
	Server *srv = server_start(100000, SERVE_200);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, &error);

	g_assert_null(v);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "range requests not supported by server"));
	g_assert_nonnull(strstr(error->message, url));
}

static void test_size_changed(void)
{
	Server *srv = server_start(200000, SERVE_GROW_AFTER_FIRST);
	g_autofree gchar *url = server_url(srv);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = rota_http_view_new(url, &quick, &error);
	guint8 buf[16];

	g_assert_no_error(error);
	g_assert_false(rota_view_read_at(v, 0, buf, sizeof(buf), &error));
	g_assert_nonnull(strstr(error->message, "changed"));
	g_assert_nonnull(strstr(error->message, url));
}

static void test_unreachable(void)
{
	RotaHttpOptions o = quick;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = NULL;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	g_autofree gchar *url = NULL;

	/* A port that was just free: nothing listens there. (No test server:
	 * its accept thread would outlive the closed socket.) */
	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &alen), ==, 0);
	close(fd);
	url = g_strdup_printf("http://127.0.0.1:%u/bundle.raucb", ntohs(addr.sin_port));
	o.retries = 1;
	v = rota_http_view_new(url, &o, &error);
	g_assert_null(v);
	g_assert_nonnull(strstr(error->message, "127.0.0.1"));
}

static void test_limit(void)
{
	Server *srv = server_start(300000, SERVE_OK);
	g_autofree gchar *url = server_url(srv);
	RotaHttpOptions o = quick;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = NULL;

	o.max_download_size = 1000;
	v = rota_http_view_new(url, &o, &error);
	g_assert_null(v);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/http_view/sequential", test_sequential);
	g_test_add_func("/http_view/tail_only", test_tail_only);
	g_test_add_func("/http_view/small_bundle", test_small_bundle);
	g_test_add_func("/http_view/two_threads", test_two_threads);
	g_test_add_func("/http_view/announced_runs", test_announced_runs);
	g_test_add_func("/http_view/announced_two_readers", test_announced_two_readers);
	g_test_add_func("/http_view/no_ranges", test_no_ranges);
	g_test_add_func("/http_view/size_changed", test_size_changed);
	g_test_add_func("/http_view/unreachable", test_unreachable);
	g_test_add_func("/http_view/limit", test_limit);
	return g_test_run();
}
