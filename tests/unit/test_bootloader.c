/* test_bootloader.c — the bootloader backends (system-conf.md §11).
 *
 * grub and uboot run the real grub-editenv / fw_printenv / fw_setenv on
 * files in a temporary directory (skipped when the tools are not
 * installed); barebox, efi and custom run scripted stand-ins, put first in
 * PATH, that log their exact argv and answer like the real tools. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "system/bootloader.h"
#include "system/bootloader_private.h"
#include "common/util.h"

/* Under `make test` (ROTA_REQUIRE_ALL_TOOLS=1) the tools are installed, so a
 * missing one is a broken setup, not a reason to skip. */
#define SKIP_WITHOUT_TOOL(msg)                                   \
	do {                                                     \
		if (g_getenv("ROTA_REQUIRE_ALL_TOOLS"))          \
			g_error("required tool missing: %s", msg); \
		g_test_skip(msg);                                \
	} while (0)

/* ---- sandbox: a temp dir whose bin/ is first in PATH ---- */

typedef struct {
	gchar *dir;
	gchar *bin;
	gchar *log;
	gchar *saved_path;
} Sandbox;

static Sandbox *sandbox_new(void)
{
	Sandbox *sb = g_new0(Sandbox, 1);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;

	sb->dir = g_dir_make_tmp("rota-bootloader-XXXXXX", &error);
	g_assert_no_error(error);
	sb->bin = g_build_filename(sb->dir, "bin", NULL);
	sb->log = g_build_filename(sb->dir, "argv.log", NULL);
	g_assert_cmpint(g_mkdir(sb->bin, 0755), ==, 0);
	sb->saved_path = g_strdup(g_getenv("PATH"));
	path = g_strdup_printf("%s:%s", sb->bin, sb->saved_path ? sb->saved_path : "/usr/bin:/bin");
	g_setenv("PATH", path, TRUE);
	return sb;
}

static void sandbox_free(Sandbox *sb)
{
	if (sb->saved_path)
		g_setenv("PATH", sb->saved_path, TRUE);
	else
		g_unsetenv("PATH");
	rota_remove_tree(sb->dir);
	g_free(sb->dir);
	g_free(sb->bin);
	g_free(sb->log);
	g_free(sb->saved_path);
	g_free(sb);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Sandbox, sandbox_free)

/* Writes content (with every "@DIR@" replaced by the sandbox dir) to
 * dir/rel and returns the path. */
static gchar *sandbox_write(Sandbox *sb, const gchar *rel, const gchar *content, int mode)
{
	g_autofree gchar *path = g_build_filename(sb->dir, rel, NULL);
	g_auto(GStrv) parts = g_strsplit(content, "@DIR@", -1);
	g_autofree gchar *text = g_strjoinv(sb->dir, parts);
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_set_contents(path, text, -1, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_chmod(path, mode), ==, 0);
	return g_steal_pointer(&path);
}

/* Logs argv as "[arg1][arg2]…", one invocation per line. */
#define LOG_ARGV "for a in \"$@\"; do printf '[%s]' \"$a\"; done >> @DIR@/argv.log; echo >> @DIR@/argv.log\n"

/* Asserts the invocations logged since the last call, then clears the log. */
static void assert_log(Sandbox *sb, const gchar *const *expected)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	gsize len = 0;

	/* every invocation ends with '\n'; an empty line is a call without arguments */
	if (!g_file_get_contents(sb->log, &text, &len, NULL) || len == 0) {
		lines = g_new0(gchar *, 1);
	} else {
		guint n;

		g_assert_cmpint(text[len - 1], ==, '\n');
		lines = g_strsplit(text, "\n", -1);
		/* the piece after the final '\n' is not an invocation */
		n = g_strv_length(lines);
		g_free(lines[n - 1]);
		lines[n - 1] = NULL;
	}
	for (guint i = 0; expected[i] || lines[i]; i++)
		g_assert_cmpstr(lines[i], ==, expected[i]);
	g_remove(sb->log);
}

static void sandbox_remove(Sandbox *sb, const gchar *rel)
{
	g_autofree gchar *path = g_build_filename(sb->dir, rel, NULL);

	g_assert_cmpint(g_remove(path), ==, 0);
}

static void assert_file(Sandbox *sb, const gchar *rel, const gchar *expected)
{
	g_autofree gchar *path = g_build_filename(sb->dir, rel, NULL);
	g_autofree gchar *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(g_strchomp(text), ==, expected);
}

/* Runs argv (a real tool) and returns its stdout lines. */
static gchar **run_lines(const gchar *const *argv)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(GError) error = NULL;
	gint status = 0;

	g_assert_true(g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
				   &error));
	g_assert_no_error(error);
	if (status != 0)
		g_error("%s failed: %s", argv[0], err);
	return g_strsplit(g_strchomp(out), "\n", -1);
}

static gboolean bootloader_good(RotaBootloader *bl, const gchar *bootname)
{
	g_autoptr(GError) error = NULL;
	gboolean good = FALSE;

	gboolean ok = rota_bootloader_get_state(bl, bootname, &good, &error);

	g_assert_no_error(error);
	g_assert_true(ok);
	return good;
}

static void assert_primary(RotaBootloader *bl, const gchar *expected)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *primary = rota_bootloader_get_primary(bl, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(primary, ==, expected);
}

static void set_state_ok(RotaBootloader *bl, const gchar *bootname, gboolean good)
{
	g_autoptr(GError) error = NULL;

	gboolean ok = rota_bootloader_set_state(bl, bootname, good, &error);

	g_assert_no_error(error);
	g_assert_true(ok);
}

static void set_primary_ok(RotaBootloader *bl, const gchar *bootname)
{
	g_autoptr(GError) error = NULL;

	gboolean ok = rota_bootloader_set_primary(bl, bootname, &error);

	g_assert_no_error(error);
	g_assert_true(ok);
}

/* Asserts that error is set and its message contains every needle. */
static void assert_error_mentions(const GError *error, const gchar *const *needles)
{
	g_assert_nonnull(error);
	g_assert_null(strchr(error->message, '\n')); /* one line */
	for (const gchar *const *n = needles; *n; n++) {
		if (!strstr(error->message, *n))
			g_error("error '%s' does not mention '%s'", error->message, *n);
	}
}

