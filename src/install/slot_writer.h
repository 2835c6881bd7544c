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

/* Writes an image file from disk into a slot (write-slot): raw or tar. */
gboolean rota_writer_write_file(const RotaConfig *config, RotaSlot *slot, const gchar *image_path, const gchar *type,
				GError **error);
