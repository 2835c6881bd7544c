/* mount.c — see mount.h. File-backed slots get `-o loop`, so the same code
 * serves block devices on a target and image files in tests and demos. */
#include "mount.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "common/spawn.h"

gchar *rota_mount_slot(const RotaConfig *config, const RotaSlot *slot, GError **error)
{
	g_autofree gchar *mp = g_build_filename(config->mountprefix, slot->name, NULL);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree gchar *opts = NULL;
	gboolean is_file = g_file_test(slot->device, G_FILE_TEST_IS_REGULAR);

	if (g_mkdir_with_parents(mp, 0700) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create mount point %s: %s", mp, g_strerror(err));
		return NULL;
	}
	if (is_file || slot->extra_mount_opts)
		opts = g_strjoin(",", is_file ? "loop" : slot->extra_mount_opts,
				 is_file && slot->extra_mount_opts ? slot->extra_mount_opts : NULL, NULL);
	g_ptr_array_add(argv, "mount");
	g_ptr_array_add(argv, "-t");
	g_ptr_array_add(argv, slot->type);
	if (opts) {
		g_ptr_array_add(argv, "-o");
		g_ptr_array_add(argv, opts);
	}
	g_ptr_array_add(argv, slot->device);
	g_ptr_array_add(argv, mp);
	g_ptr_array_add(argv, NULL);
	if (!rota_spawn_sync((const gchar *const *)argv->pdata, NULL, NULL, error)) {
		g_prefix_error(error, "cannot mount slot %s: ", slot->name);
		g_rmdir(mp);
		return NULL;
	}
	return g_steal_pointer(&mp);
}

gboolean rota_umount_slot(const gchar *mount_point, GError **error)
{
	const gchar *argv[] = {"umount", mount_point, NULL};

	if (!rota_spawn_sync(argv, NULL, NULL, error))
		return FALSE;
	g_rmdir(mount_point);
	return TRUE;
}
