/* mount.h — mounting slots (per-slot status, tar into a fresh filesystem)
 * with mount(8), loop-mounting file-backed slots. */
#pragma once

#include <glib.h>

#include "system/config.h"

/* Mounts slot at <mountprefix>/<slot name> (created 0700). Returns the
 * mount point. */
gchar *rota_mount_slot(const RotaConfig *config, const RotaSlot *slot, GError **error);
/* Unmounts and removes the mount point. */
gboolean rota_umount_slot(const gchar *mount_point, GError **error);
