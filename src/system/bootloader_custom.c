/* bootloader_custom.c — the custom backend (system-conf.md §11.5): every
 * operation runs the integrator's executable (no shell) with an operation
 * word and arguments; exit 0 is success and stdout carries the answer. */
#include "bootloader_private.h"

/* Runs `<backend> argv…` and returns its stdout. */
static gchar *custom_run(RotaBootloader *bl, const gchar *op, const gchar *arg1, const gchar *arg2,
			 const gchar *doing, GError **error)
{
	const gchar *argv[] = {bl->config.custom_backend, op, arg1, arg2, NULL};

	return rota_bootloader_run_tool(argv, doing, error);
}

static gboolean custom_get_state(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("getting the state of '%s' (get-state)", bootname);
	g_autofree gchar *out = custom_run(bl, "get-state", bootname, NULL, doing, error);
	const gchar *answer;

	if (!out)
		return FALSE;
	answer = g_strstrip(out);
	if (g_str_equal(answer, "good") || g_str_equal(answer, "bad")) {
		*good = g_str_equal(answer, "good");
		return TRUE;
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s answered '%s' instead of good or bad (%s)",
		    bl->config.custom_backend, answer, doing);
	return FALSE;
}

static gboolean custom_set_state(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error)
{
	const gchar *state = good ? "good" : "bad";
	g_autofree gchar *doing = g_strdup_printf("marking '%s' %s (set-state)", bootname, state);
	g_autofree gchar *out = custom_run(bl, "set-state", bootname, state, doing, error);

	return out != NULL;
}

static gchar *custom_get_primary(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the primary slot (get-primary)";
	g_autofree gchar *out = custom_run(bl, "get-primary", NULL, NULL, doing, error);
	const gchar *answer;

	if (!out)
		return NULL;
	answer = g_strstrip(out);
	if (!rota_bootloader_is_bootname(bl, answer)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s answered '%s', which is not a slot bootname (%s)",
			    bl->config.custom_backend, answer, doing);
		return NULL;
	}
	return g_strdup(answer);
}

static gboolean custom_set_primary(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' primary (set-primary)", bootname);
	g_autofree gchar *out = custom_run(bl, "set-primary", bootname, NULL, doing, error);

	return out != NULL;
}

static gchar *custom_get_current(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the booted slot (get-current)";
	g_autofree gchar *out = custom_run(bl, "get-current", NULL, NULL, doing, error);
	g_auto(GStrv) lines = NULL;

	if (!out)
		return NULL;
	lines = g_strsplit(out, "\n", 2);
	if (!lines[0] || !*g_strstrip(lines[0])) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s printed no bootname (%s)",
			    bl->config.custom_backend, doing);
		return NULL;
	}
	return g_strdup(lines[0]);
}

const RotaBootloaderBackend rota_bootloader_backend_custom = {
	.name = "custom",
	.get_state = custom_get_state,
	.set_state = custom_set_state,
	.get_primary = custom_get_primary,
	.set_primary = custom_set_primary,
	.get_current = custom_get_current,
};
