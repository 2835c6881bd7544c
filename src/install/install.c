/* install.c — the installation sequence. The order of the steps is the
 * spec's (install-and-runtime.md §2); the bundle is read only through the
 * verified view stack, never mounted. */
#include "install.h"

#include <string.h>

#include "common/semver.h"
#include "install/adaptive.h"
#include "install/artifacts.h"
#include "install/slot_boot.h"
#include "install/slot_writer.h"
#include "system/event_log.h"
#include "system/info_headers.h"

typedef struct {
	RotaImage *image;
	RotaSlot *slot;                /* NULL for an artifact */
	RotaWriterKind kind;
	RotaArtifactRepoState *repo;   /* artifacts: the repository it goes to */
} Plan;

typedef struct {
	RotaContext *ctx;
	const RotaInstallArgs *args;
	RotaProgress *progress;
	RotaBundle *bundle;
	RotaHookEnv hooks;
	GHashTable *target_group;
	GArray *plans; /* Plan */
	GHashTable *repos; /* repo name -> RotaArtifactRepoState*, scanned and pruned before planning */
	gboolean rejected;
} Install;

static void say(Install *in, const gchar *format, ...) G_GNUC_PRINTF(2, 3);
static void say(Install *in, const gchar *format, ...)
{
	g_autofree gchar *msg = NULL;
	va_list ap;

	va_start(ap, format);
	msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	if (in->args->message)
		in->args->message(msg, in->args->user_data);
	else
		g_message("%s", msg);
}

/* ---- checks ---- */

/* Ends the current progress step and passes ok through. */
static gboolean step(Install *in, gboolean ok)
{
	rota_progress_end(in->progress, ok);
	return ok;
}

static gboolean check_bundle_policy(Install *in, GError **error)
{
	const RotaConfig *c = in->ctx->config;
	const RotaBundle *b = in->bundle;
	const gchar *want = in->args->require_manifest_hash;

	if (want && b->format == ROTA_FORMAT_PLAIN) {
		in->rejected = TRUE;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Refusing to install plain bundle when using require-manifest-hash");
		return FALSE;
	}
	if (want && g_strcmp0(want, b->manifest_hash) != 0) {
		in->rejected = TRUE;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Refusing to install bundle with unexpected hash (expected %s, got %s)",
			    want, b->manifest_hash);
		return FALSE;
	}
	if (!(c->bundle_formats & (1u << b->format))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Bundle format '%s' not allowed", rota_bundle_format_name(b->format));
		return FALSE;
	}
	if (b->format == ROTA_FORMAT_CRYPT && !b->enveloped) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Refusing to install unencrypted crypt bundles");
		return FALSE;
	}
	return TRUE;
}

static gboolean check_compatible(Install *in, GError **error)
{
	const RotaManifest *m = in->bundle->manifest;
	const gchar *sys = in->ctx->config->compatible;

	if (g_strv_contains((const gchar *const *)m->hooks, "install-check"))
		return rota_hooks_install_check(&in->hooks, &in->rejected, error);
	if (in->args->ignore_compatible || g_strcmp0(sys, m->compatible) == 0)
		return TRUE;
	in->rejected = TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Compatible mismatch: Expected '%s' but bundle manifest has '%s'",
		    sys, m->compatible);
	return FALSE;
}

static gboolean check_version_limit(Install *in, GError **error)
{
	const gchar *limit = in->ctx->config->min_bundle_version;
	const gchar *have = in->bundle->manifest->version;
	gint cmp;

	if (!limit || in->args->ignore_version_limit)
		return TRUE;
	in->rejected = TRUE;
	if (!have) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Version mismatch: Expected at least '%s' but bundle manifest has no version", limit);
		return FALSE;
	}
	if (!rota_version_compare(have, limit, &cmp)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Version mismatch: cannot compare '%s' with '%s'", have, limit);
		return FALSE;
	}
	if (cmp < 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Version mismatch: Expected at least '%s' but bundle manifest has '%s'", limit, have);
		return FALSE;
	}
	in->rejected = FALSE;
	return TRUE;
}

