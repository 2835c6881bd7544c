/* bootloader_barebox.c — the barebox backend (system-conf.md §11.1): slot
 * state lives in barebox's bootchooser state as bootstate.<bn>.priority and
 * bootstate.<bn>.remaining_attempts, read (-g) and written (-s) with
 * `barebox-state` from dt-utils. */
#include "bootloader_private.h"

#define BAREBOX_TOOL "barebox-state"
#define PRIMARY_PRIORITY 20
#define SECONDARY_PRIORITY 10

typedef struct {
	guint64 priority;
	guint64 attempts;
} BareboxSlotState;

/* Runs barebox-state with ops (pairs like "-g" "var") between the
 * configured -n and -i options, in the order RAUC uses. */
static gchar *barebox_run(RotaBootloader *bl, GPtrArray *ops, const gchar *doing, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();

	g_ptr_array_add(argv, (gpointer)BAREBOX_TOOL);
	if (bl->config.barebox_statename) {
		g_ptr_array_add(argv, (gpointer)"-n");
		g_ptr_array_add(argv, bl->config.barebox_statename);
	}
	for (guint i = 0; i < ops->len; i++)
		g_ptr_array_add(argv, ops->pdata[i]);
	if (bl->config.barebox_dtbpath) {
		g_ptr_array_add(argv, (gpointer)"-i");
		g_ptr_array_add(argv, bl->config.barebox_dtbpath);
	}
	g_ptr_array_add(argv, NULL);
	return rota_bootloader_run_tool((const gchar *const *)argv->pdata, doing, error);
}

static gboolean barebox_read(RotaBootloader *bl, const gchar *bootname, const gchar *doing, BareboxSlotState *state,
			     GError **error)
{
	g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *priority_var = g_strdup_printf("bootstate.%s.priority", bootname);
	g_autofree gchar *attempts_var = g_strdup_printf("bootstate.%s.remaining_attempts", bootname);
	g_autofree gchar *out = NULL;
	g_auto(GStrv) lines = NULL;

	g_ptr_array_add(ops, g_strdup("-g"));
	g_ptr_array_add(ops, g_strdup(priority_var));
	g_ptr_array_add(ops, g_strdup("-g"));
	g_ptr_array_add(ops, g_strdup(attempts_var));
	out = barebox_run(bl, ops, doing, error);
	if (!out)
		return FALSE;

	lines = rota_bootloader_split_order(out, "\r\n");
	if (g_strv_length(lines) != 2) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED,
			    "barebox-state printed %u lines instead of 2 for %s and %s (%s)", g_strv_length(lines),
			    priority_var, attempts_var, doing);
		return FALSE;
	}
	return rota_bootloader_parse_uint(lines[0], 10, priority_var, &state->priority, error) &&
	       rota_bootloader_parse_uint(lines[1], 10, attempts_var, &state->attempts, error);
}

/* One barebox-state call with a -s per assignment, so the state is written
 * (and its CRC updated) once. */
static gboolean barebox_write(RotaBootloader *bl, GPtrArray *assignments, const gchar *doing, GError **error)
{
	g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *out = NULL;

	for (guint i = 0; i < assignments->len; i++) {
		g_ptr_array_add(ops, g_strdup("-s"));
		g_ptr_array_add(ops, g_strdup(assignments->pdata[i]));
	}
	out = barebox_run(bl, ops, doing, error);
	return out != NULL;
}

static gboolean barebox_get_state(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("getting the state of '%s'", bootname);
	BareboxSlotState state;

	if (!barebox_read(bl, bootname, doing, &state, error))
		return FALSE;
	*good = state.priority > 0 && state.attempts > 0;
	return TRUE;
}

static gboolean barebox_set_state(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' %s", bootname, good ? "good" : "bad");
	g_autoptr(GPtrArray) assignments = g_ptr_array_new_with_free_func(g_free);

	if (good) {
		g_ptr_array_add(assignments, g_strdup_printf("bootstate.%s.remaining_attempts=%d", bootname,
							     rota_bootloader_attempts(bl)));
	} else {
		g_ptr_array_add(assignments, g_strdup_printf("bootstate.%s.priority=0", bootname));
		g_ptr_array_add(assignments, g_strdup_printf("bootstate.%s.remaining_attempts=0", bootname));
	}
	return barebox_write(bl, assignments, doing, error);
}

static gchar *barebox_get_primary(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the primary slot";
	const gchar *best = NULL;
	guint64 best_priority = 0;

	/* The bootchooser boots the highest priority with attempts left; a
	 * priority of 0 disables a slot. Strict '>' keeps the first on ties. */
	for (gchar **bn = bl->config.bootnames; *bn; bn++) {
		BareboxSlotState state;

		if (!barebox_read(bl, *bn, doing, &state, error))
			return NULL;
		if (state.attempts > 0 && state.priority > best_priority) {
			best = *bn;
			best_priority = state.priority;
		}
	}
	if (!best) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED,
			    "No slot has a priority and attempts left in barebox state (%s)", doing);
		return NULL;
	}
	return g_strdup(best);
}

static gboolean barebox_set_primary(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' primary", bootname);
	g_autoptr(GPtrArray) assignments = g_ptr_array_new_with_free_func(g_free);

	for (gchar **bn = bl->config.bootnames; *bn; bn++) {
		BareboxSlotState state;
		guint64 priority;

		if (!barebox_read(bl, *bn, doing, &state, error))
			return FALSE;
		/* Others keep being fallbacks unless they were disabled (bad). */
		if (g_str_equal(*bn, bootname))
			priority = PRIMARY_PRIORITY;
		else
			priority = state.priority != 0 ? SECONDARY_PRIORITY : 0;
		g_ptr_array_add(assignments,
				g_strdup_printf("bootstate.%s.priority=%" G_GUINT64_FORMAT, *bn, priority));
	}
	g_ptr_array_add(assignments, g_strdup_printf("bootstate.%s.remaining_attempts=%d", bootname,
						     rota_bootloader_attempts_primary(bl)));
	return barebox_write(bl, assignments, doing, error);
}

const RotaBootloaderBackend rota_bootloader_backend_barebox = {
	.name = "barebox",
	.get_state = barebox_get_state,
	.set_state = barebox_set_state,
	.get_primary = barebox_get_primary,
	.set_primary = barebox_set_primary,
	/* bootstate.active= on the kernel command line: done by the caller */
	.get_current = NULL,
};
