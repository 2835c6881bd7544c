/* slot_boot.h — boot regions that switch between two halves
 * (system-conf.md §9.4). A region [region-start, +region-size) of a whole
 * disk holds two copies of a bootloader:
 *
 *   boot-mbr-switch, boot-gpt-switch: partition entry 1 of the MBR / GPT
 *     points at the half that boots; the image goes into the other half,
 *     is read back, and only then is the entry moved over to it.
 *   boot-raw-fallback: the ROM boots the first half ("primary") and falls
 *     back to the second; both are rewritten one after the other, each with
 *     its first 512 bytes (the header the ROM checks) written last.
 *
 * Every check that can fail is made before the first byte is written. */
#pragma once

#include <glib.h>

#include "install/slot_writer.h"

/* TRUE when slot type stype is one of the boot region types. */
gboolean rota_boot_is_region_type(const gchar *stype);

/* TRUE when an image of type itype goes into a slot of type stype through
 * a boot region writer (system-conf.md §9.2: raw → all three, vfat → MBR
 * and GPT, ext4 → GPT). */
gboolean rota_boot_accepts(const gchar *itype, const gchar *stype);

/* Checks everything a write of image_size bytes into slot's boot region
 * depends on (region, partition table, fit), reading only. */
gboolean rota_boot_check(const RotaSlot *slot, guint64 image_size, GError **error);

/* Writes src (job->image's bytes; job->image->size of them) into the boot
 * region of job->slot, running the image's pre-/post-install slot hooks with
 * the RAUC_BOOT_* variables. job->hooks may be NULL (write-slot: no hooks);
 * without a sha256 in job->image, the written copy is compared with the
 * hash of src. */
gboolean rota_boot_write(RotaWriteJob *job, RotaView *src, GError **error);
