/* bootloader.c — the bootloader front end (system-conf.md §11): config
 * validation and copy, dispatch to the backend named in the config, the
 * helpers every backend shares (running a tool, KEY=value and boot-order
 * parsing) and the noop backend, which has no tool to run. */
#include "bootloader_private.h"

#include <errno.h>
#include <string.h>

#include "common/spawn.h"

static const RotaBootloaderBackend *const backends[] = {
	&rota_bootloader_backend_barebox,
	&rota_bootloader_backend_uboot,
	&rota_bootloader_backend_grub,
	&rota_bootloader_backend_efi,
	&rota_bootloader_backend_custom,
	&rota_bootloader_backend_noop,
};

#define DEFAULT_BOOT_ATTEMPTS 3

/* ---- config ---- */

void rota_bootloader_config_clear(RotaBootloaderConfig *config)
{
	if (!config)
		return;
	g_free(config->backend);
	g_strfreev(config->bootnames);
	g_free(config->grubenv);
	g_free(config->barebox_statename);
	g_free(config->barebox_dtbpath);
	g_free(config->custom_backend);
	memset(config, 0, sizeof(*config));
}

static void copy_config(RotaBootloaderConfig *dst, const RotaBootloaderConfig *src)
{
	*dst = *src;
	dst->backend = g_strdup(src->backend);
	dst->bootnames = src->bootnames ? g_strdupv(src->bootnames) : g_new0(gchar *, 1);
	dst->grubenv = g_strdup(src->grubenv ? src->grubenv : "/boot/grub/grubenv");
	dst->barebox_statename = g_strdup(src->barebox_statename);
	dst->barebox_dtbpath = g_strdup(src->barebox_dtbpath);
	dst->custom_backend = g_strdup(src->custom_backend);
}

static const RotaBootloaderBackend *find_backend(const gchar *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS(backends); i++) {
		if (g_strcmp0(backends[i]->name, name) == 0)
			return backends[i];
	}
	return NULL;
}

RotaBootloader *rota_bootloader_new(const RotaBootloaderConfig *config, GError **error)
{
	const RotaBootloaderBackend *backend;
	RotaBootloader *bl;

	g_return_val_if_fail(config != NULL, NULL);

	backend = find_backend(config->backend);
	if (!backend) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Unsupported bootloader '%s'",
			    config->backend ? config->backend : "(none)");
		return NULL;
	}
	if (backend == &rota_bootloader_backend_custom && (!config->custom_backend || !*config->custom_backend)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Bootloader 'custom' needs an executable (bootloader-custom-backend)");
		return NULL;
	}

	bl = g_new0(RotaBootloader, 1);
	copy_config(&bl->config, config);
	bl->backend = backend;
	return bl;
}

void rota_bootloader_free(RotaBootloader *bootloader)
{
	if (!bootloader)
		return;
	rota_bootloader_config_clear(&bootloader->config);
	g_free(bootloader);
}

const gchar *rota_bootloader_get_name(RotaBootloader *bootloader)
{
	g_return_val_if_fail(bootloader != NULL, NULL);
	return bootloader->backend->name;
}

/* ---- dispatch ---- */

/* Bootnames end up in tool arguments and environment variable names, so
 * only the configured ones are accepted: a typo must not create a variable
 * the bootloader never reads. */
static gboolean check_bootname(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	if (bootname && rota_bootloader_is_bootname(bl, bootname))
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Bootloader %s: '%s' is not the bootname of any slot",
		    bl->backend->name, bootname ? bootname : "(null)");
	return FALSE;
}

gboolean rota_bootloader_get_state(RotaBootloader *bootloader, const gchar *bootname, gboolean *good, GError **error)
{
	g_return_val_if_fail(bootloader != NULL && good != NULL, FALSE);
	if (!check_bootname(bootloader, bootname, error))
		return FALSE;
	return bootloader->backend->get_state(bootloader, bootname, good, error);
}

gboolean rota_bootloader_set_state(RotaBootloader *bootloader, const gchar *bootname, gboolean good, GError **error)
{
	g_return_val_if_fail(bootloader != NULL, FALSE);
	if (!check_bootname(bootloader, bootname, error))
		return FALSE;
	return bootloader->backend->set_state(bootloader, bootname, good, error);
}

gchar *rota_bootloader_get_primary(RotaBootloader *bootloader, GError **error)
{
	g_return_val_if_fail(bootloader != NULL, NULL);
	return bootloader->backend->get_primary(bootloader, error);
}

gboolean rota_bootloader_set_primary(RotaBootloader *bootloader, const gchar *bootname, GError **error)
{
	g_return_val_if_fail(bootloader != NULL, FALSE);
	if (!check_bootname(bootloader, bootname, error))
		return FALSE;
	return bootloader->backend->set_primary(bootloader, bootname, error);
}

gchar *rota_bootloader_get_current(RotaBootloader *bootloader, GError **error)
{
	g_return_val_if_fail(bootloader != NULL, NULL);
	if (!bootloader->backend->get_current)
		return NULL;
	return bootloader->backend->get_current(bootloader, error);
}

/* ---- shared helpers ---- */

gboolean rota_bootloader_is_bootname(RotaBootloader *bl, const gchar *name)
{
	return name && g_strv_contains((const gchar *const *)bl->config.bootnames, name);
}

