/* context.c — target setup and slot marking. */
#include "context.h"

#include <string.h>

#include "common/spawn.h"
#include "system/event_log.h"

void rota_context_free(RotaContext *ctx)
{
	if (!ctx)
		return;
	rota_status_store_free(ctx->status);
	rota_bootloader_free(ctx->bootloader);
	rota_config_free(ctx->config);
	g_free(ctx->bootname);
	g_free(ctx->variant);
	g_free(ctx->system_version);
	if (ctx->system_info_env)
		g_ptr_array_unref(ctx->system_info_env);
	g_free(ctx);
}

static RotaBootloader *bootloader_for(const RotaConfig *c, GError **error)
{
	RotaBootloaderConfig bc = {0};
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	RotaBootloader *bl;

	for (guint i = 0; i < c->slots->len; i++) {
		RotaSlot *s = c->slots->pdata[i];
		if (s->bootname)
			g_ptr_array_add(names, s->bootname);
	}
	g_ptr_array_add(names, NULL);
	bc.backend = c->bootloader;
	bc.bootnames = (gchar **)names->pdata;
	bc.grubenv = c->grubenv;
	bc.boot_attempts = c->boot_attempts;
	bc.boot_attempts_primary = c->boot_attempts_primary;
	bc.barebox_statename = c->barebox_statename;
	bc.barebox_dtbpath = c->barebox_dtbpath;
	bc.efi_use_bootnext = c->efi_use_bootnext;
	bc.custom_backend = c->custom_bootloader_backend;
	bl = rota_bootloader_new(&bc, error);
	return bl;
}

/* Runs [handlers] system-info and keeps its RAUC_* lines. */
static gboolean run_system_info(RotaContext *ctx, GError **error)
{
	const gchar *argv[] = {ctx->config->handler_system_info, NULL};
	g_autofree gchar *out = NULL;
	g_auto(GStrv) lines = NULL;

	ctx->system_info_env = g_ptr_array_new_with_free_func(g_free);
	if (!argv[0])
		return TRUE;
	if (!rota_spawn_sync(argv, NULL, &out, error)) {
		g_prefix_error(error, "system-info handler: ");
		return FALSE;
	}
	lines = g_strsplit(out, "\n", -1);
	for (gchar **l = lines; *l; l++) {
		const gchar *eq = strchr(*l, '=');
		if (!g_str_has_prefix(*l, "RAUC_"))
			continue;
		if (!eq) {
			g_message("system-info handler: ignoring line without '=': %s", *l);
			continue;
		}
		g_ptr_array_add(ctx->system_info_env, g_strdup(*l));
		if (g_str_has_prefix(*l, "RAUC_SYSTEM_VARIANT=")) {
			g_free(ctx->variant);
			ctx->variant = g_strstrip(g_strdup(eq + 1));
		} else if (g_str_has_prefix(*l, "RAUC_SYSTEM_VERSION=")) {
			g_free(ctx->system_version);
			ctx->system_version = g_strdup(eq + 1);
		}
	}
	return TRUE;
}

RotaContext *rota_context_new(RotaConfig *config, const gchar *override_boot_slot, GError **error)
{
	g_autoptr(RotaContext) ctx = g_new0(RotaContext, 1);

	ctx->config = config;
	if (!rota_config_resolve_variant(config, &ctx->variant, error))
		return NULL;
	ctx->status = rota_status_store_new(config, error);
	if (!ctx->status)
		return NULL;
	ctx->bootloader = bootloader_for(config, error);
	if (!ctx->bootloader || !run_system_info(ctx, error))
		return NULL;
	if (!rota_slots_determine_states(config, ctx->bootloader, override_boot_slot, &ctx->bootname, error))
		return NULL;
	rota_slots_update_mounts(config);
	return g_steal_pointer(&ctx);
}

static void log_mark(RotaContext *ctx, const RotaSlot *slot, const gchar *state, const gchar *bundle_hash)
{
	g_autofree gchar *msg = g_strdup_printf("Marked slot %s as %s", slot->name, state);
	RotaEvent ev = {.type = "mark",
			.message = msg,
			.message_id = g_str_equal(state, "active") ? "8b5e7435e1054d86858278e7544fe6da"
				      : g_str_equal(state, "good") ? "3304e15a7a9a447885eb208ba7ae3a05"
								   : "ccb0e584a47043d7a5316994bce77ae5",
			.slot = slot->name,
			.bootname = slot->bootname,
			.bundle_hash = bundle_hash};

	rota_event_log(ctx->config, &ev);
}

gboolean rota_context_activate(RotaContext *ctx, RotaSlot *slot, GError **error)
{
	g_auto(RotaSlotStatus) st = {0};
	g_autoptr(GError) local = NULL;

	if (!rota_bootloader_set_primary(ctx->bootloader, slot->bootname, error)) {
		g_prefix_error(error, "failed to activate slot %s: ", slot->name);
		return FALSE;
	}
	rota_status_load(ctx->status, slot, &st);
	log_mark(ctx, slot, "active", st.bundle_hash ? st.bundle_hash : ""); /* always a field of "active" */
	g_free(st.activated_timestamp);
	st.activated_timestamp = rota_status_timestamp_now();
	st.activated_count++;
	if (!rota_status_save(ctx->status, slot, &st, &local))
		g_message("failed to record activation of %s: %s", slot->name, local->message);
	return TRUE;
}

static gchar *slot_names(GPtrArray *slots)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new();

	for (guint i = 0; i < slots->len; i++)
		g_ptr_array_add(names, ((RotaSlot *)slots->pdata[i])->name);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(" ", (gchar **)names->pdata);
}

gboolean rota_mark_state_is_valid(const gchar *state)
{
	return g_strcmp0(state, "good") == 0 || g_strcmp0(state, "bad") == 0 || g_strcmp0(state, "active") == 0;
}

gboolean rota_context_mark(RotaContext *ctx, const gchar *state, const gchar *identifier, gchar **out_message,
			   GError **error)
{
	g_autoptr(GPtrArray) slots = NULL;
	g_autofree gchar *names = NULL;
	gboolean good = g_strcmp0(state, "good") == 0;

	if (!rota_mark_state_is_valid(state)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "unknown subcommand mark-%s", state);
		return FALSE;
	}
	slots = rota_slots_resolve_identifier(ctx->config, identifier ? identifier : "booted", error);
	if (!slots)
		return FALSE;
	if (!g_str_equal(state, "bad") && slots->len != 1) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "cannot mark multiple slots as %s", state);
		return FALSE;
	}
	for (guint i = 0; i < slots->len; i++) {
		RotaSlot *s = slots->pdata[i];
		gboolean ok = g_str_equal(state, "active") ? rota_context_activate(ctx, s, error)
							    : rota_bootloader_set_state(ctx->bootloader, s->bootname, good, error);
		if (!ok)
			return FALSE;
		if (!g_str_equal(state, "active"))
			log_mark(ctx, s, state, NULL);
	}
	if (good && ctx->config->prevent_late_fallback && g_strcmp0(identifier ? identifier : "booted", "booted") == 0) {
		g_autofree gchar *ignored = NULL;
		g_autoptr(GError) local = NULL;
		if (!rota_context_mark(ctx, "bad", "other", &ignored, &local))
			g_message("prevent-late-fallback: %s", local->message);
	}
	names = slot_names(slots);
	if (out_message)
		*out_message = g_strdup_printf("marked slot(s) %s as %s", names, state);
	return TRUE;
}
