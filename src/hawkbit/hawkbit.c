/* hawkbit.c — the DDI client: configuration, HTTP requests with libcurl,
 * the poll and its three kinds of work (configData, cancelAction,
 * deploymentBase). The server is not trusted beyond saying what to
 * install: every bundle is verified by the installer, and a downloaded
 * one is checked against the size and sha256 the server announced before
 * that. */
#include "hawkbit.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"

#define MAX_API_REPLY (1u << 20) /* a poll or deployment reply is a few KiB */
#define DEFAULT_SLEEP 300

/* ---- configuration ---- */

void rota_hawkbit_config_free(RotaHawkbitConfig *c)
{
	if (!c)
		return;
	g_free(c->path);
	g_free(c->server);
	g_free(c->tenant);
	g_free(c->target);
	g_free(c->auth_header);
	g_free(c->download_location);
	if (c->attributes)
		g_ptr_array_unref(c->attributes);
	g_free(c);
}

static gboolean config_error(GError **error, const RotaHawkbitConfig *c, const gchar *key, const gchar *what)
{
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: [client] %s: %s", c->path, key, what);
	return FALSE;
}

static gchar *get_str(GKeyFile *kf, const gchar *key)
{
	gchar *v = g_key_file_get_string(kf, "client", key, NULL);

	if (v && !*g_strstrip(v))
		g_clear_pointer(&v, g_free);
	return v;
}

static gboolean get_bool(GKeyFile *kf, const RotaHawkbitConfig *c, const gchar *key, gboolean def, gboolean *out,
			 GError **error)
{
	g_autoptr(GError) local = NULL;

	*out = def;
	if (!g_key_file_has_key(kf, "client", key, NULL))
		return TRUE;
	*out = g_key_file_get_boolean(kf, "client", key, &local);
	return !local || config_error(error, c, key, "must be true or false");
}

static gboolean get_uint(GKeyFile *kf, const RotaHawkbitConfig *c, const gchar *key, guint def, guint *out,
			 GError **error)
{
	g_autofree gchar *v = get_str(kf, key);
	guint64 n;

	*out = def;
	if (!v)
		return TRUE;
	if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT / 1000, &n, NULL))
		return config_error(error, c, key, "must be a number of seconds (or bytes per second)");
	*out = (guint)n;
	return TRUE;
}

static gboolean load_auth(GKeyFile *kf, RotaHawkbitConfig *c, GError **error)
{
	g_autofree gchar *auth = get_str(kf, "auth_token");
	g_autofree gchar *gateway = get_str(kf, "gateway_token");

	if (auth && gateway)
		return config_error(error, c, "auth_token", "set either auth_token or gateway_token, not both");
	if (auth && strpbrk(auth, "\r\n"))
		return config_error(error, c, "auth_token", "must be one line");
	if (gateway && strpbrk(gateway, "\r\n"))
		return config_error(error, c, "gateway_token", "must be one line");
	if (auth)
		c->auth_header = g_strdup_printf("Authorization: TargetToken %s", auth);
	else if (gateway)
		c->auth_header = g_strdup_printf("Authorization: GatewayToken %s", gateway);
	return TRUE;
}

static gboolean load_client(GKeyFile *kf, RotaHawkbitConfig *c, GError **error)
{
	static const gchar *const required[] = {"hawkbit_server", "tenant_id", "target_name", NULL};

	for (const gchar *const *k = required; *k; k++) {
		g_autofree gchar *v = get_str(kf, *k);
		if (!v)
			return config_error(error, c, *k, "missing (required)");
	}
	c->server = get_str(kf, "hawkbit_server");
	c->tenant = get_str(kf, "tenant_id");
	c->target = get_str(kf, "target_name");
	/* They become parts of the URL. */
	if (strpbrk(c->server, "/?# \t") || strpbrk(c->tenant, "/?# \t") || strpbrk(c->target, "/?# \t"))
		return config_error(error, c, "hawkbit_server", "host[:port], tenant_id and target_name may not contain '/', '?', '#' or blanks");
	c->download_location = get_str(kf, "bundle_download_location");
	if (!get_bool(kf, c, "ssl", TRUE, &c->ssl, error) || !get_bool(kf, c, "ssl_verify", TRUE, &c->ssl_verify, error) ||
	    !get_bool(kf, c, "stream_bundle", FALSE, &c->stream_bundle, error) ||
	    !get_uint(kf, c, "retry_wait", 60, &c->retry_wait, error) ||
	    !get_uint(kf, c, "connect_timeout", 20, &c->connect_timeout, error) ||
	    !get_uint(kf, c, "timeout", 60, &c->timeout, error) ||
	    !get_uint(kf, c, "low_speed_time", 60, &c->low_speed_time, error) ||
	    !get_uint(kf, c, "low_speed_rate", 100, &c->low_speed_rate, error) || !load_auth(kf, c, error))
		return FALSE;
	if (!c->stream_bundle && !c->download_location)
		return config_error(error, c, "bundle_download_location", "required unless stream_bundle=true");
	return TRUE;
}

