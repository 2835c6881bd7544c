/* service.c — see service.h.
 *
 * Threading: the main loop owns the bus connection and all service state.
 * The install worker only calls rota_install(); its progress reaches the
 * main loop as idle sources, which GLib dispatches in the order they were
 * attached, so property changes keep the order the install produced. */
#include "service.h"

#include <glib-unix.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "common/error.h"
#include "install/artifacts.h"
#include "install/install.h"
#include "install/hooks.h"
#include "rota-resources.h"
#include "service/poller.h"
#include "service/variants.h"
#include "system/event_log.h"
#include "system/info_headers.h"

typedef struct {
	RotaContext *ctx;
	gchar *handler_args;
	gchar *bus_name;
	GBusType bus_type;
	GMainContext *main_context;
	GMainLoop *loop;
	GDBusConnection *conn;
	guint registration;
	GError *error;      /* why the service stopped, if it failed */
	/* installation state; main thread only */
	gboolean installing;
	GThread *worker;
	gchar *operation;
	gchar *last_error;
	GVariant *progress; /* (isi) */
	GVariant *last_install; /* io.github.rota.Statistics.LastInstall */
	guint stats_registration;
	/* polling ([polling] configured) */
	RotaPoller *poller;
	guint poller_registration;
	gboolean booted_marked_good; /* via Mark since the service started */
	gboolean poller_install;     /* the running installation is the poller's */
} Service;

typedef struct {
	Service *svc;
	gchar *path;
	RotaDbusInstallArgs args;
	gboolean ok;
	GError *error;
	RotaHttpStats http_stats;
	GPtrArray *image_stats; /* RotaImageStats* */
	gboolean updated_slots, updated_artifacts;
} InstallJob;

typedef struct {
	Service *svc;
	gint percentage;
	gchar *message;
	gint depth;
} ProgressEvent;

/* ---- names and interface ---- */

const gchar *rota_service_bus_name(const gchar *override)
{
	const gchar *env = g_getenv("ROTA_BUS_NAME");

	if (override && *override)
		return override;
	return env && *env ? env : ROTA_SERVICE_DEFAULT_NAME;
}

GBusType rota_service_bus_type(void)
{
	return g_strcmp0(g_getenv("DBUS_STARTER_BUS_TYPE"), "session") == 0 ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM;
}

const gchar *rota_service_bus_type_name(GBusType type)
{
	return type == G_BUS_TYPE_SESSION ? "session" : "system";
}

/* The interface iface described by the compiled-in XML file (node caches
 * the parsed description). Checked by the tests: failing here is a build bug. */
static GDBusInterfaceInfo *compiled_interface_info(GDBusNodeInfo **node, const gchar *file, const gchar *iface)
{
	if (g_once_init_enter(node)) {
		g_autofree gchar *path = g_strconcat("/de/pengutronix/rauc/", file, NULL);
		g_autoptr(GBytes) xml = g_resource_lookup_data(rota_get_resource(), path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
		GDBusNodeInfo *parsed = g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), NULL);
		g_assert(parsed);
		g_once_init_leave(node, parsed);
	}
	return g_dbus_node_info_lookup_interface(*node, iface);
}

GDBusInterfaceInfo *rota_service_interface_info(void)
{
	static GDBusNodeInfo *node;
	return compiled_interface_info(&node, "de.pengutronix.rauc.Installer.xml", ROTA_SERVICE_INTERFACE);
}

static GDBusInterfaceInfo *poller_interface_info(void)
{
	static GDBusNodeInfo *node;
	return compiled_interface_info(&node, "de.pengutronix.rauc.Poller.xml", ROTA_POLLER_INTERFACE);
}

static GDBusInterfaceInfo *statistics_interface_info(void)
{
	static GDBusNodeInfo *node;
	return compiled_interface_info(&node, "io.github.rota.Statistics.xml", ROTA_STATISTICS_INTERFACE);
}

/* ---- properties ---- */

