/* test_progress.c — the nested progress model (install-and-runtime.md §12):
 * the spec's example install sequence, monotonic percentages, only the root
 * reaching 100, fraction updates emitted only on whole-percent changes,
 * depths and the "X done." / "X failed." messages. */
#include <string.h>

#include "install/progress.h"

/* ---- a recorder ---- */

typedef struct {
	gint percentage;
	gchar *message;
	gint depth;
} Event;

static void event_clear(gpointer data)
{
	g_free(((Event *)data)->message);
}

static void record(gint percentage, const gchar *message, gint depth, gpointer user_data)
{
	GArray *events = user_data;
	Event e = {percentage, g_strdup(message), depth};
	g_array_append_val(events, e);
}

static GArray *events_new(void)
{
	GArray *events = g_array_new(FALSE, TRUE, sizeof(Event));
	g_array_set_clear_func(events, event_clear);
	return events;
}

static const Event *last(GArray *events)
{
	g_assert_cmpuint(events->len, >, 0);
	return &g_array_index(events, Event, events->len - 1);
}

typedef struct {
	gint percentage;
	const gchar *message;
	gint depth;
} Expect;

static void assert_events(GArray *events, const Expect *expect, gsize n)
{
	for (gsize i = 0; i < MIN(n, events->len); i++) {
		const Event *e = &g_array_index(events, Event, i);
		if (e->percentage != expect[i].percentage || g_strcmp0(e->message, expect[i].message) != 0 ||
		    e->depth != expect[i].depth)
			g_error("event %" G_GSIZE_FORMAT ": got (%d, '%s', %d), expected (%d, '%s', %d)", i, e->percentage,
				e->message, e->depth, expect[i].percentage, expect[i].message, expect[i].depth);
	}
	g_assert_cmpuint(events->len, ==, n);
}

/* One slot update as install.c does it: check (weight 1) and copy (weight
 * 9), the copy reporting its own fraction in `chunks` pieces. */
