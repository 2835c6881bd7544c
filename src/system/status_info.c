/* status_info.c — renders the system's slot states, bootloader view and
 * (with --detailed) each slot's recorded status from a RotaStatusReport. */
#include "status_info.h"

#include <json-glib/json-glib.h>

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"
#include "install/artifacts.h"

/* ---- the report ---- */

static void status_slot_free(gpointer data)
{
	RotaStatusSlot *s = data;

	g_free(s->name);
	g_free(s->sclass);
	g_free(s->device);
	g_free(s->type);
	g_free(s->bootname);
	g_free(s->state);
	g_free(s->description);
	g_free(s->parent);
	g_free(s->mountpoint);
	g_free(s->boot_status);
	rota_slot_status_clear(&s->status);
	g_free(s);
}

RotaStatusReport *rota_status_report_new(void)
{
	RotaStatusReport *report = g_new0(RotaStatusReport, 1);

	report->slots = g_ptr_array_new_with_free_func(status_slot_free);
	return report;
}

void rota_status_report_free(RotaStatusReport *report)
{
	if (!report)
		return;
	g_free(report->compatible);
	g_free(report->variant);
	g_free(report->system_version);
	g_free(report->bootname);
	g_free(report->primary);
	g_ptr_array_unref(report->slots);
	if (report->artifacts)
		g_variant_unref(report->artifacts);
	g_free(report);
}

RotaStatusSlot *rota_status_report_add_slot(RotaStatusReport *report, const gchar *name)
{
	RotaStatusSlot *s = g_new0(RotaStatusSlot, 1);

	s->name = g_strdup(name);
	g_ptr_array_add(report->slots, s);
	return s;
}

static const gchar *boot_status(RotaContext *ctx, const RotaSlot *slot)
{
	g_autoptr(GError) error = NULL;
	gboolean good = FALSE;

	if (!slot->bootname)
		return NULL;
	if (!rota_bootloader_get_state(ctx->bootloader, slot->bootname, &good, &error))
		return "unknown";
	return good ? "good" : "bad";
}

gchar *rota_status_primary_slot_name(RotaContext *ctx, GError **error)
{
	g_autofree gchar *bootname = rota_bootloader_get_primary(ctx->bootloader, error);

	if (!bootname) {
		if (error && !*error)
			g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_FAILED, "none found");
		return NULL;
	}
	for (guint i = 0; i < ctx->config->slots->len; i++) {
		RotaSlot *s = ctx->config->slots->pdata[i];
		if (g_strcmp0(s->bootname, bootname) == 0)
			return g_strdup(s->name);
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "no slot with bootname '%s'", bootname);
	return NULL;
}

static void add_context_slot(RotaStatusReport *report, RotaContext *ctx, RotaSlot *slot)
{
	RotaStatusSlot *s = rota_status_report_add_slot(report, slot->name);

	s->sclass = g_strdup(slot->sclass);
	s->device = g_strdup(slot->device);
	s->type = g_strdup(slot->type);
	s->bootname = g_strdup(slot->bootname);
	s->state = g_strdup(rota_slot_state_name(slot->state));
	s->description = g_strdup(slot->description);
	s->parent = g_strdup(slot->parent ? slot->parent->name : NULL);
	s->mountpoint = g_strdup(slot->mount_point);
	s->boot_status = g_strdup(boot_status(ctx, slot));
	rota_status_load(ctx->status, slot, &s->status);
}

RotaStatusReport *rota_status_report_from_context(RotaContext *ctx)
{
	RotaStatusReport *report = rota_status_report_new();

	/* Slots are mounted and unmounted while a service runs. */
	rota_slots_update_mounts(ctx->config);
	report->compatible = g_strdup(ctx->config->compatible);
	report->variant = g_strdup(ctx->variant);
	report->system_version = g_strdup(ctx->system_version);
	report->bootname = g_strdup(ctx->bootname);
	for (guint i = 0; i < ctx->config->slots->len; i++)
		add_context_slot(report, ctx, ctx->config->slots->pdata[i]);
	report->artifacts = g_variant_ref_sink(rota_artifact_repos_status(ctx->config));
	return report;
}