/* ---- plans (§4) ---- */

static RotaImage *pick_image(Install *in, const gchar *sclass, GError **error)
{
	const RotaManifest *m = in->bundle->manifest;
	RotaImage *fallback = NULL;
	gboolean any = FALSE;

	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		if (img->artifact || g_strcmp0(img->slotclass, sclass) != 0)
			continue;
		any = TRUE;
		if (img->variant && g_strcmp0(img->variant, in->ctx->variant) == 0)
			return img;
		if (!img->variant && !fallback)
			fallback = img;
	}
	if (any && !fallback)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Failed to find matching variant of image for slot class '%s'",
			    sclass);
	return fallback;
}

static gboolean check_image_in_bundle(Install *in, const RotaImage *img, GError **error)
{
	RotaSquashfs *sqfs;
	guint64 size;

	if (!img->filename)
		return TRUE;
	sqfs = rota_bundle_get_squashfs(in->bundle, error);
	if (!sqfs || !rota_squashfs_file_size(sqfs, img->filename, &size, error)) {
		g_prefix_error(error, "Source image '%s' not found in bundle: ", img->filename);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_plan(Install *in, const Plan *p, GError **error)
{
	if (!check_image_in_bundle(in, p->image, error))
		return FALSE;
	if (!g_file_test(p->slot->device, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Destination device '%s' for slot '%s' not found", p->slot->device,
			    p->slot->name);
		return FALSE;
	}
	if (p->slot->mount_point && !p->slot->allow_mounted) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Destination device '%s' already mounted", p->slot->device);
		return FALSE;
	}
	/* allow-mounted only lets the bundle's own install hook at a mounted slot. */
	if (p->slot->mount_point && p->kind != ROTA_WRITER_HOOK) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Mounted device '%s' may only be updated by a custom install hook",
			    p->slot->device);
		return FALSE;
	}
	/* A boot region that cannot take the image is refused before any slot
	 * is touched. */
	if (p->kind == ROTA_WRITER_BOOT && !rota_boot_check(p->slot, p->image->size, error)) {
		g_prefix_error(error, "Slot %s: ", p->slot->name);
		return FALSE;
	}
	return TRUE;
}

/* Only one planned slot may be switched in the bootloader: a second one
 * with a bootname would be written while still bootable. Refused before
 * anything is marked (as RAUC does). */
static gboolean check_one_boot_slot(Install *in, GError **error)
{
	RotaSlot *first = NULL;

	for (guint i = 0; i < in->plans->len; i++) {
		RotaSlot *s = g_array_index(in->plans, Plan, i).slot;
		if (!s || s->parent || !s->bootname)
			continue;
		if (first) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "Inconsistency detected: would need to activate more than one slot (%s and %s)",
				    first->name, s->name);
			return FALSE;
		}
		first = s;
	}
	return TRUE;
}

/* Every configured repository is read and pruned before planning
 * (install-and-runtime.md §2 step 15, §9.2). */
static gboolean prepare_repos(Install *in, GError **error)
{
	const RotaConfig *c = in->ctx->config;

	in->repos = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					  (GDestroyNotify)rota_artifact_repo_state_free);
	for (guint i = 0; i < c->artifact_repos->len; i++) {
		RotaArtifactRepo *repo = c->artifact_repos->pdata[i];
		RotaArtifactRepoState *st = rota_artifact_repo_scan(repo, error);
		if (!st)
			return FALSE;
		g_hash_table_insert(in->repos, repo->name, st);
		if (!rota_artifact_repo_prune(st, error))
			return FALSE;
	}
	return TRUE;
}

/* An image for [image.<repo>/<name>]. Variants of artifact images are
 * reserved (manifest.md): only the image without a variant is installed. */