RotaHawkbitConfig *rota_hawkbit_config_load(const gchar *path, GError **error)
{
	g_autoptr(RotaHawkbitConfig) c = g_new0(RotaHawkbitConfig, 1);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;
	g_auto(GStrv) keys = NULL;

	c->path = g_strdup(path);
	c->attributes = g_ptr_array_new_with_free_func(g_free);
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: cannot load hawkBit config: %s", path, local->message);
		return NULL;
	}
	if (!g_key_file_has_group(kf, "client")) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: missing section [client]", path);
		return NULL;
	}
	if (!load_client(kf, c, error))
		return NULL;
	keys = g_key_file_get_keys(kf, "device", NULL, NULL);
	for (gchar **k = keys; k && *k; k++) {
		g_ptr_array_add(c->attributes, g_strdup(*k));
		g_ptr_array_add(c->attributes, g_key_file_get_string(kf, "device", *k, NULL));
	}
	return g_steal_pointer(&c);
}

/* ---- HTTP ---- */

typedef struct {
	GString *body;
	gboolean too_large;
} Reply;

static size_t collect_reply(char *data, size_t size, size_t n, void *user)
{
	Reply *r = user;

	if (r->body->len + size * n > MAX_API_REPLY) {
		r->too_large = TRUE;
		return 0;
	}
	g_string_append_len(r->body, data, (gssize)(size * n));
	return size * n;
}

static CURL *new_handle(const RotaHawkbitConfig *c, const gchar *url, struct curl_slist *headers)
{
	CURL *curl = curl_easy_init();

	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "rota-hawkbit/" ROTA_VERSION);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, c->ssl_verify ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, c->ssl_verify ? 2L : 0L);
	return curl;
}

static struct curl_slist *api_headers(const RotaHawkbitConfig *c)
{
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/hal+json");

	h = curl_slist_append(h, "Content-Type: application/json");
	if (c->auth_header)
		h = curl_slist_append(h, c->auth_header);
	return h;
}

/* method with an optional JSON body; the reply must be 2xx. *out: its body. */
static gboolean api_request(const RotaHawkbitConfig *c, const gchar *method, const gchar *url, const gchar *body,
			    GString **out, GError **error)
{
	struct curl_slist *headers = api_headers(c);
	CURL *curl = new_handle(c, url, headers);
	Reply r = {.body = g_string_new(NULL)};
	CURLcode res;
	long code = 0;

	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)c->timeout);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_reply);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	if (body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	res = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	if (r.too_large)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "%s %s: reply larger than %u bytes", method, url, MAX_API_REPLY);
	else if (res != CURLE_OK)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s %s: %s", method, url, curl_easy_strerror(res));
	else if (code < 200 || code > 299)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s %s: HTTP status %ld", method, url, code);
	if (r.too_large || res != CURLE_OK || code < 200 || code > 299) {
		g_string_free(r.body, TRUE);
		return FALSE;
	}
	if (out)
		*out = r.body;
	else
		g_string_free(r.body, TRUE);
	return TRUE;
}

static JsonNode *api_get_json(const RotaHawkbitConfig *c, const gchar *url, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) local = NULL;
	GString *body = NULL;
	gboolean ok;

	if (!api_request(c, "GET", url, NULL, &body, error))
		return NULL;
	ok = json_parser_load_from_data(parser, body->str, (gssize)body->len, &local);
	g_string_free(body, TRUE);
	if (!ok || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GET %s: reply is not a JSON object%s%s", url,
			    local ? ": " : "", local ? local->message : "");
		return NULL;
	}
	return json_node_copy(json_parser_get_root(parser));
}

static gboolean api_send_json(const RotaHawkbitConfig *c, const gchar *method, const gchar *url, JsonBuilder *jb,
			      GError **error)
{
	g_autofree gchar *body = rota_json_to_string(jb, FALSE);
	return api_request(c, method, url, body, NULL, error);
}

/* ---- reading replies (untrusted: every member checked for its type) ---- */