static void update_slot(RotaProgress *p, const gchar *check, const gchar *copy, guint chunks)
{
	rota_progress_begin(p, check, 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_begin(p, copy, 9, 1);
	for (guint i = 1; i <= chunks; i++)
		rota_progress_set_fraction(p, i, chunks);
	rota_progress_end(p, TRUE);
}

/* The install sequence of install-and-runtime.md §12 with two slot images. */
static void run_example(RotaProgress *p, guint chunks)
{
	rota_progress_begin(p, "Installing", 1, 10);
	rota_progress_begin(p, "Determining slot states", 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_begin(p, "Checking bundle", 1, 1);
	rota_progress_begin(p, "Verifying signature", 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_end(p, TRUE);
	rota_progress_begin(p, "Checking manifest contents", 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_begin(p, "Determining target install group", 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_begin(p, "Updating slots", 6, 10 * 2);
	update_slot(p, "Checking slot rootfs.1 (B)", "Copying image to rootfs.1", chunks);
	update_slot(p, "Checking slot appfs.1", "Copying image to appfs.1", chunks);
	rota_progress_end(p, TRUE);
	rota_progress_end(p, TRUE);
}

/* ---- tests ---- */

static void test_example_sequence(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);
	static const Expect expect[] = {
		{0, "Installing", 1},
		{0, "Determining slot states", 2},
		{10, "Determining slot states done.", 2},
		{10, "Checking bundle", 2},
		{10, "Verifying signature", 3},
		{20, "Verifying signature done.", 3},
		{20, "Checking bundle done.", 2},
		{20, "Checking manifest contents", 2},
		{30, "Checking manifest contents done.", 2},
		{30, "Determining target install group", 2},
		{40, "Determining target install group done.", 2},
		{40, "Updating slots", 2},
		{40, "Checking slot rootfs.1 (B)", 3},
		{43, "Checking slot rootfs.1 (B) done.", 3},
		{43, "Copying image to rootfs.1", 3},
		{70, "Copying image to rootfs.1 done.", 3},
		{70, "Checking slot appfs.1", 3},
		{73, "Checking slot appfs.1 done.", 3},
		{73, "Copying image to appfs.1", 3},
		{99, "Copying image to appfs.1 done.", 3},
		{99, "Updating slots done.", 2},
		{100, "Installing done.", 1},
	};

	run_example(p, 0); /* no fraction updates */
	assert_events(events, expect, G_N_ELEMENTS(expect));
	g_assert_cmpint(rota_progress_get_percentage(p), ==, 100);
}

static void test_example_monotonic_with_fractions(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);
	gint prev = 0;
	guint hundreds = 0;

	run_example(p, 1000);
	for (guint i = 0; i < events->len; i++) {
		const Event *e = &g_array_index(events, Event, i);
		g_assert_cmpint(e->percentage, >=, prev);
		g_assert_cmpint(e->percentage, <=, 100);
		g_assert_cmpint(e->depth, >=, 1);
		g_assert_cmpint(e->depth, <=, 3);
		if (e->percentage == 100)
			hundreds++;
		prev = e->percentage;
	}
	/* only the root's end reaches 100 */
	g_assert_cmpuint(hundreds, ==, 1);
	g_assert_cmpstr(last(events)->message, ==, "Installing done.");
	g_assert_cmpint(last(events)->percentage, ==, 100);
}

static void test_fraction_emits_on_integer_change(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);
	guint before;

	rota_progress_begin(p, "Installing", 1, 10);
	rota_progress_begin(p, "Copy", 9, 1); /* worth 90 % */
	before = events->len;

	/* 1/1000 of 90 % = 0.09 %: no whole-percent change, nothing emitted */
	rota_progress_set_fraction(p, 1, 1000);
	g_assert_cmpuint(events->len, ==, before);
	/* 10/1000 → 0.9 %: still 0 */
	rota_progress_set_fraction(p, 10, 1000);
	g_assert_cmpuint(events->len, ==, before);
	/* 12/1000 → 1.08 %: emitted once, with the step's description and depth */
	rota_progress_set_fraction(p, 12, 1000);
	g_assert_cmpuint(events->len, ==, before + 1);
	g_assert_cmpint(last(events)->percentage, ==, 1);
	g_assert_cmpstr(last(events)->message, ==, "Copy");
	g_assert_cmpint(last(events)->depth, ==, 2);
	/* same again: nothing */
	rota_progress_set_fraction(p, 12, 1000);
	rota_progress_set_fraction(p, 13, 1000);
	g_assert_cmpuint(events->len, ==, before + 1);
	/* half → 45 % */
	rota_progress_set_fraction(p, 500, 1000);
	g_assert_cmpuint(events->len, ==, before + 2);
	g_assert_cmpint(last(events)->percentage, ==, 45);
	g_assert_cmpint(rota_progress_get_percentage(p), ==, 45);
	/* total 0 is ignored; done > total counts as complete */
	rota_progress_set_fraction(p, 5, 0);
	g_assert_cmpuint(events->len, ==, before + 2);
	rota_progress_set_fraction(p, 2000, 1000);
	g_assert_cmpint(last(events)->percentage, ==, 90);

	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 90);
	g_assert_cmpstr(last(events)->message, ==, "Copy done.");
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 100);
}

static void test_fraction_fills_remaining_share(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);

	/* a step with children done can still report its own fraction for the rest */
	rota_progress_begin(p, "Root", 1, 1);
	rota_progress_begin(p, "Step", 1, 2);     /* 100 % */
	rota_progress_begin(p, "Part", 1, 1);     /* 50 % */
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 50);
	rota_progress_set_fraction(p, 1, 2); /* half of the remaining 50 % */
	g_assert_cmpint(last(events)->percentage, ==, 75);
	g_assert_cmpstr(last(events)->message, ==, "Step");
	rota_progress_end_all(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 100);
}

static void test_child_capped_at_99(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);

	rota_progress_begin(p, "Root", 1, 1);
	rota_progress_begin(p, "Everything", 1, 1); /* the whole 100 % */
	rota_progress_set_fraction(p, 1, 1);
	g_assert_cmpint(last(events)->percentage, ==, 99);
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 99);
	g_assert_cmpstr(last(events)->message, ==, "Everything done.");
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 100);
	g_assert_cmpstr(last(events)->message, ==, "Root done.");
}

static void test_failure_messages(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);
	static const Expect expect[] = {
		{0, "Installing", 1},
		{0, "Determining slot states", 2},
		{10, "Determining slot states done.", 2},
		{10, "Checking bundle", 2},
		{10, "Verifying signature", 3},
		{20, "Verifying signature failed.", 3},
		{20, "Checking bundle failed.", 2},
		{100, "Installing failed.", 1},
	};

	rota_progress_begin(p, "Installing", 1, 10);
	rota_progress_begin(p, "Determining slot states", 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_begin(p, "Checking bundle", 1, 1);
	rota_progress_begin(p, "Verifying signature", 1, 1);
	rota_progress_end_all(p, FALSE); /* innermost first, the root last */
	assert_events(events, expect, G_N_ELEMENTS(expect));
	/* a failed root ends at 100 % too, as RAUC's */
	g_assert_cmpint(rota_progress_get_percentage(p), ==, 100);

	/* nothing left to end */
	rota_progress_end(p, TRUE);
	rota_progress_end_all(p, TRUE);
	g_assert_cmpuint(events->len, ==, G_N_ELEMENTS(expect));
}