static gboolean plan_artifact(Install *in, RotaImage *img, GHashTable *seen, GError **error)
{
	g_autofree gchar *key = g_strdup_printf("%s/%s", img->slotclass, img->artifact);
	RotaArtifactRepoState *repo = g_hash_table_lookup(in->repos, img->slotclass);
	Plan p = {.image = img, .repo = repo};

	if (!repo) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No target repo '%s' for artifact image '%s' found",
			    img->slotclass, img->artifact);
		return FALSE;
	}
	if (img->variant || g_hash_table_contains(seen, key))
		return TRUE;
	if (!img->filename || !img->sha256) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Artifact image '%s' has no file", key);
		return FALSE;
	}
	if (!rota_artifact_check_instance_name(img->slotclass, img->artifact, img->sha256, error))
		return FALSE;
	if (g_str_equal(repo->config->type, "trees") && g_strcmp0(rota_image_get_type(img, NULL), "tar") != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Artifact image '%s' (%s) for repo '%s' of type 'trees' must be a tar archive", key, img->filename,
			    img->slotclass);
		return FALSE;
	}
	if (!check_image_in_bundle(in, img, error))
		return FALSE;
	g_hash_table_add(seen, g_steal_pointer(&key));
	g_array_append_val(in->plans, p);
	return TRUE;
}

static gboolean make_plans(Install *in, GError **error)
{
	const RotaManifest *m = in->bundle->manifest;
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) seen_artifacts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	in->plans = g_array_new(FALSE, TRUE, sizeof(Plan));
	if (!prepare_repos(in, error))
		return FALSE;
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		Plan p = {0};
		if (img->artifact) {
			if (!plan_artifact(in, img, seen_artifacts, error))
				return FALSE;
			continue;
		}
		if (!g_hash_table_add(seen, img->slotclass))
			continue;
		p.image = pick_image(in, img->slotclass, error);
		if (!p.image)
			return FALSE;
		p.slot = g_hash_table_lookup(in->target_group, img->slotclass);
		if (!p.slot) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No target slot for class '%s' of image '%s' found",
				    img->slotclass, img->filename ? img->filename : "(none)");
			return FALSE;
		}
		if (p.slot->readonly) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Target slot for class '%s' of image '%s' is readonly",
				    img->slotclass, img->filename ? img->filename : "(none)");
			return FALSE;
		}
		if (!rota_writer_select(p.image, p.slot, &p.kind, error) || !check_plan(in, &p, error))
			return FALSE;
		g_array_append_val(in->plans, p);
	}
	if (!in->plans->len) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No installable image found");
		return FALSE;
	}
	return check_one_boot_slot(in, error);
}

/* The planned root slot with a bootname: marked bad first, active last. */
static RotaSlot *boot_mark_slot(Install *in)
{
	for (guint i = 0; i < in->plans->len; i++) {
		RotaSlot *s = g_array_index(in->plans, Plan, i).slot;
		if (s && !s->parent && s->bootname)
			return s;
	}
	return NULL;
}

/* ---- updating slots (§2.1) ---- */

static void fill_status(Install *in, const Plan *p, RotaSlotStatus *st, const gchar *result)
{
	const RotaManifest *m = in->bundle->manifest;
	guint32 count = st->installed_count;
	gchar *act_ts = g_strdup(st->activated_timestamp);
	guint32 act_count = st->activated_count;

	rota_slot_status_clear(st);
	st->bundle_compatible = g_strdup(m->compatible);
	st->bundle_version = g_strdup(m->version);
	st->bundle_description = g_strdup(m->description);
	st->bundle_build = g_strdup(m->build);
	st->bundle_hash = g_strdup(in->bundle->manifest_hash);
	st->status = g_strdup(result);
	st->sha256 = g_strdup(p->image->sha256);
	st->size = p->image->size;
	st->installed_transaction = g_strdup(in->hooks.transaction);
	st->installed_timestamp = rota_status_timestamp_now();
	st->installed_count = count + 1;
	st->activated_timestamp = act_ts;
	st->activated_count = act_count;
}

void rota_image_stats_free(RotaImageStats *stats)
{
	g_free(stats->slot);
	g_free(stats->image);
	g_free(stats);
}

