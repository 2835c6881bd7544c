/* slots.h — the runtime view of the configured slots: which one was
 * booted (kernel command line, bootloader, override), which are mounted,
 * and which group an installation targets. */
#pragma once

#include <glib.h>

#include "system/bootloader.h"
#include "system/config.h"
#include "system/status.h"

/* Where the kernel command line is read: $ROTA_CMDLINE_FILE, else /proc/cmdline.
 * $RAUC_TEST_CMDLINE (content) wins over both, as in RAUC's tests. */
gchar *rota_read_cmdline(GError **error);

/* Determines the boot name (system-conf.md §8) and sets every slot's state.
 * override: --override-boot-slot, or NULL. *out_bootname receives the boot
 * name string (e.g. "A", "/dev/sda2", "_external_"). */
gboolean rota_slots_determine_states(RotaConfig *config, RotaBootloader *bootloader, const gchar *override,
				     gchar **out_bootname, GError **error);

/* Records where slots are mounted (from /proc/self/mounts, loop devices
 * resolved to their backing files). */
void rota_slots_update_mounts(RotaConfig *config);

RotaSlot *rota_slots_get_booted(RotaConfig *config);

/* For each root class, an inactive slot (failed first, then never
 * installed, then the oldest install); then every child of a picked slot.
 * Returns class name → RotaSlot* (not owned). */
GHashTable *rota_slots_select_target_group(RotaConfig *config, RotaStatusStore *store);

/* Resolves "booted", "other" or "<class>.<index>" to slots with a bootname. */
GPtrArray *rota_slots_resolve_identifier(RotaConfig *config, const gchar *identifier, GError **error);
