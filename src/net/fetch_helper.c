/* fetch_helper.c — rota-fetch: privilege drop and the request loop.
 *
 * One curl easy handle serves the whole session, so connections are kept
 * alive (and multiplexed over HTTP/2 when the server offers it). Each READ
 * is one Range request; a failed transfer is retried with exponential
 * backoff from the first byte not yet received. Every 206 must carry
 * exactly the asked Content-Range and the session's total size, ETag and
 * Last-Modified: a bundle replaced on the server is an error, not a mix. */
#include "fetch_helper.h"

#include <curl/curl.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "net/fetch_protocol.h"

#ifndef ROTA_VERSION
#define ROTA_VERSION "0.1"
#endif

#define DEFAULT_MAX_REDIRECTS 8
#define DEFAULT_CONNECT_TIMEOUT 20
#define DEFAULT_LOW_SPEED_TIME 60
#define DEFAULT_RETRIES 5
#define DEFAULT_RETRY_DELAY_MS 500
#define MAX_RETRY_DELAY_MS 10000

/* ---- privileges ---- */

gboolean rota_fetch_drop_privileges(const gchar *user, GError **error)
{
	pid_t parent = getppid();

	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "sandbox user '%s' does not exist", user);
			return FALSE;
		}
		if (pw->pw_uid == 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "sandbox user '%s' is root", user);
			return FALSE;
		}
		if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot switch to sandbox user '%s': %s", user,
				    g_strerror(err));
			return FALSE;
		}
		if (setuid(0) == 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "could regain root after switching to '%s'", user);
			return FALSE;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot set no_new_privs: %s", g_strerror(err));
		return FALSE;
	}
	/* Set after setuid, which clears it: the helper must not outlive rota. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	return TRUE;
}

/* ---- the session ---- */

typedef enum { OUTCOME_OK, OUTCOME_RETRY, OUTCOME_FAIL, OUTCOME_CHANGED } Outcome;

typedef struct {
	CURL *curl;
	gchar *display_url;          /* without credentials, for messages */
	struct curl_slist *headers;  /* every request */
	struct curl_slist *first_headers; /* headers + info headers */
	guint max_redirects;
	guint retries;
	guint retry_delay_ms;
	guint64 total;               /* 0 until the first reply */
	gchar *etag;
	gchar *last_modified;
	char errbuf[CURL_ERROR_SIZE];

	/* the transfer in progress */
	guint8 *buf;
	gsize want;          /* bytes the whole reply must have */
	gsize got;           /* bytes of buf filled so far */
	guint64 range_start; /* offset of buf[0]; unknown (suffix) on the first request */
	gboolean first;
	gboolean checked;    /* response headers checked (at the first body byte) */
	Outcome verdict;     /* set by the header check when it rejects the reply */
	gchar *verdict_msg;
	gchar *content_range, *resp_etag, *resp_last_modified;

	/* counters for the reply being built */
	guint32 n_requests, n_retries;
	guint64 n_downloaded;
} Session;

static void session_reset_response(Session *s)
{
	g_clear_pointer(&s->content_range, g_free);
	g_clear_pointer(&s->resp_etag, g_free);
	g_clear_pointer(&s->resp_last_modified, g_free);
	s->checked = FALSE;
	s->verdict = OUTCOME_OK;
	g_clear_pointer(&s->verdict_msg, g_free);
}