static void record_adaptive_stats(Install *in, const Plan *p, const RotaAdaptiveStats *adaptive)
{
	RotaImageStats *s;

	if (!in->args->image_stats || adaptive->chunks == 0)
		return; /* no adaptive write happened */
	s = g_new0(RotaImageStats, 1);
	s->slot = g_strdup(p->slot->name);
	s->image = g_strdup(p->image->filename);
	s->adaptive = *adaptive;
	g_ptr_array_add(in->args->image_stats, s);
}

/* Central status only (§2.1 step 3): while the slot is written its entry
 * says "pending", without a digest, so that an install cut short leaves no
 * status claiming the old image is still there. */
static gboolean save_pending(Install *in, const Plan *p, const RotaSlotStatus *st, GError **error)
{
	g_auto(RotaSlotStatus) pending = {0};

	if (st->sha256 && g_strcmp0(st->status, "ok") == 0)
		rota_hash_index_keep_as_hint(in->ctx, p->slot, st->sha256);
	rota_slot_status_copy(&pending, st);
	g_free(pending.status);
	pending.status = g_strdup("pending");
	g_clear_pointer(&pending.sha256, g_free);
	pending.size = 0;
	if (!rota_status_save(in->ctx->status, p->slot, &pending, error)) {
		g_prefix_error(error, "Error while writing status file: ");
		return FALSE;
	}
	return TRUE;
}

/* "Updating slot <name>", as RAUC logs it: only for a slot that is written,
 * not for one skipped because it holds the image already. */
static void log_slot_update(Install *in, const Plan *p)
{
	g_autofree gchar *msg = g_strdup_printf("Updating slot %s", p->slot->name);
	RotaEvent ev = {.type = "writeslot", .message = msg};

	rota_event_log(in->ctx->config, &ev);
}

static gboolean update_slot(Install *in, const Plan *p, GError **error)
{
	RotaContext *ctx = in->ctx;
	g_auto(RotaSlotStatus) st = {0};
	g_autofree gchar *check = p->slot->bootname ? g_strdup_printf("Checking slot %s (%s)", p->slot->name, p->slot->bootname)
						    : g_strdup_printf("Checking slot %s", p->slot->name);
	g_autofree gchar *copy = g_strdup_printf("Copying image to %s", p->slot->name);
	RotaAdaptiveStats adaptive = {0};
	RotaWriteJob job = {.hooks = &in->hooks,
			    .image = p->image,
			    .slot = p->slot,
			    .kind = p->kind,
			    .progress = in->progress,
			    .stats = &adaptive};
	g_autoptr(GError) local = NULL;
	gboolean skip;

	rota_progress_begin(in->progress, check, 1, 1);
	if (!rota_status_load_before_write(ctx->status, p->slot, &st, error)) {
		rota_progress_end(in->progress, FALSE);
		return FALSE;
	}
	skip = !p->slot->install_same && g_strcmp0(st.status, "ok") == 0 && p->image->sha256 &&
	       g_strcmp0(st.sha256, p->image->sha256) == 0;
	if (!skip && rota_status_store_is_central(ctx->status) && !save_pending(in, p, &st, error)) {
		rota_progress_end(in->progress, FALSE);
		return FALSE;
	}
	rota_progress_end(in->progress, TRUE);

	if (skip) {
		rota_progress_begin(in->progress, "Copying image skipped", 9, 1);
		say(in, "Skipping slot %s: it already holds image %s", p->slot->name, p->image->sha256);
	} else {
		log_slot_update(in, p);
		rota_progress_begin(in->progress, copy, 9, 1);
		if (!rota_writer_run(&job, &local)) {
			rota_progress_end(in->progress, FALSE);
			fill_status(in, p, &st, "failed");
			if (!rota_status_save(ctx->status, p->slot, &st, NULL))
				g_warning("could not record the failure of slot %s", p->slot->name);
			g_set_error(error, ROTA_ERROR, local->code, "Failed updating slot %s: %s", p->slot->name, local->message);
			return FALSE;
		}
	}
	rota_progress_end(in->progress, TRUE);
	if (!skip && in->args->updated_slots)
		*in->args->updated_slots = TRUE;
	record_adaptive_stats(in, p, &adaptive);
	fill_status(in, p, &st, "ok");
	if (!rota_status_save(ctx->status, p->slot, &st, error)) {
		g_prefix_error(error, "Error while writing status file: ");
		return FALSE;
	}
	return TRUE;
}