static GVariant *property_value(Service *svc, const gchar *name)
{
	RotaContext *ctx = svc->ctx;

	if (g_str_equal(name, "Operation"))
		return g_variant_new_string(svc->operation);
	if (g_str_equal(name, "LastError"))
		return g_variant_new_string(svc->last_error);
	if (g_str_equal(name, "Progress"))
		return g_variant_ref(svc->progress);
	if (g_str_equal(name, "Compatible"))
		return g_variant_new_string(ctx->config->compatible ? ctx->config->compatible : "");
	if (g_str_equal(name, "Variant"))
		return g_variant_new_string(ctx->variant ? ctx->variant : "");
	if (g_str_equal(name, "SystemVersion"))
		return g_variant_new_string(ctx->system_version ? ctx->system_version : "");
	if (g_str_equal(name, "BootSlot"))
		return g_variant_new_string(ctx->bootname ? ctx->bootname : "");
	return NULL;
}

static GVariant *poller_property(Service *svc, const gchar *name)
{
	if (!svc->poller)
		return NULL;
	if (g_str_equal(name, "NextPoll"))
		return g_variant_new_int64(rota_poller_next_poll(svc->poller));
	if (g_str_equal(name, "Status"))
		return rota_poller_status(svc->poller);
	return NULL;
}

static GVariant *get_property(GDBusConnection *conn G_GNUC_UNUSED, const gchar *sender G_GNUC_UNUSED,
			      const gchar *path G_GNUC_UNUSED, const gchar *iface, const gchar *name,
			      GError **error, gpointer data)
{
	Service *svc = data;
	GVariant *v = g_str_equal(iface, ROTA_STATISTICS_INTERFACE)
			      ? (g_str_equal(name, "LastInstall") ? g_variant_ref(svc->last_install) : NULL)
		      : g_str_equal(iface, ROTA_POLLER_INTERFACE) ? poller_property(svc, name)
								  : property_value(svc, name);

	if (!v)
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No such property: %s", name);
	return v;
}

static void emit_properties_changed(Service *svc, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	GVariantBuilder changed;

	if (!svc->conn)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
	{
		/* property_value() returns new references for some properties
		 * and floating ones for others: take ownership of either. */
		g_autoptr(GVariant) value = g_variant_take_ref(property_value(svc, name));
		g_variant_builder_add(&changed, "{sv}", name, value);
	}
	if (!g_dbus_connection_emit_signal(svc->conn, NULL, ROTA_SERVICE_OBJECT_PATH, "org.freedesktop.DBus.Properties",
					   "PropertiesChanged",
					   g_variant_new("(sa{sv}as)", ROTA_SERVICE_INTERFACE, &changed, NULL), &error))
		g_warning("Cannot emit PropertiesChanged: %s", error->message);
}

/* Keeps what the finished installation transferred and reused. */
static void set_last_install(Service *svc, InstallJob *job)
{
	g_autofree gchar *source = rota_is_http_url(job->path) ? rota_http_url_for_display(job->path) : g_strdup(job->path);
	g_autoptr(GError) error = NULL;
	GVariantBuilder changed;

	g_variant_unref(svc->last_install);
	svc->last_install = g_variant_ref_sink(rota_dbus_install_statistics(
		source, rota_is_http_url(job->path) ? &job->http_stats : NULL, job->image_stats));
	if (!svc->conn)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&changed, "{sv}", "LastInstall", svc->last_install);
	if (!g_dbus_connection_emit_signal(svc->conn, NULL, ROTA_SERVICE_OBJECT_PATH, "org.freedesktop.DBus.Properties",
					   "PropertiesChanged",
					   g_variant_new("(sa{sv}as)", ROTA_STATISTICS_INTERFACE, &changed, NULL), &error))
		g_warning("Cannot emit PropertiesChanged: %s", error->message);
}

static void set_string_property(Service *svc, gchar **field, const gchar *name, const gchar *value)
{
	g_free(*field);
	*field = g_strdup(value);
	emit_properties_changed(svc, name);
}

static void set_progress(Service *svc, gint percentage, const gchar *message, gint depth)
{
	g_variant_unref(svc->progress);
	svc->progress = g_variant_ref_sink(g_variant_new("(isi)", percentage, message, depth));
	emit_properties_changed(svc, "Progress");
}

/* ---- the install worker ---- */

/* Queues func(data) for the main loop; see the threading note above. */
static void post_to_main(Service *svc, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
	g_autoptr(GSource) source = g_idle_source_new();

	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, func, data, destroy);
	g_source_attach(source, svc->main_context);
}

static void progress_event_free(gpointer data)
{
	ProgressEvent *ev = data;
	g_free(ev->message);
	g_free(ev);
}

static gboolean progress_in_main(gpointer data)
{
	ProgressEvent *ev = data;
	set_progress(ev->svc, ev->percentage, ev->message, ev->depth);
	return G_SOURCE_REMOVE;
}

