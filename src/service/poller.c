/* poller.c — scheduling polls, fetching the manifest in a thread, and
 * acting on it (install-and-runtime.md §16). ROTA_POLL_TIME_SCALE divides
 * every delay (tests run the schedule in milliseconds). */
#include "poller.h"

#include <string.h>
#include <time.h>

#include "bundle/bundle.h"
#include "common/semver.h"
#include "service/variants.h"
#include "system/info_headers.h"

#define TICK_S 10
#define SHORT_DELAY_S 30

struct _RotaPoller {
	RotaContext *ctx;
	const RotaPollingConfig *cfg;
	RotaPollerHooks hooks;
	guint64 scale;
	guint tick;
	gint64 next_poll; /* CLOCK_BOOTTIME µs; 0: stopped (reboot started) */
	gboolean polling; /* a fetch is running */
	gboolean installing;
	GCancellable *cancel;
	/* Status */
	guint64 attempt_count, recent_error_count, last_attempt_time, last_success_time;
	gchar *last_error_message;
	gboolean update_available;
	gchar *summary;
	gchar *attempted_hash;
	GVariant *manifest; /* InspectBundle's a{sv} of the last manifest seen */
	guint64 bundle_size;
};

static gint64 boottime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Capped before multiplying: a huge interval-sec must not wrap around
 * into an early (or past) poll. The cap leaves room to add the boot time. */
static gint64 scaled_us(RotaPoller *p, guint64 seconds)
{
	const guint64 cap = (guint64)G_MAXINT64 / 2;

	if (seconds / p->scale > cap / G_USEC_PER_SEC)
		return (gint64)cap;
	return (gint64)MIN(seconds * G_USEC_PER_SEC / p->scale, cap);
}

static void schedule_in(RotaPoller *p, gint64 delay_us)
{
	p->next_poll = boottime_us() + delay_us;
	p->hooks.changed(p->hooks.data);
}

/* After a poll: the interval, times (errors + 1), at most max-interval. */
static void schedule_normal(RotaPoller *p)
{
	guint64 factor = p->recent_error_count + 1;
	guint64 delay = p->cfg->interval_sec > p->cfg->max_interval_sec / factor ? p->cfg->max_interval_sec
										   : p->cfg->interval_sec * factor;
	schedule_in(p, scaled_us(p, delay));
}

static void set_error(RotaPoller *p, const gchar *message)
{
	g_free(p->last_error_message);
	p->last_error_message = g_strdup(message);
	p->recent_error_count++;
	g_message("Polling failed: %s", message);
}

static const gchar *inhibiting_file(RotaPoller *p)
{
	for (gchar **f = p->cfg->inhibit_files; f && *f; f++) {
		if (g_file_test(*f, G_FILE_TEST_EXISTS))
			return *f;
	}
	return NULL;
}

/* ---- the fetch (in a thread) ---- */

typedef struct {
	gchar *url;
	const RotaConfig *config;
	gchar **info_headers;
} Fetch;

static void fetch_free(Fetch *f)
{
	g_free(f->url);
	g_strfreev(f->info_headers);
	g_free(f);
}

