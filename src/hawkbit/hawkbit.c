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
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"

#define MAX_API_REPLY (1u << 20) /* a poll or deployment reply is a few KiB */
#define MAX_JSON_DEPTH 64        /* a deployment reply nests 7 deep */
#define DEFAULT_SLEEP 300

/* ---- configuration ---- */

void rota_hawkbit_config_free(RotaHawkbitConfig *c)
{
	if (!c)
		return;
	g_free(c->path);
	g_free(c->server);
	g_free(c->base);
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

/* server, tenant_id and target_name become parts of the URL. */
static gboolean check_url_part(const RotaHawkbitConfig *c, const gchar *key, const gchar *value, GError **error)
{
	return !strpbrk(value, "/?# \t") || config_error(error, c, key, "may not contain '/', '?', '#' or blanks");
}

/* rauc-hawkbit-updater's keys rota does not implement: a configuration
 * relying on one of them should not go unnoticed. Client certificates are
 * refused outright: without them the client would run unauthenticated. */
static gboolean check_keys(GKeyFile *kf, const RotaHawkbitConfig *c, GError **error)
{
	static const gchar *const known[] = {"hawkbit_server", "ssl", "ssl_verify", "tenant_id", "target_name",
					     "auth_token", "gateway_token", "bundle_download_location", "stream_bundle",
					     "retry_wait", "connect_timeout", "timeout", "low_speed_time",
					     "low_speed_rate", "send_download_authentication", NULL};
	static const gchar *const ignored[] = {"resume_downloads", "post_update_reboot", "post_update_close",
					       "log_level", NULL};
	g_auto(GStrv) keys = g_key_file_get_keys(kf, "client", NULL, NULL);

	for (gchar **k = keys; k && *k; k++) {
		if (g_strv_contains(known, *k))
			continue;
		if (g_str_equal(*k, "ssl_key") || g_str_equal(*k, "ssl_cert") || g_str_equal(*k, "ssl_engine"))
			return config_error(error, c, *k, "client certificate authentication is not supported by rota");
		if (g_strv_contains(ignored, *k))
			g_warning("%s: [client] %s: not supported by rota, ignored", c->path, *k);
		else
			g_warning("%s: unknown key '%s' in section [client] ignored", c->path, *k);
	}
	return TRUE;
}

static gboolean load_client(GKeyFile *kf, RotaHawkbitConfig *c, GError **error)
{
	static const gchar *const required[] = {"hawkbit_server", "target_name", NULL};

	if (!check_keys(kf, c, error))
		return FALSE;
	for (const gchar *const *k = required; *k; k++) {
		g_autofree gchar *v = get_str(kf, *k);
		if (!v)
			return config_error(error, c, *k, "missing (required)");
	}
	c->server = get_str(kf, "hawkbit_server");
	c->tenant = get_str(kf, "tenant_id") ?: g_strdup("DEFAULT"); /* rauc-hawkbit-updater's default */
	c->target = get_str(kf, "target_name");
	if (!check_url_part(c, "hawkbit_server", c->server, error) || !check_url_part(c, "tenant_id", c->tenant, error) ||
	    !check_url_part(c, "target_name", c->target, error))
		return FALSE;
	if (strchr(c->server, '@')) /* user info: the host would be what follows */
		return config_error(error, c, "hawkbit_server", "must be host[:port]");
	c->download_location = get_str(kf, "bundle_download_location");
	if (!get_bool(kf, c, "ssl", TRUE, &c->ssl, error) || !get_bool(kf, c, "ssl_verify", TRUE, &c->ssl_verify, error) ||
	    !get_bool(kf, c, "stream_bundle", FALSE, &c->stream_bundle, error) ||
	    !get_bool(kf, c, "send_download_authentication", TRUE, &c->send_download_auth, error) ||
	    !get_uint(kf, c, "retry_wait", 60, &c->retry_wait, error) ||
	    !get_uint(kf, c, "connect_timeout", 20, &c->connect_timeout, error) ||
	    !get_uint(kf, c, "timeout", 60, &c->timeout, error) ||
	    !get_uint(kf, c, "low_speed_time", 60, &c->low_speed_time, error) ||
	    !get_uint(kf, c, "low_speed_rate", 100, &c->low_speed_rate, error) || !load_auth(kf, c, error))
		return FALSE;
	if (!c->stream_bundle && !c->download_location)
		return config_error(error, c, "bundle_download_location", "required unless stream_bundle=true");
	c->base = g_strdup_printf("%s://%s/%s/controller/v1/%s", c->ssl ? "https" : "http", c->server, c->tenant,
				  c->target);
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

static gint port_of(GUri *u)
{
	gint port = g_uri_get_port(u);

	if (port >= 0)
		return port;
	return g_ascii_strcasecmp(g_uri_get_scheme(u), "https") == 0 ? 443 : 80;
}

/* Whether url is on the configured server: same scheme, host and port. */
static gboolean on_server(const RotaHawkbitConfig *c, const gchar *url)
{
	g_autoptr(GUri) base = g_uri_parse(c->base, G_URI_FLAGS_NONE, NULL);
	g_autoptr(GUri) u = url ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;

	return base && u && g_uri_get_host(base) && g_uri_get_host(u) &&
	       g_ascii_strcasecmp(g_uri_get_scheme(base), g_uri_get_scheme(u)) == 0 &&
	       g_ascii_strcasecmp(g_uri_get_host(base), g_uri_get_host(u)) == 0 && port_of(base) == port_of(u);
}

static struct curl_slist *api_headers(const RotaHawkbitConfig *c)
{
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/hal+json");

	h = curl_slist_append(h, "Content-Type: application/json");
	if (c->auth_header)
		h = curl_slist_append(h, c->auth_header);
	return h;
}

/* method with an optional JSON body; the reply must be 2xx. *out: its body.
 * Only for URLs on the server (it sends the token). */
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

/* json-glib parses recursively: a reply nested deep enough (a megabyte of
 * '[') would overflow the stack, possibly of a root process, before any
 * check of ours could run. So the nesting is counted first. */
static gboolean nested_too_deep(const GString *s)
{
	gboolean in_string = FALSE;
	guint depth = 0;

	for (gsize i = 0; i < s->len; i++) {
		gchar ch = s->str[i];

		if (in_string && ch == '\\')
			i++;
		else if (ch == '"')
			in_string = !in_string;
		else if (!in_string && (ch == '[' || ch == '{') && ++depth > MAX_JSON_DEPTH)
			return TRUE;
		else if (!in_string && (ch == ']' || ch == '}') && depth)
			depth--;
	}
	return FALSE;
}

static JsonNode *api_get_json(const RotaHawkbitConfig *c, const gchar *url, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) local = NULL;
	GString *body = NULL;
	gboolean ok = FALSE;

	if (!api_request(c, "GET", url, NULL, &body, error))
		return NULL;
	if (nested_too_deep(body))
		g_set_error(&local, ROTA_ERROR, ROTA_ERROR_LIMIT, "nested deeper than %u", MAX_JSON_DEPTH);
	else
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

/* The poll reply's link rel in *out (NULL: none). A link off the server
 * is refused: following it would hand the token to whoever it names. */
static gboolean api_link(const RotaHawkbitConfig *c, JsonObject *poll, const gchar *rel, const gchar **out,
			 GError **error)
{
	*out = link_href(poll, rel);
	if (!*out || on_server(c, *out))
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GET %s: %s link %s points to another server", c->base, rel,
		    *out);
	return FALSE;
}

/* "HH:MM:SS" → seconds; the default for anything else. At least a second:
 * "00:00:00" would poll the server as fast as it answers. */
static guint parse_sleep(const gchar *s)
{
	guint h, m, sec;
	gchar extra;

	if (!s || sscanf(s, "%u:%u:%u%c", &h, &m, &sec, &extra) != 3 || m > 59 || sec > 59 || h > 24 * 365)
		return DEFAULT_SLEEP;
	return MAX(h * 3600 + m * 60 + sec, 1);
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

/* execution: proceeding / closed / downloaded; finished: none / success /
 * failure. */
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

/* hawkBit refuses an empty "data" (and keeps asking): nothing to send then. */
static gboolean send_attributes(const RotaHawkbitConfig *c, const gchar *href, GError **error)
{
	g_autoptr(JsonBuilder) jb = json_builder_new();

	if (!c->attributes->len) {
		g_message("hawkBit: the server asks for target attributes, %s has no [device] section to send", c->path);
		return TRUE;
	}
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

/* Nothing runs between polls, so a cancellation succeeds here ("closed"
 * with "success" is hawkBit's confirmation), unless it comes for the action
 * rota closed but could not tell the server about: that one is done, and
 * the cancellation rejected, so the action comes back for its result. */
static gboolean acknowledge_cancel(const RotaHawkbitConfig *c, const gchar *href, const RotaHawkbitLast *last,
				   GError **error)
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
	feedback = feedback_url(href);
	if (g_strcmp0(last->id, stop ? stop : id) == 0) {
		g_message("hawkBit: rejecting the cancellation of action %s: it is done", last->id);
		return send_feedback(c, feedback, id, "rejected", "none", "the action is done already", error);
	}
	g_message("hawkBit: cancelling action %s", stop ? stop : id);
	return send_feedback(c, feedback, id, "closed", "success", "cancelled before installation", error);
}

/* What a deployment asks for: one bundle, and whether to fetch and install
 * it now. */
typedef struct {
	gchar *id;
	gchar *feedback;
	guint artifacts;
	gchar *filename;
	gchar *url;
	gchar *sha256;
	gint64 size; /* -1: not announced */
	const gchar *download; /* forced / attempt / skip (NULL: forced) */
	const gchar *update;
	const gchar *window;   /* maintenance window: available / unavailable / NULL (none) */
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

static void parse_artifact(const RotaHawkbitConfig *c, JsonObject *artifact, Deployment *d)
{
	JsonNode *size = json_object_get_member(artifact, "size");

	/* The https link with ssl, else the plain http one (either, if only
	 * one is offered). */
	d->filename = g_strdup(member_string(artifact, "filename"));
	d->url = g_strdup(link_href(artifact, c->ssl ? "download" : "download-http"));
	if (!d->url)
		d->url = g_strdup(link_href(artifact, c->ssl ? "download-http" : "download"));
	d->sha256 = g_ascii_strdown(member_string(member_object(artifact, "hashes"), "sha256") ?: "", -1);
	d->size = size && JSON_NODE_HOLDS_VALUE(size) && json_node_get_value_type(size) == G_TYPE_INT64 ? json_node_get_int(size)
													: -1;
}

/* Only an id is required here: a deployment rota cannot install (not
 * exactly one artifact) is reported as a failure, as rauc-hawkbit-updater
 * does, and the strings for download/update/window point into root. */
static gboolean parse_deployment(const RotaHawkbitConfig *c, JsonObject *root, const gchar *href, Deployment *d,
				 GError **error)
{
	JsonObject *deployment = member_object(root, "deployment");
	JsonArray *chunks = member_array(deployment, "chunks");
	JsonObject *artifact = NULL;

	d->id = member_id(root, "id");
	if (!d->id) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GET %s: deployment without an id", href);
		return FALSE;
	}
	d->feedback = feedback_url(href);
	d->download = member_string(deployment, "download");
	d->update = member_string(deployment, "update");
	d->window = member_string(deployment, "maintenanceWindow");
	for (guint i = 0; chunks && i < json_array_get_length(chunks); i++) {
		JsonNode *chunk = json_array_get_element(chunks, i);
		JsonArray *artifacts = JSON_NODE_HOLDS_OBJECT(chunk) ? member_array(json_node_get_object(chunk), "artifacts") : NULL;

		for (guint j = 0; artifacts && j < json_array_get_length(artifacts); j++) {
			JsonNode *a = json_array_get_element(artifacts, j);

			d->artifacts++;
			artifact = JSON_NODE_HOLDS_OBJECT(a) ? json_node_get_object(a) : NULL;
		}
	}
	if (d->artifacts == 1 && artifact)
		parse_artifact(c, artifact, d);
	return TRUE;
}

typedef struct {
	int fd; /* -1: only checked, not stored */
	GChecksum *sum;
	guint64 written;
	gint64 limit;
	gboolean failed;
	int err; /* of a failed write */
} Download;

static size_t write_download(char *data, size_t size, size_t n, void *user)
{
	Download *dl = user;
	gsize len = size * n;

	if (dl->limit >= 0 && dl->written + len > (guint64)dl->limit) {
		dl->failed = TRUE; /* more than announced: stop early */
		return 0;
	}
	for (gsize done = 0; dl->fd >= 0 && done < len;) {
		gssize w = write(dl->fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			dl->failed = TRUE;
			dl->err = w < 0 ? errno : EIO;
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

/* The bundle is checked in the download file, then installed from it by
 * path: another user who can rename entries in its directory could swap
 * it in between. A sticky directory (as /tmp) only lets its owner do so. */
static gboolean check_download_dir(const gchar *location, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(location);
	struct stat st;

	if (stat(dir, &st) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: %s", dir, g_strerror(err));
		return FALSE;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: writable by other users (bundle_download_location needs a directory only rota can change)",
			    dir);
		return FALSE;
	}
	return TRUE;
}

/* The target token for a download from url: only to the server itself
 * (not to an artifact store it links to), and not at all with
 * send_download_authentication=false. */
static const gchar *download_token(const RotaHawkbitConfig *c, const gchar *url)
{
	if (!c->auth_header || !c->send_download_auth)
		return NULL;
	if (!on_server(c, url)) {
		g_message("hawkBit: %s is not on %s: fetching it without the target token", url, c->server);
		return NULL;
	}
	return c->auth_header;
}

static void set_download_error(const Deployment *d, const Download *dl, const gchar *location, CURLcode res,
			       long code, GError **error)
{
	if (dl->err)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot write %s: %s", location, g_strerror(dl->err));
	else if (dl->failed)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
			    "download of %s failed: more bytes than the server announced", d->url);
	else if (res != CURLE_OK)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "download of %s failed: %s", d->url, curl_easy_strerror(res));
	else
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "download of %s failed: HTTP status %ld", d->url, code);
}

/* Downloads the bundle to location (NULL: only checks it) and checks it
 * against what the server announced; removed again on any failure. O_EXCL:
 * never through a link someone placed there. */
static gboolean download_bundle(const RotaHawkbitConfig *c, const Deployment *d, const gchar *location,
				GError **error)
{
	const gchar *token = download_token(c, d->url);
	struct curl_slist *headers = token ? curl_slist_append(NULL, token) : NULL;
	CURL *curl = new_handle(c, d->url, headers);
	Download dl = {.fd = -1, .sum = g_checksum_new(G_CHECKSUM_SHA256), .limit = d->size};
	CURLcode res;
	long code = 0;
	gboolean ok = TRUE;

	if (location) {
		ok = check_download_dir(location, error);
		if (ok)
			unlink(location);
		dl.fd = ok ? open(location, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
		if (ok && dl.fd < 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create %s: %s", location, g_strerror(err));
			ok = FALSE;
		}
	}
	if (ok) {
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 8L);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_time);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long)c->low_speed_rate);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_download);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &dl);
		res = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		ok = res == CURLE_OK && code >= 200 && code <= 299;
		if (!ok)
			set_download_error(d, &dl, location, res, code, error);
		if (ok && dl.fd >= 0 && fsync(dl.fd) != 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot write %s: %s", location, g_strerror(err));
			ok = FALSE;
		}
		ok = ok && check_download(d, &dl, error);
	}
	if (dl.fd >= 0) {
		close(dl.fd);
		if (!ok)
			unlink(location);
	}
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	g_checksum_free(dl.sum);
	return ok;
}