static gchar *header_value(const char *line, gsize len, const gchar *name)
{
	gsize n = strlen(name);

	if (len <= n || g_ascii_strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	return g_strstrip(g_strndup(line + n + 1, len - n - 1));
}

static size_t on_header(char *line, size_t size, size_t nitems, void *data)
{
	Session *s = data;
	gsize len = size * nitems;
	gchar *v;

	/* A new status line starts a new response (after a redirect). */
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
		session_reset_response(s);
	else if ((v = header_value(line, len, "content-range")))
		g_free(s->content_range), s->content_range = v;
	else if ((v = header_value(line, len, "etag")))
		g_free(s->resp_etag), s->resp_etag = v;
	else if ((v = header_value(line, len, "last-modified")))
		g_free(s->resp_last_modified), s->resp_last_modified = v;
	return len;
}

static gboolean parse_u64(const gchar *s, gsize len, guint64 *out)
{
	g_autofree gchar *copy = g_strndup(s, len);
	return len > 0 && g_ascii_isdigit(copy[0]) && g_ascii_string_to_unsigned(copy, 10, 0, G_MAXUINT64, out, NULL);
}

/* "bytes A-B/T" with A <= B < T; T must be a number. */
static gboolean parse_content_range(const gchar *v, guint64 *a, guint64 *b, guint64 *t)
{
	const gchar *dash, *slash;

	if (!v || !g_str_has_prefix(v, "bytes "))
		return FALSE;
	v += strlen("bytes ");
	dash = strchr(v, '-');
	slash = dash ? strchr(dash, '/') : NULL;
	return slash && parse_u64(v, (gsize)(dash - v), a) && parse_u64(dash + 1, (gsize)(slash - dash - 1), b) &&
	       parse_u64(slash + 1, strlen(slash + 1), t) && *a <= *b && *b < *t;
}

static void reject(Session *s, Outcome outcome, const gchar *format, ...) G_GNUC_PRINTF(3, 4);
static void reject(Session *s, Outcome outcome, const gchar *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_free(s->verdict_msg);
	s->verdict_msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	s->verdict = outcome;
}

/* A validator that differs from the session's means another bundle. */
static gboolean same_validator(const gchar *session, const gchar *reply)
{
	return !session || !reply || g_str_equal(session, reply);
}

/* Checks a 206's Content-Range (and validators) against what was asked. */
static void check_partial_content(Session *s)
{
	guint64 a, b, t, expect_a, expect_b;

	if (!parse_content_range(s->content_range, &a, &b, &t)) {
		reject(s, OUTCOME_FAIL, "invalid Content-Range '%s' in HTTP 206 reply", s->content_range ? s->content_range : "");
		return;
	}
	if (s->first) {
		/* Suffix request: learn the total and where the tail starts. */
		s->want = (gsize)MIN((guint64)s->want, t);
		s->range_start = t - s->want;
		s->total = t;
	} else if (t != s->total) {
		reject(s, OUTCOME_CHANGED, "bundle size changed on the server from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
			   " bytes during the session", s->total, t);
		return;
	}
	expect_a = s->range_start + s->got;
	expect_b = s->range_start + s->want - 1;
	if (a != expect_a || b != expect_b) {
		reject(s, OUTCOME_FAIL, "server answered Content-Range '%s' for range %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT,
		       s->content_range, expect_a, expect_b);
		return;
	}
	if (s->first) { /* again when the first request is retried */
		g_free(s->etag);
		g_free(s->last_modified);
		s->etag = g_strdup(s->resp_etag);
		s->last_modified = g_strdup(s->resp_last_modified);
	} else if (!same_validator(s->etag, s->resp_etag) || !same_validator(s->last_modified, s->resp_last_modified)) {
		reject(s, OUTCOME_CHANGED, "bundle changed on the server during the session (ETag '%s' → '%s', Last-Modified '%s' → '%s')",
		       s->etag ? s->etag : "", s->resp_etag ? s->resp_etag : "", s->last_modified ? s->last_modified : "",
		       s->resp_last_modified ? s->resp_last_modified : "");
	}
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	Session *s = user;
	gsize len = size * nmemb;
	long code = 0;

	s->n_downloaded += len;
	if (!s->checked) {
		s->checked = TRUE;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
		/* Anything but 206 is judged by its status; never take its body. */
		if (code != 206)
			return 0;
		check_partial_content(s);
	}
	if (s->verdict != OUTCOME_OK)
		return 0;
	if (len > s->want - s->got) {
		reject(s, OUTCOME_FAIL, "server sent more than the %" G_GSIZE_FORMAT " bytes asked for", s->want);
		return 0;
	}
	memcpy(s->buf + s->got, data, len);
	s->got += len;
	return len;
}

static const gchar *status_text(long code)
{
	switch (code) {
	case 200: return "range requests not supported by server";
	case 204: return "no content";
	case 304: return "not modified";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not found";
	case 416: return "range not satisfiable";
	default: return "unexpected HTTP response code";
	}
}

static gboolean transport_error_is_transient(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return TRUE;
	default:
		return FALSE;
	}
}