static void worker_progress(gint percentage, const gchar *message, gint depth, gpointer data)
{
	InstallJob *job = data;
	ProgressEvent *ev = g_new0(ProgressEvent, 1);

	ev->svc = job->svc;
	ev->percentage = percentage;
	ev->message = g_strdup(message);
	ev->depth = depth;
	post_to_main(job->svc, progress_in_main, ev, progress_event_free);
}

static void worker_message(const gchar *message, gpointer data G_GNUC_UNUSED)
{
	g_message("%s", message); /* the journal is where service output goes */
}

static void install_job_free(InstallJob *job)
{
	g_free(job->path);
	g_ptr_array_unref(job->image_stats);
	rota_dbus_install_args_clear(&job->args);
	g_clear_error(&job->error);
	g_free(job);
}

/* The end of an installation, in RAUC's order: LastError, Completed, Operation. */
static gboolean install_done_in_main(gpointer data)
{
	InstallJob *job = data;
	Service *svc = job->svc;
	g_autoptr(GError) error = NULL;

	g_thread_join(g_steal_pointer(&svc->worker));
	set_last_install(svc, job);
	if (job->ok) {
		g_message("Installing `%s` succeeded", job->path);
	} else {
		g_message("Installing `%s` failed: %s", job->path, job->error->message);
		set_string_property(svc, &svc->last_error, "LastError", job->error->message);
	}
	if (svc->conn &&
	    !g_dbus_connection_emit_signal(svc->conn, NULL, ROTA_SERVICE_OBJECT_PATH, ROTA_SERVICE_INTERFACE, "Completed",
					   g_variant_new("(i)", job->ok ? 0 : 1), &error))
		g_warning("Cannot emit Completed: %s", error->message);
	svc->installing = FALSE;
	set_string_property(svc, &svc->operation, "Operation", "idle");
	if (svc->poller_install) {
		svc->poller_install = FALSE;
		rota_poller_install_finished(svc->poller, job->ok, job->updated_slots, job->updated_artifacts);
	}
	install_job_free(job);
	return G_SOURCE_REMOVE;
}

static gpointer install_thread(gpointer data)
{
	InstallJob *job = data;
	RotaHttpOptions http;
	RotaInstallArgs ia = {
		.ignore_compatible = job->args.ignore_compatible,
		.ignore_version_limit = job->args.ignore_version_limit,
		.transaction_id = job->args.transaction_id,
		.require_manifest_hash = job->args.require_manifest_hash,
		.handler_args = job->svc->handler_args,
		.http = &http,
		.http_stats = &job->http_stats,
		.image_stats = job->image_stats,
		.updated_slots = &job->updated_slots,
		.updated_artifacts = &job->updated_artifacts,
		.progress = worker_progress,
		.message = worker_message,
		.user_data = job,
	};

	rota_dbus_http_options(&job->args, job->svc->ctx->config, &http);
	job->ok = rota_install(job->svc->ctx, job->path, &ia, NULL, &job->error);
	if (!job->ok && !job->error)
		g_set_error(&job->error, ROTA_ERROR, ROTA_ERROR_FAILED, "Installation failed");
	post_to_main(job->svc, install_done_in_main, job, NULL);
	return NULL;
}

static gboolean start_install(Service *svc, const gchar *source, RotaDbusInstallArgs *args, GError **error)
{
	InstallJob *job;
	gchar *path = rota_dbus_source_to_path(source, error);

	if (!path)
		return FALSE;
	job = g_new0(InstallJob, 1);
	job->svc = svc;
	job->path = path;
	job->image_stats = g_ptr_array_new_with_free_func((GDestroyNotify)rota_image_stats_free);
	job->args = *args;
	memset(args, 0, sizeof(*args)); /* the job owns the strings now */
	svc->installing = TRUE;
	set_string_property(svc, &svc->last_error, "LastError", "");
	set_string_property(svc, &svc->operation, "Operation", "installing");
	g_message("Starting installation of %s", path);
	svc->worker = g_thread_new("rota-install", install_thread, job);
	return TRUE;
}

/* ---- methods ---- */