static gchar *ab_bootnames[] = {(gchar *)"A", (gchar *)"B", NULL};

static RotaBootloader *new_bootloader(RotaBootloaderConfig *config)
{
	g_autoptr(GError) error = NULL;
	RotaBootloader *bl = rota_bootloader_new(config, &error);

	g_assert_no_error(error);
	g_assert_nonnull(bl);
	return bl;
}

/* ---- shared helpers ---- */

static void test_helpers(void)
{
	g_autoptr(GHashTable) vars = rota_bootloader_parse_vars("A=1\nnoise\r\nORDER=A B\r\n=x\nE=\n");
	g_auto(GStrv) order = rota_bootloader_split_order(" A  B ,C", " ,");
	g_auto(GStrv) first = rota_bootloader_order_with_first((const gchar *const *)order, "B", FALSE);
	g_auto(GStrv) without = rota_bootloader_order_without((const gchar *const *)order, "a", TRUE);
	g_autofree gchar *first_joined = g_strjoinv(" ", first);
	g_autofree gchar *without_joined = g_strjoinv(" ", without);
	g_autoptr(GError) error = NULL;
	guint64 v = 0;

	g_assert_cmpstr(g_hash_table_lookup(vars, "A"), ==, "1");
	g_assert_cmpstr(g_hash_table_lookup(vars, "ORDER"), ==, "A B");
	g_assert_cmpstr(g_hash_table_lookup(vars, "E"), ==, "");
	g_assert_cmpuint(g_hash_table_size(vars), ==, 3);
	g_assert_cmpuint(g_strv_length(order), ==, 3);
	g_assert_cmpstr(first_joined, ==, "B A C");
	g_assert_cmpstr(without_joined, ==, "B C");

	g_assert_true(rota_bootloader_parse_uint("0x10", 0, "X", &v, NULL));
	g_assert_cmpuint(v, ==, 16);
	g_assert_true(rota_bootloader_parse_uint("1f\n", 16, "X", &v, NULL));
	g_assert_cmpuint(v, ==, 31);
	g_assert_false(rota_bootloader_parse_uint("-1", 10, "X", &v, NULL));
	g_assert_false(rota_bootloader_parse_uint("", 16, "X", &v, NULL));
	g_assert_false(rota_bootloader_parse_uint("3x", 10, "BOOT_A_LEFT", &v, &error));
	assert_error_mentions(error, (const gchar *[]){"BOOT_A_LEFT", "3x", NULL});
}

/* ---- grub (real grub-editenv) ---- */

static gchar **grub_list(const gchar *grubenv)
{
	const gchar *argv[] = {"grub-editenv", grubenv, "list", NULL};
	return run_lines(argv);
}

static void grub_set(const gchar *grubenv, const gchar *assignment)
{
	const gchar *argv[] = {"grub-editenv", grubenv, "set", assignment, NULL};
	g_auto(GStrv) ignored = run_lines(argv);
}

static void grub_unset(const gchar *grubenv, const gchar *var)
{
	const gchar *argv[] = {"grub-editenv", grubenv, "unset", var, NULL};
	g_auto(GStrv) ignored = run_lines(argv);
}

static void assert_grub_has(const gchar *grubenv, const gchar *const *lines)
{
	g_auto(GStrv) env = grub_list(grubenv);

	for (const gchar *const *l = lines; *l; l++) {
		if (!g_strv_contains((const gchar *const *)env, *l))
			g_error("grubenv lacks '%s'", *l);
	}
}

static Sandbox *grub_sandbox(gchar **grubenv)
{
	Sandbox *sb;
	const gchar *create[] = {"grub-editenv", NULL, "create", NULL};
	const gchar *set[] = {"grub-editenv", NULL, "set", "ORDER=A B", "A_OK=1", "A_TRY=0", "B_OK=1", "B_TRY=0", NULL};

	g_autofree gchar *tool = g_find_program_in_path("grub-editenv");
	if (!tool) {
		SKIP_WITHOUT_TOOL("grub-editenv not installed (Debian package grub-common)");
		return NULL;
	}
	sb = sandbox_new();
	*grubenv = g_build_filename(sb->dir, "grubenv", NULL);
	create[1] = *grubenv;
	set[1] = *grubenv;
	g_strfreev(run_lines(create));
	g_strfreev(run_lines(set));
	return sb;
}

static void test_grub(void)
{
	g_autofree gchar *grubenv = NULL;
	g_autoptr(Sandbox) sb = grub_sandbox(&grubenv);
	g_autoptr(RotaBootloader) bl = NULL;
	RotaBootloaderConfig config = {0};

	if (!sb)
		return;
	config.backend = (gchar *)"grub";
	config.bootnames = ab_bootnames;
	config.grubenv = grubenv;
	bl = new_bootloader(&config);
	g_assert_cmpstr(rota_bootloader_get_name(bl), ==, "grub");

	assert_primary(bl, "A");
	g_assert_true(bootloader_good(bl, "A"));

	set_state_ok(bl, "A", FALSE);
	assert_grub_has(grubenv, (const gchar *[]){"A_OK=0", "A_TRY=0", "ORDER=A B", NULL});
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");

	set_state_ok(bl, "A", TRUE);
	assert_grub_has(grubenv, (const gchar *[]){"A_OK=1", "A_TRY=0", NULL});
	g_assert_true(bootloader_good(bl, "A"));

	/* a pending try makes a slot bad; numbers are parsed with base detection */
	grub_set(grubenv, "A_TRY=0x1");
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");

	grub_set(grubenv, "B_OK=0");
	grub_set(grubenv, "B_TRY=1");
	set_primary_ok(bl, "B");
	assert_grub_has(grubenv, (const gchar *[]){"ORDER=B A", "B_OK=1", "B_TRY=0", NULL});
	assert_primary(bl, "B");
	g_assert_true(bootloader_good(bl, "B"));
}

