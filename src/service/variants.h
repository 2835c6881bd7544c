/* variants.h — the D-Bus argument and result dictionaries of the installer
 * interface (cli-and-dbus.md §2.3–2.5), converted to and from rota's
 * types. Pure functions, so they are unit-tested without a bus. */
#pragma once

#include <gio/gio.h>

#include "bundle/bundle.h"
#include "install/install.h"
#include "system/context.h"
#include "system/status_info.h"

/* What InstallBundle's and InspectBundle's args dictionaries may carry. */
typedef struct {
	gboolean ignore_compatible;
	gboolean ignore_version_limit;
	gchar *transaction_id;
	gchar *require_manifest_hash;
	gchar *tls_cert;
	gchar *tls_key;
	gchar *tls_ca;
	gboolean tls_no_verify;
	gchar **http_headers;
} RotaDbusInstallArgs;

void rota_dbus_install_args_clear(RotaDbusInstallArgs *args);
/* Streaming options: the call's TLS and header arguments over the
 * config's [streaming] values. *out points into args and config. */
void rota_dbus_http_options(const RotaDbusInstallArgs *args, const RotaConfig *config, RotaHttpOptions *out);
/* Opens and verifies the bundle at path (file or URL) with the config's
 * keyring and decryption key, args' streaming options and info_headers
 * (sent with the first request; may be NULL), as an installation would. */
RotaBundle *rota_dbus_open_bundle(const RotaConfig *config, const gchar *path, const RotaDbusInstallArgs *args,
				  gchar **info_headers, GError **error);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RotaDbusInstallArgs, rota_dbus_install_args_clear)

/* Parses an a{sv} of InstallBundle (for_install) or InspectBundle (only
 * the TLS and header keys). Unknown keys and known keys with another type
 * fail with "Unsupported key: <key>". */
gboolean rota_dbus_parse_args(GVariant *dict, gboolean for_install, RotaDbusInstallArgs *out, GError **error);

/* The source of an install or inspect call as rota opens it: file:// URIs
 * without host become paths; http(s) URLs and paths stay as they are. */
gchar *rota_dbus_source_to_path(const gchar *source, GError **error);

/* InspectBundle's result a{sv} (same content as `info --output-format=json-2`). */
GVariant *rota_dbus_bundle_info(const RotaBundle *bundle);

/* GetSlotStatus's result a(sa{sv}): one dictionary per slot of the report
 * (its primary is not part of it). */
GVariant *rota_dbus_slot_status(const RotaStatusReport *report);

/* io.github.rota.Statistics.LastInstall: source, streaming figures (http may
 * be NULL for a local bundle) and one dictionary per adaptive image. */
GVariant *rota_dbus_install_statistics(const gchar *source, const RotaHttpStats *http, GPtrArray *images);

/* The inverse, for `status` as a client: a report from GetSlotStatus's
 * array, the properties (a{sv} of Properties.GetAll: Compatible, Variant,
 * BootSlot, SystemVersion if the service has it) and GetPrimary's answer
 * (NULL if it failed). */
RotaStatusReport *rota_dbus_status_report(GVariant *slot_status, GVariant *properties, const gchar *primary);