static const RotaStatusSlot *find_slot(const RotaStatusReport *report, const gchar *name)
{
	for (guint i = 0; name && i < report->slots->len; i++) {
		const RotaStatusSlot *s = report->slots->pdata[i];
		if (g_str_equal(s->name, name))
			return s;
	}
	return NULL;
}

/* Like rota_slots_get_booted(): the first slot in the booted state. */
static const RotaStatusSlot *booted_slot(const RotaStatusReport *report)
{
	for (guint i = 0; i < report->slots->len; i++) {
		const RotaStatusSlot *s = report->slots->pdata[i];
		if (g_strcmp0(s->state, "booted") == 0)
			return s;
	}
	return NULL;
}

/* ---- readable ---- */

/* The detail lines have the same indentation for children as for their
 * parents, as in RAUC. */
static void readable_detail(GString *out, const RotaSlotStatus *s)
{
	g_string_append(out, "      slot status:\n          bundle:\n");
	g_string_append_printf(out, "              compatible=%s\n", s->bundle_compatible ? s->bundle_compatible : "");
	if (s->bundle_version)
		g_string_append_printf(out, "              version=%s\n", s->bundle_version);
	if (s->bundle_description)
		g_string_append_printf(out, "              description=%s\n", s->bundle_description);
	if (s->bundle_build)
		g_string_append_printf(out, "              build=%s\n", s->bundle_build);
	if (s->bundle_hash)
		g_string_append_printf(out, "              hash=%s\n", s->bundle_hash);
	if (s->sha256) {
		g_autofree gchar *size = rota_format_size(s->size);
		g_string_append_printf(out, "          checksum:\n              sha256=%s\n              size=%s\n", s->sha256,
				       size);
	}
	if (s->installed_timestamp)
		g_string_append_printf(out, "          installed:\n              timestamp=%s\n              count=%u\n",
				       s->installed_timestamp, s->installed_count);
	if (s->installed_transaction)
		g_string_append_printf(out, "              transaction=%s\n", s->installed_transaction);
	if (s->activated_timestamp)
		g_string_append_printf(out, "          activated:\n              timestamp=%s\n              count=%u\n",
				       s->activated_timestamp, s->activated_count);
	if (s->status)
		g_string_append_printf(out, "          status=%s\n", s->status);
}

/* "<marker> [name]" for top-level slots, "<marker>   [name]" for children
 * (RAUC: marker, then " " or "   "). */
static void readable_slot(GString *out, const RotaStatusSlot *s, const RotaStatusSlot *primary, gboolean child,
			  gboolean detailed)
{
	const gchar *marker = !s->bootname ? " " : (s == primary ? "x" : "o");

	if (g_get_charset(NULL))
		marker = !s->bootname ? " " : (s == primary ? "\u23fa" : "\u25cb");
	g_string_append_printf(out, "%s%s[%s] (%s, %s, %s)\n", marker, child ? "   " : " ", s->name, s->device, s->type,
			       s->state);
	if (s->bootname)
		g_string_append_printf(out, "      bootname: %s\n", s->bootname);
	if (s->description)
		g_string_append_printf(out, "      description: %s\n", s->description);
	if (s->mountpoint)
		g_string_append_printf(out, "      mounted: %s\n", s->mountpoint);
	if (s->boot_status)
		g_string_append_printf(out, "      boot status: %s\n", s->boot_status);
	if (detailed)
		readable_detail(out, &s->status);
}

/* ---- artifact repositories (GetArtifactStatus's aa{sv}) ---- */

static void shell_var(GString *out, const gchar *name, guint n, const gchar *value);

typedef struct {
	const gchar *name, *path, *type;
	GVariant *artifacts; /* aa{sv}: name, instances */
} RepoView;

static void repo_view(GVariant *repo, RepoView *v)
{
	*v = (RepoView){0};
	g_variant_lookup(repo, "name", "&s", &v->name);
	g_variant_lookup(repo, "path", "&s", &v->path);
	g_variant_lookup(repo, "type", "&s", &v->type);
	v->artifacts = g_variant_lookup_value(repo, "artifacts", G_VARIANT_TYPE("aa{sv}"));
}

