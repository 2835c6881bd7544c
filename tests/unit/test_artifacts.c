/* test_artifacts.c — artifact repositories on disk (install-and-runtime.md
 * §9): what a scan takes for instances and active links, what prune
 * removes, how commit swaps links, and the GetArtifactStatus shape.
 * tests/cli/test_artifacts.py covers whole installs. */
#define _GNU_SOURCE /* unshare */
#include <glib/gstdio.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "install/artifacts.h"

#define D1 "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "2222222222222222222222222222222222222222222222222222222222222222"

typedef struct {
	gchar *dir;
	RotaArtifactRepo repo;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->dir = g_dir_make_tmp("rota-artifacts-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
	f->repo = (RotaArtifactRepo){.name = (gchar *)"apps", .path = f->dir, .type = (gchar *)"files"};
}

static void teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	rota_remove_tree(f->dir);
	g_free(f->dir);
}

static void put(Fixture *f, const gchar *name, const gchar *content)
{
	g_autofree gchar *path = g_build_filename(f->dir, name, NULL);
	g_assert_true(g_file_set_contents(path, content, -1, NULL));
}

static void link_to(Fixture *f, const gchar *name, const gchar *target)
{
	g_autofree gchar *path = g_build_filename(f->dir, name, NULL);
	g_assert_cmpint(symlink(target, path), ==, 0);
}

static gboolean exists(Fixture *f, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(f->dir, name, NULL);
	return g_file_test(path, G_FILE_TEST_EXISTS) || g_file_test(path, G_FILE_TEST_IS_SYMLINK);
}

static const RotaArtifactInstance *instance(RotaArtifactRepoState *st, guint i)
{
	g_assert_cmpuint(i, <, st->instances->len);
	return st->instances->pdata[i];
}

/* Names may contain '-': the digest is what follows the last one. Links
 * activate only an existing instance of their own name. */
static void test_scan(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaArtifactRepoState) st = NULL;
	g_autoptr(GError) error = NULL;

	(void)data;
	put(f, ".artifact-my-app-" D1, "a");
	put(f, ".artifact-my-app-" D2, "b");
	put(f, ".artifact-short-abc", "digest too short: not an instance");
	link_to(f, "my-app", ".artifact-my-app-" D2);
	link_to(f, "other", ".artifact-my-app-" D1); /* another name's instance */
	link_to(f, "gone", ".artifact-gone-" D1);    /* no such instance */
	link_to(f, ".artifact-sym-" D1, "/etc");     /* a symlink is no instance */
	link_to(f, "sym", ".artifact-sym-" D1);
	st = rota_artifact_repo_scan(&f->repo, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(st->instances->len, ==, 2);
	g_assert_cmpstr(instance(st, 0)->name, ==, "my-app");
	g_assert_cmpstr(instance(st, 0)->digest, ==, D1);
	g_assert_false(instance(st, 0)->active);
	g_assert_cmpstr(instance(st, 1)->digest, ==, D2);
	g_assert_true(instance(st, 1)->active);
	g_assert_true(rota_artifact_repo_has_instance(st, "my-app", D1));
	g_assert_false(rota_artifact_repo_has_instance(st, "my", D1));
}

static void test_scan_missing_dir(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *missing = g_build_filename(f->dir, "nope", NULL);
	RotaArtifactRepo repo = f->repo;

	(void)data;
	repo.path = missing;
	g_assert_null(rota_artifact_repo_scan(&repo, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "Artifact repo 'apps': path '"));
}