static JsonObject *member_object(JsonObject *o, const gchar *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;
	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static const gchar *member_string(JsonObject *o, const gchar *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;
	return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n)
											       : NULL;
}

/* An id may come as a string or a number. */
static gchar *member_id(JsonObject *o, const gchar *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;

	if (!n || !JSON_NODE_HOLDS_VALUE(n))
		return NULL;
	if (json_node_get_value_type(n) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(n));
	if (json_node_get_value_type(n) == G_TYPE_INT64)
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
	return NULL;
}

static JsonArray *member_array(JsonObject *o, const gchar *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;
	return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* _links.<rel>.href */
static const gchar *link_href(JsonObject *o, const gchar *rel)
{
	return member_string(member_object(member_object(o, "_links"), rel), "href");
}

/* "HH:MM:SS" → seconds; the default for anything else. */
static guint parse_sleep(const gchar *s)
{
	guint h, m, sec;
	gchar extra;

	if (!s || sscanf(s, "%u:%u:%u%c", &h, &m, &sec, &extra) != 3 || m > 59 || sec > 59 || h > 24 * 365)
		return DEFAULT_SLEEP;
	return h * 3600 + m * 60 + sec;
}

/* ---- feedback ---- */

/* An action's href is ".../<kind>/<id>?c=<hash>"; its feedback goes to
 * ".../<kind>/<id>/feedback". */
static gchar *feedback_url(const gchar *href)
{
	const gchar *q = strchr(href, '?');
	g_autofree gchar *base = q ? g_strndup(href, (gsize)(q - href)) : g_strdup(href);

	return g_strdup_printf("%s/feedback", base);
}

/* execution: proceeding / closed; finished: none / success / failure. */
static gboolean send_feedback(const RotaHawkbitConfig *c, const gchar *url, const gchar *id, const gchar *execution,
			      const gchar *finished, const gchar *detail, GError **error)
{
	g_autoptr(JsonBuilder) jb = json_builder_new();

	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "id");
	json_builder_add_string_value(jb, id);
	json_builder_set_member_name(jb, "status");
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "execution");
	json_builder_add_string_value(jb, execution);
	json_builder_set_member_name(jb, "result");
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "finished");
	json_builder_add_string_value(jb, finished);
	json_builder_end_object(jb);
	json_builder_set_member_name(jb, "details");
	json_builder_begin_array(jb);
	if (detail)
		json_builder_add_string_value(jb, detail);
	json_builder_end_array(jb);
	json_builder_end_object(jb);
	json_builder_end_object(jb);
	return api_send_json(c, "POST", url, jb, error);
}

/* ---- the three kinds of work ---- */

static gboolean send_attributes(const RotaHawkbitConfig *c, const gchar *href, GError **error)
{
	g_autoptr(JsonBuilder) jb = json_builder_new();

	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "mode");
	json_builder_add_string_value(jb, "merge");
	json_builder_set_member_name(jb, "data");
	json_builder_begin_object(jb);
	for (guint i = 0; i + 1 < c->attributes->len; i += 2) {
		json_builder_set_member_name(jb, c->attributes->pdata[i]);
		json_builder_add_string_value(jb, c->attributes->pdata[i + 1]);
	}
	json_builder_end_object(jb);
	json_builder_end_object(jb);
	g_message("hawkBit: sending %u target attributes", c->attributes->len / 2);
	return api_send_json(c, "PUT", href, jb, error);
}

/* Nothing runs between polls, so a cancellation always succeeds here. */
static gboolean acknowledge_cancel(const RotaHawkbitConfig *c, const gchar *href, GError **error)
{
	g_autoptr(JsonNode) root = api_get_json(c, href, error);
	g_autofree gchar *id = NULL, *stop = NULL;
	g_autofree gchar *feedback = NULL;

	if (!root)
		return FALSE;
	id = member_id(json_node_get_object(root), "id");
	stop = member_id(member_object(json_node_get_object(root), "cancelAction"), "stopId");
	if (!id) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GET %s: cancel action without an id", href);
		return FALSE;
	}
	g_message("hawkBit: cancelling action %s", stop ? stop : id);
	feedback = feedback_url(href);
	return send_feedback(c, feedback, id, "closed", "success", "cancelled before installation", error);
}

/* What a deployment asks for: one bundle. */
typedef struct {
	gchar *id;
	gchar *feedback;
	gchar *filename;
	gchar *url;
	gchar *sha256;
	gint64 size; /* -1: not announced */
} Deployment;