static GVariant *call_install_bundle(Service *svc, GVariant *params, GError **error)
{
	g_auto(RotaDbusInstallArgs) args = {0};
	const gchar *source;
	g_autoptr(GVariant) dict = NULL;

	g_variant_get(params, "(&s@a{sv})", &source, &dict);
	if (!rota_dbus_parse_args(dict, TRUE, &args, error) || !start_install(svc, source, &args, error))
		return NULL;
	return g_variant_new("()");
}

static GVariant *call_install(Service *svc, GVariant *params, GError **error)
{
	g_auto(RotaDbusInstallArgs) args = {0};
	const gchar *source;

	g_message("Install() is deprecated, use InstallBundle()");
	g_variant_get(params, "(&s)", &source);
	if (!start_install(svc, source, &args, error))
		return NULL;
	return g_variant_new("()");
}

/* Opens and verifies a bundle (file or URL) as an installation would. */
static RotaBundle *open_bundle(Service *svc, const gchar *source, const RotaDbusInstallArgs *args, GError **error)
{
	g_autofree gchar *path = rota_dbus_source_to_path(source, error);
	g_auto(GStrv) info_headers = rota_info_headers_build(svc->ctx->config, svc->ctx, NULL);

	return path ? rota_dbus_open_bundle(svc->ctx->config, path, args, info_headers, error) : NULL;
}

static GVariant *call_info(Service *svc, GVariant *params, GError **error)
{
	g_auto(RotaDbusInstallArgs) no_args = {0};
	g_autoptr(RotaBundle) b = NULL;
	const gchar *source;

	g_variant_get(params, "(&s)", &source);
	b = open_bundle(svc, source, &no_args, error);
	if (!b)
		return NULL;
	return g_variant_new("(ss)", b->manifest->compatible ? b->manifest->compatible : "",
			     b->manifest->version ? b->manifest->version : "");
}

static GVariant *call_inspect_bundle(Service *svc, GVariant *params, GError **error)
{
	g_auto(RotaDbusInstallArgs) args = {0};
	g_autoptr(GVariant) dict = NULL;
	g_autoptr(RotaBundle) b = NULL;
	const gchar *source;

	g_variant_get(params, "(&s@a{sv})", &source, &dict);
	if (!rota_dbus_parse_args(dict, FALSE, &args, error))
		return NULL;
	b = open_bundle(svc, source, &args, error);
	if (!b)
		return NULL;
	return g_variant_new("(@a{sv})", rota_dbus_bundle_info(b));
}

/* The names of the slots an identifier selects, space-separated. */
static gchar *identified_slot_names(Service *svc, const gchar *identifier)
{
	g_autoptr(GPtrArray) slots = rota_slots_resolve_identifier(svc->ctx->config, identifier, NULL);
	g_autoptr(GString) names = g_string_new(NULL);

	for (guint i = 0; slots && i < slots->len; i++)
		g_string_append_printf(names, "%s%s", i ? " " : "", ((RotaSlot *)slots->pdata[i])->name);
	return g_strdup(names->str);
}

static gboolean identifies_booted(Service *svc, const gchar *identifier)
{
	g_autoptr(GPtrArray) slots = rota_slots_resolve_identifier(svc->ctx->config, identifier, NULL);

	for (guint i = 0; slots && i < slots->len; i++) {
		if (((RotaSlot *)slots->pdata[i])->state == ROTA_SLOT_BOOTED)
			return TRUE;
	}
	return FALSE;
}

static GVariant *call_mark(Service *svc, GVariant *params, GError **error)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *names = NULL;
	const gchar *state, *identifier;

	g_variant_get(params, "(&s&s)", &state, &identifier);
	/* As RAUC's mark_run(): no default identifier (a client sends
	 * "booted"; "" is an invalid name), the identifier is resolved
	 * before the state is looked at, and an unknown state is named as
	 * given: "mark-" belongs to the command line. */
	if (!rota_mark_state_is_valid(state)) {
		g_autoptr(GPtrArray) slots = rota_slots_resolve_identifier(svc->ctx->config, identifier, error);
		if (slots)
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "unknown subcommand %s", state);
		return NULL;
	}
	if (!rota_context_mark(svc->ctx, state, identifier, &message, error))
		return NULL;
	if (g_str_equal(state, "good") && identifies_booted(svc, identifier))
		svc->booted_marked_good = TRUE; /* polling may start */
	names = identified_slot_names(svc, identifier);
	g_message("%s", message);
	return g_variant_new("(ss)", names, message);
}

