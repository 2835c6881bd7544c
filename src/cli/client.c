/* client.c — see client.h. */
#include "client.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/progress_bar.h"
#include "common/error.h"
#include "service/service.h"
#include "service/variants.h"

static gboolean name_available(GDBusConnection *conn, const gchar *method, const gchar *name, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	gboolean found = FALSE;

	reply = g_dbus_connection_call_sync(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
					    method, method[0] == 'N' ? g_variant_new("(s)", name) : NULL, NULL,
					    G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
	if (!reply)
		return FALSE;
	if (method[0] == 'N') {
		g_variant_get(reply, "(b)", &found);
	} else {
		g_autofree const gchar **names = NULL;
		g_variant_get(reply, "(^a&s)", &names);
		found = g_strv_contains(names, name);
	}
	return found;
}

GDBusProxy *rota_client_connect(const gchar *bus_name, GError **error)
{
	GBusType type = rota_service_bus_type();
	const gchar *name = rota_service_bus_name(bus_name);
	g_autoptr(GError) local = NULL;
	g_autoptr(GDBusConnection) conn = g_bus_get_sync(type, NULL, &local);

	if (!conn) {
		g_debug("No %s bus (%s): working in-process", rota_service_bus_type_name(type), local->message);
		return NULL;
	}
	/* An activatable service counts as running: the call starts it. */
	if (!name_available(conn, "NameHasOwner", name, NULL) &&
	    !name_available(conn, "ListActivatableNames", name, NULL)) {
		g_debug("No service %s on the %s bus: working in-process", name, rota_service_bus_type_name(type));
		return NULL;
	}
	g_debug("Using the service %s on the %s bus", name, rota_service_bus_type_name(type));
	return g_dbus_proxy_new_sync(conn, G_DBUS_PROXY_FLAGS_NONE, rota_service_interface_info(), name,
				     ROTA_SERVICE_OBJECT_PATH, ROTA_SERVICE_INTERFACE, NULL, error);
}

/* Remote errors arrive as "GDBus.Error:<name>: message"; show the message. */
static void strip_remote(GError *error)
{
	if (error && g_dbus_error_is_remote_error(error))
		g_dbus_error_strip_remote_error(error);
}

/* ---- install ---- */

typedef struct {
	GMainLoop *loop;
	RotaProgressBar *bar; /* NULL: plain lines */
	gint result;          /* -1 until known */
	gboolean idle_after_start; /* Operation went back to "idle" */
	guint grace;          /* waiting for "idle" after Completed */
	gboolean had_owner;
	gchar *last_error;
} Watch;

static void print_property(Watch *w, const gchar *name, GVariant *value)
{
	if (g_str_equal(name, "Progress")) {
		gint pct, depth;
		const gchar *message;
		g_variant_get(value, "(i&si)", &pct, &message, &depth);
		if (w->bar)
			rota_progress_bar_update(w->bar, pct, message);
		else
			g_print("%3d%% %s\n", pct, message);
	} else if (g_str_equal(name, "LastError")) {
		const gchar *msg = g_variant_get_string(value, NULL);
		if (!*msg)
			return;
		g_free(w->last_error);
		w->last_error = g_strdup(msg);
		if (w->bar)
			rota_progress_bar_clear(w->bar);
		g_print("LastError: %s\n", msg);
	} else if (g_str_equal(name, "Operation")) {
		w->idle_after_start = g_str_equal(g_variant_get_string(value, NULL), "idle");
		if (!w->bar)
			g_print("%s\n", g_variant_get_string(value, NULL));
		if (w->idle_after_start && w->result >= 0)
			g_main_loop_quit(w->loop);
	}
}

static void on_properties_changed(GDBusProxy *proxy G_GNUC_UNUSED, GVariant *changed,
				  const gchar *const *invalidated G_GNUC_UNUSED, gpointer data)
{
	GVariantIter iter;
	const gchar *name;
	GVariant *value;

	g_variant_iter_init(&iter, changed);
	while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
		print_property(data, name, value);
		g_variant_unref(value);
	}
}