static void test_failed_root_after_full_children(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);

	rota_progress_begin(p, "Root", 1, 1);
	rota_progress_begin(p, "All", 1, 1);
	rota_progress_end(p, TRUE);
	rota_progress_end(p, FALSE);
	g_assert_cmpstr(last(events)->message, ==, "Root failed.");
	g_assert_cmpint(last(events)->percentage, ==, 100);
}

static void test_depths(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);

	rota_progress_begin(p, "a", 1, 1);
	g_assert_cmpint(last(events)->depth, ==, 1);
	rota_progress_begin(p, "b", 1, 1);
	g_assert_cmpint(last(events)->depth, ==, 2);
	rota_progress_begin(p, "c", 1, 1);
	g_assert_cmpint(last(events)->depth, ==, 3);
	rota_progress_begin(p, "d", 1, 0); /* 0 sub-units behaves like 1 */
	g_assert_cmpint(last(events)->depth, ==, 4);
	g_assert_cmpint(last(events)->percentage, ==, 0);
	rota_progress_end(p, TRUE);
	g_assert_cmpstr(last(events)->message, ==, "d done.");
	g_assert_cmpint(last(events)->depth, ==, 4);
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->depth, ==, 3);
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->depth, ==, 2);
	rota_progress_end(p, TRUE);
	g_assert_cmpstr(last(events)->message, ==, "a done.");
	g_assert_cmpint(last(events)->depth, ==, 1);
}

static void test_weights(void)
{
	g_autoptr(GArray) events = events_new();
	g_autoptr(RotaProgress) p = rota_progress_new(record, events);

	rota_progress_begin(p, "Root", 1, 4);
	rota_progress_begin(p, "Heavy", 3, 1);
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 75);
	rota_progress_begin(p, "Light", 1, 3); /* 25 % in three sub-units */
	rota_progress_begin(p, "Third", 1, 1);
	rota_progress_end(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 83); /* 75 + 8.33, truncated */
	rota_progress_end_all(p, TRUE);
	g_assert_cmpint(last(events)->percentage, ==, 100);
}

static void test_null_progress_and_callback(void)
{
	g_autoptr(RotaProgress) quiet = rota_progress_new(NULL, NULL);

	/* a NULL progress is a no-op everywhere */
	rota_progress_begin(NULL, "x", 1, 1);
	rota_progress_set_fraction(NULL, 1, 2);
	rota_progress_end(NULL, TRUE);
	rota_progress_end_all(NULL, TRUE);
	g_assert_cmpint(rota_progress_get_percentage(NULL), ==, -1);

	/* without a callback the percentage is still tracked */
	g_assert_cmpint(rota_progress_get_percentage(quiet), ==, -1);
	rota_progress_begin(quiet, "Root", 1, 2);
	g_assert_cmpint(rota_progress_get_percentage(quiet), ==, 0);
	rota_progress_begin(quiet, "Half", 1, 1);
	rota_progress_end(quiet, TRUE);
	g_assert_cmpint(rota_progress_get_percentage(quiet), ==, 50);
	rota_progress_end(quiet, TRUE);
	g_assert_cmpint(rota_progress_get_percentage(quiet), ==, 100);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/progress/example-sequence", test_example_sequence);
	g_test_add_func("/progress/example-monotonic-with-fractions", test_example_monotonic_with_fractions);
	g_test_add_func("/progress/fraction-emits-on-integer-change", test_fraction_emits_on_integer_change);
	g_test_add_func("/progress/fraction-fills-remaining-share", test_fraction_fills_remaining_share);
	g_test_add_func("/progress/child-capped-at-99", test_child_capped_at_99);
	g_test_add_func("/progress/failure-messages", test_failure_messages);
	g_test_add_func("/progress/failed-root-after-full-children", test_failed_root_after_full_children);
	g_test_add_func("/progress/depths", test_depths);
	g_test_add_func("/progress/weights", test_weights);
	g_test_add_func("/progress/null", test_null_progress_and_callback);
	return g_test_run();
}