static GVariant *call_get_slot_status(Service *svc, GVariant *params G_GNUC_UNUSED, GError **error G_GNUC_UNUSED)
{
	g_autoptr(RotaStatusReport) report = rota_status_report_from_context(svc->ctx);

	return g_variant_new("(@a(sa{sv}))", rota_dbus_slot_status(report));
}

static GVariant *call_get_artifact_status(Service *svc, GVariant *params G_GNUC_UNUSED, GError **error G_GNUC_UNUSED)
{
	return g_variant_new("(@aa{sv})", rota_artifact_repos_status(svc->ctx->config));
}

static GVariant *call_poll(Service *svc, GVariant *params G_GNUC_UNUSED, GError **error)
{
	if (!svc->poller) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "polling is not configured");
		return NULL;
	}
	rota_poller_poll_soon(svc->poller);
	return g_variant_new("()");
}

static GVariant *call_get_primary(Service *svc, GVariant *params G_GNUC_UNUSED, GError **error)
{
	g_autofree gchar *name = rota_status_primary_slot_name(svc->ctx, error);

	if (!name) {
		g_prefix_error(error, "Failed getting primary slot: ");
		return NULL;
	}
	return g_variant_new("(s)", name);
}

static const struct {
	const gchar *name;
	GVariant *(*call)(Service *svc, GVariant *params, GError **error);
} methods[] = {
	{"InstallBundle", call_install_bundle},
	{"Install", call_install},
	{"Info", call_info},
	{"InspectBundle", call_inspect_bundle},
	{"Mark", call_mark},
	{"GetSlotStatus", call_get_slot_status},
	{"GetArtifactStatus", call_get_artifact_status},
	{"GetPrimary", call_get_primary},
	{"Poll", call_poll},
};

/* Every failure goes out as G_IO_ERROR_FAILED_HANDLED with the plain
 * message, as RAUC sends it (cli-and-dbus.md §2.2). */
static void return_failure(GDBusMethodInvocation *invocation, const gchar *message)
{
	g_dbus_method_invocation_return_error_literal(invocation, G_IO_ERROR, G_IO_ERROR_FAILED_HANDLED, message);
}

static void method_call(GDBusConnection *conn G_GNUC_UNUSED, const gchar *sender, const gchar *path G_GNUC_UNUSED,
			const gchar *iface G_GNUC_UNUSED, const gchar *method, GVariant *params,
			GDBusMethodInvocation *invocation, gpointer data)
{
	Service *svc = data;

	g_debug("%s called by %s", method, sender);
	if (svc->installing) {
		gboolean install = g_str_has_prefix(method, "Install") && !g_str_equal(method, "InspectBundle");
		return_failure(invocation, install ? "Already processing a different method"
						   : "already processing a different method");
		return;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(methods); i++) {
		g_autoptr(GError) error = NULL;
		GVariant *reply;
		if (!g_str_equal(methods[i].name, method))
			continue;
		reply = methods[i].call(svc, params, &error);
		if (reply)
			g_dbus_method_invocation_return_value(invocation, reply);
		else
			return_failure(invocation, error->message);
		return;
	}
	g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD, "Unknown method %s",
					      method);
}

static const GDBusInterfaceVTable vtable = {
	.method_call = method_call,
	.get_property = get_property,
};

/* ---- bus and lifetime ---- */

static void stop_with_error(Service *svc, GError *error)
{
	if (!svc->error)
		svc->error = error;
	else
		g_error_free(error);
	g_main_loop_quit(svc->loop);
}

static void on_bus_acquired(GDBusConnection *conn, const gchar *name G_GNUC_UNUSED, gpointer data)
{
	Service *svc = data;
	GError *error = NULL;

	svc->conn = g_object_ref(conn);
	svc->registration = g_dbus_connection_register_object(conn, ROTA_SERVICE_OBJECT_PATH, rota_service_interface_info(),
							      &vtable, svc, NULL, &error);
	if (svc->registration)
		svc->stats_registration = g_dbus_connection_register_object(
			conn, ROTA_SERVICE_OBJECT_PATH, statistics_interface_info(), &vtable, svc, NULL, &error);
	if (svc->registration && svc->stats_registration && svc->poller)
		svc->poller_registration = g_dbus_connection_register_object(
			conn, ROTA_SERVICE_OBJECT_PATH, poller_interface_info(), &vtable, svc, NULL, &error);
	if (!svc->registration || !svc->stats_registration || (svc->poller && !svc->poller_registration))
		stop_with_error(svc, error);
}

