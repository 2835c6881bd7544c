/* test_parallel.c — ranges cover [0, count) exactly once, errors propagate;
 * lowering a thread's priority touches that thread only. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/parallel.h"

typedef struct {
	guint8 *hits;
	guint64 fail_at; /* G_MAXUINT64: never */
	gint calls;
} Job;

static gboolean mark_range(guint64 first, guint64 last, gpointer data, GError **error)
{
	Job *job = data;

	g_atomic_int_inc(&job->calls);
	for (guint64 i = first; i < last; i++) {
		if (i == job->fail_at) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "unit %" G_GUINT64_FORMAT " failed", i);
			return FALSE;
		}
		job->hits[i]++;
	}
	return TRUE;
}

static void test_covers_everything_once(void)
{
	Job job = {.hits = g_malloc0(1000), .fail_at = G_MAXUINT64};
	g_autoptr(GError) error = NULL;

	g_assert_true(rota_parallel_ranges(1000, 10, mark_range, &job, &error));
	g_assert_no_error(error);
	for (int i = 0; i < 1000; i++)
		g_assert_cmpuint(job.hits[i], ==, 1);
	g_assert_cmpint(job.calls, >=, 1);
	g_free(job.hits);
}

static void test_small_work_runs_once(void)
{
	Job job = {.hits = g_malloc0(5), .fail_at = G_MAXUINT64};

	g_assert_true(rota_parallel_ranges(5, 100, mark_range, &job, NULL));
	g_assert_cmpint(job.calls, ==, 1); /* not worth a thread */
	g_assert_cmpuint(job.hits[4], ==, 1);
	g_free(job.hits);
}

static void test_error_propagates(void)
{
	Job job = {.hits = g_malloc0(1000), .fail_at = 777};
	g_autoptr(GError) error = NULL;

	g_assert_false(rota_parallel_ranges(1000, 1, mark_range, &job, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "unit 777"));
	g_free(job.hits);
}

static int own_nice(void)
{
	errno = 0;
	int v = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	g_assert_cmpint(errno, ==, 0);
	return v;
}

typedef struct {
	gint start, steps, after;
} NiceCase;

static gpointer lower_in_thread(gpointer data)
{
	NiceCase *c = data;

	g_assert_cmpint(setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), c->start), ==, 0);
	rota_thread_lower_priority(c->steps);
	c->after = own_nice();
	return NULL;
}

static void test_lower_priority_is_per_thread(void)
{
	int before = own_nice();
	/* Each case starts at or above the test's own value: an unprivileged
	 * thread may only lower its priority. */
	NiceCase cases[] = {
		{.start = MAX(before, 2), .steps = 10},
		{.start = 15, .steps = 10}, /* clamped at 19 */
		{.start = MAX(before, 3), .steps = -5}, /* never raises */
	};
	gint expect[] = {MIN(19, MAX(before, 2) + 10), 19, MAX(before, 3)};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_thread_join(g_thread_new("nice", lower_in_thread, &cases[i]));
		g_assert_cmpint(cases[i].after, ==, expect[i]);
	}
	g_assert_cmpint(own_nice(), ==, before);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/parallel/covers-everything-once", test_covers_everything_once);
	g_test_add_func("/parallel/small-work-runs-once", test_small_work_runs_once);
	g_test_add_func("/parallel/error-propagates", test_error_propagates);
	g_test_add_func("/parallel/lower-priority-is-per-thread", test_lower_priority_is_per_thread);
	return g_test_run();
}