/* Classifies one finished attempt; *msg says why it was not OK. */
static Outcome judge(Session *s, CURLcode res, gchar **msg)
{
	long code = 0;

	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (s->verdict != OUTCOME_OK) {
		*msg = g_strdup(s->verdict_msg);
		return s->verdict;
	}
	/* Every byte asked for arrived intact: an error after them (a chunked
	 * reply without its last chunk, a stream reset after the data) does
	 * not matter, and a retry would ask for an empty range. */
	if (code == 206 && s->got == s->want)
		return OUTCOME_OK;
	if (res == CURLE_OK || res == CURLE_WRITE_ERROR) {
		if (code == 206 && s->got == s->want)
			return OUTCOME_OK;
		if (code == 206) {
			*msg = g_strdup_printf("truncated reply: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes", s->got, s->want);
			return OUTCOME_RETRY;
		}
		*msg = g_strdup_printf("%s (HTTP status %ld)", status_text(code), code);
		if (code >= 500)
			return OUTCOME_RETRY;
		return code == 416 && !s->first ? OUTCOME_CHANGED : OUTCOME_FAIL;
	}
	if (res == CURLE_TOO_MANY_REDIRECTS) {
		*msg = g_strdup_printf("too many redirects (more than %u)", s->max_redirects);
		return OUTCOME_FAIL;
	}
	*msg = g_strdup_printf("%s%s%s", curl_easy_strerror(res), s->errbuf[0] ? ": " : "", s->errbuf);
	return transport_error_is_transient(res) ? OUTCOME_RETRY : OUTCOME_FAIL;
}

static Outcome attempt(Session *s, gchar **msg)
{
	g_autofree gchar *range = NULL;
	CURLcode res;

	session_reset_response(s);
	s->errbuf[0] = '\0';
	if (s->first)
		range = g_strdup_printf("-%" G_GSIZE_FORMAT, s->want);
	else
		range = g_strdup_printf("%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT, s->range_start + s->got,
					s->range_start + s->want - 1);
	curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->first ? s->first_headers : s->headers);
	s->n_requests++;
	res = curl_easy_perform(s->curl);
	return judge(s, res, msg);
}

/* Fills s->buf[0..want) from range_start, retrying transient failures from
 * the first missing byte. On failure *msg names URL, range and cause. */
static Outcome transfer(Session *s, gchar **msg)
{
	for (guint i = 0;; i++) {
		g_autofree gchar *why = NULL;
		guint delay;
		Outcome o = attempt(s, &why);

		if (o == OUTCOME_OK)
			return o;
		if (o != OUTCOME_RETRY || i >= s->retries) {
			g_autofree gchar *range = s->first ? g_strdup_printf("last %" G_GSIZE_FORMAT " bytes", s->want)
							  : g_strdup_printf("bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT,
									    s->range_start, s->range_start + s->want - 1);
			*msg = g_strdup_printf("%s: %s: %s%s", s->display_url, range, why,
					       o == OUTCOME_RETRY ? " (retries exhausted)" : "");
			return o == OUTCOME_RETRY ? OUTCOME_FAIL : o;
		}
		/* The tail's position is unknown until a reply names it. */
		if (s->first)
			s->got = 0;
		delay = MIN((guint64)s->retry_delay_ms << MIN(i, 16u), (guint64)MAX_RETRY_DELAY_MS);
		g_debug("%s: %s; retrying in %u ms", s->display_url, why, delay);
		g_usleep((gulong)delay * 1000);
		s->n_retries++;
	}
}

static struct curl_slist *append_headers(struct curl_slist *list, GVariant *dict, const gchar *key)
{
	g_autofree const gchar **strv = NULL;

	if (g_variant_lookup(dict, key, "^a&s", &strv)) {
		for (const gchar **h = strv; *h; h++)
			list = curl_slist_append(list, *h);
	}
	return list;
}