/* [autoinstall] path: a bundle placed there (by a USB stick handler, a
 * factory script) is installed with default arguments once the service
 * owns its name, reported like any install (Progress, LastError, Completed). */
static void autoinstall(Service *svc)
{
	const gchar *path = svc->ctx->config->autoinstall_path;
	g_auto(RotaDbusInstallArgs) args = {0};
	g_autoptr(GError) error = NULL;

	if (!path)
		return;
	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_message("No bundle at autoinstall path %s", path);
		return;
	}
	g_message("Autoinstall of %s", path);
	if (!start_install(svc, path, &args, &error))
		g_warning("Autoinstall of %s failed to start: %s", path, error->message);
}

/* "Booted into <slot> (<bootname>)" or "Booted from external source" for
 * a boot the central status file has not seen yet (its boot-id is updated). */
static void log_boot(RotaContext *ctx, const gchar *boot_id)
{
	RotaSlot *booted = NULL;
	g_auto(RotaSlotStatus) st = {0};
	g_autofree gchar *msg = NULL;
	g_autoptr(GError) local = NULL;
	RotaEvent ev = {.type = "boot", .boot_id = boot_id};

	for (guint i = 0; i < ctx->config->slots->len && !booted; i++) {
		RotaSlot *s = ctx->config->slots->pdata[i];
		if (s->state == ROTA_SLOT_BOOTED && !s->parent)
			booted = s;
	}
	if (booted) {
		rota_status_load(ctx->status, booted, &st);
		msg = g_strdup_printf("Booted into %s (%s)", booted->name, booted->bootname ? booted->bootname : "");
		ev.message_id = "e60e0addd3454cb8b796eae0d497af96";
		ev.slot = booted->name;
		ev.bootname = booted->bootname;
		ev.bundle_hash = st.bundle_hash ? st.bundle_hash : "unknown";
	} else {
		msg = g_strdup("Booted from external source");
		ev.message_id = "dd237efdad1945d9b1e471bc2b994532";
	}
	ev.message = msg;
	rota_event_log(ctx->config, &ev);
	if (!rota_status_set_boot_id(ctx->status, boot_id, &local))
		g_warning("cannot record the boot ID: %s", local->message);
}

/* Service events (install-and-runtime.md §11): with a central status file a
 * new boot ID means a boot happened since the last start; per-slot status
 * has nowhere to keep one. */
static void log_service_start(RotaContext *ctx)
{
	g_autofree gchar *boot_id = rota_status_store_is_central(ctx->status) ? rota_info_boot_id() : NULL;
	g_autofree gchar *seen = rota_status_get_boot_id(ctx->status);
	RotaEvent ev = {.type = "service", .message = "Service started"};

	if (boot_id && g_strcmp0(boot_id, seen) == 0)
		ev.message = "Service restarted";
	else if (boot_id)
		log_boot(ctx, boot_id);
	rota_event_log(ctx->config, &ev);
}

static void on_name_acquired(GDBusConnection *conn G_GNUC_UNUSED, const gchar *name, gpointer data)
{
	Service *svc = data;
	g_message("Service ready: %s on the %s bus", name, rota_service_bus_type_name(svc->bus_type));
	log_service_start(svc->ctx);
	autoinstall(svc);
}

static void on_name_lost(GDBusConnection *conn, const gchar *name, gpointer data)
{
	Service *svc = data;
	const gchar *bus = rota_service_bus_type_name(svc->bus_type);

	if (!conn || (svc->conn && g_dbus_connection_is_closed(svc->conn)))
		stop_with_error(svc, g_error_new(ROTA_ERROR, ROTA_ERROR_IO, "Lost connection to the %s bus", bus));
	else
		stop_with_error(svc, g_error_new(ROTA_ERROR, ROTA_ERROR_IO, "Failed to obtain name %s on %s bus", name, bus));
}

/* The install sequence makes the new slots primary only at its very end,
 * after marking them bad first, so stopping mid-way leaves the booted slot
 * primary. The worker uses the context, so the process cannot tear it
 * down while the worker runs: it ends at once. */
static gboolean on_terminate(gpointer data)
{
	Service *svc = data;

	if (svc->installing) {
		g_message("Terminated during an installation: stopping it; the booted slot stays primary");
		/* Hooks die with the process (PR_SET_PDEATHSIG); staged files
		 * would stay behind. */
		rota_hooks_remove_staged();
		_exit(1);
	}
	g_message("Terminated");
	g_main_loop_quit(svc->loop);
	return G_SOURCE_CONTINUE;
}

