/* progress.c — see progress.h. Percentages are kept as doubles and
 * truncated when emitted; only the root step reaches 100. */
#include "progress.h"

typedef struct {
	gchar *description;
	gdouble share;     /* of the total, in percent */
	guint substeps;
	gdouble done;      /* percent of the total completed by ended children */
	gdouble own;       /* percent of the total from set_fraction */
	gdouble reported;  /* own fraction (0..1) at the last fine emission */
} Step;

struct _RotaProgress {
	RotaProgressFunc func;
	gpointer user_data;
	GPtrArray *stack;  /* Step*, root first */
	gint last;
};

static void step_free(Step *s)
{
	g_free(s->description);
	g_free(s);
}

RotaProgress *rota_progress_new(RotaProgressFunc func, gpointer user_data)
{
	RotaProgress *p = g_new0(RotaProgress, 1);
	p->func = func;
	p->user_data = user_data;
	p->stack = g_ptr_array_new_with_free_func((GDestroyNotify)step_free);
	p->last = -1;
	return p;
}

void rota_progress_free(RotaProgress *p)
{
	if (!p)
		return;
	g_ptr_array_unref(p->stack);
	g_free(p);
}

static gdouble total_percent(RotaProgress *p)
{
	gdouble sum = 0;
	for (guint i = 0; i < p->stack->len; i++) {
		Step *s = p->stack->pdata[i];
		sum += s->done + s->own;
	}
	return sum;
}

static void emit(RotaProgress *p, const gchar *message, gboolean allow_100)
{
	gint pct = (gint)total_percent(p);

	if (!allow_100 && pct > 99)
		pct = 99;
	p->last = pct;
	if (p->func)
		p->func(pct, message, (gint)p->stack->len, p->user_data);
}

void rota_progress_begin(RotaProgress *p, const gchar *description, guint weight, guint substeps)
{
	Step *s;

	if (!p)
		return;
	s = g_new0(Step, 1);
	s->description = g_strdup(description);
	s->substeps = MAX(substeps, 1);
	if (p->stack->len == 0) {
		s->share = 100.0;
	} else {
		Step *parent = g_ptr_array_index(p->stack, p->stack->len - 1);
		s->share = parent->share * weight / parent->substeps;
	}
	g_ptr_array_add(p->stack, s);
	emit(p, description, FALSE);
}

void rota_progress_end(RotaProgress *p, gboolean success)
{
	g_autofree gchar *msg = NULL;
	Step *s;
	gboolean root;

	if (!p || !p->stack->len)
		return;
	s = g_ptr_array_index(p->stack, p->stack->len - 1);
	root = p->stack->len == 1;
	msg = g_strdup_printf("%s %s.", s->description, success ? "done" : "failed");
	if (root) {
		/* Failed or not, the root ends at 100 %, as RAUC's does ("100%
		 * Installing failed."): the operation is over either way. */
		s->done = 100.0;
		s->own = 0;
		emit(p, msg, TRUE);
	} else {
		/* The step's whole share moves to its parent; the end message is
		 * emitted while the step is still on the stack, so its depth is
		 * the step's own (as RAUC's r_context_end_step does). */
		Step *parent = g_ptr_array_index(p->stack, p->stack->len - 2);
		parent->done += s->share;
		s->done = 0;
		s->own = 0;
		emit(p, msg, FALSE);
	}
	g_ptr_array_remove_index(p->stack, p->stack->len - 1);
}

void rota_progress_set_fraction(RotaProgress *p, guint64 done, guint64 total)
{
	Step *s;
	gint before;

	if (!p || !p->stack->len || total == 0)
		return;
	s = g_ptr_array_index(p->stack, p->stack->len - 1);
	before = (gint)total_percent(p);
	s->own = (s->share - s->done) * MIN(done, total) / (gdouble)total;
	if ((gint)total_percent(p) != before)
		emit(p, s->description, FALSE);
}

void rota_progress_set_fraction_fine(RotaProgress *p, guint64 done, guint64 total, gdouble min_step)
{
	Step *s;
	gint before;
	gdouble fraction;

	if (!p || !p->stack->len || total == 0)
		return;
	s = g_ptr_array_index(p->stack, p->stack->len - 1);
	before = (gint)total_percent(p);
	fraction = MIN(done, total) / (gdouble)total;
	s->own = (s->share - s->done) * fraction;
	if ((gint)total_percent(p) != before || fraction - s->reported >= min_step) {
		s->reported = fraction;
		emit(p, s->description, FALSE);
	}
}

void rota_progress_end_all(RotaProgress *p, gboolean success)
{
	while (p && p->stack->len)
		rota_progress_end(p, success);
}

gint rota_progress_get_percentage(RotaProgress *p)
{
	return p ? p->last : -1;
}
