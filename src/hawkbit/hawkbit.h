/* hawkbit.h — a client of Eclipse hawkBit's Direct Device Integration
 * (DDI) API: polls the server for the target, reports the target's
 * attributes when asked, acknowledges cancellations, and installs each
 * deployment's bundle (downloaded and checked against the server's
 * sha256, or streamed) through a caller-supplied installer, reporting
 * progress and the result as action feedback.
 *
 * The configuration file uses rauc-hawkbit-updater's keys ([client],
 * [device]), so existing device configurations carry over. */
#pragma once

#include <glib.h>

typedef struct {
	gchar *path;            /* the configuration file, for messages */
	gchar *server;          /* host[:port] */
	gboolean ssl;
	gboolean ssl_verify;
	gchar *tenant;
	gchar *target;
	gchar *auth_header;     /* "Authorization: TargetToken …" / "… GatewayToken …", or NULL */
	gchar *download_location;
	gboolean stream_bundle;
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

/* One poll of the server, and whatever it asks for. *out_sleep: the
 * polling interval the server wants, in seconds. A deployment that failed
 * (download, check, install) is reported to the server first, then
 * returned as the poll's error, as is any failure to talk to the server. */
gboolean rota_hawkbit_poll(const RotaHawkbitConfig *config, RotaHawkbitInstallFunc install, gpointer data,
			   guint *out_sleep, GError **error);

/* Polls forever (or once with once): after a failed poll it waits
 * retry_wait seconds, otherwise the server's interval. Returns only with
 * once: whether that poll succeeded. */
gboolean rota_hawkbit_run(const RotaHawkbitConfig *config, RotaHawkbitInstallFunc install, gpointer data,
			  gboolean once, GError **error);