static void test_prune(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaArtifactRepoState) st = NULL;
	g_autoptr(GError) error = NULL;

	(void)data;
	put(f, ".artifact-a-" D1, "active");
	put(f, ".artifact-a-" D2, "unreferenced");
	put(f, ".artifact-b-" D1 ".tmp", "interrupted");
	put(f, "plain-file", "not a link");
	put(f, ".hidden", "junk");
	link_to(f, "a", ".artifact-a-" D1);
	link_to(f, "dangling", ".artifact-x-" D1); /* links are never pruned, only warned about */
	st = rota_artifact_repo_scan(&f->repo, &error);
	g_assert_no_error(error);
	g_assert_true(rota_artifact_repo_prune(st, &error));
	g_assert_no_error(error);
	g_assert_true(exists(f, ".artifact-a-" D1));
	g_assert_true(exists(f, "a"));
	g_assert_true(exists(f, "dangling"));
	g_assert_false(exists(f, ".artifact-a-" D2));
	g_assert_false(exists(f, ".artifact-b-" D1 ".tmp"));
	g_assert_false(exists(f, "plain-file"));
	g_assert_false(exists(f, ".hidden"));
	g_assert_cmpuint(st->instances->len, ==, 1); /* rescanned */
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

/* An unreferenced instance that cannot be removed completely (here: a
 * filesystem is mounted inside it) must not stay behind as an instance:
 * an install of the same digest would reuse what is left as complete. */
static void test_prune_leaves_no_partial_instance(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaArtifactRepoState) st = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *inst = g_build_filename(f->dir, ".artifact-t-" D1, NULL);
	g_autofree gchar *mnt = g_build_filename(inst, "mnt", NULL);
	g_autofree gchar *file = g_build_filename(inst, "file", NULL);
	g_autofree gchar *mounted = g_build_filename(mnt, "data", NULL);
	g_autofree gchar *left_mnt = g_build_filename(f->dir, ".removing.artifact-t-" D1, "mnt", NULL);

	(void)data;
	if (!private_mounts())
		return;
	f->repo.type = (gchar *)"trees";
	g_assert_cmpint(g_mkdir_with_parents(mnt, 0755), ==, 0);
	g_assert_true(g_file_set_contents(file, "part of the tree", -1, NULL));
	g_assert_cmpint(mount("none", mnt, "tmpfs", 0, NULL), ==, 0);
	g_assert_true(g_file_set_contents(mounted, "someone else's", -1, NULL));
	st = rota_artifact_repo_scan(&f->repo, &error);
	g_assert_no_error(error);
	g_assert_true(rota_artifact_repo_has_instance(st, "t", D1));
	g_assert_true(rota_artifact_repo_prune(st, &error));
	g_assert_no_error(error);
	g_assert_false(rota_artifact_repo_has_instance(st, "t", D1));
	g_assert_false(exists(f, ".artifact-t-" D1));
	g_assert_true(g_file_test(left_mnt, G_FILE_TEST_IS_DIR)); /* a stray, tried again next time */
	g_assert_cmpint(umount(left_mnt), ==, 0);
	g_assert_true(rota_artifact_repo_prune(st, &error));
	g_assert_no_error(error);
	g_assert_false(exists(f, ".removing.artifact-t-" D1));
}

static void test_commit(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaArtifactRepoState) st = NULL;
	g_autoptr(GHashTable) active = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *a = g_build_filename(f->dir, "a", NULL);
	g_autofree gchar *target = NULL;

	(void)data;
	put(f, ".artifact-a-" D1, "old");
	put(f, ".artifact-a-" D2, "new");
	put(f, ".artifact-b-" D1, "b");
	link_to(f, "a", ".artifact-a-" D1);
	link_to(f, "b", ".artifact-b-" D1);
	st = rota_artifact_repo_scan(&f->repo, &error);
	g_assert_no_error(error);
	g_hash_table_insert(active, (gpointer) "a", (gpointer)D2);
	g_assert_true(rota_artifact_repo_commit(st, active, &error));
	g_assert_no_error(error);
	target = g_file_read_link(a, NULL);
	g_assert_cmpstr(target, ==, ".artifact-a-" D2);
	g_assert_false(exists(f, "b"));       /* not in the set: deactivated */
	g_assert_false(exists(f, ".link-a")); /* the temporary link was renamed */
	g_assert_true(rota_artifact_repo_has_instance(st, "a", D2));
	g_assert_true(instance(st, 1)->active);
	g_assert_false(instance(st, 0)->active);
}