static gboolean on_grace_over(gpointer data)
{
	Watch *w = data;

	w->grace = 0;
	g_main_loop_quit(w->loop);
	return G_SOURCE_REMOVE;
}

static void on_signal(GDBusProxy *proxy G_GNUC_UNUSED, const gchar *sender G_GNUC_UNUSED, const gchar *signal,
		      GVariant *params, gpointer data)
{
	Watch *w = data;

	if (!g_str_equal(signal, "Completed") || w->result >= 0)
		return;
	g_variant_get(params, "(i)", &w->result);
	/* The service sends Operation="idle" right after Completed; wait for
	 * it (briefly) so the output ends like RAUC's: "idle", then the result. */
	if (w->idle_after_start)
		g_main_loop_quit(w->loop);
	else
		w->grace = g_timeout_add_seconds(2, on_grace_over, w);
}

static void on_owner_changed(GObject *proxy, GParamSpec *pspec G_GNUC_UNUSED, gpointer data)
{
	Watch *w = data;
	g_autofree gchar *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(proxy));

	if (owner) {
		w->had_owner = TRUE;
		return;
	}
	if (w->had_owner && w->result < 0) {
		w->result = 2;
		g_main_loop_quit(w->loop);
	}
}

static gboolean on_interrupt(gpointer data)
{
	Watch *w = data;

	w->result = 3;
	g_main_loop_quit(w->loop);
	return G_SOURCE_CONTINUE;
}

static GVariant *install_args(const RotaClientInstallOptions *o)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "ignore-compatible", g_variant_new_boolean(o->ignore_compatible));
	g_variant_builder_add(&b, "{sv}", "ignore-version-limit", g_variant_new_boolean(o->ignore_version_limit));
	if (o->transaction_id)
		g_variant_builder_add(&b, "{sv}", "transaction-id", g_variant_new_string(o->transaction_id));
	if (o->require_manifest_hash)
		g_variant_builder_add(&b, "{sv}", "require-manifest-hash", g_variant_new_string(o->require_manifest_hash));
	if (o->tls_cert)
		g_variant_builder_add(&b, "{sv}", "tls-cert", g_variant_new_string(o->tls_cert));
	if (o->tls_key)
		g_variant_builder_add(&b, "{sv}", "tls-key", g_variant_new_string(o->tls_key));
	if (o->tls_ca)
		g_variant_builder_add(&b, "{sv}", "tls-ca", g_variant_new_string(o->tls_ca));
	if (o->tls_no_verify)
		g_variant_builder_add(&b, "{sv}", "tls-no-verify", g_variant_new_boolean(TRUE));
	if (o->http_headers)
		g_variant_builder_add(&b, "{sv}", "http-headers",
				      g_variant_new_strv((const gchar *const *)o->http_headers, -1));
	return g_variant_builder_end(&b);
}

/* Turns the watch's outcome into the exit status and its message. */
static gint install_result(Watch *w, const gchar *source, GError **error)
{
	switch (w->result) {
	case 0:
		g_print("Installing `%s` succeeded\n", source);
		return 0;
	case 1:
		g_printerr("Installing `%s` failed\n", source);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s", w->last_error ? w->last_error : "installation failed");
		return 1;
	case 3:
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_FAILED,
				    "Ctrl+C pressed. Exiting rota installation client... Note that this will not abort "
				    "the installation running in the rota service!");
		return 3;
	default:
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "rota service disappeared: D-Bus error while installing `%s`",
			    source);
		return 2;
	}
}

