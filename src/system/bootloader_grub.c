/* bootloader_grub.c — the GRUB backend (system-conf.md §11.3): slot state
 * lives in the grubenv file as ORDER, <bn>_OK and <bn>_TRY, read with
 * `grub-editenv FILE list` and written with one `grub-editenv FILE set …`. */
#include "bootloader_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"

#define GRUB_TOOL "grub-editenv"

static GHashTable *grub_read_env(RotaBootloader *bl, const gchar *doing, GError **error)
{
	const gchar *argv[] = {GRUB_TOOL, bl->config.grubenv, "list", NULL};
	g_autofree gchar *out = rota_bootloader_run_tool(argv, doing, error);

	return out ? rota_bootloader_parse_vars(out) : NULL;
}

/* The file that writing path changes: path with its symlinks followed,
 * also when the last target does not exist yet (grub-editenv then creates
 * it there, through the link). */
static gchar *grubenv_target(const gchar *path)
{
	g_autofree gchar *p = g_strdup(path);

	for (guint i = 0; i < 40; i++) { /* as the kernel's MAXSYMLINKS */
		g_autofree gchar *real = realpath(p, NULL);
		g_autofree gchar *link = NULL;
		g_autofree gchar *dir = NULL;

		if (real)
			return g_steal_pointer(&real);
		link = g_file_read_link(p, NULL);
		if (!link)
			break;
		dir = g_path_get_dirname(p);
		g_free(p);
		p = g_path_is_absolute(link) ? g_steal_pointer(&link) : g_build_filename(dir, link, NULL);
	}
	return g_steal_pointer(&p);
}

/* Writes all assignments in one call so the file never holds a half-done
 * change (e.g. a new ORDER without the matching _OK). grub-editenv
 * rewrites the file in place (truncate, write, fsync), so a power cut in
 * between would leave no environment at all. Edit a copy next to it
 * instead and rename it over the original: the bootloader then sees the
 * old or the new environment, never an empty one. */
static gboolean grub_write_env(RotaBootloader *bl, const gchar *const *assignments, const gchar *doing,
			       GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	/* grub-editenv follows a symlinked grubenv (e.g. to the copy on the
	 * EFI partition that GRUB loads): replace the target, not the link. */
	g_autofree gchar *target = grubenv_target(bl->config.grubenv);
	g_autofree gchar *tmp = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(GError) local = NULL;
	gsize len = 0;
	int fd;

	tmp = g_strdup_printf("%s.rota-new", target);
	if (g_file_get_contents(target, &contents, &len, &local)) {
		if (!g_file_set_contents(tmp, contents, (gssize)len, &local)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot write (%s): %s", tmp, doing,
				    local->message);
			return FALSE;
		}
	} else {
		g_autofree gchar *dir = g_path_get_dirname(target);

		/* grub-editenv creates a missing file (as it does for RAUC):
		 * let it create the copy; only a missing directory is an error. */
		if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ||
		    !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot read grub environment (%s): %s",
				    bl->config.grubenv, doing, local->message);
			return FALSE;
		}
		unlink(tmp); /* a stale copy from an interrupted write */
	}
	g_ptr_array_add(argv, (gpointer)GRUB_TOOL);
	g_ptr_array_add(argv, tmp);
	g_ptr_array_add(argv, (gpointer)"set");
	for (const gchar *const *a = assignments; *a; a++)
		g_ptr_array_add(argv, (gpointer)*a);
	g_ptr_array_add(argv, NULL);

	out = rota_bootloader_run_tool((const gchar *const *)argv->pdata, doing, error);
	fd = out ? open(tmp, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	if (!out || rename(tmp, target) != 0) {
		if (out)
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot replace grub environment (%s): %s",
				    target, doing, g_strerror(errno));
		unlink(tmp);
		return FALSE;
	}
	rota_fsync_parent_dir(target);
	return TRUE;
}

static const gchar *grub_lookup(RotaBootloader *bl, GHashTable *env, const gchar *var, const gchar *doing,
				GError **error)
{
	const gchar *value = g_hash_table_lookup(env, var);

	if (!value)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Variable %s not set in grub environment %s (%s)", var,
			    bl->config.grubenv, doing);
	return value;
}

