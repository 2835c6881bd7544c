/* fetch_protocol.c — encoding and strict decoding of the fetch helper's
 * frames (see fetch_protocol.h). Headers are packed by hand in big-endian
 * order so that no struct layout crosses the socket. */
#include "fetch_protocol.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define REQUEST_MAGIC 0x52465131u /* "RFQ1" */
#define REPLY_MAGIC 0x52465231u   /* "RFR1" */
#define REQUEST_SIZE 24
#define REPLY_SIZE 40

static void put32(guint8 *p, guint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (guint8)(v >> (24 - 8 * i));
}

static void put64(guint8 *p, guint64 v)
{
	put32(p, (guint32)(v >> 32));
	put32(p + 4, (guint32)v);
}

static guint32 get32(const guint8 *p)
{
	return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

static guint64 get64(const guint8 *p)
{
	return (guint64)get32(p) << 32 | get32(p + 4);
}

gboolean rota_fetch_write_all(int fd, const void *buf, gsize len, const gchar *peer, GError **error)
{
	const guint8 *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot send to %s: %s", peer, g_strerror(err));
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

gboolean rota_fetch_read_all(int fd, void *buf, gsize len, gboolean *eof, const gchar *peer, GError **error)
{
	guint8 *p = buf;
	gsize got = 0;

	if (eof)
		*eof = FALSE;
	while (got < len) {
		ssize_t n = recv(fd, p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot receive from %s: %s", peer, g_strerror(err));
			return FALSE;
		}
		if (n == 0) {
			if (eof)
				*eof = got == 0;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s closed the connection", peer);
			return FALSE;
		}
		got += (gsize)n;
	}
	return TRUE;
}

gboolean rota_fetch_send_request(int fd, const RotaFetchRequest *req, const void *body, GError **error)
{
	guint8 h[REQUEST_SIZE];

	put32(h, REQUEST_MAGIC);
	put32(h + 4, req->type);
	put64(h + 8, req->offset);
	put32(h + 16, req->length);
	put32(h + 20, req->body_len);
	return rota_fetch_write_all(fd, h, sizeof(h), "the fetch helper", error) &&
	       (req->body_len == 0 || rota_fetch_write_all(fd, body, req->body_len, "the fetch helper", error));
}

static gboolean bad_frame(GError **error, const gchar *what, guint64 value)
{
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "fetch protocol error: %s (%" G_GUINT64_FORMAT ")", what, value);
	return FALSE;
}

gboolean rota_fetch_recv_request(int fd, RotaFetchRequest *req, GBytes **out_body, gboolean *eof, GError **error)
{
	guint8 h[REQUEST_SIZE];
	g_autofree guint8 *body = NULL;

	*out_body = NULL;
	if (!rota_fetch_read_all(fd, h, sizeof(h), eof, "rota", error))
		return FALSE;
	if (get32(h) != REQUEST_MAGIC)
		return bad_frame(error, "bad request magic", get32(h));
	req->type = get32(h + 4);
	req->offset = get64(h + 8);
	req->length = get32(h + 16);
	req->body_len = get32(h + 20);
	if (req->type != ROTA_FETCH_CONFIGURE && req->type != ROTA_FETCH_READ)
		return bad_frame(error, "unknown request type", req->type);
	if (req->length > ROTA_FETCH_MAX_READ)
		return bad_frame(error, "request length too large", req->length);
	if (req->type == ROTA_FETCH_READ ? req->body_len != 0 : req->body_len == 0 || req->body_len > ROTA_FETCH_MAX_CONFIG)
		return bad_frame(error, "bad request body length", req->body_len);
	if (req->body_len == 0)
		return TRUE;
	body = g_malloc(req->body_len);
	if (!rota_fetch_read_all(fd, body, req->body_len, NULL, "rota", error))
		return FALSE;
	*out_body = g_bytes_new_take(g_steal_pointer(&body), req->body_len);
	return TRUE;
}

gboolean rota_fetch_send_reply(int fd, const RotaFetchReply *reply, const gchar *msg, const void *data,
			       GError **error)
{
	guint8 h[REPLY_SIZE];
	RotaFetchReply r = *reply;
	gsize msg_len = msg ? MIN(strlen(msg), ROTA_FETCH_MAX_MESSAGE) : 0;

	r.msg_len = (guint32)msg_len;
	put32(h, REPLY_MAGIC);
	put32(h + 4, r.status);
	put32(h + 8, r.msg_len);
	put32(h + 12, r.data_len);
	put32(h + 16, r.requests);
	put32(h + 20, r.retries);
	put64(h + 24, r.downloaded);
	put64(h + 32, r.total);
	return rota_fetch_write_all(fd, h, sizeof(h), "rota", error) &&
	       (msg_len == 0 || rota_fetch_write_all(fd, msg, msg_len, "rota", error)) &&
	       (r.data_len == 0 || rota_fetch_write_all(fd, data, r.data_len, "rota", error));
}

/* Characters that could make a message look like more than one line or
 * change how the terminal shows it: C0/C1 controls (ESC, CSI, NEL), the
 * Unicode line and paragraph separators, and the bidi embedding, override
 * and isolate marks. */
static gboolean unsafe_char(gunichar c)
{
	return g_unichar_iscntrl(c) || c == 0x2028 || c == 0x2029 || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

gchar *rota_fetch_sanitize(const guint8 *raw, gsize len)
{
	g_autofree gchar *valid = g_utf8_make_valid((const gchar *)raw, (gssize)len);
	GString *out = g_string_sized_new(strlen(valid));

	for (const gchar *p = valid; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (unsafe_char(c))
			g_string_append_c(out, ' ');
		else
			g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

gboolean rota_fetch_recv_reply_header(int fd, RotaFetchRequestType type, gsize asked, RotaFetchReply *reply,
				      gchar **out_msg, GError **error)
{
	guint64 expect_len;
	guint8 h[REPLY_SIZE];
	guint8 msg[ROTA_FETCH_MAX_MESSAGE];

	*out_msg = NULL;
	if (!rota_fetch_read_all(fd, h, sizeof(h), NULL, "the fetch helper", error))
		return FALSE;
	if (get32(h) != REPLY_MAGIC)
		return bad_frame(error, "bad reply magic", get32(h));
	reply->status = get32(h + 4);
	reply->msg_len = get32(h + 8);
	reply->data_len = get32(h + 12);
	reply->requests = get32(h + 16);
	reply->retries = get32(h + 20);
	reply->downloaded = get64(h + 24);
	reply->total = get64(h + 32);
	if (reply->status > ROTA_FETCH_STATUS_MAX)
		return bad_frame(error, "unknown reply status", reply->status);
	if (reply->msg_len > ROTA_FETCH_MAX_MESSAGE)
		return bad_frame(error, "reply message too long", reply->msg_len);
	if (type == ROTA_FETCH_CONFIGURE && reply->status == ROTA_FETCH_OK && reply->total == 0)
		return bad_frame(error, "empty bundle", 0);
	expect_len = type == ROTA_FETCH_CONFIGURE ? MIN((guint64)asked, reply->total) : asked;
	if (reply->data_len != (reply->status == ROTA_FETCH_OK ? expect_len : 0))
		return bad_frame(error, "unexpected reply data length", reply->data_len);
	if (reply->msg_len == 0)
		return TRUE;
	if (!rota_fetch_read_all(fd, msg, reply->msg_len, NULL, "the fetch helper", error))
		return FALSE;
	*out_msg = rota_fetch_sanitize(msg, reply->msg_len);
	return TRUE;
}

GBytes *rota_fetch_config_serialize(GVariant *dict)
{
	g_autoptr(GVariant) sunk = g_variant_ref_sink(dict);
	return g_variant_get_data_as_bytes(sunk);
}

GVariant *rota_fetch_config_parse(GBytes *body, GError **error)
{
	g_autoptr(GVariant) v = g_variant_new_from_bytes(G_VARIANT_TYPE_VARDICT, body, FALSE);

	/* Untrusted serialized data: the normal form is always well-formed. */
	if (!g_variant_is_normal_form(v)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "fetch protocol error: malformed configuration");
		return NULL;
	}
	return g_steal_pointer(&v);
}

gboolean rota_fetch_is_url(const gchar *path)
{
	return g_str_has_prefix(path, "http://") || g_str_has_prefix(path, "https://");
}

gchar *rota_fetch_redact_url(const gchar *url)
{
	const gchar *scheme_end = strstr(url, "://");
	const gchar *host, *end, *at;

	if (!scheme_end)
		return g_strdup(url);
	host = scheme_end + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (gsize)(end - host));
	if (!at)
		return g_strdup(url);
	return g_strdup_printf("%.*s%s", (int)(host - url), url, at + 1);
}