/* An instance is active when something references it ("" without parent classes). */
static gboolean instance_active(GVariant *instance)
{
	g_autoptr(GVariant) refs = g_variant_lookup_value(instance, "references", G_VARIANT_TYPE_STRING_ARRAY);
	return refs && g_variant_n_children(refs) > 0;
}

static const gchar *lookup_str(GVariant *dict, const gchar *key)
{
	const gchar *v = NULL;
	g_variant_lookup(dict, key, "&s", &v);
	return v;
}

static void readable_repo(GString *out, GVariant *repo)
{
	RepoView v;

	repo_view(repo, &v);
	/* RAUC's layout: the description only in json and on D-Bus. */
	g_string_append_printf(out, "[%s] (%s)\n  type: %s\n", v.name, v.path, v.type);
	g_string_append(out, v.artifacts && g_variant_n_children(v.artifacts) ? "  artifacts:\n" : "  artifacts: (none)\n");
	for (gsize a = 0; v.artifacts && a < g_variant_n_children(v.artifacts); a++) {
		g_autoptr(GVariant) art = g_variant_get_child_value(v.artifacts, a);
		g_autoptr(GVariant) insts = g_variant_lookup_value(art, "instances", G_VARIANT_TYPE("aa{sv}"));
		g_string_append_printf(out, "    [%s]\n", lookup_str(art, "name"));
		for (gsize k = 0; insts && k < g_variant_n_children(insts); k++) {
			g_autoptr(GVariant) inst = g_variant_get_child_value(insts, k);
			g_string_append_printf(out, "      checksum: %s\n        %s\n", lookup_str(inst, "checksum"),
					       instance_active(inst) ? "active" : "inactive");
		}
	}
	g_clear_pointer(&v.artifacts, g_variant_unref);
}

/* As RAUC: no section without repositories, a blank line after each. */
static void readable_artifacts(GString *out, GVariant *repos)
{
	if (!repos || g_variant_n_children(repos) == 0)
		return;
	g_string_append(out, "=== Artifact Repo States ===\n");
	for (gsize i = 0; i < g_variant_n_children(repos); i++) {
		g_autoptr(GVariant) repo = g_variant_get_child_value(repos, i);
		readable_repo(out, repo);
		g_string_append(out, "\n");
	}
}