/* ---- updating artifacts (§9) ---- */

/* Writes the plan's instance unless the repository holds it already; the
 * links change only in commit_artifacts, after every plan succeeded. */
static gboolean update_artifact(Install *in, const Plan *p, GError **error)
{
	const gchar *repo = p->repo->config->name;
	g_autofree gchar *check = g_strdup_printf("Checking repo '%s'", repo);
	g_autofree gchar *copy = g_strdup_printf("Copying artifact image to repo '%s'", repo);
	g_autofree gchar *reuse = g_strdup_printf("Reusing artifact image in repo '%s'", repo);
	g_autoptr(RotaView) src = NULL;
	RotaSquashfs *sqfs;
	gboolean ok;

	rota_progress_begin(in->progress, check, 1, 1);
	rota_progress_end(in->progress, TRUE);
	{
		g_autofree gchar *msg = g_strdup_printf("Updating artifact '%s' in repo '%s'", p->image->artifact, repo);
		RotaEvent ev = {.type = "writeslot", .message = msg};
		say(in, "%s", msg);
		rota_event_log(in->ctx->config, &ev);
	}
	if (!rota_artifact_repo_is_active(p->repo, p->image->artifact, p->image->sha256) && in->args->updated_artifacts)
		*in->args->updated_artifacts = TRUE;
	if (rota_artifact_repo_has_instance(p->repo, p->image->artifact, p->image->sha256)) {
		rota_progress_begin(in->progress, reuse, 9, 1);
		return step(in, TRUE);
	}
	rota_progress_begin(in->progress, copy, 9, 1);
	sqfs = rota_bundle_get_squashfs(in->bundle, error);
	src = sqfs ? rota_squashfs_file_view_new(sqfs, p->image->filename, error) : NULL;
	ok = src && rota_artifact_repo_add_instance(p->repo, p->image->artifact, p->image->sha256, src, in->progress,
						    error);
	return step(in, ok);
}

/* Prunes every repository after the artifacts were written: on success
 * the instances the commit left unreferenced, on failure those written for
 * this install (never linked, they would only take space until the next
 * install prunes them). Only warns: once links have switched, the install
 * has to go on to activate the slot it wrote, and what a failed prune
 * leaves, the next one removes. */
static void prune_repos(Install *in)
{
	GHashTableIter it;
	gpointer repo;

	g_hash_table_iter_init(&it, in->repos);
	while (g_hash_table_iter_next(&it, NULL, &repo)) {
		g_autoptr(GError) local = NULL;
		if (!rota_artifact_repo_prune(repo, &local))
			g_warning("Pruning after the install failed: %s", local->message);
	}
}

/* Per repository the bundle has artifacts for: exactly the bundle's
 * artifacts become active (others in it are deactivated). */