/* grub-editenv rewrites in place, so rota edits a copy and renames it over:
 * the environment block stays 1 KiB and no copy is left behind. */
static void test_grub_write_replaces_atomically(void)
{
	g_autofree gchar *grubenv = NULL;
	g_autoptr(Sandbox) sb = grub_sandbox(&grubenv);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autofree gchar *copy = NULL;
	RotaBootloaderConfig config = {0};
	struct stat before, after;

	if (!sb)
		return;
	config.backend = (gchar *)"grub";
	config.bootnames = ab_bootnames;
	config.grubenv = grubenv;
	bl = new_bootloader(&config);
	copy = g_strdup_printf("%s.rota-new", grubenv);
	g_assert_cmpint(stat(grubenv, &before), ==, 0);
	set_primary_ok(bl, "B");
	g_assert_cmpint(stat(grubenv, &after), ==, 0);
	g_assert_cmpint(after.st_size, ==, 1024);
	g_assert_cmpuint(after.st_ino, !=, before.st_ino); /* a new file, renamed into place */
	g_assert_false(g_file_test(copy, G_FILE_TEST_EXISTS));
	assert_grub_has(grubenv, (const gchar *[]){"ORDER=B A", NULL});
}

static void test_grub_order_rules(void)
{
	g_autofree gchar *grubenv = NULL;
	g_autoptr(Sandbox) sb = grub_sandbox(&grubenv);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *primary = NULL;
	gchar *abc[] = {(gchar *)"A", (gchar *)"B", (gchar *)"C", NULL};
	RotaBootloaderConfig config = {0};
	gboolean good = TRUE;

	if (!sb)
		return;
	config.backend = (gchar *)"grub";
	config.bootnames = abc;
	config.grubenv = grubenv;
	bl = new_bootloader(&config);

	/* not in ORDER → bad, even with OK=1 and without C_* variables */
	grub_set(grubenv, "ORDER=A");
	g_assert_false(bootloader_good(bl, "B"));
	g_assert_false(bootloader_good(bl, "C"));

	/* set primary ignores the old ORDER: the others follow in config order */
	set_primary_ok(bl, "B");
	assert_grub_has(grubenv, (const gchar *[]){"ORDER=B A C", "B_OK=1", "B_TRY=0", NULL});

	/* a variable of a slot in ORDER missing → error naming it */
	grub_unset(grubenv, "B_TRY");
	g_assert_false(rota_bootloader_get_state(bl, "B", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"Variable B_TRY not set in grub environment", grubenv, NULL});
	g_clear_error(&error);

	grub_unset(grubenv, "ORDER");
	primary = rota_bootloader_get_primary(bl, &error);
	g_assert_null(primary);
	assert_error_mentions(error, (const gchar *[]){"Variable ORDER not set", NULL});
	g_clear_error(&error);

	grub_set(grubenv, "ORDER=");
	primary = rota_bootloader_get_primary(bl, &error);
	g_assert_null(primary);
	assert_error_mentions(error, (const gchar *[]){"ORDER is empty", NULL});
}

static void test_grub_tool_fails(void)
{
	g_autofree gchar *grubenv = NULL;
	g_autoptr(Sandbox) sb = grub_sandbox(&grubenv);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *missing = NULL;
	RotaBootloaderConfig config = {0};

	if (!sb)
		return;
	missing = g_build_filename(sb->dir, "no-such-dir", "grubenv", NULL);
	config.backend = (gchar *)"grub";
	config.bootnames = ab_bootnames;
	config.grubenv = missing;
	bl = new_bootloader(&config);
	g_assert_false(rota_bootloader_set_state(bl, "A", FALSE, &error));
	/* the environment is copied before grub-editenv edits it: the copy fails first */
	assert_error_mentions(error, (const gchar *[]){"cannot read grub environment", "marking 'A' bad", "no-such-dir", NULL});
}

/* A grubenv that is a symlink (e.g. /boot/grub/grubenv → the copy on the
 * EFI partition that GRUB actually loads): grub-editenv, and so RAUC,
 * edits the link's target, and creates it there when it does not exist
 * yet; the link must stay a link. */
static void check_grub_symlinked_env(gboolean target_exists)
{
	g_autofree gchar *grubenv = NULL;
	g_autoptr(Sandbox) sb = grub_sandbox(&grubenv);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autofree gchar *efi_dir = NULL;
	g_autofree gchar *target = NULL;
	RotaBootloaderConfig config = {0};

	if (!sb)
		return;
	efi_dir = g_build_filename(sb->dir, "efi", NULL);
	g_assert_cmpint(g_mkdir(efi_dir, 0755), ==, 0);
	target = g_build_filename(efi_dir, "grubenv", NULL);
	if (target_exists)
		g_assert_cmpint(g_rename(grubenv, target), ==, 0);
	else
		g_assert_cmpint(g_remove(grubenv), ==, 0);
	g_assert_cmpint(symlink("efi/grubenv", grubenv), ==, 0);

	config.backend = (gchar *)"grub";
	config.bootnames = ab_bootnames;
	config.grubenv = grubenv;
	bl = new_bootloader(&config);
	set_primary_ok(bl, "B");
	set_state_ok(bl, "A", FALSE);

	g_assert_true(g_file_test(grubenv, G_FILE_TEST_IS_SYMLINK));
	g_assert_true(g_file_test(target, G_FILE_TEST_IS_REGULAR));
	assert_grub_has(target, (const gchar *[]){"ORDER=B A", "B_OK=1", "B_TRY=0", "A_OK=0", NULL});
	assert_primary(bl, "B");
}

static void test_grub_symlinked_env(void)
{
	check_grub_symlinked_env(TRUE);
}

static void test_grub_dangling_symlinked_env(void)
{
	check_grub_symlinked_env(FALSE);
}

/* grub-editenv creates a missing environment file (RAUC's first mark
 * therefore works on a system that has none yet). */