static void shell_artifacts(GString *out, GVariant *repos)
{
	g_autoptr(GString) repo_numbers = g_string_new(NULL);
	gsize n = repos ? g_variant_n_children(repos) : 0;

	for (gsize r = 0; r < n; r++) {
		g_autoptr(GVariant) repo = g_variant_get_child_value(repos, r);
		g_autofree gchar *rn = g_strdup_printf("%" G_GSIZE_FORMAT, r + 1);
		g_autoptr(GString) art_numbers = g_string_new(NULL);
		RepoView v;
		repo_view(repo, &v);
		g_string_append_printf(repo_numbers, "%s%s", r ? " " : "", rn);
		shell_var(out, "RAUC_REPO_NAME", (guint)(r + 1), v.name);
		shell_var(out, "RAUC_REPO_PATH", (guint)(r + 1), v.path);
		shell_var(out, "RAUC_REPO_TYPE", (guint)(r + 1), v.type);
		/* Without a parent class RAUC leaves the variable out. */
		if (lookup_str(repo, "parent-class"))
			shell_var(out, "RAUC_REPO_PARENT_CLASS", (guint)(r + 1), lookup_str(repo, "parent-class"));
		for (gsize a = 0; v.artifacts && a < g_variant_n_children(v.artifacts); a++) {
			g_autoptr(GVariant) art = g_variant_get_child_value(v.artifacts, a);
			g_autoptr(GVariant) insts = g_variant_lookup_value(art, "instances", G_VARIANT_TYPE("aa{sv}"));
			g_autoptr(GString) inst_numbers = g_string_new(NULL);
			g_autofree gchar *an = g_strdup_printf("%s_%" G_GSIZE_FORMAT, rn, a + 1);
			g_autofree gchar *name_var = g_strdup_printf("RAUC_REPO_ARTIFACT_NAME_%s", an);
			g_string_append_printf(art_numbers, "%s%" G_GSIZE_FORMAT, a ? " " : "", a + 1);
			shell_var(out, name_var, 0, lookup_str(art, "name"));
			for (gsize k = 0; insts && k < g_variant_n_children(insts); k++) {
				g_autoptr(GVariant) inst = g_variant_get_child_value(insts, k);
				g_autofree gchar *sum = g_strdup_printf("RAUC_REPO_ARTIFACT_INSTANCE_CHECKSUM_%s", an);
				g_autofree gchar *act = g_strdup_printf("RAUC_REPO_ARTIFACT_INSTANCE_ACTIVE_%s", an);
				g_string_append_printf(inst_numbers, "%s%" G_GSIZE_FORMAT, k ? " " : "", k + 1);
				shell_var(out, sum, (guint)(k + 1), lookup_str(inst, "checksum"));
				shell_var(out, act, (guint)(k + 1), instance_active(inst) ? "1" : "0");
			}
			g_autofree gchar *insts_var = g_strdup_printf("RAUC_REPO_ARTIFACT_INSTANCES_%s", an);
			shell_var(out, insts_var, 0, inst_numbers->str);
		}
		g_autofree gchar *arts_var = g_strdup_printf("RAUC_REPO_ARTIFACTS_%s", rn);
		shell_var(out, arts_var, 0, art_numbers->str);
		g_clear_pointer(&v.artifacts, g_variant_unref);
	}
	shell_var(out, "RAUC_REPOS", 0, repo_numbers->str);
}

static gchar *format_readable(const RotaStatusReport *r, gboolean detailed)
{
	GString *out = g_string_new(NULL);
	const RotaStatusSlot *booted = booted_slot(r);
	const RotaStatusSlot *primary = find_slot(r, r->primary);

	g_string_append_printf(out, "=== System Info ===\nCompatible:     %s\nVariant:        %s\nSystem Version: %s\n",
			       r->compatible, r->variant ? r->variant : "", r->system_version ? r->system_version : "");
	g_string_append_printf(out, "Booted from:    %s (%s)\n\n", booted ? booted->name : "(none)", r->bootname);
	if (primary)
		g_string_append_printf(out, "=== Bootloader ===\nActivated: %s (%s)\n\n", primary->name, primary->bootname);
	else
		g_string_append(out, "=== Bootloader ===\nActivated: none\n\n");
	g_string_append(out, "=== Slot States ===\n");
	for (guint i = 0; i < r->slots->len; i++) {
		const RotaStatusSlot *root = r->slots->pdata[i];
		if (root->parent)
			continue;
		readable_slot(out, root, primary, FALSE, detailed);
		for (guint j = 0; j < r->slots->len; j++) {
			const RotaStatusSlot *child = r->slots->pdata[j];
			if (g_strcmp0(child->parent, root->name) == 0)
				readable_slot(out, child, primary, TRUE, detailed);
		}
		g_string_append(out, "\n");
	}
	readable_artifacts(out, r->artifacts);
	return g_string_free(out, FALSE);
}

/* ---- shell ---- */

static void shell_var(GString *out, const gchar *name, guint n, const gchar *value)
{
	g_autofree gchar *q = g_shell_quote(value ? value : "");
	if (n)
		g_string_append_printf(out, "%s_%u=%s\n", name, n, q);
	else
		g_string_append_printf(out, "%s=%s\n", name, q);
}