static gboolean commit_artifacts(Install *in, GError **error)
{
	g_autoptr(GHashTable) active = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
							     (GDestroyNotify)g_hash_table_unref);
	GHashTableIter it;
	gpointer repo, names;

	for (guint i = 0; i < in->plans->len; i++) {
		Plan *p = &g_array_index(in->plans, Plan, i);
		GHashTable *set;
		if (!p->repo)
			continue;
		set = g_hash_table_lookup(active, p->repo);
		if (!set) {
			set = g_hash_table_new(g_str_hash, g_str_equal);
			g_hash_table_insert(active, p->repo, set);
		}
		g_hash_table_insert(set, p->image->artifact, p->image->sha256);
	}
	g_hash_table_iter_init(&it, active);
	while (g_hash_table_iter_next(&it, &repo, &names)) {
		if (!rota_artifact_repo_commit(repo, names, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean update_slots(Install *in, GError **error)
{
	RotaSlot *mark = boot_mark_slot(in);
	gboolean ok = TRUE;

	if (mark && !rota_bootloader_set_state(in->ctx->bootloader, mark->bootname, FALSE, error)) {
		g_prefix_error(error, "Failed marking slot %s non-bootable (bad): ", mark->name);
		return FALSE;
	}
	rota_progress_begin(in->progress, "Updating slots", 6, 10 * in->plans->len);
	/* Slots first, then artifacts (§2 step 18). */
	for (guint i = 0; i < in->plans->len && ok; i++) {
		Plan *p = &g_array_index(in->plans, Plan, i);
		ok = p->repo || update_slot(in, p, error);
	}
	for (guint i = 0; i < in->plans->len && ok; i++) {
		Plan *p = &g_array_index(in->plans, Plan, i);
		ok = !p->repo || update_artifact(in, p, error);
	}
	rota_progress_end(in->progress, ok);
	ok = ok && commit_artifacts(in, error);
	prune_repos(in);
	if (!ok)
		return FALSE;
	if (mark && in->ctx->config->activate_installed && !rota_context_activate(in->ctx, mark, error))
		return FALSE;
	return TRUE;
}

/* ---- the sequence ---- */

static gboolean append_shell_args(GPtrArray *argv, const gchar *args, GError **error)
{
	g_auto(GStrv) parts = NULL;
	g_autoptr(GError) local = NULL;

	if (!args || !*args)
		return TRUE;
	if (!g_shell_parse_argv(args, NULL, &parts, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "cannot parse handler arguments '%s': %s", args, local->message);
		return FALSE;
	}
	for (gchar **a = parts; *a; a++)
		g_ptr_array_add(argv, g_strdup(*a));
	return TRUE;
}

static gboolean open_bundle(Install *in, const gchar *path, GError **error)
{
	const RotaConfig *c = in->ctx->config;
	RotaHttpOptions http = {0};
	g_auto(GStrv) info_headers = NULL;
	RotaBundleOpenOptions o = {.keyring = &c->keyring,
				   .max_signature_size = c->max_signature_size,
				   .decrypt_key = c->encryption_key,
				   .decrypt_cert = c->encryption_cert,
				   .http = &http};

	/* [streaming] send-headers and RAUC_HTTP_* go with the first request. */
	if (in->args->http)
		http = *in->args->http;
	if (!http.info_headers) {
		info_headers = rota_info_headers_build(c, in->ctx, in->hooks.transaction);
		http.info_headers = (const gchar *const *)info_headers;
	}

	if (!c->keyring.path && !c->keyring.directory) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: [keyring] has no path or directory: cannot verify bundles",
			    c->path);
		return FALSE;
	}
	rota_progress_begin(in->progress, "Checking bundle", 1, 1);
	rota_progress_begin(in->progress, "Verifying signature", 1, 1);
	in->bundle = rota_bundle_open(path, &o, error);
	step(in, in->bundle != NULL);
	return step(in, in->bundle != NULL && check_bundle_policy(in, error));
}

static gboolean run_install(Install *in, const gchar *path, GError **error)
{
	const RotaConfig *c = in->ctx->config;
	const RotaManifest *m;

	rota_progress_begin(in->progress, "Determining slot states", 1, 1);
	rota_slots_update_mounts(in->ctx->config);
	step(in, TRUE);
	if (!open_bundle(in, path, error))
		return FALSE;
	m = in->bundle->manifest;
	rota_progress_begin(in->progress, "Checking manifest contents", 1, 1);
	if (!step(in, rota_bundle_get_squashfs(in->bundle, error) != NULL))
		return FALSE;
	rota_progress_begin(in->progress, "Determining target install group", 1, 1);
	in->target_group = rota_slots_select_target_group(in->ctx->config, in->ctx->status);
	step(in, TRUE);

	in->hooks.bundle = in->bundle;
	in->hooks.target_group = in->target_group;
	if (!rota_hooks_stage(&in->hooks, error))
		return FALSE;
	if (c->handler_pre_install && !rota_hooks_run_handler(&in->hooks, c->handler_pre_install, NULL, error)) {
		g_prefix_error(error, "Pre-install handler error: ");
		return FALSE;
	}
	if (!check_compatible(in, error) || !check_version_limit(in, error))
		return FALSE;
	if (m->handler_name) {
		g_autofree gchar *handler = g_build_filename(in->hooks.bundle_dir, m->handler_name, NULL);
		g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
		if (!append_shell_args(argv, m->handler_args, error) || !append_shell_args(argv, in->args->handler_args, error))
			return FALSE;
		g_ptr_array_add(argv, NULL);
		rota_progress_begin(in->progress, "Launching update handler", 6, 1);
		if (!step(in, rota_hooks_run_handler(&in->hooks, handler, (gchar **)argv->pdata, error)))
			return FALSE;
	} else if (!make_plans(in, error) || !update_slots(in, error)) {
		return FALSE;
	}
	if (c->handler_post_install && !rota_hooks_run_handler(&in->hooks, c->handler_post_install, NULL, error)) {
		g_prefix_error(error, "Post-install handler error: ");
		return FALSE;
	}
	return TRUE;
}

/* "Installation <first 8 of the transaction> started|succeeded|failed: …|rejected: …" */
static void log_install_event(Install *in, const gchar *outcome, const GError *error)
{
	static const struct {
		const gchar *outcome, *id;
	} ids[] = {
		{"started", "b05410e8a93345389cd061aab1e9516d"},
		{"succeeded", "0163db5468ac4237b090d28490c301ed"},
		{"failed", "c48141f7fd49443aafff862b4809168f"},
		{"rejected", "60bea7e4fea549ccad68af457308b13a"},
	};
	g_autofree gchar *txn8 = g_strndup(in->hooks.transaction, 8);
	g_autofree gchar *msg = error ? g_strdup_printf("Installation %s %s: %s", txn8, outcome, error->message)
				      : g_strdup_printf("Installation %s %s", txn8, outcome);
	const RotaManifest *m = in->bundle ? in->bundle->manifest : NULL;
	RotaEvent ev = {.type = "install", .message = msg, .transaction_id = in->hooks.transaction};

	for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
		if (g_str_equal(ids[i].outcome, outcome))
			ev.message_id = ids[i].id;
	}
	/* The outcome always carries the bundle fields, empty when unknown
	 * (the bundle could not be opened, the manifest has no version), so
	 * every record of a kind has the same fields (§11). */
	if (!g_str_equal(outcome, "started")) {
		ev.bundle_hash = m && in->bundle->manifest_hash ? in->bundle->manifest_hash : "";
		ev.bundle_description = m && m->description ? m->description : "";
		ev.bundle_version = m && m->version ? m->version : "";
	}
	rota_event_log(in->ctx->config, &ev);
}

