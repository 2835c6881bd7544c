/* slot_mtd.h — slots written by mtd-utils tools (system-conf.md §9.2, §9.3):
 * raw images into NAND and NOR MTD partitions, raw, squashfs and UBIFS
 * images into UBI volumes (slot types ubivol and ubifs). As the spec says,
 * NAND is erased with flash_erase and written with nandwrite, NOR is erased
 * and written by one `flashcp --erase-all`; UBI volumes are updated with ubiupdatevol, which wraps the
 * same UBI_IOCVOLUP volume update RAUC issues itself. The image goes from
 * the bundle's verified view straight into the tool, never through a file
 * on disk, and its sha256 is checked on the way. */
#pragma once

#include <glib.h>

#include "install/progress.h"
#include "system/config.h"
#include "view/view.h"

/* TRUE when images of type itype go into slots of type stype through one of
 * the tools here. */
gboolean rota_mtd_accepts(const gchar *itype, const gchar *stype);

/* The tool calls for a slot of one of these types, in order: the erase
 * (NULL for UBI volumes, which the volume update itself replaces) and the
 * write of an image of size bytes that the tool reads from `input`
 * ("-" = stdin). Pure; exposed for unit tests. */
GStrv rota_mtd_erase_argv(const RotaSlot *slot);
GStrv rota_mtd_write_argv(const RotaSlot *slot, guint64 size, const gchar *input);

/* Writes src into slot. The bytes handed to the tool must hash to sha256
 * (hex; NULL = no digest to compare, as for write-slot), else the write is
 * left unfinished and this fails. src must hold exactly expected_size bytes.
 * Hooks are the caller's. */
gboolean rota_mtd_write(RotaView *src, const RotaSlot *slot, guint64 expected_size, const gchar *sha256,
			RotaProgress *progress, GError **error);