static void set_blob(CURL *curl, CURLoption option, GVariant *dict, const gchar *key)
{
	g_autoptr(GVariant) v = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_BYTESTRING);
	struct curl_blob blob = {.flags = CURL_BLOB_COPY};
	gsize len;

	if (!v)
		return;
	blob.data = (void *)g_variant_get_fixed_array(v, &len, 1);
	blob.len = len;
	curl_easy_setopt(curl, option, &blob);
}

static guint lookup_uint(GVariant *dict, const gchar *key, guint fallback)
{
	guint32 v;
	return g_variant_lookup(dict, key, "u", &v) && v ? v : fallback;
}

static gboolean session_configure(Session *s, GVariant *dict, GError **error)
{
	const gchar *url, *uri;
	gboolean no_verify = FALSE;

	if (!g_variant_lookup(dict, ROTA_FETCH_KEY_URL, "&s", &url) ||
	    !(g_str_has_prefix(url, "http://") || g_str_has_prefix(url, "https://"))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "configuration without an http(s) URL");
		return FALSE;
	}
	s->display_url = rota_fetch_redact_url(url);
	s->max_redirects = lookup_uint(dict, ROTA_FETCH_KEY_MAX_REDIRECTS, DEFAULT_MAX_REDIRECTS);
	s->retries = lookup_uint(dict, ROTA_FETCH_KEY_RETRIES, DEFAULT_RETRIES);
	s->retry_delay_ms = lookup_uint(dict, ROTA_FETCH_KEY_RETRY_DELAY, DEFAULT_RETRY_DELAY_MS);
	s->headers = append_headers(NULL, dict, ROTA_FETCH_KEY_HEADERS);
	s->first_headers = append_headers(append_headers(NULL, dict, ROTA_FETCH_KEY_HEADERS), dict, ROTA_FETCH_KEY_INFO_HEADERS);

	s->curl = curl_easy_init();
	if (!s->curl) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot create a curl handle");
		return FALSE;
	}
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->curl, CURLOPT_MAXREDIRS, (long)s->max_redirects);
	/* As RAUC: credentials go along to redirect targets. */
	curl_easy_setopt(s->curl, CURLOPT_UNRESTRICTED_AUTH, 1L);
	curl_easy_setopt(s->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "rota/" ROTA_VERSION);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, (long)lookup_uint(dict, ROTA_FETCH_KEY_CONNECT_TIMEOUT,
										 DEFAULT_CONNECT_TIMEOUT));
	curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_TIME, (long)lookup_uint(dict, ROTA_FETCH_KEY_LOW_SPEED_TIME,
										 DEFAULT_LOW_SPEED_TIME));
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	if (g_getenv("ROTA_CURL_VERBOSE"))
		curl_easy_setopt(s->curl, CURLOPT_VERBOSE, 1L);

	set_blob(s->curl, CURLOPT_SSLCERT_BLOB, dict, ROTA_FETCH_KEY_TLS_CERT);
	set_blob(s->curl, CURLOPT_SSLKEY_BLOB, dict, ROTA_FETCH_KEY_TLS_KEY);
	if (g_variant_lookup_value(dict, ROTA_FETCH_KEY_TLS_CA, NULL)) {
		set_blob(s->curl, CURLOPT_CAINFO_BLOB, dict, ROTA_FETCH_KEY_TLS_CA);
		/* The given CA replaces the system store entirely. */
		curl_easy_setopt(s->curl, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(s->curl, CURLOPT_CAPATH, NULL);
	}
	if (g_variant_lookup(dict, ROTA_FETCH_KEY_TLS_CERT_URI, "&s", &uri)) {
		curl_easy_setopt(s->curl, CURLOPT_SSLENGINE, "pkcs11");
		curl_easy_setopt(s->curl, CURLOPT_SSLCERTTYPE, "ENG");
		curl_easy_setopt(s->curl, CURLOPT_SSLCERT, uri);
	}
	if (g_variant_lookup(dict, ROTA_FETCH_KEY_TLS_KEY_URI, "&s", &uri)) {
		curl_easy_setopt(s->curl, CURLOPT_SSLENGINE, "pkcs11");
		curl_easy_setopt(s->curl, CURLOPT_SSLKEYTYPE, "ENG");
		curl_easy_setopt(s->curl, CURLOPT_SSLKEY, uri);
	}
	if (g_variant_lookup(dict, ROTA_FETCH_KEY_NO_VERIFY, "b", &no_verify) && no_verify) {
		curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return TRUE;
}

static void session_clear(Session *s)
{
	session_reset_response(s);
	if (s->curl)
		curl_easy_cleanup(s->curl);
	curl_slist_free_all(s->headers);
	curl_slist_free_all(s->first_headers);
	g_free(s->display_url);
	g_free(s->etag);
	g_free(s->last_modified);
}

/* ---- the request loop ---- */

static gboolean reply_with(int fd, Session *s, RotaFetchStatus status, const gchar *msg, GError **error)
{
	RotaFetchReply r = {.status = status, .requests = s->n_requests, .retries = s->n_retries,
			    .downloaded = s->n_downloaded, .total = s->total};

	if (status == ROTA_FETCH_OK)
		r.data_len = (guint32)s->want;
	s->n_requests = s->n_retries = 0;
	s->n_downloaded = 0;
	return rota_fetch_send_reply(fd, &r, msg, s->buf, error);
}

static RotaFetchStatus outcome_status(Outcome o)
{
	return o == OUTCOME_OK ? ROTA_FETCH_OK : o == OUTCOME_CHANGED ? ROTA_FETCH_CHANGED : ROTA_FETCH_FAILED;
}

static gboolean serve_configure(int fd, Session *s, const RotaFetchRequest *req, GBytes *body, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) dict = NULL;
	g_autofree gchar *msg = NULL;
	Outcome o;

	if (s->curl || req->length == 0)
		return reply_with(fd, s, ROTA_FETCH_INVALID, "CONFIGURE sent twice or without a tail length", error);
	dict = rota_fetch_config_parse(body, &local);
	if (!dict || !session_configure(s, dict, &local))
		return reply_with(fd, s, ROTA_FETCH_INVALID, local->message, error);
	s->first = TRUE;
	s->want = req->length;
	s->got = 0;
	o = transfer(s, &msg);
	s->first = FALSE;
	if (o == OUTCOME_OK) {
		char *effective = NULL;
		g_autofree gchar *copy = NULL;
		/* From now on ask where the redirects led, as RAUC does. The
		 * string belongs to the handle: copy it before setting it. */
		curl_easy_getinfo(s->curl, CURLINFO_EFFECTIVE_URL, &effective);
		copy = g_strdup(effective);
		if (copy)
			curl_easy_setopt(s->curl, CURLOPT_URL, copy);
	}
	return reply_with(fd, s, outcome_status(o), msg, error);
}

