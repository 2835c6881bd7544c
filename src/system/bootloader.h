/* bootloader.h — the bootloader backends (system-conf.md §11): barebox,
 * uboot, grub, efi, custom, noop. Every backend knows slots only by their
 * bootname and implements the same five operations. */
#pragma once

#include <glib.h>

#include "common/error.h"

typedef struct {
	gchar *backend;               /* "barebox", "uboot", "grub", "efi", "custom", "noop" */
	gchar **bootnames;            /* every bootname of the system, in config (slot) order */
	gchar *grubenv;               /* grub: environment file (default /boot/grub/grubenv) */
	gint boot_attempts;           /* uboot/barebox: attempts when marking good; <=0: 3 */
	gint boot_attempts_primary;   /* uboot/barebox: attempts when marking primary; <=0: 3 */
	gchar *barebox_statename;     /* barebox: -n */
	gchar *barebox_dtbpath;       /* barebox: -i */
	gboolean efi_use_bootnext;    /* efi: set primary via BootNext (default TRUE) */
	gchar *custom_backend;        /* custom: executable */
} RotaBootloaderConfig;

void rota_bootloader_config_clear(RotaBootloaderConfig *config);

typedef struct _RotaBootloader RotaBootloader;

/* Validates the config (unknown backend, custom without executable). The
 * config is copied. */
RotaBootloader *rota_bootloader_new(const RotaBootloaderConfig *config, GError **error);
void rota_bootloader_free(RotaBootloader *bootloader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaBootloader, rota_bootloader_free)

const gchar *rota_bootloader_get_name(RotaBootloader *bootloader);

/* good = the bootloader would try this slot (see the spec per backend). */
gboolean rota_bootloader_get_state(RotaBootloader *bootloader, const gchar *bootname, gboolean *good, GError **error);
/* Mark good or bad. */
gboolean rota_bootloader_set_state(RotaBootloader *bootloader, const gchar *bootname, gboolean good, GError **error);
/* The bootname the bootloader will boot next. */
gchar *rota_bootloader_get_primary(RotaBootloader *bootloader, GError **error);
/* Make bootname the one booted next (mark active). */
gboolean rota_bootloader_set_primary(RotaBootloader *bootloader, const gchar *bootname, GError **error);
/* The bootname the bootloader says it booted (custom get-current, efi
 * BootCurrent, barebox via the command line is done by the caller). Returns
 * NULL without error when the backend cannot tell. */
gchar *rota_bootloader_get_current(RotaBootloader *bootloader, GError **error);
