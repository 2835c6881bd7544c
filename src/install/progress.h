/* progress.h — RAUC's nested progress model (install-and-runtime.md §12):
 * a stack of weighted steps; every begin, end and percentage change emits
 * (percentage, message, depth). Steps may report their own fraction, so a
 * large image copy moves the total in small increments. */
#pragma once

#include <glib.h>

typedef void (*RotaProgressFunc)(gint percentage, const gchar *message, gint depth, gpointer user_data);

typedef struct _RotaProgress RotaProgress;

RotaProgress *rota_progress_new(RotaProgressFunc func, gpointer user_data);
void rota_progress_free(RotaProgress *progress);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaProgress, rota_progress_free)

/* Starts a step worth `weight` of its parent's sub-units; it has
 * `substeps` sub-units of its own. NULL progress is allowed (no-op). */
void rota_progress_begin(RotaProgress *progress, const gchar *description, guint weight, guint substeps);
/* Ends the innermost step ("<description> done." or "... failed."). */
void rota_progress_end(RotaProgress *progress, gboolean success);
/* Sets how far the innermost step itself is (0..100 in permille for
 * smoothness: 0..1000). Emits only when the whole percentage changes. */
void rota_progress_set_fraction(RotaProgress *progress, guint64 done, guint64 total);
/* Like set_fraction, but also emits whenever the step's own fraction grew
 * by min_step (0..1) since its last emission: one whole percent of the
 * install can be several percent of a large image, and a client should
 * see the image move in steps of at most 1 % (the percentage repeats). */
void rota_progress_set_fraction_fine(RotaProgress *progress, guint64 done, guint64 total, gdouble min_step);
/* Ends every open step, innermost first (the root last). */
void rota_progress_end_all(RotaProgress *progress, gboolean success);
/* The last emitted percentage. */
gint rota_progress_get_percentage(RotaProgress *progress);
