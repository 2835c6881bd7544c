/* slot_writer.h — writing one image into one slot (system-conf.md §9.2,
 * §9.3): raw copies into files and block devices, tar archives into a
 * freshly made filesystem, empty filesystems, and install hooks. Raw
 * writes are read back and compared with the manifest's sha256. */
#pragma once

#include <glib.h>

#include "bundle/bundle.h"
#include "install/adaptive.h"
#include "install/hooks.h"
#include "install/progress.h"

typedef enum {
	ROTA_WRITER_RAW,     /* copy the image bytes */
	ROTA_WRITER_FS,      /* copy a filesystem image into a filesystem slot (hooks see it mounted) */
	ROTA_WRITER_TAR,     /* mkfs + extract */
	ROTA_WRITER_EMPTYFS, /* mkfs only */
	ROTA_WRITER_HOOK,    /* the bundle's `install` hook does everything */
	ROTA_WRITER_BOOT,    /* a boot region that switches between two halves (install/slot_boot.h) */
	ROTA_WRITER_MTD,     /* NAND, NOR, UBI volumes, through mtd-utils tools (install/slot_mtd.h) */
} RotaWriterKind;

/* Chooses the writer for an image type on a slot type, or fails with
 * "Unsupported image type 'I' for slot type 'S'". */
gboolean rota_writer_select(const RotaImage *image, const RotaSlot *slot, RotaWriterKind *out, GError **error);

typedef struct {
	RotaHookEnv *hooks;        /* hook runner; hooks->bundle gives the payload */
	const RotaImage *image;
	RotaSlot *slot;
	RotaWriterKind kind;
	RotaProgress *progress;    /* may be NULL */
	RotaAdaptiveStats *stats;  /* adaptive statistics out, may be NULL */
} RotaWriteJob;

/* Writes job->image into job->slot with pre/post hooks as the manifest
 * asks. On success the slot holds exactly the image (raw kinds: verified by
 * reading it back). */
gboolean rota_writer_run(RotaWriteJob *job, GError **error);

/* Copies all of src into slot->device at offset (the device must hold
 * offset + size bytes), fsyncs, and with sha256 reads the range back while
 * copying and compares. For writers that own part of a device. */
gboolean rota_writer_copy_range(RotaView *src, RotaSlot *slot, guint64 offset, const gchar *sha256,
				RotaProgress *progress, GError **error);
/* Reads size bytes at offset back from the device (not the page cache) and
 * compares their sha256 with the hex digest sha256. */
gboolean rota_writer_verify_range(const RotaSlot *slot, guint64 offset, guint64 size, const gchar *sha256,
				  GError **error);

/* Extracts the tar archive src (any compression libarchive knows) below
 * dest and checks that the archive's bytes match sha256. */
gboolean rota_writer_extract_tar(RotaView *src, const gchar *dest, const gchar *sha256, RotaProgress *progress,
				 GError **error);

/* Writes an image file from disk into a slot (write-slot): raw, tar, or a
 * boot region. */
gboolean rota_writer_write_file(const RotaConfig *config, RotaSlot *slot, const gchar *image_path, const gchar *type,
				GError **error);
