/* test_fetch_protocol.c — frames between rota and rota-fetch: round trips
 * and the strict checks on everything the privileged side receives. */
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/fetch_protocol.h"

typedef struct {
	int a, b;
} Pair;

static void pair_open(Pair *p)
{
	int sv[2];
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
	p->a = sv[0];
	p->b = sv[1];
}

static void pair_close(Pair *p)
{
	close(p->a);
	close(p->b);
}

static void put_raw(int fd, const void *data, gsize len)
{
	g_assert_true(rota_fetch_write_all(fd, data, len, "test", NULL));
}

static void test_request_roundtrip(void)
{
	Pair p;
	RotaFetchRequest req = {.type = ROTA_FETCH_READ, .offset = 0x123456789aULL, .length = 4096}, got;
	g_autoptr(GBytes) body = NULL;
	gboolean eof;

	pair_open(&p);
	g_assert_true(rota_fetch_send_request(p.a, &req, NULL, NULL));
	g_assert_true(rota_fetch_recv_request(p.b, &got, &body, &eof, NULL));
	g_assert_cmpuint(got.type, ==, ROTA_FETCH_READ);
	g_assert_cmpuint(got.offset, ==, req.offset);
	g_assert_cmpuint(got.length, ==, 4096);
	g_assert_null(body);
	close(p.a);
	g_assert_false(rota_fetch_recv_request(p.b, &got, &body, &eof, NULL));
	g_assert_true(eof);
	close(p.b);
}

static void test_configure_roundtrip(void)
{
	Pair p;
	g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
	g_autoptr(GBytes) out = NULL, body = NULL;
	g_autoptr(GVariant) dict = NULL;
	RotaFetchRequest req = {.type = ROTA_FETCH_CONFIGURE, .length = 100}, got;
	const gchar *url;
	gsize len;
	const void *data;

	g_variant_dict_insert(&d, ROTA_FETCH_KEY_URL, "s", "https://example.org/b.raucb");
	out = rota_fetch_config_serialize(g_variant_dict_end(&d));
	data = g_bytes_get_data(out, &len);
	req.body_len = (guint32)len;
	pair_open(&p);
	g_assert_true(rota_fetch_send_request(p.a, &req, data, NULL));
	g_assert_true(rota_fetch_recv_request(p.b, &got, &body, NULL, NULL));
	dict = rota_fetch_config_parse(body, NULL);
	g_assert_nonnull(dict);
	g_assert_true(g_variant_lookup(dict, ROTA_FETCH_KEY_URL, "&s", &url));
	g_assert_cmpstr(url, ==, "https://example.org/b.raucb");
	pair_close(&p);
}

