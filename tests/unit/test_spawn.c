/* test_spawn.c — running external tools: stdout capture, environment, and
 * errors that name the tool, its exit status and its first stderr line;
 * tools fed through a pipe (or a descriptor) with the tail of their stderr
 * in the error. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "common/spawn.h"

static void assert_contains(const gchar *haystack, const gchar *needle)
{
	if (!strstr(haystack, needle))
		g_error("'%s' does not contain '%s'", haystack, needle);
}

static void test_success_captures_stdout(void)
{
	const gchar *const argv[] = {"sh", "-c", "echo hello; echo world >&1; echo noise >&2", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;

	g_assert_true(rota_spawn_sync(argv, NULL, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(out, ==, "hello\nworld\n"); /* stderr is not mixed in */
}

static void test_success_without_capture(void)
{
	const gchar *const argv[] = {"true", NULL};
	g_autoptr(GError) error = NULL;

	g_assert_true(rota_spawn_sync(argv, NULL, NULL, &error));
	g_assert_no_error(error);
}

static void test_environment(void)
{
	const gchar *const argv[] = {"/bin/sh", "-c", "printf '%s|%s' \"$ROTA_TEST_VAR\" \"${HOME:-unset}\"", NULL};
	const gchar *const envp[] = {"ROTA_TEST_VAR=42", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;

	/* envp replaces the environment entirely */
	g_assert_true(rota_spawn_sync(argv, envp, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(out, ==, "42|unset");
}

static void test_exit_status_and_first_stderr_line(void)
{
	const gchar *const argv[] = {"sh", "-c", "echo partial; printf '\\n  first problem\\nsecond problem\\n' >&2; exit 3",
				     NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;

	g_assert_false(rota_spawn_sync(argv, NULL, &out, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "sh failed"));
	assert_contains(error->message, "3)"); /* the exit code */
	assert_contains(error->message, ": first problem"); /* leading blank lines stripped */
	g_assert_null(strstr(error->message, "second problem"));
	g_assert_null(out); /* nothing handed out on failure */
}

static void test_exit_without_stderr(void)
{
	const gchar *const argv[] = {"false", NULL};
	g_autoptr(GError) error = NULL;

	g_assert_false(rota_spawn_sync(argv, NULL, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "false failed ("));
	g_assert_true(g_str_has_suffix(error->message, ")")); /* no ": " with nothing after it */
}

static void test_killed_by_signal(void)
{
	const gchar *const argv[] = {"sh", "-c", "kill -TERM $$", NULL};
	g_autoptr(GError) error = NULL;

	g_assert_false(rota_spawn_sync(argv, NULL, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "sh failed"));
}

static void test_missing_tool(void)
{
	const gchar *const argv[] = {"rota-no-such-tool-4711", "--help", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;

	g_assert_false(rota_spawn_sync(argv, NULL, &out, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "cannot run rota-no-such-tool-4711: "));
	g_assert_null(out);
}

/* ---- tools fed through stdin ---- */

static GBytes *pattern(gsize size)
{
	guint8 *data = g_malloc(size);
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)(i * 7 + i / 4096);
	return g_bytes_new_take(data, size);
}

static void test_tool_feed_reaches_stdin(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-spawn-XXXXXX", NULL);
	g_autofree gchar *out = g_build_filename(dir, "out", NULL);
	g_autofree gchar *script = g_strdup_printf("cat > '%s'", out);
	const gchar *const argv[] = {"sh", "-c", script, NULL};
	g_autoptr(GBytes) data = pattern(3 * 1024 * 1024 + 17);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *got = NULL;
	gsize got_len = 0, len;
	const guint8 *p = g_bytes_get_data(data, &len);
	RotaTool *tool = rota_tool_start(argv, -1, &error);

	g_assert_no_error(error);
	/* in pieces, as the image writers feed */
	for (gsize off = 0; off < len; off += 65536)
		g_assert_true(rota_tool_feed(tool, p + off, MIN(65536, len - off), &error));
	g_assert_true(rota_tool_finish(tool, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(out, &got, &got_len, NULL));
	g_assert_cmpmem(got, got_len, p, len);
	g_unlink(out);
	g_rmdir(dir);
}

static void test_tool_stdin_from_descriptor(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-spawn-XXXXXX", NULL);
	g_autofree gchar *in = g_build_filename(dir, "in", NULL);
	g_autofree gchar *out = g_build_filename(dir, "out", NULL);
	/* /dev/stdin opened by path: a file given as stdin is reopened, with its size */
	g_autofree gchar *script = g_strdup_printf("[ \"$(stat -L -c %%s /dev/stdin)\" = 5 ] && cat /dev/stdin > '%s'", out);
	const gchar *const argv[] = {"sh", "-c", script, NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *got = NULL;
	RotaTool *tool;
	int fd;

	g_assert_true(g_file_set_contents(in, "hello", 5, NULL));
	fd = open(in, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	tool = rota_tool_start(argv, fd, &error);
	g_assert_no_error(error);
	close(fd); /* the tool has its own copy */
	g_assert_true(rota_tool_finish(tool, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(out, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, "hello");
	g_unlink(in);
	g_unlink(out);
	g_rmdir(dir);
}

static void test_tool_exiting_early_is_an_error_not_sigpipe(void)
{
	/* reads 10 bytes, then exits 0 with the pipe still being written */
	const gchar *const argv[] = {"sh", "-c", "head -c 10 > /dev/null", NULL};
	g_autoptr(GBytes) data = pattern(4 * 1024 * 1024);
	g_autoptr(GError) error = NULL;
	gsize len;
	const guint8 *p = g_bytes_get_data(data, &len);
	RotaTool *tool = rota_tool_start(argv, -1, &error);
	gboolean fed = TRUE;

	g_assert_no_error(error);
	/* in one piece: the tool quits while a single write() is under way,
	 * which then returns short and raises SIGPIPE all the same */
	fed = rota_tool_feed(tool, p, len, &error);
	g_assert_false(fed); /* and this process is still alive: no SIGPIPE */
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	assert_contains(error->message, "sh stopped reading its input");
	g_clear_error(&error);
	g_assert_true(rota_tool_finish(tool, &error)); /* its own exit status was 0 */
	g_assert_no_error(error);
}

static void test_tool_failure_names_exit_and_stderr_tail(void)
{
	const gchar *const argv[] = {"sh", "-c",
				     "cat > /dev/null; printf 'tool: error!: /dev/mtd9\\n      error 5 (I/O error)\\n' >&2; exit 4",
				     NULL};
	g_autoptr(GError) error = NULL;
	RotaTool *tool = rota_tool_start(argv, -1, &error);

	g_assert_no_error(error);
	g_assert_true(rota_tool_feed(tool, "abc", 3, &error));
	g_assert_false(rota_tool_finish(tool, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	/* one line: both stderr lines joined, blanks collapsed */
	g_assert_null(strchr(error->message, '\n'));
	assert_contains(error->message, "sh failed (");
	assert_contains(error->message, "4)");
	assert_contains(error->message, ": tool: error!: /dev/mtd9 error 5 (I/O error)");
}

static void test_tool_chatty_stderr_does_not_block_feeding(void)
{
	/* 1 MiB on stderr before reading stdin: more than a pipe buffer holds */
	const gchar *const argv[] = {"sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x >&2; cat > /dev/null; "
						 "echo LAST-WORDS >&2; exit 1", NULL};
	g_autoptr(GBytes) data = pattern(2 * 1024 * 1024);
	g_autoptr(GError) error = NULL;
	gsize len;
	const guint8 *p = g_bytes_get_data(data, &len);
	RotaTool *tool = rota_tool_start(argv, -1, &error);

	g_assert_no_error(error);
	g_assert_true(rota_tool_feed(tool, p, len, &error));
	g_assert_false(rota_tool_finish(tool, &error));
	g_assert_true(g_str_has_suffix(error->message, "xxxLAST-WORDS")); /* the tail, not the head */
	g_assert_cmpuint(strlen(error->message), <, 400);
}

static void test_tool_abort_kills(void)
{
	const gchar *const argv[] = {"sleep", "100", NULL};
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();
	RotaTool *tool = rota_tool_start(argv, -1, &error);

	g_assert_no_error(error);
	rota_tool_abort(tool);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
}

/* A tool that ignores SIGTERM must not outlive the abort (it would see its
 * input end and could finish writing a truncated image). */
static void test_tool_abort_ignores_sigterm_handlers(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-spawn-XXXXXX", NULL);
	g_autofree gchar *marker = g_build_filename(dir, "finished", NULL);
	g_autofree gchar *script = g_strdup_printf("trap '' TERM; cat >/dev/null; touch '%s'", marker);
	const gchar *const argv[] = {"sh", "-c", script, NULL};
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();
	RotaTool *tool = rota_tool_start(argv, -1, &error);

	g_assert_no_error(error);
	g_usleep(200 * 1000); /* let the shell install its trap */
	rota_tool_abort(tool);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_rmdir(dir);
}

static void test_tool_run(void)
{
	const gchar *const ok_argv[] = {"sh", "-c", "[ -z \"$(cat)\" ]", NULL}; /* stdin is empty */
	const gchar *const missing[] = {"rota-no-such-tool-4711", NULL};
	g_autoptr(GError) error = NULL;

	g_assert_true(rota_tool_run(ok_argv, &error));
	g_assert_no_error(error);
	g_assert_false(rota_tool_run(missing, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "cannot run rota-no-such-tool-4711: "));
}

static void test_stderr_tail(void)
{
	g_autofree gchar *joined = rota_stderr_tail("  one\n\n two\t three \n", 100);
	g_autofree gchar *cut = rota_stderr_tail("abcdef ghij", 4);
	g_autofree gchar *empty = rota_stderr_tail(" \n ", 10);

	g_assert_cmpstr(joined, ==, "one two three");
	g_assert_cmpstr(cut, ==, "ghij");
	g_assert_cmpstr(empty, ==, "");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/spawn/success-captures-stdout", test_success_captures_stdout);
	g_test_add_func("/spawn/success-without-capture", test_success_without_capture);
	g_test_add_func("/spawn/environment", test_environment);
	g_test_add_func("/spawn/exit-status-and-first-stderr-line", test_exit_status_and_first_stderr_line);
	g_test_add_func("/spawn/exit-without-stderr", test_exit_without_stderr);
	g_test_add_func("/spawn/killed-by-signal", test_killed_by_signal);
	g_test_add_func("/spawn/missing-tool", test_missing_tool);
	g_test_add_func("/spawn/tool-feed-reaches-stdin", test_tool_feed_reaches_stdin);
	g_test_add_func("/spawn/tool-stdin-from-descriptor", test_tool_stdin_from_descriptor);
	g_test_add_func("/spawn/tool-exiting-early", test_tool_exiting_early_is_an_error_not_sigpipe);
	g_test_add_func("/spawn/tool-failure-names-exit-and-stderr-tail", test_tool_failure_names_exit_and_stderr_tail);
	g_test_add_func("/spawn/tool-chatty-stderr", test_tool_chatty_stderr_does_not_block_feeding);
	g_test_add_func("/spawn/tool-abort-kills", test_tool_abort_kills);
	g_test_add_func("/spawn/tool-abort-ignores-sigterm", test_tool_abort_ignores_sigterm_handlers);
	g_test_add_func("/spawn/tool-run", test_tool_run);
	g_test_add_func("/spawn/stderr-tail", test_stderr_tail);
	return g_test_run();
}