static gboolean grub_lookup_number(RotaBootloader *bl, GHashTable *env, const gchar *var, const gchar *doing,
				   guint64 *out, GError **error)
{
	const gchar *value = grub_lookup(bl, env, var, doing, error);

	/* base 0: RAUC parses these with auto-detection, so "0x1" is 1 too. */
	return value && rota_bootloader_parse_uint(value, 0, var, out, error);
}

static gchar **grub_read_order(RotaBootloader *bl, GHashTable *env, const gchar *doing, GError **error)
{
	const gchar *order = grub_lookup(bl, env, "ORDER", doing, error);

	return order ? rota_bootloader_split_order(order, " \t") : NULL;
}

/* good ⇔ <bn>_OK == 1 and <bn>_TRY == 0 */
static gboolean grub_entry_is_good(RotaBootloader *bl, GHashTable *env, const gchar *bootname, const gchar *doing,
				   gboolean *good, GError **error)
{
	g_autofree gchar *ok_var = g_strdup_printf("%s_OK", bootname);
	g_autofree gchar *try_var = g_strdup_printf("%s_TRY", bootname);
	guint64 ok, tries;

	if (!grub_lookup_number(bl, env, ok_var, doing, &ok, error) ||
	    !grub_lookup_number(bl, env, try_var, doing, &tries, error))
		return FALSE;
	*good = ok == 1 && tries == 0;
	return TRUE;
}

static gboolean grub_get_state(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("getting the state of '%s'", bootname);
	g_autoptr(GHashTable) env = grub_read_env(bl, doing, error);
	g_auto(GStrv) order = NULL;

	if (!env)
		return FALSE;
	order = grub_read_order(bl, env, doing, error);
	if (!order)
		return FALSE;
	if (!g_strv_contains((const gchar *const *)order, bootname)) {
		*good = FALSE; /* GRUB never tries a slot missing from ORDER */
		return TRUE;
	}
	return grub_entry_is_good(bl, env, bootname, doing, good, error);
}

static gboolean grub_set_state(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' %s", bootname, good ? "good" : "bad");
	g_autofree gchar *ok = g_strdup_printf("%s_OK=%d", bootname, good ? 1 : 0);
	g_autofree gchar *tries = g_strdup_printf("%s_TRY=0", bootname);
	const gchar *assignments[] = {ok, tries, NULL};

	return grub_write_env(bl, assignments, doing, error);
}

static gchar *grub_get_primary(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the primary slot";
	g_autoptr(GHashTable) env = grub_read_env(bl, doing, error);
	g_auto(GStrv) order = NULL;

	if (!env)
		return NULL;
	order = grub_read_order(bl, env, doing, error);
	if (!order)
		return NULL;
	if (!order[0]) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "ORDER is empty in grub environment %s (%s)",
			    bl->config.grubenv, doing);
		return NULL;
	}
	for (gchar **bn = order; *bn; bn++) {
		gboolean good = FALSE;

		/* ORDER may name entries that are no slot (e.g. a rescue system). */
		if (!rota_bootloader_is_bootname(bl, *bn))
			continue;
		if (!grub_entry_is_good(bl, env, *bn, doing, &good, error))
			return NULL;
		if (good)
			return g_strdup(*bn);
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "No good slot in grub ORDER of %s (%s)", bl->config.grubenv,
		    doing);
	return NULL;
}

static gboolean grub_set_primary(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' primary", bootname);
	/* Like RAUC: the previous ORDER is not kept, the others follow in
	 * config order. */
	g_auto(GStrv) order =
		rota_bootloader_order_with_first((const gchar *const *)bl->config.bootnames, bootname, FALSE);
	g_autofree gchar *joined = g_strjoinv(" ", order);
	g_autofree gchar *ok = g_strdup_printf("%s_OK=1", bootname);
	g_autofree gchar *tries = g_strdup_printf("%s_TRY=0", bootname);
	g_autofree gchar *order_assignment = g_strdup_printf("ORDER=%s", joined);
	const gchar *assignments[] = {ok, tries, order_assignment, NULL};

	return grub_write_env(bl, assignments, doing, error);
}

const RotaBootloaderBackend rota_bootloader_backend_grub = {
	.name = "grub",
	.get_state = grub_get_state,
	.set_state = grub_set_state,
	.get_primary = grub_get_primary,
	.set_primary = grub_set_primary,
	.get_current = NULL,
};