static void deployment_clear(Deployment *d)
{
	g_free(d->id);
	g_free(d->feedback);
	g_free(d->filename);
	g_free(d->url);
	g_free(d->sha256);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Deployment, deployment_clear)

/* The first artifact of the first chunk that has one: rota installs one
 * bundle per deployment. Its download link is the https one with ssl,
 * else the plain http one (either, if only one is offered). */
static gboolean parse_deployment(const RotaHawkbitConfig *c, JsonObject *root, const gchar *href, Deployment *d,
				 GError **error)
{
	JsonArray *chunks = member_array(member_object(root, "deployment"), "chunks");
	JsonObject *artifact = NULL;
	JsonNode *size;

	d->id = member_id(root, "id");
	for (guint i = 0; chunks && !artifact && i < json_array_get_length(chunks); i++) {
		JsonNode *chunk = json_array_get_element(chunks, i);
		JsonArray *artifacts = JSON_NODE_HOLDS_OBJECT(chunk) ? member_array(json_node_get_object(chunk), "artifacts") : NULL;
		JsonNode *first = artifacts && json_array_get_length(artifacts) ? json_array_get_element(artifacts, 0) : NULL;
		artifact = first && JSON_NODE_HOLDS_OBJECT(first) ? json_node_get_object(first) : NULL;
	}
	if (!d->id || !artifact) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GET %s: deployment without %s", href,
			    d->id ? "an artifact" : "an id");
		return FALSE;
	}
	d->feedback = feedback_url(href);
	d->filename = g_strdup(member_string(artifact, "filename"));
	d->url = g_strdup(link_href(artifact, c->ssl ? "download" : "download-http"));
	if (!d->url)
		d->url = g_strdup(link_href(artifact, c->ssl ? "download-http" : "download"));
	d->sha256 = g_ascii_strdown(member_string(member_object(artifact, "hashes"), "sha256") ?: "", -1);
	size = json_object_get_member(artifact, "size");
	d->size = size && JSON_NODE_HOLDS_VALUE(size) && json_node_get_value_type(size) == G_TYPE_INT64 ? json_node_get_int(size)
													: -1;
	return TRUE;
}

typedef struct {
	int fd;
	GChecksum *sum;
	guint64 written;
	gint64 limit;
	gboolean failed;
} Download;

static size_t write_download(char *data, size_t size, size_t n, void *user)
{
	Download *dl = user;
	gsize len = size * n;

	if (dl->limit >= 0 && dl->written + len > (guint64)dl->limit) {
		dl->failed = TRUE; /* more than announced: stop early */
		return 0;
	}
	for (gsize done = 0; done < len;) {
		gssize w = write(dl->fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			dl->failed = TRUE;
			return 0;
		}
		done += (gsize)w;
	}
	g_checksum_update(dl->sum, (const guchar *)data, (gssize)len);
	dl->written += len;
	return len;
}

static gboolean check_download(const Deployment *d, const Download *dl, GError **error)
{
	const gchar *got = g_checksum_get_string(dl->sum);

	if (d->size >= 0 && dl->written != (guint64)d->size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT, "%s: got %" G_GUINT64_FORMAT " bytes, the server announced %" G_GINT64_FORMAT,
			    d->filename ? d->filename : d->url, dl->written, d->size);
		return FALSE;
	}
	if (*d->sha256 && !g_str_equal(got, d->sha256)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT, "%s: sha256 %s does not match the server's %s",
			    d->filename ? d->filename : d->url, got, d->sha256);
		return FALSE;
	}
	return TRUE;
}

/* Downloads the bundle to bundle_download_location and checks it against
 * what the server announced; removed again on any failure. */
static gboolean download_bundle(const RotaHawkbitConfig *c, const Deployment *d, GError **error)
{
	struct curl_slist *headers = c->auth_header ? curl_slist_append(NULL, c->auth_header) : NULL;
	CURL *curl = new_handle(c, d->url, headers);
	Download dl = {.sum = g_checksum_new(G_CHECKSUM_SHA256), .limit = d->size};
	CURLcode res;
	long code = 0;
	gboolean ok;

	unlink(c->download_location);
	dl.fd = open(c->download_location, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dl.fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create %s: %s", c->download_location, g_strerror(err));
		ok = FALSE;
	} else {
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 8L);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_time);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long)c->low_speed_rate);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_download);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &dl);
		res = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		ok = res == CURLE_OK && code >= 200 && code <= 299 && fsync(dl.fd) == 0;
		if (!ok)
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "download of %s failed: %s", d->url,
				    dl.failed && d->size >= 0 ? "more bytes than the server announced"
				    : res != CURLE_OK	      ? curl_easy_strerror(res)
							      : "unexpected HTTP status");
		ok = ok && check_download(d, &dl, error);
		close(dl.fd);
		if (!ok)
			unlink(c->download_location);
	}
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	g_checksum_free(dl.sum);
	return ok;
}