static void test_request_bounds(void)
{
	/* magic "RFQ1", READ, offset 0, length 16 MiB + 1 */
	const guint8 too_long[24] = {'R', 'F', 'Q', '1', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0};
	const guint8 bad_type[24] = {'R', 'F', 'Q', '1', 0, 0, 0, 9};
	const guint8 read_body[24] = {'R', 'F', 'Q', '1', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
	const guint8 *cases[] = {too_long, bad_type, read_body};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		Pair p;
		RotaFetchRequest got;
		g_autoptr(GBytes) body = NULL;
		g_autoptr(GError) error = NULL;

		pair_open(&p);
		put_raw(p.a, cases[i], 24);
		g_assert_false(rota_fetch_recv_request(p.b, &got, &body, NULL, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		pair_close(&p);
	}
}

static void test_reply_roundtrip(void)
{
	Pair p;
	RotaFetchReply r = {.status = ROTA_FETCH_OK, .data_len = 5, .requests = 2, .retries = 1, .downloaded = 9}, got;
	g_autofree gchar *msg = NULL;
	guint8 data[5];

	pair_open(&p);
	g_assert_true(rota_fetch_send_reply(p.b, &r, NULL, "hello", NULL));
	g_assert_true(rota_fetch_recv_reply_header(p.a, ROTA_FETCH_READ, 5, &got, &msg, NULL));
	g_assert_null(msg);
	g_assert_cmpuint(got.requests, ==, 2);
	g_assert_cmpuint(got.retries, ==, 1);
	g_assert_cmpuint(got.downloaded, ==, 9);
	g_assert_true(rota_fetch_read_all(p.a, data, 5, NULL, "test", NULL));
	g_assert_cmpmem(data, 5, "hello", 5);
	pair_close(&p);
}

static void test_reply_configure_tail(void)
{
	Pair p;
	RotaFetchReply r = {.status = ROTA_FETCH_OK, .data_len = 3, .total = 3}, got;
	g_autofree gchar *msg = NULL;

	/* A bundle smaller than the asked tail: the tail is the whole bundle. */
	pair_open(&p);
	g_assert_true(rota_fetch_send_reply(p.b, &r, NULL, "abc", NULL));
	g_assert_true(rota_fetch_recv_reply_header(p.a, ROTA_FETCH_CONFIGURE, 65536, &got, &msg, NULL));
	g_assert_cmpuint(got.data_len, ==, 3);
	pair_close(&p);
}

static void test_reply_wrong_length(void)
{
	Pair p;
	RotaFetchReply r = {.status = ROTA_FETCH_OK, .data_len = 4}, got;
	g_autofree gchar *msg = NULL;
	g_autoptr(GError) error = NULL;

	pair_open(&p);
	g_assert_true(rota_fetch_send_reply(p.b, &r, NULL, "abcd", NULL));
	g_assert_false(rota_fetch_recv_reply_header(p.a, ROTA_FETCH_READ, 5, &got, &msg, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	pair_close(&p);
}

static void test_reply_bad_header(void)
{
	const guint8 bad_status[40] = {'R', 'F', 'R', '1', 0, 0, 0, 7};
	const guint8 long_msg[40] = {'R', 'F', 'R', '1', 0, 0, 0, 1, 0, 1, 0, 0};
	const guint8 data_on_error[40] = {'R', 'F', 'R', '1', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
	const guint8 bad_magic[40] = {'X', 'F', 'R', '1'};
	const guint8 *cases[] = {bad_status, long_msg, data_on_error, bad_magic};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		Pair p;
		RotaFetchReply got;
		g_autofree gchar *msg = NULL;
		g_autoptr(GError) error = NULL;

		pair_open(&p);
		put_raw(p.b, cases[i], 40);
		g_assert_false(rota_fetch_recv_reply_header(p.a, ROTA_FETCH_READ, 1, &got, &msg, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		pair_close(&p);
	}
}

static void test_reply_message_sanitized(void)
{
	Pair p;
	RotaFetchReply r = {.status = ROTA_FETCH_FAILED}, got;
	g_autofree gchar *msg = NULL;

	pair_open(&p);
	g_assert_true(rota_fetch_send_reply(p.b, &r, "bad\nline\x1b[31m\xff", NULL, NULL));
	g_assert_true(rota_fetch_recv_reply_header(p.a, ROTA_FETCH_READ, 10, &got, &msg, NULL));
	g_assert_cmpuint(got.status, ==, ROTA_FETCH_FAILED);
	g_assert_nonnull(msg);
	g_assert_null(strchr(msg, '\n'));
	g_assert_null(strchr(msg, '\x1b'));
	g_assert_true(g_utf8_validate(msg, -1, NULL));
	pair_close(&p);
}

/* Unicode controls too: C1 CSI and NEL, the line separator, a bidi
 * override; ordinary non-ASCII text stays. */
static void test_sanitize_unicode(void)
{
	static const char raw[] = "a\xc2\x9b" "31m b\xc2\x85" "c\xe2\x80\xa8" "d\xe2\x80\xae" "e \xc3\xa9t\xc3\xa9";
	g_autofree gchar *s = rota_fetch_sanitize((const guint8 *)raw, sizeof raw - 1);

	g_assert_cmpstr(s, ==, "a 31m b c d e \xc3\xa9t\xc3\xa9");
}

static void test_config_garbage(void)
{
	g_autoptr(GBytes) junk = g_bytes_new_static("\x01\x02\x03\xff\xff\xff\xff\x09", 8);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) v = rota_fetch_config_parse(junk, &error);

	/* Either rejected, or normalized into a well-formed (maybe empty) dict. */
	if (!v)
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
}

static void test_redact(void)
{
	g_autofree gchar *a = rota_fetch_redact_url("https://user:secret@host:8443/x@y.raucb");
	g_autofree gchar *b = rota_fetch_redact_url("http://host/a@b");
	g_assert_cmpstr(a, ==, "https://host:8443/x@y.raucb");
	g_assert_cmpstr(b, ==, "http://host/a@b");
	g_assert_true(rota_fetch_is_url("http://x/"));
	g_assert_false(rota_fetch_is_url("ftp://x/"));
	g_assert_false(rota_fetch_is_url("/tmp/b.raucb"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fetch_protocol/request_roundtrip", test_request_roundtrip);
	g_test_add_func("/fetch_protocol/configure_roundtrip", test_configure_roundtrip);
	g_test_add_func("/fetch_protocol/request_bounds", test_request_bounds);
	g_test_add_func("/fetch_protocol/reply_roundtrip", test_reply_roundtrip);
	g_test_add_func("/fetch_protocol/reply_configure_tail", test_reply_configure_tail);
	g_test_add_func("/fetch_protocol/reply_wrong_length", test_reply_wrong_length);
	g_test_add_func("/fetch_protocol/reply_bad_header", test_reply_bad_header);
	g_test_add_func("/fetch_protocol/reply_message_sanitized", test_reply_message_sanitized);
	g_test_add_func("/fetch_protocol/sanitize_unicode", test_sanitize_unicode);
	g_test_add_func("/fetch_protocol/config_garbage", test_config_garbage);
	g_test_add_func("/fetch_protocol/redact", test_redact);
	return g_test_run();
}
