/* progress_bar.h — `rota install`'s progress on a terminal: one redrawn
 * line with a bar, the percentage, an estimated rate and the time left. */
#pragma once

#include <glib.h>

typedef struct _RotaProgressBar RotaProgressBar;

/* source: the bundle; its size (when it is a local file) gives the rate. */
RotaProgressBar *rota_progress_bar_new(const gchar *source);
void rota_progress_bar_free(RotaProgressBar *bar);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaProgressBar, rota_progress_bar_free)
void rota_progress_bar_update(RotaProgressBar *bar, gint percentage, const gchar *message);
/* Erases the line, so other output can be printed in its place. */
void rota_progress_bar_clear(RotaProgressBar *bar);
/* Leaves the last state on screen and ends the line. */
void rota_progress_bar_finish(RotaProgressBar *bar);
/* A RotaProgressFunc for in-process installs (user_data: the bar). */
void rota_progress_bar_callback(gint percentage, const gchar *message, gint depth, gpointer bar);
