/* status.h — slot status (system-conf.md §12): what was installed where and
 * when. Stored in one central key file (data-directory or statusfile=) or
 * per slot (slot.raucs inside mountable slots); every write is atomic. */
#pragma once

#include <glib.h>

#include "system/config.h"

typedef struct {
	gchar *bundle_compatible;
	gchar *bundle_version;
	gchar *bundle_description;
	gchar *bundle_build;
	gchar *bundle_hash;
	gchar *status;               /* "ok", "failed", "pending" or NULL */
	gchar *sha256;
	guint64 size;
	gchar *installed_transaction;
	gchar *installed_timestamp;  /* YYYY-MM-DDThh:mm:ssZ */
	guint32 installed_count;
	gchar *activated_timestamp;
	guint32 activated_count;
} RotaSlotStatus;

void rota_slot_status_clear(RotaSlotStatus *status);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RotaSlotStatus, rota_slot_status_clear)
void rota_slot_status_copy(RotaSlotStatus *dst, const RotaSlotStatus *src);

typedef struct _RotaStatusStore RotaStatusStore;

/* Opens the store the config selects. A central file that cannot be loaded
 * gives empty status (with a message) and is moved aside to <file>.broken,
 * with a warning, when the status is next saved (system-conf.md §12.2). */
RotaStatusStore *rota_status_store_new(RotaConfig *config, GError **error);
void rota_status_store_free(RotaStatusStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaStatusStore, rota_status_store_free)

gboolean rota_status_store_is_central(RotaStatusStore *store);

/* Loads a slot's status into *out (cleared first). Missing data is no error. */
void rota_status_load(RotaStatusStore *store, RotaSlot *slot, RotaSlotStatus *out);
/* rota_status_load() for a slot about to be written: a per-slot status
 * read by mounting the slot must leave it unmounted, else this fails. */
gboolean rota_status_load_before_write(RotaStatusStore *store, RotaSlot *slot, RotaSlotStatus *out, GError **error);
/* Saves a slot's status atomically. */
gboolean rota_status_save(RotaStatusStore *store, RotaSlot *slot, const RotaSlotStatus *status, GError **error);

/* The boot ID recorded in the central status file ([system] boot-id), or
 * NULL (none recorded, or per-slot status). */
gchar *rota_status_get_boot_id(RotaStatusStore *store);
/* Records it there (central status only; per-slot stores ignore it). */
gboolean rota_status_set_boot_id(RotaStatusStore *store, const gchar *boot_id, GError **error);

/* The current UTC time as status files store it. */
gchar *rota_status_timestamp_now(void);