gboolean rota_install(RotaContext *ctx, const gchar *path, const RotaInstallArgs *args, gboolean *out_rejected,
		      GError **error)
{
	g_autoptr(RotaProgress) progress = rota_progress_new(args->progress, args->user_data);
	Install in = {.ctx = ctx, .args = args, .progress = progress};
	gboolean ok;

	in.hooks.ctx = ctx;
	in.hooks.transaction = args->transaction_id ? g_strdup(args->transaction_id) : g_uuid_string_random();
	in.hooks.message = args->message;
	in.hooks.message_data = args->user_data;
	rota_progress_begin(progress, "Installing", 10, 10);
	log_install_event(&in, "started", NULL);
	ok = run_install(&in, path, error);
	log_install_event(&in, ok ? "succeeded" : in.rejected ? "rejected" : "failed", ok || !error ? NULL : *error);
	rota_progress_end_all(progress, ok);
	rota_hooks_unstage(&in.hooks);
	g_free(in.hooks.transaction);
	if (in.plans)
		g_array_unref(in.plans);
	if (in.target_group)
		g_hash_table_unref(in.target_group);
	if (in.repos)
		g_hash_table_unref(in.repos);
	if (in.bundle && args->http_stats)
		rota_bundle_get_http_stats(in.bundle, args->http_stats);
	rota_bundle_free(in.bundle);
	if (out_rejected)
		*out_rejected = !ok && in.rejected;
	return ok;
}
