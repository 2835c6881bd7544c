/* bootloader_uboot.c — the U-Boot backend (system-conf.md §11.2): slot
 * state lives in the U-Boot environment as BOOT_ORDER (space-separated
 * bootnames) and BOOT_<bn>_LEFT (remaining attempts, hex), read one
 * variable at a time with `fw_printenv VAR` and written with
 * `fw_setenv VAR VALUE`. */
#include "bootloader_private.h"

static gchar *uboot_read_var(const gchar *var, const gchar *doing, GError **error)
{
	const gchar *argv[] = {"fw_printenv", var, NULL};
	g_autofree gchar *out = rota_bootloader_run_tool(argv, doing, error);
	g_autoptr(GHashTable) vars = NULL;
	const gchar *value;

	if (!out)
		return NULL;
	/* Only "VAR=value" counts: older fw_printenv print other formats or
	 * just a message for a missing variable. */
	vars = rota_bootloader_parse_vars(out);
	value = g_hash_table_lookup(vars, var);
	if (!value) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "fw_printenv printed no '%s=' line (%s)", var, doing);
		return NULL;
	}
	return g_strdup(value);
}

static gboolean uboot_write_var(const gchar *var, const gchar *value, const gchar *doing, GError **error)
{
	const gchar *argv[] = {"fw_setenv", var, value, NULL};
	g_autofree gchar *out = rota_bootloader_run_tool(argv, doing, error);

	return out != NULL;
}

static gchar **uboot_read_order(const gchar *doing, GError **error)
{
	g_autofree gchar *order = uboot_read_var("BOOT_ORDER", doing, error);

	return order ? rota_bootloader_split_order(order, " \t") : NULL;
}

static gboolean uboot_write_order(const gchar *const *order, const gchar *doing, GError **error)
{
	g_autofree gchar *joined = g_strjoinv(" ", (gchar **)order);

	return uboot_write_var("BOOT_ORDER", joined, doing, error);
}

static gchar *uboot_left_var(const gchar *bootname)
{
	return g_strdup_printf("BOOT_%s_LEFT", bootname);
}

static gboolean uboot_read_left(const gchar *bootname, const gchar *doing, guint64 *left, GError **error)
{
	g_autofree gchar *var = uboot_left_var(bootname);
	g_autofree gchar *value = uboot_read_var(var, doing, error);

	if (!value)
		return FALSE;
	/* fw_printenv prints "VAR=" for an unset variable: no attempts left,
	 * as for RAUC, not an error (only garbage is). */
	if (!*g_strstrip(value)) {
		*left = 0;
		return TRUE;
	}
	/* The U-Boot scripts use setexpr, which works in hex. */
	return rota_bootloader_parse_uint(value, 16, var, left, error);
}

static gboolean uboot_write_left(const gchar *bootname, gint attempts, const gchar *doing, GError **error)
{
	g_autofree gchar *var = uboot_left_var(bootname);
	g_autofree gchar *value = g_strdup_printf("%x", (guint)attempts);

	return uboot_write_var(var, value, doing, error);
}

static gboolean uboot_get_state(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("getting the state of '%s'", bootname);
	g_auto(GStrv) order = uboot_read_order(doing, error);
	guint64 left = 0;

	(void)bl;
	if (!order)
		return FALSE;
	if (!g_strv_contains((const gchar *const *)order, bootname)) {
		*good = FALSE; /* U-Boot never tries a slot missing from BOOT_ORDER */
		return TRUE;
	}
	if (!uboot_read_left(bootname, doing, &left, error))
		return FALSE;
	*good = left > 0;
	return TRUE;
}

static gboolean uboot_mark_bad(const gchar *bootname, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' bad", bootname);
	g_autoptr(GError) order_error = NULL;
	g_auto(GStrv) order = uboot_read_order(doing, &order_error);

	/* Without a readable BOOT_ORDER, LEFT=0 alone still keeps U-Boot off
	 * the slot. */
	if (order) {
		g_auto(GStrv) rest = rota_bootloader_order_without((const gchar *const *)order, bootname, FALSE);
		if (!uboot_write_order((const gchar *const *)rest, doing, error))
			return FALSE;
	} else {
		g_debug("Not changing BOOT_ORDER: %s", order_error->message);
	}
	return uboot_write_left(bootname, 0, doing, error);
}

static gboolean uboot_set_state(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error)
{
	g_autofree gchar *doing = NULL;

	if (!good)
		return uboot_mark_bad(bootname, error);
	doing = g_strdup_printf("marking '%s' good", bootname);
	return uboot_write_left(bootname, rota_bootloader_attempts(bl), doing, error);
}

static gchar *uboot_get_primary(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the primary slot";
	g_auto(GStrv) order = uboot_read_order(doing, error);

	if (!order)
		return NULL;
	for (gchar **bn = order; *bn; bn++) {
		guint64 left = 0;

		if (!rota_bootloader_is_bootname(bl, *bn))
			continue;
		if (!uboot_read_left(*bn, doing, &left, error))
			return NULL;
		if (left > 0)
			return g_strdup(*bn);
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "No slot in BOOT_ORDER has attempts left (%s)", doing);
	return NULL;
}

static gboolean uboot_set_primary(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' primary", bootname);
	g_autoptr(GError) order_error = NULL;
	g_auto(GStrv) previous = uboot_read_order(doing, &order_error);
	g_auto(GStrv) order = NULL;

	if (!previous) {
		g_message("BOOT_ORDER unreadable, putting all slots after '%s': %s", bootname, order_error->message);
		previous = g_strdupv(bl->config.bootnames);
	}
	order = rota_bootloader_order_with_first((const gchar *const *)previous, bootname, FALSE);
	/* HEAD writes the attempts in hex here too (1.8 wrote decimal). */
	if (!uboot_write_left(bootname, rota_bootloader_attempts_primary(bl), doing, error))
		return FALSE;
	return uboot_write_order((const gchar *const *)order, doing, error);
}

const RotaBootloaderBackend rota_bootloader_backend_uboot = {
	.name = "uboot",
	.get_state = uboot_get_state,
	.set_state = uboot_set_state,
	.get_primary = uboot_get_primary,
	.set_primary = uboot_set_primary,
	.get_current = NULL,
};
