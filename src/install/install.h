/* install.h — the installation sequence (install-and-runtime.md §2): check
 * the bundle, pick the group that is not booted, mark it bad, write every
 * image, record status, then mark the new group active. Any failure before
 * the end leaves the booted group primary. */
#pragma once

#include <glib.h>

#include "install/adaptive.h"
#include "install/hooks.h"
#include "install/progress.h"
#include "system/context.h"
#include "view/http_view.h"

/* What an adaptive write of one image did (for `rota install` and D-Bus). */
typedef struct {
	gchar *slot;
	gchar *image;
	RotaAdaptiveStats adaptive;
} RotaImageStats;

void rota_image_stats_free(RotaImageStats *stats);

typedef struct {
	gboolean ignore_compatible;
	gboolean ignore_version_limit;
	const gchar *transaction_id;        /* NULL: a new UUID */
	const gchar *require_manifest_hash; /* NULL: any */
	const gchar *handler_args;          /* extra args for a full custom handler */
	const RotaHttpOptions *http;        /* streaming from an http(s) URL; NULL: defaults */
	RotaHttpStats *http_stats;          /* out, may be NULL: filled when the bundle was streamed */
	GPtrArray *image_stats;             /* out, may be NULL: a RotaImageStats per adaptive image write */
	gboolean *updated_slots;            /* out, may be NULL: a slot was written (not skipped) */
	gboolean *updated_artifacts;        /* out, may be NULL: an artifact other than the active one was installed */
	RotaProgressFunc progress;
	RotaMessageFunc message;            /* status lines (handler output, skips) */
	gpointer user_data;
} RotaInstallArgs;

/* Installs the bundle at path. *out_rejected (may be NULL) is set when the
 * bundle was refused (compatible, version, install-check), not failed. */
gboolean rota_install(RotaContext *ctx, const gchar *path, const RotaInstallArgs *args, gboolean *out_rejected,
		      GError **error);
