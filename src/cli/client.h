/* client.h — `rota install`, `rota status` and `rota status mark-*` as
 * clients of a running `rota service` (cli-and-dbus.md §1.3), the way
 * RAUC's CLI talks to its service. When no service runs the CLI works in-process instead. */
#pragma once

#include <gio/gio.h>

#include "system/status_info.h"

/* A proxy for the installer when the service runs (or can be activated)
 * on the bus rota_service_bus_type() selects. NULL without error when
 * there is no bus or no service: the caller then works in-process. */
GDBusProxy *rota_client_connect(const gchar *bus_name, GError **error);

typedef struct {
	gboolean ignore_compatible;
	gboolean ignore_version_limit;
	const gchar *transaction_id;
	const gchar *require_manifest_hash;
	const gchar *tls_cert;      /* streaming; NULL: the service's config */
	const gchar *tls_key;
	const gchar *tls_ca;
	gboolean tls_no_verify;
	gchar **http_headers;       /* "Name: value", or NULL */
	gboolean progress_bar; /* redraw a bar instead of printing lines */
} RotaClientInstallOptions;

/* Installs through the service and follows it until Completed. Returns the
 * exit status of install-and-runtime.md §17: 0 succeeded, 1 failed, 2 D-Bus
 * error, 3 interrupted (the service keeps installing). On non-zero, error
 * says why. */
gint rota_client_install(GDBusProxy *proxy, const gchar *source, const RotaClientInstallOptions *opts,
			 GError **error);

/* Mark(state, identifier) through the service; *out_message is its message. */
gboolean rota_client_mark(GDBusProxy *proxy, const gchar *state, const gchar *identifier, gchar **out_message,
			  GError **error);

/* The status report (GetPrimary, the properties, GetSlotStatus, as RAUC's
 * client asks them) from the service. A failing GetPrimary is only a
 * message: the report then has no primary. */
RotaStatusReport *rota_client_status_report(GDBusProxy *proxy, GError **error);