static void fetch_thread(GTask *task, gpointer source G_GNUC_UNUSED, gpointer data, GCancellable *cancel G_GNUC_UNUSED)
{
	Fetch *f = data;
	RotaDbusInstallArgs none = {0};
	GError *error = NULL;
	RotaBundle *b = rota_dbus_open_bundle(f->config, f->url, &none, f->info_headers, &error);

	if (b && b->format == ROTA_FORMAT_PLAIN) {
		g_set_error(&error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: polling needs a verity or crypt bundle", f->url);
		g_clear_pointer(&b, rota_bundle_free);
	}
	if (b)
		g_task_return_pointer(task, b, (GDestroyNotify)rota_bundle_free);
	else
		g_task_return_error(task, error);
}

/* ---- acting on a manifest ---- */

static gboolean criteria_match(RotaPoller *p, guint criteria, const gchar *version, const gchar **why)
{
	const gchar *system = p->ctx->system_version;
	gint cmp = 0;

	if ((criteria & ROTA_POLL_HIGHER_SEMVER) && version && rota_version_compare(version, system, &cmp) && cmp > 0) {
		*why = "higher semantic version";
		return TRUE;
	}
	if ((criteria & ROTA_POLL_DIFFERENT_VERSION) && g_strcmp0(version, system) != 0) {
		*why = "different version";
		return TRUE;
	}
	if (criteria & ROTA_POLL_ALWAYS) {
		*why = "always";
		return TRUE;
	}
	return FALSE;
}

static void remember_manifest(RotaPoller *p, RotaBundle *b)
{
	g_clear_pointer(&p->manifest, g_variant_unref);
	p->manifest = g_variant_ref_sink(rota_dbus_bundle_info(b));
	p->bundle_size = b->size;
}

static void maybe_install(RotaPoller *p, RotaBundle *b)
{
	const gchar *why = NULL;
	g_autoptr(GError) error = NULL;

	if (!criteria_match(p, p->cfg->install_criteria, b->manifest->version, &why)) {
		schedule_normal(p);
		return;
	}
	if (g_strcmp0(p->attempted_hash, b->manifest_hash) == 0) {
		g_debug("Polling: %s was attempted already", b->manifest_hash);
		schedule_normal(p);
		return;
	}
	g_message("Polling: installing %s (%s)", p->cfg->url, why);
	if (!p->hooks.install(p->hooks.data, p->cfg->url, b->manifest_hash, &error)) {
		set_error(p, error->message); /* not attempted: the next poll tries again */
		schedule_normal(p);
		return;
	}
	/* Attempted once started, whatever its outcome: a failing bundle is
	 * not installed again and again. */
	g_free(p->attempted_hash);
	p->attempted_hash = g_strdup(b->manifest_hash);
	p->installing = TRUE;
	p->next_poll = G_MAXINT64; /* until the installation finishes */
	p->hooks.changed(p->hooks.data);
}

static void on_fetched(GObject *source G_GNUC_UNUSED, GAsyncResult *res, gpointer data)
{
	RotaPoller *p = data;
	g_autoptr(GError) error = NULL;
	RotaBundle *b = g_task_propagate_pointer(G_TASK(res), &error);
	const gchar *why = NULL;

	p->polling = FALSE; /* rota_poller_free() waits for this */
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* the poller is being freed: nothing to report */
	if (!b) {
		set_error(p, error->message);
		schedule_normal(p);
		return;
	}
	p->recent_error_count = 0;
	p->last_success_time = (guint64)(g_get_real_time() / G_USEC_PER_SEC);
	remember_manifest(p, b);
	p->update_available = criteria_match(p, p->cfg->candidate_criteria, b->manifest->version, &why);
	g_free(p->summary);
	p->summary = p->update_available ? g_strdup_printf("update candidate found: %s", why)
					 : g_strdup("no update candidate available");
	g_message("Polling: %s", p->summary);
	maybe_install(p, b);
	rota_bundle_free(b);
}

static void poll_now(RotaPoller *p)
{
	Fetch *f = g_new0(Fetch, 1);
	g_autoptr(GTask) task = g_task_new(NULL, p->cancel, on_fetched, p);

	p->polling = TRUE;
	p->attempt_count++;
	p->last_attempt_time = (guint64)(g_get_real_time() / G_USEC_PER_SEC);
	f->url = g_strdup(p->cfg->url);
	f->config = p->ctx->config;
	f->info_headers = rota_info_headers_build(p->ctx->config, p->ctx, NULL);
	g_task_set_task_data(task, f, (GDestroyNotify)fetch_free);
	g_task_run_in_thread(task, fetch_thread);
}

static gboolean on_tick(gpointer data)
{
	RotaPoller *p = data;
	const gchar *why = NULL;
	const gchar *inhibit;

	if (!p->next_poll || p->polling || p->installing || boottime_us() < p->next_poll)
		return G_SOURCE_CONTINUE;
	inhibit = inhibiting_file(p);
	if (inhibit || !p->hooks.may_poll(p->hooks.data, &why)) {
		g_debug("Polling postponed: %s", inhibit ? inhibit : why);
		schedule_in(p, scaled_us(p, SHORT_DELAY_S));
		return G_SOURCE_CONTINUE;
	}
	poll_now(p);
	return G_SOURCE_CONTINUE;
}

/* ---- after an installation ---- */

static gboolean reboot_wanted(RotaPoller *p, gboolean ok, gboolean updated_slots, gboolean updated_artifacts)
{
	guint r = p->cfg->reboot_criteria;

	if (!ok)
		return (r & ROTA_REBOOT_FAILED_UPDATE) != 0;
	return ((r & ROTA_REBOOT_UPDATED_SLOTS) && updated_slots) ||
	       ((r & ROTA_REBOOT_UPDATED_ARTIFACTS) && updated_artifacts);
}

static void start_reboot(RotaPoller *p)
{
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) error = NULL;

	g_message("Polling: rebooting with '%s'", p->cfg->reboot_cmd);
	if (!g_shell_parse_argv(p->cfg->reboot_cmd, NULL, &argv, &error) ||
	    !g_spawn_async(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &error)) {
		set_error(p, error->message);
		schedule_normal(p);
		return;
	}
	p->next_poll = 0; /* no more polls: the system is going down */
	p->hooks.changed(p->hooks.data);
}

