/* adaptive.h — adaptive updates with a block-hash-index (install-and-
 * runtime.md §8): the SHA-256 of every 4 KiB chunk of an image, so that a
 * device writes only chunks it does not already hold (in the target slot or
 * the active slot of the same class) and reads the rest from the bundle. */
#pragma once

#include <glib.h>

#include "bundle/hash_index.h"
#include "install/progress.h"
#include "system/context.h"
#include "view/view.h"


typedef struct {
	guint64 chunks;          /* chunks in the image */
	guint64 zero;            /* all-zero chunks (written without reading anything) */
	guint64 from_target;     /* in the target slot: its old content, or a copy written earlier in this run */
	guint64 from_active;     /* copied from the active slot */
	guint64 from_bundle;     /* read from the bundle */
	guint64 bundle_bytes;    /* bytes asked from the bundle view */
	guint64 written;         /* chunks actually written */
} RotaAdaptiveStats;

typedef struct {
	RotaContext *ctx;
	RotaSlot *target;
	RotaSlot *seed;          /* active slot of the same class, or NULL */
	RotaView *image;         /* the image in the bundle (verified view) */
	GBytes *image_index;     /* its block-hash-index from the bundle */
	const gchar *sha256;     /* the image's manifest digest */
	RotaProgress *progress;
} RotaAdaptiveJob;

/* Writes the image into the target using local chunks where possible.
 * Returns FALSE if adaptive mode could not be used (the caller then does a
 * full copy) or failed; the written data is not yet verified. */
gboolean rota_adaptive_write(RotaAdaptiveJob *job, RotaAdaptiveStats *stats, GError **error);

/* Caches an index for a slot that now holds content with digest sha256. */
gboolean rota_hash_index_store(RotaContext *ctx, RotaSlot *slot, const gchar *sha256, GBytes *index, GError **error);

/* The slot, holding content sha256, is about to be written: its cached
 * index is kept as "hash-unknown", a hint for the next adaptive write into
 * it (as RAUC does). A hint is safe even when stale, since every chunk
 * taken from a slot is hashed again; it saves hashing the whole slot. */
void rota_hash_index_keep_as_hint(RotaContext *ctx, RotaSlot *slot, const gchar *sha256);