static void shell_detail(GString *out, guint n, const RotaSlotStatus *st)
{
	g_autofree gchar *size = g_strdup_printf("%" G_GUINT64_FORMAT, st->size);
	g_autofree gchar *icount = g_strdup_printf("%u", st->installed_count);
	g_autofree gchar *acount = g_strdup_printf("%u", st->activated_count);

	shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_COMPATIBLE", n, st->bundle_compatible);
	shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_VERSION", n, st->bundle_version);
	shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_DESCRIPTION", n, st->bundle_description);
	shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_BUILD", n, st->bundle_build);
	shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_HASH", n, st->bundle_hash);
	shell_var(out, "RAUC_SLOT_STATUS_CHECKSUM_SHA256", n, st->sha256);
	shell_var(out, "RAUC_SLOT_STATUS_CHECKSUM_SIZE", n, size); /* RAUC: a number, 0 without checksum */
	shell_var(out, "RAUC_SLOT_STATUS_INSTALLED_TIMESTAMP", n, st->installed_timestamp);
	shell_var(out, "RAUC_SLOT_STATUS_INSTALLED_COUNT", n, icount);
	shell_var(out, "RAUC_SLOT_STATUS_ACTIVATED_TIMESTAMP", n, st->activated_timestamp);
	shell_var(out, "RAUC_SLOT_STATUS_ACTIVATED_COUNT", n, acount);
	shell_var(out, "RAUC_SLOT_STATUS_STATUS", n, st->status);
}

static gchar *format_shell(const RotaStatusReport *r, gboolean detailed)
{
	GString *out = g_string_new(NULL);
	g_autoptr(GString) names = g_string_new(NULL);
	g_autoptr(GString) numbers = g_string_new(NULL);
	const RotaStatusSlot *primary = find_slot(r, r->primary);

	for (guint i = 0; i < r->slots->len; i++) {
		const RotaStatusSlot *s = r->slots->pdata[i];
		g_string_append_printf(names, "%s%s", i ? " " : "", s->name);
		g_string_append_printf(numbers, "%s%u", i ? " " : "", i + 1);
	}
	shell_var(out, "RAUC_SYSTEM_COMPATIBLE", 0, r->compatible);
	shell_var(out, "RAUC_SYSTEM_VARIANT", 0, r->variant);
	shell_var(out, "RAUC_SYSTEM_VERSION", 0, r->system_version);
	shell_var(out, "RAUC_SYSTEM_BOOTED_BOOTNAME", 0, r->bootname);
	shell_var(out, "RAUC_BOOT_PRIMARY", 0, primary ? primary->name : NULL);
	shell_var(out, "RAUC_SYSTEM_SLOTS", 0, names->str);
	shell_var(out, "RAUC_SLOTS", 0, numbers->str);
	for (guint i = 0; i < r->slots->len; i++) {
		const RotaStatusSlot *s = r->slots->pdata[i];
		guint n = i + 1;
		shell_var(out, "RAUC_SLOT_STATE", n, s->state);
		shell_var(out, "RAUC_SLOT_CLASS", n, s->sclass);
		shell_var(out, "RAUC_SLOT_DEVICE", n, s->device);
		shell_var(out, "RAUC_SLOT_TYPE", n, s->type);
		shell_var(out, "RAUC_SLOT_BOOTNAME", n, s->bootname);
		shell_var(out, "RAUC_SLOT_PARENT", n, s->parent);
		shell_var(out, "RAUC_SLOT_MOUNTPOINT", n, s->mountpoint);
		shell_var(out, "RAUC_SLOT_BOOT_STATUS", n, s->boot_status);
		if (detailed)
			shell_detail(out, n, &s->status);
	}
	/* RAUC_REPOS is always there (empty without repositories). */
	shell_artifacts(out, r->artifacts);
	return g_string_free(out, FALSE);
}

/* ---- json ---- */

static void json_str(JsonBuilder *jb, const gchar *name, const gchar *value, gboolean omit_null)
{
	if (!value && omit_null)
		return;
	json_builder_set_member_name(jb, name);
	if (value)
		json_builder_add_string_value(jb, value);
	else
		json_builder_add_null_value(jb);
}

static void json_stamp(JsonBuilder *jb, const gchar *name, const gchar *ts, guint32 count)
{
	if (!ts)
		return;
	json_builder_set_member_name(jb, name);
	json_builder_begin_object(jb);
	json_str(jb, "timestamp", ts, FALSE);
	json_builder_set_member_name(jb, "count");
	json_builder_add_int_value(jb, count);
	json_builder_end_object(jb);
}