/* ---- polling ---- */

static gboolean poller_may_poll(gpointer data, const gchar **why)
{
	Service *svc = data;

	*why = svc->installing ? "an installation is running"
	       : !svc->booted_marked_good ? "the booted slot was not marked good since the service started"
					  : NULL;
	return *why == NULL;
}

static gboolean poller_install(gpointer data, const gchar *url, const gchar *manifest_hash, GError **error)
{
	Service *svc = data;
	g_auto(RotaDbusInstallArgs) args = {.require_manifest_hash = g_strdup(manifest_hash)};

	if (svc->installing) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "already installing");
		return FALSE;
	}
	if (!start_install(svc, url, &args, error))
		return FALSE;
	svc->poller_install = TRUE;
	return TRUE;
}

static void poller_changed(gpointer data)
{
	Service *svc = data;
	g_autoptr(GError) error = NULL;
	GVariantBuilder changed;

	if (!svc->conn || !svc->poller_registration)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&changed, "{sv}", "NextPoll", g_variant_new_int64(rota_poller_next_poll(svc->poller)));
	g_variant_builder_add(&changed, "{sv}", "Status", rota_poller_status(svc->poller));
	if (!g_dbus_connection_emit_signal(svc->conn, NULL, ROTA_SERVICE_OBJECT_PATH, "org.freedesktop.DBus.Properties",
					   "PropertiesChanged",
					   g_variant_new("(sa{sv}as)", ROTA_POLLER_INTERFACE, &changed, NULL), &error))
		g_warning("Cannot emit PropertiesChanged: %s", error->message);
}

static void service_clear(Service *svc)
{
	if (svc->registration)
		g_dbus_connection_unregister_object(svc->conn, svc->registration);
	if (svc->stats_registration)
		g_dbus_connection_unregister_object(svc->conn, svc->stats_registration);
	if (svc->poller_registration)
		g_dbus_connection_unregister_object(svc->conn, svc->poller_registration);
	rota_poller_free(svc->poller);
	g_clear_object(&svc->conn);
	g_main_loop_unref(svc->loop);
	g_free(svc->handler_args);
	g_free(svc->bus_name);
	g_free(svc->operation);
	g_free(svc->last_error);
	g_variant_unref(svc->progress);
	g_variant_unref(svc->last_install);
}

gboolean rota_service_run(RotaContext *ctx, const RotaServiceOptions *opts, GError **error)
{
	Service svc = {
		.ctx = ctx,
		.handler_args = g_strdup(opts->handler_args),
		.bus_name = g_strdup(rota_service_bus_name(opts->bus_name)),
		.bus_type = rota_service_bus_type(),
		.main_context = g_main_context_default(),
		.loop = g_main_loop_new(NULL, FALSE),
		.operation = g_strdup("idle"),
		.last_error = g_strdup(""),
		/* RAUC reports an all-zero tuple until the first progress event. */
		.progress = g_variant_ref_sink(g_variant_new("(isi)", 0, "", 0)),
		.last_install = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
	};
	RotaPollerHooks hooks = {.may_poll = poller_may_poll, .install = poller_install, .changed = poller_changed,
				 .data = &svc};
	guint owner, term, intr;
	gboolean ok;

	svc.poller = rota_poller_new(ctx, &hooks, error);
	if (!svc.poller && ctx->config->polling) {
		service_clear(&svc);
		return FALSE;
	}
	owner = g_bus_own_name(svc.bus_type, svc.bus_name, G_BUS_NAME_OWNER_FLAGS_NONE, on_bus_acquired, on_name_acquired,
			       on_name_lost, &svc, NULL);
	term = g_unix_signal_add(SIGTERM, on_terminate, &svc);
	intr = g_unix_signal_add(SIGINT, on_terminate, &svc);
	g_main_loop_run(svc.loop);
	/* Lost the bus mid-install: let the worker finish with the context. */
	while (svc.installing)
		g_main_context_iteration(svc.main_context, TRUE);
	g_source_remove(term);
	g_source_remove(intr);
	g_bus_unown_name(owner);
	ok = svc.error == NULL;
	if (!ok)
		g_propagate_error(error, svc.error);
	service_clear(&svc);
	return ok;
}