/* Hands the downloaded file (stored) or the link to stream to the
 * installer, the latter with the token if it goes to the server. */
static gboolean install_bundle(const RotaHawkbitConfig *c, const Deployment *d, const gchar *stored,
			       RotaHawkbitInstallFunc install, gpointer data, GError **failure)
{
	gchar *headers[] = {stored ? NULL : (gchar *)download_token(c, d->url), NULL};

	if (install(stored ? stored : d->url, headers[0] ? headers : NULL, data, failure))
		return TRUE;
	if (!*failure)
		g_set_error_literal(failure, ROTA_ERROR, ROTA_ERROR_FAILED, "installation failed");
	return FALSE;
}

void rota_hawkbit_last_clear(RotaHawkbitLast *last)
{
	g_clear_pointer(&last->id, g_free);
	g_clear_pointer(&last->execution, g_free);
	g_clear_pointer(&last->detail, g_free);
}

/* The closing feedback: closed, or downloaded for a download-only action,
 * remembered in last. A failed action is the poll's error too, once the
 * server knows. */
static gboolean close_action(const RotaHawkbitConfig *c, const Deployment *d, RotaHawkbitLast *last,
			     const gchar *execution, GError *failure, GError **error)
{
	const gchar *detail = failure ? failure->message
			      : g_str_equal(execution, "downloaded") ? "Software bundle downloaded and checked."
								      : "Software bundle installed successfully.";

	g_message("hawkBit: deployment %s %s%s%s", d->id,
		  failure ? "failed" : g_str_equal(execution, "downloaded") ? "downloaded" : "installed",
		  failure ? ": " : "", failure ? failure->message : "");
	rota_hawkbit_last_clear(last);
	last->id = g_strdup(d->id);
	last->execution = g_strdup(execution);
	last->ok = !failure;
	last->detail = g_strdup(detail);
	if (!send_feedback(c, d->feedback, d->id, execution, failure ? "failure" : "success", detail, error)) {
		g_clear_error(&failure);
		return FALSE;
	}
	if (failure)
		g_propagate_prefixed_error(error, failure, "deployment %s failed: ", d->id);
	return !failure;
}

