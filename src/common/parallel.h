/* parallel.h — splitting block-wise work (hashing, encryption) over the
 * cores: [0, count) is cut into one contiguous range per worker; and the
 * priority of threads that only feed a pipeline's critical stage. */
#pragma once

#include <glib.h>

/* Processes [first, last) of the work; runs in a worker thread. */
typedef gboolean (*RotaRangeFunc)(guint64 first, guint64 last, gpointer data, GError **error);

/* Runs func over [0, count) on up to rota_worker_count() threads, each
 * getting at least min_per_worker units (fewer threads for small work).
 * Returns the first error (by range order). */
gboolean rota_parallel_ranges(guint64 count, guint64 min_per_worker, RotaRangeFunc func, gpointer data,
			      GError **error);

/* Lowers the calling thread's (not the process's) CPU priority by steps
 * nice levels, at most to 19. For threads that feed a pipeline whose speed
 * is set by one other thread: when they share a core with it, the
 * scheduler then gives the core to that thread. Never fails (lowering the
 * own priority needs no privilege); irreversible for unprivileged callers,
 * so only for threads that end with their job. */
void rota_thread_lower_priority(gint steps);
