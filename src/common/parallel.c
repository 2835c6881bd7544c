/* parallel.c — see parallel.h. */
#include "parallel.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

typedef struct {
	RotaRangeFunc func;
	gpointer data;
	guint64 first, last;
	GError *error;
} RangeJob;

static gpointer range_job_run(gpointer data)
{
	RangeJob *job = data;
	job->func(job->first, job->last, job->data, &job->error);
	return NULL;
}

gboolean rota_parallel_ranges(guint64 count, guint64 min_per_worker, RotaRangeFunc func, gpointer data,
			      GError **error)
{
	guint n = (guint)MAX(1, MIN((guint64)rota_worker_count(), count / MAX(min_per_worker, 1)));
	g_autofree RangeJob *jobs = g_new0(RangeJob, n);
	g_autofree GThread **threads = g_new0(GThread *, n);
	gboolean ok = TRUE;

	for (guint i = 0; i < n; i++) {
		jobs[i] = (RangeJob){.func = func, .data = data, .first = count * i / n, .last = count * (i + 1) / n};
		/* The calling thread takes the last range itself. */
		threads[i] = i + 1 < n ? g_thread_new("rota-worker", range_job_run, &jobs[i]) : NULL;
	}
	range_job_run(&jobs[n - 1]);
	for (guint i = 0; i < n; i++) {
		if (threads[i])
			g_thread_join(threads[i]);
		if (jobs[i].error && ok) {
			g_propagate_error(error, g_steal_pointer(&jobs[i].error));
			ok = FALSE;
		}
		g_clear_error(&jobs[i].error);
	}
	return ok;
}

void rota_thread_lower_priority(gint steps)
{
	/* On Linux the nice value belongs to the thread: PRIO_PROCESS with a
	 * thread id changes that thread only. */
	id_t tid = (id_t)syscall(SYS_gettid);
	int now;

	errno = 0;
	now = getpriority(PRIO_PROCESS, tid);
	if (now == -1 && errno != 0)
		return;
	(void)setpriority(PRIO_PROCESS, tid, MIN(19, now + MAX(steps, 0)));
}
