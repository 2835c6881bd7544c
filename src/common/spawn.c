/* spawn.c — see spawn.h. */
#include "spawn.h"

#include <string.h>

gboolean rota_spawn_sync(const gchar *const *argv, const gchar *const *envp, gchar **out_stdout, GError **error)
{
	g_autofree gchar *out = NULL, *err = NULL;
	g_autoptr(GError) local = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, (gchar **)envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
			  &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot run %s: %s", argv[0], local->message);
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, &local)) {
		g_auto(GStrv) lines = g_strsplit(g_strstrip(err), "\n", 2);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s failed (%s)%s%s", argv[0], local->message,
			    lines[0] && *lines[0] ? ": " : "", lines[0] ? lines[0] : "");
		return FALSE;
	}
	if (out_stdout)
		*out_stdout = g_steal_pointer(&out);
	return TRUE;
}
