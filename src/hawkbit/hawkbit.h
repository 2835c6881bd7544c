/* hawkbit.h — a client of Eclipse hawkBit's Direct Device Integration
 * (DDI) API: polls the server for the target, reports the target's
 * attributes when asked, acknowledges cancellations, and installs each
 * deployment's bundle (downloaded and checked against the server's
 * sha256, or streamed) through a caller-supplied installer, reporting
 * progress and the result as action feedback.
 *
 * The configuration file uses rauc-hawkbit-updater's keys ([client],
 * [device]), so existing device configurations carry over.
 *
 * The server's replies are untrusted input, parsed by whoever runs the
 * client: with a `rota service` running, installations go through it and
 * the client can (and should) run as an unprivileged user; without one it
 * installs in-process and so parses the network's JSON as root. The target
 * token is only ever sent to the configured server (scheme, host and port):
 * links elsewhere are refused (API) or fetched without it (artifacts). */
#pragma once

#include <glib.h>

typedef struct {
	gchar *path;            /* the configuration file, for messages */
	gchar *server;          /* host[:port] */
	gchar *base;            /* the controller's URL: http(s)://server/tenant/controller/v1/target */
	gboolean ssl;
	gboolean ssl_verify;
	gchar *tenant;
	gchar *target;
	gchar *auth_header;     /* "Authorization: TargetToken …" / "… GatewayToken …", or NULL */
	gchar *download_location;
	gboolean stream_bundle;
	gboolean send_download_auth; /* the token with downloads from the server itself */
	guint retry_wait;       /* seconds */
	guint connect_timeout;  /* seconds */
	guint timeout;          /* seconds, for API requests (not for bundle downloads) */
	guint low_speed_time;   /* seconds below low_speed_rate that abort a download; 0: off */
	guint low_speed_rate;   /* bytes per second */
	GPtrArray *attributes;  /* [device] keys and values, alternating */
} RotaHawkbitConfig;

void rota_hawkbit_config_free(RotaHawkbitConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaHawkbitConfig, rota_hawkbit_config_free)

/* Loads and checks path. Errors name the file, section and key. */
RotaHawkbitConfig *rota_hawkbit_config_load(const gchar *path, GError **error);

/* Installs source (a local path or an http(s) URL to stream) sending
 * http_headers (NULL-terminated "Name: value") with every request. */
typedef gboolean (*RotaHawkbitInstallFunc)(const gchar *source, gchar **http_headers, gpointer data, GError **error);

/* The last action this process closed. Offered again (the server did not
 * get the closing feedback), it is reported again, not installed again. */
typedef struct {
	gchar *id;
	gchar *execution; /* closed, or downloaded (a download-only action) */
	gboolean ok;
	gchar *detail;
} RotaHawkbitLast;

void rota_hawkbit_last_clear(RotaHawkbitLast *last);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RotaHawkbitLast, rota_hawkbit_last_clear)

/* One poll of the server, and whatever it asks for. *out_sleep: the
 * polling interval the server wants, in seconds (at least 1). A deployment
 * that failed (download, check, install) is reported to the server first,
 * then returned as the poll's error, as is any failure to talk to the
 * server. last: kept from poll to poll. */
gboolean rota_hawkbit_poll(const RotaHawkbitConfig *config, RotaHawkbitLast *last, RotaHawkbitInstallFunc install,
			   gpointer data, guint *out_sleep, GError **error);

/* Removes a download left behind (rota stopped in the middle of one), then
 * polls forever (or once with once): after a failed poll it waits
 * retry_wait seconds (at least 1), otherwise the server's interval.
 * Returns only with once: whether that poll succeeded. */
gboolean rota_hawkbit_run(const RotaHawkbitConfig *config, RotaHawkbitInstallFunc install, gpointer data,
			  gboolean once, GError **error);