/* Why the deployment is not for now, or NULL. "attempt" is taken as
 * "forced": nobody on the device to ask. */
static const gchar *not_yet(const Deployment *d)
{
	if (g_strcmp0(d->download, "skip") == 0)
		return "the server says not to download it yet";
	if (g_strcmp0(d->window, "unavailable") == 0)
		return "waiting for its maintenance window";
	return NULL;
}

/* Fetches (into the download location, or only to check it for a
 * download-only action when streaming) and installs unless install_it is
 * FALSE; the download is gone afterwards, whatever happened. FALSE with
 * *failure: the action failed; FALSE with *error only: the server could
 * not be told about progress (nothing installed). */
static gboolean fetch_and_install(const RotaHawkbitConfig *c, const Deployment *d, gboolean install_it,
				  RotaHawkbitInstallFunc install, gpointer data, GError **failure, GError **error)
{
	const gchar *stored = c->stream_bundle ? NULL : c->download_location;
	gboolean ok;

	if (d->artifacts != 1) {
		g_set_error(failure, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%u artifacts: rota installs exactly one bundle per deployment", d->artifacts);
		return FALSE;
	}
	if (!d->url || !g_regex_match_simple("^https?://", d->url, G_REGEX_CASELESS, 0)) {
		g_set_error(failure, ROTA_ERROR, ROTA_ERROR_INVALID, "no http(s) download link for %s",
			    d->filename ? d->filename : "the artifact");
		return FALSE;
	}
	if ((stored || !install_it) && !download_bundle(c, d, stored, failure))
		return FALSE;
	ok = !install_it || ((!stored || send_feedback(c, d->feedback, d->id, "proceeding", "none", "Installing", error)) &&
			     install_bundle(c, d, stored, install, data, failure));
	if (stored)
		unlink(stored);
	return ok;
}

/* Installs the deployment (or, download-only, fetches it) and tells the
 * server how it went. */
static gboolean run_deployment(const RotaHawkbitConfig *c, const gchar *href, RotaHawkbitLast *last,
			       RotaHawkbitInstallFunc install, gpointer data, GError **error)
{
	g_autoptr(JsonNode) root = api_get_json(c, href, error);
	g_auto(Deployment) d = {0};
	g_autoptr(GError) failure = NULL;
	g_autoptr(GError) local = NULL;
	gboolean install_it;
	gboolean ok;

	if (!root || !parse_deployment(c, json_node_get_object(root), href, &d, error))
		return FALSE;
	if (g_strcmp0(last->id, d.id) == 0) {
		g_message("hawkBit: deployment %s was %s already, reporting that again", d.id,
			  last->ok ? last->execution : "a failure");
		return send_feedback(c, d.feedback, d.id, last->execution, last->ok ? "success" : "failure", last->detail,
				     error);
	}
	if (not_yet(&d)) {
		g_message("hawkBit: deployment %s: %s", d.id, not_yet(&d));
		return TRUE;
	}
	/* update=skip without a maintenance window: a download-only action. */
	install_it = g_strcmp0(d.update, "skip") != 0;
	g_message("hawkBit: deployment %s: %s%s", d.id, d.filename ? d.filename : d.url ? d.url : "(no download link)",
		  install_it ? "" : " (download only)");
	if (!send_feedback(c, d.feedback, d.id, "proceeding", "none",
			   c->stream_bundle && install_it ? "Installing" : "Downloading", error))
		return FALSE;
	ok = fetch_and_install(c, &d, install_it, install, data, &failure, &local);
	if (!ok && !failure) {
		g_propagate_error(error, g_steal_pointer(&local)); /* the server is gone: the next poll retries */
		return FALSE;
	}
	return close_action(c, &d, last, ok && !install_it ? "downloaded" : "closed", g_steal_pointer(&failure), error);
}

/* ---- polling ---- */

gboolean rota_hawkbit_poll(const RotaHawkbitConfig *c, RotaHawkbitLast *last, RotaHawkbitInstallFunc install,
			   gpointer data, guint *out_sleep, GError **error)
{
	g_autoptr(JsonNode) root = api_get_json(c, c->base, error);
	g_autoptr(GError) attributes_error = NULL;
	const gchar *config, *cancel, *deployment;
	JsonObject *o;

	*out_sleep = MAX(c->retry_wait, 1);
	if (!root)
		return FALSE;
	o = json_node_get_object(root);
	*out_sleep = parse_sleep(member_string(member_object(member_object(o, "config"), "polling"), "sleep"));
	if (!api_link(c, o, "configData", &config, error) || !api_link(c, o, "cancelAction", &cancel, error) ||
	    !api_link(c, o, "deploymentBase", &deployment, error))
		return FALSE;
	/* Attributes the server refuses must not hold up the deployments. */
	if (config)
		send_attributes(c, config, &attributes_error);
	if ((cancel && !acknowledge_cancel(c, cancel, last, error)) ||
	    (deployment && !run_deployment(c, deployment, last, install, data, error))) {
		if (attributes_error)
			g_warning("hawkBit: %s", attributes_error->message);
		return FALSE;
	}
	if (attributes_error) {
		g_propagate_error(error, g_steal_pointer(&attributes_error));
		return FALSE;
	}
	return TRUE;
}

gboolean rota_hawkbit_run(const RotaHawkbitConfig *c, RotaHawkbitInstallFunc install, gpointer data, gboolean once,
			  GError **error)
{
	g_auto(RotaHawkbitLast) last = {0};

	if (c->download_location && g_file_test(c->download_location, G_FILE_TEST_IS_REGULAR) &&
	    !g_file_test(c->download_location, G_FILE_TEST_IS_SYMLINK) && check_download_dir(c->download_location, NULL))
		unlink(c->download_location);
	for (;;) {
		g_autoptr(GError) local = NULL;
		guint sleep_s = c->retry_wait;
		gboolean ok = rota_hawkbit_poll(c, &last, install, data, &sleep_s, once ? error : &local);

		if (once)
			return ok;
		if (!ok) {
			sleep_s = MAX(c->retry_wait, 1);
			g_warning("hawkBit: %s (retrying in %u s)", local->message, sleep_s);
		}
		g_usleep((gulong)sleep_s * G_USEC_PER_SEC);
	}
}