/* Installs the deployment and tells the server how it went; a failed
 * action is the poll's error too, once the server knows. */
static gboolean run_deployment(const RotaHawkbitConfig *c, const gchar *href, RotaHawkbitInstallFunc install,
			       gpointer data, GError **error)
{
	g_autoptr(JsonNode) root = api_get_json(c, href, error);
	g_auto(Deployment) d = {0};
	g_autoptr(GError) failure = NULL;
	gchar *headers[] = {c->auth_header, NULL};
	const gchar *source;
	gboolean ok;

	if (!root || !parse_deployment(c, json_node_get_object(root), href, &d, error))
		return FALSE;
	g_message("hawkBit: deployment %s: %s", d.id, d.filename ? d.filename : d.url ? d.url : "(no download link)");
	if (!send_feedback(c, d.feedback, d.id, "proceeding", "none", c->stream_bundle ? "Installing" : "Downloading", error))
		return FALSE;
	if (!d.url || !g_regex_match_simple("^https?://", d.url, G_REGEX_CASELESS, 0)) {
		g_set_error(&failure, ROTA_ERROR, ROTA_ERROR_INVALID, "no http(s) download link for %s",
			    d.filename ? d.filename : "the artifact");
		ok = FALSE;
	} else if (c->stream_bundle) {
		ok = TRUE;
	} else {
		ok = download_bundle(c, &d, &failure) &&
		     send_feedback(c, d.feedback, d.id, "proceeding", "none", "Installing", error);
		if (!ok && !failure)
			return FALSE; /* the feedback failed: the server is gone */
	}
	source = c->stream_bundle ? d.url : c->download_location;
	ok = ok && install(source, c->auth_header ? headers : NULL, data, &failure);
	if (!c->stream_bundle && c->download_location)
		unlink(c->download_location);
	g_message("hawkBit: deployment %s %s%s%s", d.id, ok ? "installed" : "failed", ok ? "" : ": ",
		  ok ? "" : failure->message);
	if (!send_feedback(c, d.feedback, d.id, "closed", ok ? "success" : "failure",
			   ok ? "Software bundle installed successfully." : failure->message, error))
		return FALSE;
	if (!ok)
		g_propagate_prefixed_error(error, g_steal_pointer(&failure), "deployment %s failed: ", d.id);
	return ok;
}

/* ---- polling ---- */

gboolean rota_hawkbit_poll(const RotaHawkbitConfig *c, RotaHawkbitInstallFunc install, gpointer data,
			   guint *out_sleep, GError **error)
{
	g_autofree gchar *base = g_strdup_printf("%s://%s/%s/controller/v1/%s", c->ssl ? "https" : "http", c->server,
						 c->tenant, c->target);
	g_autoptr(JsonNode) root = api_get_json(c, base, error);
	JsonObject *o;
	const gchar *href;

	*out_sleep = c->retry_wait;
	if (!root)
		return FALSE;
	o = json_node_get_object(root);
	*out_sleep = parse_sleep(member_string(member_object(member_object(o, "config"), "polling"), "sleep"));
	if ((href = link_href(o, "configData")) && !send_attributes(c, href, error))
		return FALSE;
	if ((href = link_href(o, "cancelAction")) && !acknowledge_cancel(c, href, error))
		return FALSE;
	if ((href = link_href(o, "deploymentBase")) && !run_deployment(c, href, install, data, error))
		return FALSE;
	return TRUE;
}

gboolean rota_hawkbit_run(const RotaHawkbitConfig *c, RotaHawkbitInstallFunc install, gpointer data, gboolean once,
			  GError **error)
{
	for (;;) {
		g_autoptr(GError) local = NULL;
		guint sleep_s = c->retry_wait;
		gboolean ok = rota_hawkbit_poll(c, install, data, &sleep_s, once ? error : &local);

		if (once)
			return ok;
		if (!ok) {
			g_warning("hawkBit: %s (retrying in %u s)", local->message, c->retry_wait);
			sleep_s = c->retry_wait;
		}
		g_usleep((gulong)sleep_s * G_USEC_PER_SEC);
	}
}
