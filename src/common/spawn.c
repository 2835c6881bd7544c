/* spawn.c — see spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

gboolean rota_spawn_sync(const gchar *const *argv, const gchar *const *envp, gchar **out_stdout, GError **error)
{
	g_autofree gchar *out = NULL, *err = NULL;
	g_autoptr(GError) local = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, (gchar **)envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
			  &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot run %s: %s", argv[0], local->message);
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, &local)) {
		g_auto(GStrv) lines = g_strsplit(g_strstrip(err), "\n", 2);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s failed (%s)%s%s", argv[0], local->message,
			    lines[0] && *lines[0] ? ": " : "", lines[0] ? lines[0] : "");
		return FALSE;
	}
	if (out_stdout)
		*out_stdout = g_steal_pointer(&out);
	return TRUE;
}

/* ---- tools fed through a pipe ---- */

/* Only the end of stderr matters for the error line; a chatty tool must not
 * grow rota's memory. */
#define STDERR_KEEP 4096

struct _RotaTool {
	gchar *name;
	GPid pid;
	int stdin_pipe; /* -1 when stdin came from a descriptor */
	int stderr_pipe;
	GString *stderr_text;
	GThread *stderr_reader;
};

/* Drains stderr while rota feeds stdin: a tool blocked on a full stderr
 * pipe would stop reading its input, and the feed would hang. */
static gpointer stderr_reader_thread(gpointer data)
{
	RotaTool *tool = data;
	gchar buf[1024];

	for (;;) {
		ssize_t n = read(tool->stderr_pipe, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_string_append_len(tool->stderr_text, buf, n);
		if (tool->stderr_text->len > 2 * STDERR_KEEP)
			g_string_erase(tool->stderr_text, 0, (gssize)(tool->stderr_text->len - STDERR_KEEP));
	}
	return NULL;
}

RotaTool *rota_tool_start(const gchar *const *argv, int stdin_fd, GError **error)
{
	RotaTool *tool = g_new0(RotaTool, 1);
	g_autoptr(GError) local = NULL;

	tool->stdin_pipe = -1;
	if (!g_spawn_async_with_pipes_and_fds(NULL, argv, NULL,
					      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
					      NULL, NULL, stdin_fd, -1, -1, NULL, NULL, 0, &tool->pid,
					      stdin_fd < 0 ? &tool->stdin_pipe : NULL, NULL, &tool->stderr_pipe, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot run %s: %s", argv[0], local->message);
		g_free(tool);
		return NULL;
	}
	tool->name = g_strdup(argv[0]);
	tool->stderr_text = g_string_new(NULL);
	tool->stderr_reader = g_thread_new("rota-tool-stderr", stderr_reader_thread, tool);
	return tool;
}

/* write() with SIGPIPE blocked in this thread: a tool that exits early
 * gives EPIPE here instead of killing rota. A SIGPIPE the write raised is
 * consumed (also after a partial write, which raises it too); one that was
 * pending before is left alone. */
static ssize_t write_no_sigpipe(int fd, const void *buf, gsize len)
{
	static const struct timespec no_wait = {0, 0};
	sigset_t pipe_set, old_mask, pending;
	gboolean was_pending;
	ssize_t n;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	err = errno;
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE)) {
		while (sigtimedwait(&pipe_set, NULL, &no_wait) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	errno = err;
	return n;
}

gboolean rota_tool_feed(RotaTool *tool, const void *buf, gsize len, GError **error)
{
	const guint8 *p = buf;

	g_return_val_if_fail(tool->stdin_pipe >= 0, FALSE);
	while (len > 0) {
		ssize_t n = write_no_sigpipe(tool->stdin_pipe, p, len);
		if (n < 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s stopped reading its input: %s", tool->name,
				    g_strerror(err));
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static gint wait_tool(RotaTool *tool)
{
	gint status = 0;

	if (tool->stdin_pipe >= 0)
		close(tool->stdin_pipe);
	while (waitpid(tool->pid, &status, 0) < 0 && errno == EINTR)
		;
	g_spawn_close_pid(tool->pid);
	g_thread_join(tool->stderr_reader);
	close(tool->stderr_pipe);
	return status;
}

static void free_tool(RotaTool *tool)
{
	g_string_free(tool->stderr_text, TRUE);
	g_free(tool->name);
	g_free(tool);
}

gboolean rota_tool_finish(RotaTool *tool, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint status = wait_tool(tool);
	gboolean ok = g_spawn_check_wait_status(status, &local);

	if (!ok) {
		g_autofree gchar *tail = rota_stderr_tail(tool->stderr_text->str, 240);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "%s failed (%s)%s%s", tool->name, local->message,
			    *tail ? ": " : "", tail);
	}
	free_tool(tool);
	return ok;
}

void rota_tool_abort(RotaTool *tool)
{
	/* SIGKILL: a tool that caught SIGTERM would see its input end and
	 * might finish writing a truncated image. */
	kill(tool->pid, SIGKILL);
	wait_tool(tool);
	free_tool(tool);
}

gboolean rota_tool_run(const gchar *const *argv, GError **error)
{
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	RotaTool *tool;

	if (null_fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open /dev/null: %s", g_strerror(err));
		return FALSE;
	}
	tool = rota_tool_start(argv, null_fd, error);
	close(null_fd);
	return tool && rota_tool_finish(tool, error);
}

gchar *rota_stderr_tail(const gchar *text, gsize max_len)
{
	g_autoptr(GString) line = g_string_new(NULL);

	for (const gchar *p = text; *p; p++) {
		gboolean blank = g_ascii_isspace(*p);
		if (blank && (line->len == 0 || line->str[line->len - 1] == ' '))
			continue;
		g_string_append_c(line, blank ? ' ' : *p);
	}
	if (line->len && line->str[line->len - 1] == ' ')
		g_string_truncate(line, line->len - 1);
	if (line->len > max_len) {
		/* Cut at a character boundary, so the message stays valid UTF-8. */
		const gchar *start = g_utf8_find_next_char(line->str + line->len - max_len - 1, NULL);
		return g_strdup(start ? start : "");
	}
	return g_string_free(g_steal_pointer(&line), FALSE);
}