void rota_poller_install_finished(RotaPoller *p, gboolean ok, gboolean updated_slots, gboolean updated_artifacts)
{
	if (!p || !p->installing)
		return;
	p->installing = FALSE;
	if (reboot_wanted(p, ok, updated_slots, updated_artifacts)) {
		start_reboot(p);
		return;
	}
	schedule_in(p, scaled_us(p, SHORT_DELAY_S));
}

/* ---- life cycle and D-Bus values ---- */

RotaPoller *rota_poller_new(RotaContext *ctx, const RotaPollerHooks *hooks, GError **error)
{
	const gchar *scale = g_getenv("ROTA_POLL_TIME_SCALE");
	RotaPoller *p;
	guint64 tick_ms;

	if (!ctx->config->polling)
		return NULL;
	if (!ctx->system_version) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "[polling] system version not provided via system-info handler (needed to compare versions)");
		return NULL;
	}
	p = g_new0(RotaPoller, 1);
	p->ctx = ctx;
	p->cfg = ctx->config->polling;
	p->hooks = *hooks;
	p->cancel = g_cancellable_new();
	p->scale = scale && g_ascii_strtoull(scale, NULL, 10) ? g_ascii_strtoull(scale, NULL, 10) : 1;
	p->summary = g_strdup("no update bundle available");
	/* The first poll at a random 10–90 % of the interval: a fleet that
	 * powers up together does not poll together. */
	p->next_poll = boottime_us() + scaled_us(p, p->cfg->interval_sec) / 100 * g_random_int_range(10, 91);
	tick_ms = MAX((guint64)1, TICK_S * 1000 / p->scale);
	p->tick = g_timeout_add((guint)MIN(tick_ms, (guint64)G_MAXUINT), on_tick, p);
	return p;
}

void rota_poller_free(RotaPoller *p)
{
	if (!p)
		return;
	g_source_remove(p->tick);
	g_cancellable_cancel(p->cancel);
	/* A running fetch reads the context's config, which our caller frees
	 * next, and its callback gets p: wait for it. The fetch cannot be
	 * interrupted, so this takes at most the HTTP timeouts. */
	while (p->polling)
		g_main_context_iteration(NULL, TRUE);
	g_object_unref(p->cancel);
	g_free(p->last_error_message);
	g_free(p->summary);
	g_free(p->attempted_hash);
	if (p->manifest)
		g_variant_unref(p->manifest);
	g_free(p);
}

void rota_poller_poll_soon(RotaPoller *p)
{
	if (p->next_poll)
		schedule_in(p, scaled_us(p, SHORT_DELAY_S));
}

gint64 rota_poller_next_poll(RotaPoller *p)
{
	return p->next_poll == G_MAXINT64 ? 0 : p->next_poll;
}

GVariant *rota_poller_status(RotaPoller *p)
{
	g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) bundle = G_VARIANT_DICT_INIT(NULL);

	g_variant_dict_insert(&d, "attempt-count", "t", p->attempt_count);
	g_variant_dict_insert(&d, "recent-error-count", "t", p->recent_error_count);
	g_variant_dict_insert(&d, "last-attempt-time", "t", p->last_attempt_time);
	g_variant_dict_insert(&d, "last-success-time", "t", p->last_success_time);
	g_variant_dict_insert(&d, "last-error-message", "s", p->last_error_message ? p->last_error_message : "");
	g_variant_dict_insert(&d, "update-available", "b", p->update_available);
	g_variant_dict_insert(&d, "summary", "s", p->summary);
	g_variant_dict_insert(&d, "attempted-hash", "s", p->attempted_hash ? p->attempted_hash : "");
	if (p->manifest) {
		g_variant_dict_insert_value(&d, "manifest", p->manifest);
		g_variant_dict_insert(&bundle, "size", "t", p->bundle_size);
		g_variant_dict_insert(&bundle, "effective-url", "s", p->cfg->url);
		g_variant_dict_insert_value(&d, "bundle", g_variant_dict_end(&bundle));
	}
	return g_variant_dict_end(&d);
}
