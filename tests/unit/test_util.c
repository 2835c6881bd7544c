/* test_util.c — hex coding, path safety, atomic writes. */
#define _GNU_SOURCE /* unshare */
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

static void test_hex_roundtrip(void)
{
	const guint8 data[] = {0x00, 0x01, 0xab, 0xff};
	g_autofree gchar *hex = rota_hex_encode(data, sizeof(data));
	guint8 back[4];

	g_assert_cmpstr(hex, ==, "0001abff");
	g_assert_true(rota_hex_decode("0001ABff", back, 4));
	g_assert_cmpmem(back, 4, data, 4);
	g_assert_false(rota_hex_decode("0001abf", back, 4));   /* odd length */
	g_assert_false(rota_hex_decode("0001abfg", back, 4));  /* not hex */
	g_assert_false(rota_hex_decode("0001abff00", back, 4)); /* too long */
}

static void test_path_safety(void)
{
	g_assert_true(rota_is_plain_filename("rootfs.img"));
	g_assert_false(rota_is_plain_filename("a/b"));
	g_assert_false(rota_is_plain_filename(".."));
	g_assert_false(rota_is_plain_filename(""));
	g_assert_true(rota_is_safe_relative_path("hooks/hook.sh"));
	g_assert_false(rota_is_safe_relative_path("/bin/sh"));
	g_assert_false(rota_is_safe_relative_path("a/../../etc"));
}

static void test_atomic_write(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-util-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "status", NULL);
	g_autofree gchar *content = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) d = NULL;
	struct stat st;
	int entries = 0;

	g_assert_true(rota_write_file_atomic(path, "one", 3, 0640, &error));
	g_assert_true(rota_write_file_atomic(path, "two!", 4, 0640, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(path, &content, NULL, NULL));
	g_assert_cmpstr(content, ==, "two!");
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0640);
	d = g_dir_open(dir, 0, NULL);
	while (g_dir_read_name(d))
		entries++;
	g_assert_cmpint(entries, ==, 1); /* no temporary file left behind */
	g_unlink(path);
	g_rmdir(dir);
}

static void test_write_atomic_missing_dir(void)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(rota_write_file_atomic("/nonexistent-rota-dir/x", "a", 1, 0644, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "/nonexistent-rota-dir/x"));
}

static void test_remove_tree(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-util-XXXXXX", NULL);
	g_autofree gchar *outside = g_dir_make_tmp("rota-util-XXXXXX", NULL);
	g_autofree gchar *sub = g_build_filename(dir, "a", "b", NULL);
	g_autofree gchar *file = g_build_filename(sub, "f", NULL);
	g_autofree gchar *kept = g_build_filename(outside, "kept", NULL);
	g_autofree gchar *link = g_build_filename(dir, "link", NULL);

	g_assert_cmpint(g_mkdir_with_parents(sub, 0755), ==, 0);
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));
	g_assert_true(g_file_set_contents(kept, "y", 1, NULL));
	g_assert_cmpint(symlink(outside, link), ==, 0);
	rota_remove_tree(dir);
	g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS)); /* the symlink was not followed */
	rota_remove_tree(outside);
	g_assert_false(g_file_test(outside, G_FILE_TEST_EXISTS));
}

/* Enters a mount namespace of its own, so the mounts a test makes vanish
 * with the process; FALSE (test skipped) without the privilege. */
static gboolean private_mounts(void)
{
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		g_test_skip("needs CAP_SYS_ADMIN for a mount namespace");
		return FALSE;
	}
	return TRUE;
}

/* A filesystem or a bind mount (of the same filesystem) inside the tree
 * is not emptied: what is mounted there belongs to someone else. */
static void test_remove_tree_stays_on_its_mount(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-util-XXXXXX", NULL);
	g_autofree gchar *outside = g_dir_make_tmp("rota-util-XXXXXX", NULL);
	g_autofree gchar *tmpfs = g_build_filename(dir, "tmpfs", NULL);
	g_autofree gchar *bind = g_build_filename(dir, "bind", NULL);
	g_autofree gchar *mine = g_build_filename(dir, "mine", NULL);
	g_autofree gchar *on_tmpfs = g_build_filename(tmpfs, "data", NULL);
	g_autofree gchar *kept = g_build_filename(outside, "kept", NULL);

	if (!private_mounts())
		return;
	g_assert_cmpint(g_mkdir(tmpfs, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(bind, 0755), ==, 0);
	g_assert_true(g_file_set_contents(mine, "x", 1, NULL));
	g_assert_true(g_file_set_contents(kept, "y", 1, NULL));
	g_assert_cmpint(mount("none", tmpfs, "tmpfs", 0, NULL), ==, 0);
	g_assert_cmpint(mount(outside, bind, NULL, MS_BIND, NULL), ==, 0);
	g_assert_true(g_file_set_contents(on_tmpfs, "z", 1, NULL));

	rota_remove_tree(tmpfs); /* a mount point itself */
	g_assert_true(g_file_test(on_tmpfs, G_FILE_TEST_EXISTS));
	rota_remove_tree(dir);
	g_assert_false(g_file_test(mine, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(on_tmpfs, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));

	g_assert_cmpint(umount(tmpfs), ==, 0);
	g_assert_cmpint(umount(bind), ==, 0);
	rota_remove_tree(dir);
	g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
	rota_remove_tree(outside);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/util/hex", test_hex_roundtrip);
	g_test_add_func("/util/path-safety", test_path_safety);
	g_test_add_func("/util/atomic-write", test_atomic_write);
	g_test_add_func("/util/remove-tree", test_remove_tree);
	g_test_add_func("/util/remove-tree-stays-on-its-mount", test_remove_tree_stays_on_its_mount);
	g_test_add_func("/util/atomic-write-missing-dir", test_write_atomic_missing_dir);
	return g_test_run();
}