static void test_grub_missing_env_created(void)
{
	g_autofree gchar *grubenv = NULL;
	g_autoptr(Sandbox) sb = grub_sandbox(&grubenv);
	g_autoptr(RotaBootloader) bl = NULL;
	RotaBootloaderConfig config = {0};
	struct stat st;

	if (!sb)
		return;
	g_assert_cmpint(g_remove(grubenv), ==, 0);
	config.backend = (gchar *)"grub";
	config.bootnames = ab_bootnames;
	config.grubenv = grubenv;
	bl = new_bootloader(&config);
	set_state_ok(bl, "B", FALSE);
	set_primary_ok(bl, "B");
	g_assert_cmpint(stat(grubenv, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 1024);
	assert_grub_has(grubenv, (const gchar *[]){"ORDER=B A", "B_OK=1", "B_TRY=0", NULL});
}

/* ---- uboot (real fw_printenv / fw_setenv on a file-backed env) ---- */

/* libubootenv always reads /etc/fw_env.config unless given -c, and RAUC
 * runs `fw_printenv VAR` without it, so wrappers first in PATH add -c and
 * exec the real tools. */
static Sandbox *uboot_sandbox(gchar **config_path)
{
	g_autofree gchar *printenv = g_find_program_in_path("fw_printenv");
	g_autofree gchar *setenv = g_find_program_in_path("fw_setenv");
	g_autofree gchar *image = NULL;
	g_autofree gchar *defenv = NULL;
	g_autofree gchar *wrapper = NULL;
	g_autofree gchar *zeros = g_malloc0(0x4000);
	Sandbox *sb;

	if (!printenv || !setenv) {
		SKIP_WITHOUT_TOOL("fw_printenv/fw_setenv not installed (Debian package libubootenv-tool)");
		return NULL;
	}
	sb = sandbox_new();
	image = g_build_filename(sb->dir, "uboot.env", NULL);
	g_assert_true(g_file_set_contents(image, zeros, 0x4000, NULL));
	*config_path = sandbox_write(sb, "fw_env.config", "@DIR@/uboot.env 0x0 0x4000\n", 0644);
	/* An all-zero image has no valid CRC: the first fw_setenv starts from
	 * this default environment (-f) and writes a valid one. */
	defenv = sandbox_write(sb, "defenv", "BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n", 0644);
	{
		const gchar *init[] = {setenv, "-c", *config_path, "-f", defenv, "BOOT_A_LEFT", "3", NULL};
		g_strfreev(run_lines(init));
	}
	wrapper = g_strdup_printf("#!/bin/sh\nexec %s -c @DIR@/fw_env.config \"$@\"\n", printenv);
	g_free(sandbox_write(sb, "bin/fw_printenv", wrapper, 0755));
	g_free(wrapper);
	wrapper = g_strdup_printf("#!/bin/sh\nexec %s -c @DIR@/fw_env.config \"$@\"\n", setenv);
	g_free(sandbox_write(sb, "bin/fw_setenv", wrapper, 0755));
	return sb;
}

static void assert_uboot_env(const gchar *const *expected)
{
	const gchar *argv[] = {"fw_printenv", NULL}; /* the wrapper: the test env */
	g_auto(GStrv) env = run_lines(argv);

	for (const gchar *const *l = expected; *l; l++) {
		if (!g_strv_contains((const gchar *const *)env, *l))
			g_error("U-Boot env lacks '%s'", *l);
	}
}

static void uboot_set(const gchar *var, const gchar *value)
{
	const gchar *argv[] = {"fw_setenv", var, value, NULL};
	g_auto(GStrv) ignored = run_lines(argv);
}

static void test_uboot(void)
{
	g_autofree gchar *config_path = NULL;
	g_autoptr(Sandbox) sb = uboot_sandbox(&config_path);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	RotaBootloaderConfig config = {0};
	gboolean good = FALSE;

	if (!sb)
		return;
	config.backend = (gchar *)"uboot";
	config.bootnames = ab_bootnames;
	config.boot_attempts = 5;
	config.boot_attempts_primary = 12;
	bl = new_bootloader(&config);

	assert_uboot_env((const gchar *[]){"BOOT_ORDER=A B", "BOOT_A_LEFT=3", NULL});
	assert_primary(bl, "A");
	g_assert_true(bootloader_good(bl, "A"));

	/* mark bad: out of BOOT_ORDER, no attempts left */
	set_state_ok(bl, "A", FALSE);
	assert_uboot_env((const gchar *[]){"BOOT_ORDER=B", "BOOT_A_LEFT=0", NULL});
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");

	/* mark good only refills the attempts (hex); A stays out of the order */
	set_state_ok(bl, "A", TRUE);
	assert_uboot_env((const gchar *[]){"BOOT_ORDER=B", "BOOT_A_LEFT=5", NULL});
	g_assert_false(bootloader_good(bl, "A"));

	/* set primary: attempts-primary 12 written as hex c, A put first */
	set_primary_ok(bl, "A");
	assert_uboot_env((const gchar *[]){"BOOT_ORDER=A B", "BOOT_A_LEFT=c", NULL});
	g_assert_true(bootloader_good(bl, "A"));
	assert_primary(bl, "A");

	/* LEFT is hex: "a" is 10; the first in order with attempts is primary */
	uboot_set("BOOT_A_LEFT", "0");
	uboot_set("BOOT_B_LEFT", "a");
	g_assert_false(bootloader_good(bl, "A"));
	g_assert_true(bootloader_good(bl, "B"));
	assert_primary(bl, "B");

	/* extra bootnames in the order (no slot) are skipped for primary */
	uboot_set("BOOT_ORDER", "rescue B A");
	assert_primary(bl, "B");

	uboot_set("BOOT_B_LEFT", "zz");
	g_assert_false(rota_bootloader_get_state(bl, "B", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"BOOT_B_LEFT", "zz", NULL});
}

static void test_uboot_set_primary_without_order(void)
{
	g_autofree gchar *config_path = NULL;
	g_autoptr(Sandbox) sb = uboot_sandbox(&config_path);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	gchar *cba[] = {(gchar *)"C", (gchar *)"B", (gchar *)"A", NULL};
	RotaBootloaderConfig config = {0};
	gboolean good = TRUE;
	g_autofree gchar *real = NULL;
	const gchar *list[] = {NULL, "-c", NULL, NULL};
	g_auto(GStrv) env = NULL;

	if (!sb)
		return;
	config.backend = (gchar *)"uboot";
	config.bootnames = cba;
	bl = new_bootloader(&config);

	/* Stand-in fw_printenv that fails for BOOT_ORDER, so the order is
	 * unreadable; fw_setenv is still the real one. */
	g_free(sandbox_write(sb, "bin/fw_printenv",
			     "#!/bin/sh\necho 'Cannot read environment' >&2\nexit 1\n", 0755));
	g_assert_false(rota_bootloader_get_state(bl, "A", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"fw_printenv", "state of 'A'", "exited with code 1",
						      "Cannot read environment", NULL});
	g_clear_error(&error);

	/* mark bad still zeroes the attempts; set primary orders all bootnames */
	set_state_ok(bl, "B", FALSE);
	set_primary_ok(bl, "A");

	/* read back with the real fw_printenv, found past our bin/ */
	g_setenv("PATH", sb->saved_path, TRUE);
	real = g_find_program_in_path("fw_printenv");
	g_assert_nonnull(real);
	list[0] = real;
	list[2] = config_path;
	env = run_lines(list);
	g_assert_true(g_strv_contains((const gchar *const *)env, "BOOT_ORDER=A C B"));
	g_assert_true(g_strv_contains((const gchar *const *)env, "BOOT_B_LEFT=0"));
	g_assert_true(g_strv_contains((const gchar *const *)env, "BOOT_A_LEFT=3"));
}

/* libubootenv's fw_printenv prints "VAR=" (exit 0) for a variable that is
 * not set. An unset BOOT_<bn>_LEFT means no attempts left (RAUC parses it
 * as 0): the slot is bad and not the primary, which is no error. */
static void test_uboot_unset_left(void)
{
	g_autofree gchar *config_path = NULL;
	g_autoptr(Sandbox) sb = uboot_sandbox(&config_path);
	g_autoptr(RotaBootloader) bl = NULL;
	RotaBootloaderConfig config = {0};
	const gchar *unset[] = {"fw_setenv", "BOOT_A_LEFT", NULL};

	if (!sb)
		return;
	config.backend = (gchar *)"uboot";
	config.bootnames = ab_bootnames;
	bl = new_bootloader(&config);

	g_strfreev(run_lines(unset));
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");

	/* marking it good sets the counter again */
	set_state_ok(bl, "A", TRUE);
	assert_uboot_env((const gchar *[]){"BOOT_A_LEFT=3", NULL});
	g_assert_true(bootloader_good(bl, "A"));
}

/* ---- barebox (stand-in barebox-state) ---- */

static const gchar barebox_script[] =
	"#!/bin/sh\n" LOG_ARGV
	"while [ $# -gt 0 ]; do\n"
	"  case \"$1\" in\n"
	"  -n|-i) shift 2 ;;\n"
	"  -g) if [ ! -f \"@DIR@/state/$2\" ]; then echo \"barebox-state: no such variable $2\" >&2; exit 1; fi\n"
	"      cat \"@DIR@/state/$2\"; shift 2 ;;\n"
	"  -s) echo \"${2#*=}\" > \"@DIR@/state/${2%%=*}\"; shift 2 ;;\n"
	"  *) echo \"barebox-state: bad option $1\" >&2; exit 2 ;;\n"
	"  esac\n"
	"done\n";

static void barebox_state(Sandbox *sb, const gchar *var, const gchar *value)
{
	g_autofree gchar *rel = g_build_filename("state", var, NULL);
	g_autofree gchar *content = g_strdup_printf("%s\n", value);

	g_free(sandbox_write(sb, rel, content, 0644));
}

static Sandbox *barebox_sandbox(void)
{
	Sandbox *sb = sandbox_new();
	g_autofree gchar *state = g_build_filename(sb->dir, "state", NULL);

	g_assert_cmpint(g_mkdir(state, 0755), ==, 0);
	g_free(sandbox_write(sb, "bin/barebox-state", barebox_script, 0755));
	barebox_state(sb, "bootstate.A.priority", "20");
	barebox_state(sb, "bootstate.A.remaining_attempts", "3");
	barebox_state(sb, "bootstate.B.priority", "10");
	barebox_state(sb, "bootstate.B.remaining_attempts", "3");
	return sb;
}

#define BB_GET(bn) "[-n][state][-g][bootstate." bn ".priority][-g][bootstate." bn ".remaining_attempts][-i][/x.dtb]"

static void test_barebox(void)
{
	g_autoptr(Sandbox) sb = barebox_sandbox();
	g_autoptr(RotaBootloader) bl = NULL;
	RotaBootloaderConfig config = {0};

	config.backend = (gchar *)"barebox";
	config.bootnames = ab_bootnames;
	config.barebox_statename = (gchar *)"state";
	config.barebox_dtbpath = (gchar *)"/x.dtb";
	config.boot_attempts = 4;
	bl = new_bootloader(&config);

	g_assert_true(bootloader_good(bl, "A"));
	assert_log(sb, (const gchar *[]){BB_GET("A"), NULL});

	assert_primary(bl, "A");
	assert_log(sb, (const gchar *[]){BB_GET("A"), BB_GET("B"), NULL});

	set_state_ok(bl, "A", FALSE);
	assert_log(sb, (const gchar *[]){"[-n][state][-s][bootstate.A.priority=0][-s][bootstate.A.remaining_attempts=0]"
					 "[-i][/x.dtb]",
					 NULL});
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");
	g_remove(sb->log);

	set_state_ok(bl, "A", TRUE);
	assert_log(sb, (const gchar *[]){"[-n][state][-s][bootstate.A.remaining_attempts=4][-i][/x.dtb]", NULL});
	g_assert_false(bootloader_good(bl, "A")); /* priority still 0 */
	g_remove(sb->log);

	/* A was disabled (priority 0) and stays 0 as the non-primary */
	set_primary_ok(bl, "B");
	assert_log(sb, (const gchar *[]){BB_GET("A"), BB_GET("B"),
					 "[-n][state][-s][bootstate.A.priority=0][-s][bootstate.B.priority=20]"
					 "[-s][bootstate.B.remaining_attempts=3][-i][/x.dtb]",
					 NULL});
	assert_file(sb, "state/bootstate.B.priority", "20");

	/* B had a priority, so it becomes the fallback with 10 */
	set_primary_ok(bl, "A");
	assert_log(sb, (const gchar *[]){BB_GET("A"), BB_GET("B"),
					 "[-n][state][-s][bootstate.A.priority=20][-s][bootstate.B.priority=10]"
					 "[-s][bootstate.A.remaining_attempts=3][-i][/x.dtb]",
					 NULL});
	assert_primary(bl, "A");

	/* highest priority, but without attempts → not primary */
	barebox_state(sb, "bootstate.A.remaining_attempts", "0");
	assert_primary(bl, "B");
}

static void test_barebox_plain_and_errors(void)
{
	g_autoptr(Sandbox) sb = barebox_sandbox();
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *primary = NULL;
	RotaBootloaderConfig config = {0};
	gboolean good = FALSE;

	config.backend = (gchar *)"barebox";
	config.bootnames = ab_bootnames;
	config.boot_attempts_primary = 7;
	bl = new_bootloader(&config);

	/* without statename/dtbpath there is no -n / -i */
	set_primary_ok(bl, "B");
	assert_log(sb, (const gchar *[]){"[-g][bootstate.A.priority][-g][bootstate.A.remaining_attempts]",
					 "[-g][bootstate.B.priority][-g][bootstate.B.remaining_attempts]",
					 "[-s][bootstate.A.priority=10][-s][bootstate.B.priority=20]"
					 "[-s][bootstate.B.remaining_attempts=7]",
					 NULL});

	/* the tool failing: its stderr and exit status in a one-line error */
	sandbox_remove(sb, "state/bootstate.B.remaining_attempts");
	g_assert_false(rota_bootloader_get_state(bl, "B", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"barebox-state", "state of 'B'", "exited with code 1",
						      "no such variable bootstate.B.remaining_attempts", NULL});
	g_clear_error(&error);

	/* garbage instead of a number */
	barebox_state(sb, "bootstate.B.remaining_attempts", "lots");
	g_assert_false(rota_bootloader_get_state(bl, "B", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"bootstate.B.remaining_attempts", "lots", NULL});
	g_clear_error(&error);

	/* nothing bootable */
	barebox_state(sb, "bootstate.A.priority", "0");
	barebox_state(sb, "bootstate.B.priority", "0");
	barebox_state(sb, "bootstate.B.remaining_attempts", "3");
	primary = rota_bootloader_get_primary(bl, &error);
	g_assert_null(primary);
	g_assert_nonnull(error);
}

/* ---- efi (stand-in efibootmgr) ---- */

static const gchar efi_script[] =
	"#!/bin/sh\n" LOG_ARGV
	"case \"$1\" in\n"
	"'') ;;\n"
	"--bootnext) echo \"$2\" > @DIR@/next ;;\n"
	"--bootorder) echo \"$2\" > @DIR@/order ;;\n"
	"*) echo \"efibootmgr: unknown option $1\" >&2; exit 1 ;;\n"
	"esac\n"
	"[ -s @DIR@/next ] && echo \"BootNext: $(cat @DIR@/next)\"\n"
	"echo 'BootCurrent: 0001'\n"
	"echo 'Timeout: 1 seconds'\n"
	"echo \"BootOrder: $(cat @DIR@/order)\"\n"
	"printf 'Boot0000* UiApp\\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)\\n'\n"
	"printf 'Boot0001* A\\tHD(1,GPT,0b7f5e4c-1b7c-4a6c-a0a8-1e1b7c0d7e01,0x800,0x100000)/File(\\\\EFI\\\\BOOT\\\\BOOTX64.EFI)\\n'\n"
	"printf 'Boot0002* B\\tHD(2,GPT,7d2c5e4c-1b7c-4a6c-a0a8-1e1b7c0d7e02,0x100800,0x100000)/File(\\\\EFI\\\\BOOT\\\\BOOTX64.EFI)\\n'\n"
	"printf 'Boot0003  Rescue\\tHD(3,GPT,5a2c5e4c-1b7c-4a6c-a0a8-1e1b7c0d7e03,0x200800,0x100000)\\n'\n";

static Sandbox *efi_sandbox(void)
{
	Sandbox *sb = sandbox_new();

	g_free(sandbox_write(sb, "bin/efibootmgr", efi_script, 0755));
	g_free(sandbox_write(sb, "order", "0001,0002,0000\n", 0644));
	return sb;
}

static void test_efi(void)
{
	g_autoptr(Sandbox) sb = efi_sandbox();
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *current = NULL;
	RotaBootloaderConfig config = {0};

	config.backend = (gchar *)"efi";
	config.bootnames = ab_bootnames;
	config.efi_use_bootnext = TRUE;
	bl = new_bootloader(&config);

	g_assert_true(bootloader_good(bl, "A"));
	assert_log(sb, (const gchar *[]){"", NULL}); /* plain efibootmgr, no arguments */

	set_state_ok(bl, "A", FALSE);
	assert_log(sb, (const gchar *[]){"", "[--bootorder][0002,0000]", NULL});
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");

	set_state_ok(bl, "A", TRUE);
	assert_log(sb, (const gchar *[]){"", "", "", "[--bootorder][0001,0002,0000]", NULL});
	g_assert_true(bootloader_good(bl, "A"));
	assert_primary(bl, "A");

	g_remove(sb->log);
	set_primary_ok(bl, "B");
	assert_log(sb, (const gchar *[]){"", "[--bootnext][0002]", NULL});
	assert_file(sb, "order", "0001,0002,0000"); /* BootOrder untouched */
	assert_primary(bl, "B");                     /* BootNext wins */

	current = rota_bootloader_get_current(bl, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(current, ==, "A");

	/* BootOrder starting with a non-slot entry: first slot entry counts */
	sandbox_remove(sb, "next");
	g_free(sandbox_write(sb, "order", "0000,0003,0002,0001\n", 0644));
	assert_primary(bl, "B");
}

static void test_efi_without_bootnext(void)
{
	g_autoptr(Sandbox) sb = efi_sandbox();
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	gchar *abc[] = {(gchar *)"A", (gchar *)"B", (gchar *)"C", NULL};
	RotaBootloaderConfig config = {0};
	gboolean good = FALSE;

	config.backend = (gchar *)"efi";
	config.bootnames = abc;
	config.efi_use_bootnext = FALSE;
	bl = new_bootloader(&config);

	set_primary_ok(bl, "B");
	assert_log(sb, (const gchar *[]){"", "[--bootorder][0002,0001,0000]", NULL});
	assert_primary(bl, "B");

	/* no entry labelled C */
	g_assert_false(rota_bootloader_get_state(bl, "C", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"Did not find efi entry for bootname 'C'", NULL});
	g_clear_error(&error);

	/* no BootOrder line at all */
	g_free(sandbox_write(sb, "bin/efibootmgr", "#!/bin/sh\necho 'BootCurrent: 0001'\n", 0755));
	g_assert_false(rota_bootloader_get_state(bl, "A", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"BootOrder", NULL});
}

/* Two entries labelled A (a re-created entry next to a stale one, which is
 * no longer in BootOrder): A counts as good because one of its entries is
 * in BootOrder, as for RAUC, and marking it bad must take every entry
 * labelled A out of BootOrder, or the firmware still boots it. */
static void test_efi_duplicate_label(void)
{
	g_autoptr(Sandbox) sb = efi_sandbox();
	g_autofree gchar *script =
		g_strconcat(efi_script, "printf 'Boot0004* A\\tHD(4,GPT,1d2c5e4c-1b7c-4a6c-a0a8-1e1b7c0d7e04)\\n'\n", NULL);
	g_autoptr(RotaBootloader) bl = NULL;
	RotaBootloaderConfig config = {0};

	g_free(sandbox_write(sb, "bin/efibootmgr", script, 0755));
	g_free(sandbox_write(sb, "order", "0004,0002,0000\n", 0644));
	config.backend = (gchar *)"efi";
	config.bootnames = ab_bootnames;
	config.efi_use_bootnext = TRUE;
	bl = new_bootloader(&config);

	g_assert_true(bootloader_good(bl, "A"));
	assert_primary(bl, "A");
	g_remove(sb->log);

	set_state_ok(bl, "A", FALSE);
	assert_log(sb, (const gchar *[]){"", "[--bootorder][0002,0000]", NULL});
	g_assert_false(bootloader_good(bl, "A"));
	assert_primary(bl, "B");

	/* both A entries in BootOrder: both go */
	g_free(sandbox_write(sb, "order", "0001,0002,0004\n", 0644));
	g_remove(sb->log);
	set_state_ok(bl, "A", FALSE);
	assert_log(sb, (const gchar *[]){"", "[--bootorder][0002]", NULL});
}

/* ---- custom ---- */

static const gchar custom_script[] =
	"#!/bin/sh\n" LOG_ARGV
	"case \"$1\" in\n"
	"get-primary) cat @DIR@/primary ;;\n"
	"set-primary) echo \"$2\" > @DIR@/primary ;;\n"
	"get-state) cat \"@DIR@/state.$2\" ;;\n"
	"set-state) echo \"$3\" > \"@DIR@/state.$2\" ;;\n"
	"get-current) printf 'B\\nsecond line\\n' ;;\n"
	"*) echo \"unknown operation $1\" >&2; exit 3 ;;\n"
	"esac\n";

static void test_custom(void)
{
	g_autoptr(Sandbox) sb = sandbox_new();
	g_autofree gchar *script = sandbox_write(sb, "custom-backend", custom_script, 0755);
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *current = NULL;
	g_autofree gchar *primary = NULL;
	RotaBootloaderConfig config = {0};
	gboolean good = FALSE;

	g_free(sandbox_write(sb, "primary", "A\n", 0644));
	g_free(sandbox_write(sb, "state.A", " good \n", 0644));
	config.backend = (gchar *)"custom";
	config.bootnames = ab_bootnames;
	config.custom_backend = script; /* absolute path, not in PATH */
	bl = new_bootloader(&config);

	assert_primary(bl, "A");
	g_assert_true(bootloader_good(bl, "A"));
	assert_log(sb, (const gchar *[]){"[get-primary]", "[get-state][A]", NULL});

	set_state_ok(bl, "B", FALSE);
	set_state_ok(bl, "B", TRUE);
	set_primary_ok(bl, "B");
	assert_log(sb, (const gchar *[]){"[set-state][B][bad]", "[set-state][B][good]", "[set-primary][B]", NULL});
	assert_file(sb, "state.B", "good");
	assert_primary(bl, "B");

	current = rota_bootloader_get_current(bl, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(current, ==, "B");

	/* anything but good/bad is an error */
	g_free(sandbox_write(sb, "state.A", "maybe\n", 0644));
	g_assert_false(rota_bootloader_get_state(bl, "A", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"maybe", "'A'", NULL});
	g_clear_error(&error);

	/* a primary that is no slot */
	g_free(sandbox_write(sb, "primary", "X\n", 0644));
	primary = rota_bootloader_get_primary(bl, &error);
	g_assert_null(primary);
	assert_error_mentions(error, (const gchar *[]){"'X'", NULL});
	g_clear_error(&error);

	/* exit status and stderr of a failing backend */
	sandbox_remove(sb, "state.A");
	g_assert_false(rota_bootloader_get_state(bl, "A", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"custom-backend", "state of 'A'", "exited with code 1", "state.A", NULL});
}

static void test_custom_missing_executable(void)
{
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	RotaBootloaderConfig config = {0};

	config.backend = (gchar *)"custom";
	config.bootnames = ab_bootnames;
	bl = rota_bootloader_new(&config, &error);
	g_assert_null(bl);
	assert_error_mentions(error, (const gchar *[]){"custom", "executable", NULL});
	g_clear_error(&error);

	config.custom_backend = (gchar *)"/nonexistent/rota-backend";
	bl = new_bootloader(&config);
	g_assert_false(rota_bootloader_set_primary(bl, "A", &error));
	assert_error_mentions(error, (const gchar *[]){"/nonexistent/rota-backend", "not found", "primary", NULL});
}

/* ---- noop, config errors, missing tools ---- */

static void test_noop(void)
{
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *primary = NULL;
	g_autofree gchar *current = NULL;
	RotaBootloaderConfig config = {0};
	gboolean good = TRUE;

	config.backend = (gchar *)"noop";
	config.bootnames = ab_bootnames;
	bl = new_bootloader(&config);

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*'A' bad*");
	set_state_ok(bl, "A", FALSE);
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*'B' primary*");
	set_primary_ok(bl, "B");
	g_test_assert_expected_messages();

	g_assert_false(rota_bootloader_get_state(bl, "A", &good, &error));
	assert_error_mentions(error, (const gchar *[]){"not supported", NULL});
	g_clear_error(&error);
	primary = rota_bootloader_get_primary(bl, &error);
	g_assert_null(primary);
	assert_error_mentions(error, (const gchar *[]){"not supported", NULL});
	g_clear_error(&error);

	current = rota_bootloader_get_current(bl, &error);
	g_assert_null(current);
	g_assert_no_error(error);
}

static void test_config_errors(void)
{
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	RotaBootloaderConfig config = {0};
	gboolean good;

	config.backend = (gchar *)"lilo";
	bl = rota_bootloader_new(&config, &error);
	g_assert_null(bl);
	assert_error_mentions(error, (const gchar *[]){"Unsupported bootloader 'lilo'", NULL});
	g_clear_error(&error);

	config.backend = NULL;
	bl = rota_bootloader_new(&config, &error);
	g_assert_null(bl);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_clear_error(&error);

	/* only configured bootnames reach a backend */
	config.backend = (gchar *)"noop";
	config.bootnames = ab_bootnames;
	bl = new_bootloader(&config);
	g_assert_false(rota_bootloader_set_state(bl, "C", TRUE, &error));
	assert_error_mentions(error, (const gchar *[]){"'C'", NULL});
	g_clear_error(&error);
	g_assert_false(rota_bootloader_get_state(bl, "A B", &good, &error));
	g_assert_nonnull(error);
}

static void test_config_copied(void)
{
	g_autoptr(RotaBootloader) bl = NULL;
	RotaBootloaderConfig config = {0};

	config.backend = g_strdup("grub");
	config.bootnames = g_strdupv(ab_bootnames);
	bl = new_bootloader(&config);
	rota_bootloader_config_clear(&config);
	g_assert_null(config.backend);
	g_assert_cmpstr(rota_bootloader_get_name(bl), ==, "grub");
	g_assert_cmpstr(bl->config.bootnames[1], ==, "B");
	g_assert_cmpstr(bl->config.grubenv, ==, "/boot/grub/grubenv"); /* default */
}

static void test_missing_tool(void)
{
	g_autoptr(Sandbox) sb = sandbox_new();
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	RotaBootloaderConfig config = {0};

	/* PATH with nothing but the empty bin/ */
	g_setenv("PATH", sb->bin, TRUE);
	config.backend = (gchar *)"uboot";
	config.bootnames = ab_bootnames;
	bl = new_bootloader(&config);
	g_assert_false(rota_bootloader_set_state(bl, "A", TRUE, &error));
	assert_error_mentions(error, (const gchar *[]){"fw_setenv", "not found in PATH", "marking 'A' good", NULL});
}

static void test_tool_killed(void)
{
	g_autoptr(Sandbox) sb = sandbox_new();
	g_autoptr(RotaBootloader) bl = NULL;
	g_autoptr(GError) error = NULL;
	RotaBootloaderConfig config = {0};

	g_free(sandbox_write(sb, "bin/efibootmgr", "#!/bin/sh\necho dying >&2\nkill -9 $$\n", 0755));
	config.backend = (gchar *)"efi";
	config.bootnames = ab_bootnames;
	bl = new_bootloader(&config);
	g_assert_false(rota_bootloader_set_primary(bl, "A", &error));
	assert_error_mentions(error, (const gchar *[]){"efibootmgr", "killed by signal 9", "dying", NULL});
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bootloader/helpers", test_helpers);
	g_test_add_func("/bootloader/grub", test_grub);
	g_test_add_func("/bootloader/grub-order-rules", test_grub_order_rules);
	g_test_add_func("/bootloader/grub-atomic-write", test_grub_write_replaces_atomically);
	g_test_add_func("/bootloader/grub-tool-fails", test_grub_tool_fails);
	g_test_add_func("/bootloader/grub-symlinked-env", test_grub_symlinked_env);
	g_test_add_func("/bootloader/grub-missing-env-created", test_grub_missing_env_created);
	g_test_add_func("/bootloader/grub-dangling-symlinked-env", test_grub_dangling_symlinked_env);
	g_test_add_func("/bootloader/uboot", test_uboot);
	g_test_add_func("/bootloader/uboot-order-unreadable", test_uboot_set_primary_without_order);
	g_test_add_func("/bootloader/uboot-unset-left", test_uboot_unset_left);
	g_test_add_func("/bootloader/barebox", test_barebox);
	g_test_add_func("/bootloader/barebox-plain-and-errors", test_barebox_plain_and_errors);
	g_test_add_func("/bootloader/efi", test_efi);
	g_test_add_func("/bootloader/efi-without-bootnext", test_efi_without_bootnext);
	g_test_add_func("/bootloader/efi-duplicate-label", test_efi_duplicate_label);
	g_test_add_func("/bootloader/custom", test_custom);
	g_test_add_func("/bootloader/custom-missing-executable", test_custom_missing_executable);
	g_test_add_func("/bootloader/noop", test_noop);
	g_test_add_func("/bootloader/config-errors", test_config_errors);
	g_test_add_func("/bootloader/config-copied", test_config_copied);
	g_test_add_func("/bootloader/missing-tool", test_missing_tool);
	g_test_add_func("/bootloader/tool-killed", test_tool_killed);
	return g_test_run();
}
