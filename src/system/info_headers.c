/* info_headers.c — see info_headers.h. */
#include "info_headers.h"

#include <string.h>

#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define MACHINE_ID_FILE "/etc/machine-id"
#define UPTIME_FILE "/proc/uptime"
#define MAX_VALUE 1024

/* The first line of path, stripped; NULL when unreadable or empty. */
static gchar *read_first_line(const gchar *path)
{
	g_autofree gchar *data = NULL;
	gchar *nl;

	if (!g_file_get_contents(path, &data, NULL, NULL))
		return NULL;
	nl = strchr(data, '\n');
	if (nl)
		*nl = '\0';
	g_strstrip(data);
	return *data ? g_steal_pointer(&data) : NULL;
}

static gchar *uptime_seconds(void)
{
	g_autofree gchar *line = read_first_line(UPTIME_FILE);
	gchar *space;

	if (!line)
		return NULL;
	space = strchr(line, ' ');
	if (space)
		*space = '\0';
	return g_steal_pointer(&line);
}

/* A value fit for one header line: printable, no CR/LF, bounded. */
static gboolean value_ok(const gchar *v)
{
	if (!v || !*v || strlen(v) > MAX_VALUE)
		return FALSE;
	for (const guchar *p = (const guchar *)v; *p; p++) {
		if (*p < 0x20 && *p != '\t')
			return FALSE;
		if (*p == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* An HTTP token (RFC 9110 tchar). */
static gboolean name_ok(const gchar *n)
{
	if (!*n)
		return FALSE;
	for (const gchar *p = n; *p; p++) {
		if (!g_ascii_isalnum(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return FALSE;
	}
	return TRUE;
}

static void add(GPtrArray *out, const gchar *name, const gchar *value)
{
	g_autofree gchar *v = value ? g_strstrip(g_strdup(value)) : NULL;

	if (!value_ok(v)) {
		if (value)
			g_debug("not sending HTTP header %s: unsuitable value", name);
		return;
	}
	g_ptr_array_add(out, g_strdup_printf("%s: %s", name, v));
}

static const gchar *system_info_value(const RotaContext *ctx, const gchar *key)
{
	gsize n = strlen(key);

	if (!ctx || !ctx->system_info_env)
		return NULL;
	for (guint i = 0; i < ctx->system_info_env->len; i++) {
		const gchar *line = ctx->system_info_env->pdata[i];
		if (strncmp(line, key, n) == 0 && line[n] == '=')
			return line + n + 1;
	}
	return NULL;
}

gchar *rota_info_boot_id(void)
{
	return read_first_line(BOOT_ID_FILE);
}

gchar **rota_info_headers_build(const RotaConfig *config, const RotaContext *ctx, const gchar *transaction)
{
	GPtrArray *out = g_ptr_array_new();

	for (gchar **h = config ? config->streaming_send_headers : NULL; h && *h; h++) {
		g_autofree gchar *value = NULL;

		if (g_str_equal(*h, "boot-id")) {
			value = read_first_line(BOOT_ID_FILE);
			add(out, "RAUC-Boot-ID", value);
		} else if (g_str_equal(*h, "transaction-id")) {
			add(out, "RAUC-Transaction-ID", transaction);
		} else if (g_str_equal(*h, "machine-id")) {
			value = read_first_line(MACHINE_ID_FILE);
			add(out, "RAUC-Machine-ID", value);
		} else if (g_str_equal(*h, "system-version")) {
			add(out, "RAUC-System-Version", ctx ? ctx->system_version : NULL);
		} else if (g_str_equal(*h, "serial")) {
			add(out, "RAUC-Serial", system_info_value(ctx, "RAUC_SYSTEM_SERIAL"));
		} else if (g_str_equal(*h, "variant")) {
			add(out, "RAUC-Variant", ctx ? ctx->variant : config->variant);
		} else if (g_str_equal(*h, "uptime")) {
			value = uptime_seconds();
			add(out, "RAUC-Uptime", value);
		}
	}
	for (guint i = 0; ctx && ctx->system_info_env && i < ctx->system_info_env->len; i++) {
		const gchar *line = ctx->system_info_env->pdata[i];
		const gchar *eq = strchr(line, '=');
		g_autofree gchar *name = NULL;
		g_autofree gchar *header = NULL;

		if (!g_str_has_prefix(line, "RAUC_HTTP_") || !eq)
			continue;
		name = g_strndup(line + strlen("RAUC_HTTP_"), (gsize)(eq - line) - strlen("RAUC_HTTP_"));
		g_strdelimit(name, "_", '-');
		if (!name_ok(name)) {
			g_message("system-info handler: ignoring %.*s: not a valid HTTP header name", (int)(eq - line), line);
			continue;
		}
		header = g_strconcat("RAUC-", name, NULL);
		add(out, header, eq + 1);
	}
	g_ptr_array_add(out, NULL);
	return (gchar **)g_ptr_array_free(out, FALSE);
}
