/* test_spawn.c — running external tools: stdout capture, environment, and
 * errors that name the tool, its exit status and its first stderr line. */
#include <string.h>

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
	return g_test_run();
}