static void test_status_variant(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) config = rota_config_new_default();
	g_autoptr(GVariant) v = NULL;
	g_autoptr(GVariant) repo = NULL, artifacts = NULL, art = NULL, insts = NULL, inst = NULL, refs = NULL;
	RotaArtifactRepo *copy = g_new0(RotaArtifactRepo, 1);
	const gchar *s;

	(void)data;
	copy->name = g_strdup("apps");
	copy->path = g_strdup(f->dir);
	copy->type = g_strdup("files");
	g_ptr_array_add(config->artifact_repos, copy);
	put(f, ".artifact-a-" D1, "x");
	link_to(f, "a", ".artifact-a-" D1);
	v = g_variant_ref_sink(rota_artifact_repos_status(config));
	g_assert_cmpstr(g_variant_get_type_string(v), ==, "aa{sv}");
	g_assert_cmpuint(g_variant_n_children(v), ==, 1);
	repo = g_variant_get_child_value(v, 0);
	g_assert_true(g_variant_lookup(repo, "name", "&s", &s));
	g_assert_cmpstr(s, ==, "apps");
	g_assert_false(g_variant_lookup(repo, "description", "&s", &s)); /* unset: left out */
	artifacts = g_variant_lookup_value(repo, "artifacts", G_VARIANT_TYPE("aa{sv}"));
	g_assert_cmpuint(g_variant_n_children(artifacts), ==, 1);
	art = g_variant_get_child_value(artifacts, 0);
	insts = g_variant_lookup_value(art, "instances", G_VARIANT_TYPE("aa{sv}"));
	inst = g_variant_get_child_value(insts, 0);
	g_assert_true(g_variant_lookup(inst, "checksum", "&s", &s));
	g_assert_cmpstr(s, ==, D1);
	refs = g_variant_lookup_value(inst, "references", G_VARIANT_TYPE_STRING_ARRAY);
	g_assert_cmpuint(g_variant_n_children(refs), ==, 1);
}

static void test_instance_name_check(void)
{
	g_autofree gchar *longest = g_strnfill(NAME_MAX - strlen(".removing.artifact-") - 1 - 64, 'n');
	g_autofree gchar *too_long = g_strnfill(strlen(longest) + 1, 'n');
	g_autoptr(GError) error = NULL;

	g_assert_true(rota_artifact_check_instance_name("apps", "a", D1, &error));
	g_assert_true(rota_artifact_check_instance_name("apps", longest, D1, &error));
	g_assert_no_error(error);
	g_assert_false(rota_artifact_check_instance_name("apps", "a", "abc", &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_clear_error(&error);
	g_assert_false(rota_artifact_check_instance_name("apps", "a", NULL, &error));
	g_clear_error(&error);
	g_assert_false(rota_artifact_check_instance_name("apps", "a", "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", &error));
	g_clear_error(&error);
	g_assert_false(rota_artifact_check_instance_name("apps", too_long, D1, &error));
	g_assert_nonnull(strstr(error->message, "is too long"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
	g_test_add("/artifacts/scan", Fixture, NULL, setup, test_scan, teardown);
	g_test_add("/artifacts/scan-missing-dir", Fixture, NULL, setup, test_scan_missing_dir, teardown);
	g_test_add("/artifacts/prune", Fixture, NULL, setup, test_prune, teardown);
	g_test_add("/artifacts/prune-leaves-no-partial-instance", Fixture, NULL, setup,
		   test_prune_leaves_no_partial_instance, teardown);
	g_test_add("/artifacts/commit", Fixture, NULL, setup, test_commit, teardown);
	g_test_add("/artifacts/status-variant", Fixture, NULL, setup, test_status_variant, teardown);
	g_test_add_func("/artifacts/instance-name-check", test_instance_name_check);
	return g_test_run();
}