gint rota_bootloader_attempts(RotaBootloader *bl)
{
	return bl->config.boot_attempts > 0 ? bl->config.boot_attempts : DEFAULT_BOOT_ATTEMPTS;
}

gint rota_bootloader_attempts_primary(RotaBootloader *bl)
{
	return bl->config.boot_attempts_primary > 0 ? bl->config.boot_attempts_primary : DEFAULT_BOOT_ATTEMPTS;
}

gchar *rota_bootloader_run_tool(const gchar *const *argv, const gchar *doing, GError **error)
{
	g_autofree gchar *path = NULL;
	g_autofree gchar *out = NULL;

	g_return_val_if_fail(argv && argv[0], NULL);

	/* Looked up first so a missing tool gets its own error instead of a
	 * generic "failed to execute child process". */
	path = g_find_program_in_path(argv[0]);
	if (!path) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s: %s not found%s", doing, argv[0],
			    strchr(argv[0], '/') ? " or not executable" : " in PATH");
		return NULL;
	}
	g_debug("Running %s for %s", argv[0], doing);
	/* rota_spawn_sync names the tool, its exit status and stderr's first
	 * line; the prefix adds which operation on which slot failed. */
	if (!rota_spawn_sync(argv, NULL, &out, error)) {
		g_prefix_error(error, "%s: ", doing);
		return NULL;
	}
	return g_steal_pointer(&out);
}

GHashTable *rota_bootloader_parse_vars(const gchar *text)
{
	GHashTable *vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);

	for (gchar **l = lines; *l; l++) {
		gchar *eq = strchr(*l, '=');
		gsize len = strlen(*l);

		if (len > 0 && (*l)[len - 1] == '\r')
			(*l)[len - 1] = '\0';
		if (!eq || eq == *l)
			continue;
		g_hash_table_replace(vars, g_strndup(*l, eq - *l), g_strdup(eq + 1));
	}
	return vars;
}

gchar **rota_bootloader_split_order(const gchar *order, const gchar *separators)
{
	g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func(g_free);
	g_auto(GStrv) parts = g_strsplit_set(order ? order : "", separators, -1);

	for (gchar **p = parts; *p; p++) {
		g_strstrip(*p);
		if (**p)
			g_ptr_array_add(tokens, g_strdup(*p));
	}
	g_ptr_array_add(tokens, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&tokens), FALSE);
}

static gboolean same_token(const gchar *a, const gchar *b, gboolean nocase)
{
	return nocase ? g_ascii_strcasecmp(a, b) == 0 : g_strcmp0(a, b) == 0;
}

/* Appends the tokens of order other than name to tokens. */
static void add_others(GPtrArray *tokens, const gchar *const *order, const gchar *name, gboolean nocase)
{
	for (const gchar *const *t = order; t && *t; t++) {
		if (!same_token(*t, name, nocase))
			g_ptr_array_add(tokens, g_strdup(*t));
	}
}

gchar **rota_bootloader_order_without(const gchar *const *order, const gchar *name, gboolean nocase)
{
	GPtrArray *tokens = g_ptr_array_new();

	add_others(tokens, order, name, nocase);
	g_ptr_array_add(tokens, NULL);
	return (gchar **)g_ptr_array_free(tokens, FALSE);
}

gchar **rota_bootloader_order_with_first(const gchar *const *order, const gchar *name, gboolean nocase)
{
	GPtrArray *tokens = g_ptr_array_new();

	g_ptr_array_add(tokens, g_strdup(name));
	add_others(tokens, order, name, nocase);
	g_ptr_array_add(tokens, NULL);
	return (gchar **)g_ptr_array_free(tokens, FALSE);
}

gboolean rota_bootloader_parse_uint(const gchar *text, guint base, const gchar *what, guint64 *out, GError **error)
{
	g_autofree gchar *copy = g_strstrip(g_strdup(text ? text : ""));
	gchar *end = NULL;
	guint64 value;

	/* strtoull accepts a sign and would wrap "-1" to a huge number. */
	if (!g_ascii_isxdigit(copy[0])) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid value '%s' of %s (expected a number)", copy,
			    what);
		return FALSE;
	}
	errno = 0;
	value = g_ascii_strtoull(copy, &end, base);
	if (errno != 0 || *end != '\0') {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid value '%s' of %s (expected a number)", copy,
			    what);
		return FALSE;
	}
	*out = value;
	return TRUE;
}

/* ---- noop ---- */

static gboolean noop_get_state(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error)
{
	(void)bl;
	(void)good;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Bootloader noop: getting the state of '%s' is not supported",
		    bootname);
	return FALSE;
}

static gboolean noop_set_state(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error)
{
	(void)bl;
	(void)error;
	g_message("noop bootloader: not marking '%s' %s", bootname, good ? "good" : "bad");
	return TRUE;
}

static gchar *noop_get_primary(RotaBootloader *bl, GError **error)
{
	(void)bl;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Bootloader noop: getting the primary slot is not supported");
	return NULL;
}

static gboolean noop_set_primary(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	(void)bl;
	(void)error;
	g_message("noop bootloader: not marking '%s' primary", bootname);
	return TRUE;
}

const RotaBootloaderBackend rota_bootloader_backend_noop = {
	.name = "noop",
	.get_state = noop_get_state,
	.set_state = noop_set_state,
	.get_primary = noop_get_primary,
	.set_primary = noop_set_primary,
	.get_current = NULL,
};