static void json_slot_status(JsonBuilder *jb, const RotaSlotStatus *s)
{
	json_builder_set_member_name(jb, "slot_status");
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "bundle");
	json_builder_begin_object(jb);
	json_str(jb, "compatible", s->bundle_compatible, FALSE);
	json_str(jb, "version", s->bundle_version, TRUE);
	json_str(jb, "description", s->bundle_description, TRUE);
	json_str(jb, "build", s->bundle_build, TRUE);
	json_str(jb, "hash", s->bundle_hash, TRUE);
	json_builder_end_object(jb);
	if (s->sha256) {
		json_builder_set_member_name(jb, "checksum");
		json_builder_begin_object(jb);
		json_str(jb, "sha256", s->sha256, FALSE);
		json_builder_set_member_name(jb, "size");
		json_builder_add_int_value(jb, (gint64)s->size);
		json_builder_end_object(jb);
	}
	json_stamp(jb, "installed", s->installed_timestamp, s->installed_count);
	json_stamp(jb, "activated", s->activated_timestamp, s->activated_count);
	json_str(jb, "status", s->status, TRUE);
	json_builder_end_object(jb);
}

static void json_slot(JsonBuilder *jb, const RotaStatusSlot *s, gboolean detailed)
{
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, s->name);
	json_builder_begin_object(jb);
	json_str(jb, "class", s->sclass, FALSE);
	json_str(jb, "device", s->device, FALSE);
	json_str(jb, "type", s->type, FALSE);
	json_str(jb, "bootname", s->bootname, FALSE);
	json_str(jb, "state", s->state, FALSE);
	json_str(jb, "parent", s->parent, FALSE);
	json_str(jb, "mountpoint", s->mountpoint, FALSE);
	json_str(jb, "boot_status", s->boot_status, FALSE);
	if (detailed)
		json_slot_status(jb, &s->status);
	json_builder_end_object(jb);
	json_builder_end_object(jb);
}

static gchar *format_json(const RotaStatusReport *r, gboolean pretty, gboolean detailed)
{
	g_autoptr(JsonBuilder) jb = json_builder_new();
	const RotaStatusSlot *primary = find_slot(r, r->primary);

	json_builder_begin_object(jb);
	json_str(jb, "compatible", r->compatible, FALSE);
	json_str(jb, "variant", r->variant ? r->variant : "", FALSE);
	json_str(jb, "system_version", r->system_version ? r->system_version : "", FALSE);
	json_str(jb, "booted", r->bootname, FALSE);
	json_str(jb, "boot_primary", primary ? primary->name : NULL, FALSE);
	json_builder_set_member_name(jb, "slots");
	json_builder_begin_array(jb);
	for (guint i = 0; i < r->slots->len; i++)
		json_slot(jb, r->slots->pdata[i], detailed);
	json_builder_end_array(jb);
	if (r->artifacts) {
		json_builder_set_member_name(jb, "artifact-repositories");
		json_builder_add_value(jb, json_gvariant_serialize(r->artifacts));
	}
	json_builder_end_object(jb);
	return rota_json_to_string(jb, pretty);
}

gchar *rota_status_report_format(const RotaStatusReport *report, RotaOutputFormat format, gboolean detailed)
{
	switch (format) {
	case ROTA_OUTPUT_SHELL:
		return format_shell(report, detailed);
	case ROTA_OUTPUT_JSON:
	case ROTA_OUTPUT_JSON_PRETTY:
		return format_json(report, format == ROTA_OUTPUT_JSON_PRETTY, detailed);
	default:
		return format_readable(report, detailed);
	}
}

gchar *rota_status_info_format(RotaContext *ctx, RotaOutputFormat format, gboolean detailed)
{
	g_autoptr(RotaStatusReport) report = rota_status_report_from_context(ctx);
	g_autoptr(GError) error = NULL;

	report->primary = rota_status_primary_slot_name(ctx, &error);
	if (!report->primary)
		g_message("Failed getting primary slot: %s", error->message);
	return rota_status_report_format(report, format, detailed);
}
