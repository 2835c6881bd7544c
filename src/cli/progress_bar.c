/* progress_bar.c — see progress_bar.h. The rate is the bundle's size times
 * the fraction done per second: installs read the bundle once, so this is
 * close to the data rate without the service reporting bytes. */
#include "progress_bar.h"

#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BAR_WIDTH 24

struct _RotaProgressBar {
	gint64 start;     /* monotonic µs */
	guint64 size;     /* bundle bytes, 0 if unknown */
	gboolean drawn;
	gint percentage;
	gchar *message;
};

RotaProgressBar *rota_progress_bar_new(const gchar *source)
{
	RotaProgressBar *bar = g_new0(RotaProgressBar, 1);
	struct stat st;

	bar->start = g_get_monotonic_time();
	if (source && stat(source, &st) == 0)
		bar->size = (guint64)st.st_size;
	return bar;
}

void rota_progress_bar_free(RotaProgressBar *bar)
{
	if (!bar)
		return;
	g_free(bar->message);
	g_free(bar);
}

static guint terminal_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

/* "12.3 MiB/s  0:42 left", or what of it can be estimated yet. */
static gchar *rate_and_eta(RotaProgressBar *bar)
{
	gdouble secs = (g_get_monotonic_time() - bar->start) / 1e6;
	gdouble fraction = bar->percentage / 100.0;
	g_autofree gchar *rate = NULL;
	gint left;

	if (secs < 0.5 || fraction <= 0)
		return g_strdup("");
	if (bar->size)
		rate = g_strdup_printf("%5.1f MiB/s  ", bar->size * fraction / secs / (1024.0 * 1024.0));
	left = (gint)(secs * (1 - fraction) / fraction + 0.5);
	return g_strdup_printf("%s%d:%02d left", rate ? rate : "", left / 60, left % 60);
}

static void draw(RotaProgressBar *bar)
{
	g_autofree gchar *extra = rate_and_eta(bar);
	g_autoptr(GString) line = g_string_new("[");
	guint filled = (guint)(bar->percentage * BAR_WIDTH / 100);
	guint width = terminal_width();

	for (guint i = 0; i < BAR_WIDTH; i++)
		g_string_append_c(line, i < filled ? '#' : '-');
	g_string_append_printf(line, "] %3d%%  %s  %s", bar->percentage, extra, bar->message ? bar->message : "");
	/* Never wrap: a wrapped line cannot be redrawn with \r. */
	if (g_utf8_strlen(line->str, -1) >= width)
		g_string_truncate(line, (gsize)(g_utf8_offset_to_pointer(line->str, width - 1) - line->str));
	printf("\r\033[K%s", line->str);
	fflush(stdout);
	bar->drawn = TRUE;
}

void rota_progress_bar_update(RotaProgressBar *bar, gint percentage, const gchar *message)
{
	bar->percentage = percentage;
	g_free(bar->message);
	bar->message = g_strdup(message);
	draw(bar);
}

void rota_progress_bar_clear(RotaProgressBar *bar)
{
	if (!bar->drawn)
		return;
	printf("\r\033[K");
	fflush(stdout);
	bar->drawn = FALSE;
}

void rota_progress_bar_finish(RotaProgressBar *bar)
{
	if (!bar->drawn)
		return;
	printf("\n");
	fflush(stdout);
	bar->drawn = FALSE;
}

void rota_progress_bar_callback(gint percentage, const gchar *message, gint depth G_GNUC_UNUSED, gpointer bar)
{
	rota_progress_bar_update(bar, percentage, message);
}