gint rota_client_install(GDBusProxy *proxy, const gchar *source, const RotaClientInstallOptions *opts,
			 GError **error)
{
	Watch w = {.loop = g_main_loop_new(NULL, FALSE), .result = -1};
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree gchar *owner = g_dbus_proxy_get_name_owner(proxy);
	gulong handlers[3];
	guint sigint;
	gint status;

	w.had_owner = owner != NULL;
	if (opts->progress_bar)
		w.bar = rota_progress_bar_new(source);
	handlers[0] = g_signal_connect(proxy, "g-properties-changed", G_CALLBACK(on_properties_changed), &w);
	handlers[1] = g_signal_connect(proxy, "g-signal", G_CALLBACK(on_signal), &w);
	handlers[2] = g_signal_connect(proxy, "notify::g-name-owner", G_CALLBACK(on_owner_changed), &w);
	reply = g_dbus_proxy_call_sync(proxy, "InstallBundle", g_variant_new("(s@a{sv})", source, install_args(opts)),
				       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local);
	if (!reply) {
		strip_remote(local);
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "Failed to contact rota service: ");
		status = 2;
	} else {
		sigint = g_unix_signal_add(SIGINT, on_interrupt, &w);
		if (w.result < 0)
			g_main_loop_run(w.loop);
		g_source_remove(sigint);
		if (w.grace)
			g_source_remove(w.grace);
		if (w.bar)
			rota_progress_bar_finish(w.bar);
		status = install_result(&w, source, error);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(handlers); i++)
		g_signal_handler_disconnect(proxy, handlers[i]);
	rota_progress_bar_free(w.bar);
	g_free(w.last_error);
	g_main_loop_unref(w.loop);
	return status;
}

/* ---- mark ---- */

gboolean rota_client_mark(GDBusProxy *proxy, const gchar *state, const gchar *identifier, gchar **out_message,
			  GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) reply = g_dbus_proxy_call_sync(proxy, "Mark", g_variant_new("(ss)", state, identifier),
							   G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local);

	if (!reply) {
		strip_remote(local);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	g_variant_get(reply, "(ss)", NULL, out_message);
	return TRUE;
}

/* ---- status ---- */

/* The service's message already reads "Failed getting primary slot: …",
 * the line the in-process status prints too. */
static gchar *get_primary(GDBusProxy *proxy)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_proxy_call_sync(proxy, "GetPrimary", NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
							   &error);
	gchar *primary = NULL;

	if (!reply) {
		strip_remote(error);
		g_message("%s", error->message);
		return NULL;
	}
	g_variant_get(reply, "(s)", &primary);
	return primary;
}

/* Asked, not taken from the proxy's cache: status shows the values now. */
static GVariant *get_properties(GDBusProxy *proxy, GError **error)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy), g_dbus_proxy_get_object_path(proxy),
		"org.freedesktop.DBus.Properties", "GetAll", g_variant_new("(s)", g_dbus_proxy_get_interface_name(proxy)),
		G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);

	return reply ? g_variant_get_child_value(reply, 0) : NULL;
}

/* GetArtifactStatus's list (empty when the service has no repository), or
 * NULL when the service, like RAUC 1.8, has no such method: json then
 * leaves "artifact-repositories" out. */
static GVariant *get_artifact_status(GDBusProxy *proxy)
{
	g_autoptr(GVariant) reply = g_dbus_proxy_call_sync(proxy, "GetArtifactStatus", NULL, G_DBUS_CALL_FLAGS_NONE, -1,
							   NULL, NULL);

	if (!reply || !g_variant_is_of_type(reply, G_VARIANT_TYPE("(aa{sv})")))
		return NULL;
	return g_variant_get_child_value(reply, 0);
}

RotaStatusReport *rota_client_status_report(GDBusProxy *proxy, GError **error)
{
	g_autofree gchar *primary = get_primary(proxy);
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) properties = get_properties(proxy, &local);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) slots = NULL;
	RotaStatusReport *report;

	if (properties)
		reply = g_dbus_proxy_call_sync(proxy, "GetSlotStatus", NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local);
	if (!reply) {
		strip_remote(local);
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "Failed to get status from rota service: ");
		return NULL;
	}
	slots = g_variant_get_child_value(reply, 0);
	report = rota_dbus_status_report(slots, properties, primary);
	report->artifacts = get_artifact_status(proxy);
	return report;
}