static gboolean serve_read(int fd, Session *s, const RotaFetchRequest *req, GError **error)
{
	g_autofree gchar *msg = NULL;
	RotaFetchStatus status;

	if (!s->curl || s->total == 0)
		return reply_with(fd, s, ROTA_FETCH_INVALID, "READ before CONFIGURE", error);
	if (req->length == 0 || req->offset >= s->total || req->length > s->total - req->offset)
		return reply_with(fd, s, ROTA_FETCH_INVALID, "READ outside the bundle", error);
	s->range_start = req->offset;
	s->want = req->length;
	s->got = 0;
	status = outcome_status(transfer(s, &msg));
	return reply_with(fd, s, status, msg, error);
}

int rota_fetch_helper_serve(int fd)
{
	Session s = {0};
	int rc = 0;

	s.buf = g_malloc(ROTA_FETCH_MAX_READ);
	for (;;) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) body = NULL;
		RotaFetchRequest req;
		gboolean eof = FALSE, ok;

		if (!rota_fetch_recv_request(fd, &req, &body, &eof, &error)) {
			if (!eof) {
				g_printerr("rota-fetch: %s\n", error->message);
				rc = 2;
			}
			break;
		}
		ok = req.type == ROTA_FETCH_CONFIGURE ? serve_configure(fd, &s, &req, body, &error)
						      : serve_read(fd, &s, &req, &error);
		/* Replies fail only when rota has gone (e.g. it finished and
		 * did not wait for a read-ahead): nothing left to tell. */
		if (!ok)
			break;
	}
	session_clear(&s);
	g_free(s.buf);
	return rc;
}
