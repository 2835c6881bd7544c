/* artifacts.c — artifact repositories: scanning, adding instances,
 * switching the active links and pruning (install-and-runtime.md §9). */
#define _GNU_SOURCE /* F_SETLEASE, syncfs */
#include "artifacts.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "install/slot_writer.h"

#define INSTANCE_PREFIX ".artifact-"
#define DIGEST_HEX 64

static void instance_free(RotaArtifactInstance *i)
{
	g_free(i->name);
	g_free(i->digest);
	g_free(i);
}

void rota_artifact_repo_state_free(RotaArtifactRepoState *st)
{
	if (!st)
		return;
	g_ptr_array_unref(st->instances);
	g_free(st);
}

static gchar *instance_basename(const gchar *name, const gchar *digest)
{
	return g_strdup_printf(INSTANCE_PREFIX "%s-%s", name, digest);
}

static gboolean is_digest(const gchar *s)
{
	if (strlen(s) != DIGEST_HEX)
		return FALSE;
	for (const gchar *p = s; *p; p++) {
		if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
			return FALSE;
	}
	return TRUE;
}

/* Splits `.artifact-<name>-<digest>` (the name may contain '-': the digest
 * is what follows the last one). */
static gboolean parse_instance(const gchar *base, gchar **name, gchar **digest)
{
	const gchar *dash;

	if (!g_str_has_prefix(base, INSTANCE_PREFIX))
		return FALSE;
	base += strlen(INSTANCE_PREFIX);
	dash = strrchr(base, '-');
	if (!dash || dash == base || !is_digest(dash + 1) || !rota_is_plain_filename(base))
		return FALSE;
	*name = g_strndup(base, (gsize)(dash - base));
	*digest = g_strdup(dash + 1);
	return TRUE;
}

static gint compare_instances(gconstpointer a, gconstpointer b)
{
	const RotaArtifactInstance *x = *(RotaArtifactInstance *const *)a, *y = *(RotaArtifactInstance *const *)b;
	gint c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->digest, y->digest);
}

static RotaArtifactInstance *find_instance(const RotaArtifactRepoState *st, const gchar *name, const gchar *digest)
{
	for (guint i = 0; i < st->instances->len; i++) {
		RotaArtifactInstance *in = st->instances->pdata[i];
		if (g_str_equal(in->name, name) && g_str_equal(in->digest, digest))
			return in;
	}
	return NULL;
}

gboolean rota_artifact_check_instance_name(const gchar *repo, const gchar *name, const gchar *digest, GError **error)
{
	/* The longest name on disk: ".removing.artifact-<name>-<digest>". */
	gsize longest = strlen(".removing" INSTANCE_PREFIX) + strlen(name) + 1 + DIGEST_HEX;

	if (!digest || !is_digest(digest)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Artifact '%s/%s' has no valid sha256 (64 lower-case hex digits)",
			    repo, name);
		return FALSE;
	}
	if (longest > NAME_MAX) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Artifact name '%s/%s' is too long: its instance names would exceed %d bytes", repo, name, NAME_MAX);
		return FALSE;
	}
	return TRUE;
}

gboolean rota_artifact_repo_is_active(const RotaArtifactRepoState *st, const gchar *name, const gchar *digest)
{
	RotaArtifactInstance *in = find_instance(st, name, digest);
	return in && in->active;
}

gboolean rota_artifact_repo_has_instance(const RotaArtifactRepoState *st, const gchar *name, const gchar *digest)
{
	return find_instance(st, name, digest) != NULL;
}

/* ---- scanning ---- */

static gboolean open_repo_dir(const RotaArtifactRepo *repo, GDir **out, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!g_file_test(repo->path, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Artifact repo '%s': path '%s' is not an existing directory",
			    repo->name, repo->path);
		return FALSE;
	}
	*out = g_dir_open(repo->path, 0, &local);
	if (!*out) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Artifact repo '%s': %s", repo->name, local->message);
		return FALSE;
	}
	return TRUE;
}

static void collect_instance(RotaArtifactRepoState *st, const gchar *path, const gchar *base)
{
	RotaArtifactInstance *in;
	gchar *name, *digest;

	if (g_file_test(path, G_FILE_TEST_IS_SYMLINK) || !parse_instance(base, &name, &digest))
		return;
	in = g_new0(RotaArtifactInstance, 1);
	in->name = name;
	in->digest = digest;
	g_ptr_array_add(st->instances, in);
}

/* A visible symlink is an artifact's link; it activates its instance. */
static void apply_link(RotaArtifactRepoState *st, const gchar *path, const gchar *base)
{
	g_autofree gchar *target = g_file_read_link(path, NULL);
	g_autofree gchar *name = NULL, *digest = NULL;
	RotaArtifactInstance *in;

	/* Prune reports such links (once per pass, not on every scan). */
	if (!target || !parse_instance(target, &name, &digest) || !g_str_equal(name, base) ||
	    !(in = find_instance(st, name, digest)))
		return;
	in->active = TRUE;
}

RotaArtifactRepoState *rota_artifact_repo_scan(const RotaArtifactRepo *repo, GError **error)
{
	g_autoptr(RotaArtifactRepoState) st = g_new0(RotaArtifactRepoState, 1);
	g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = NULL;
	const gchar *base;

	st->config = repo;
	st->instances = g_ptr_array_new_with_free_func((GDestroyNotify)instance_free);
	if (!open_repo_dir(repo, &dir, error))
		return NULL;
	while ((base = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(repo->path, base, NULL);
		if (base[0] == '.')
			collect_instance(st, path, base);
		else if (g_file_test(path, G_FILE_TEST_IS_SYMLINK))
			g_ptr_array_add(links, g_strdup(base));
	}
	/* Links after instances: a link may only activate what exists. */
	for (guint i = 0; i < links->len; i++) {
		g_autofree gchar *path = g_build_filename(repo->path, links->pdata[i], NULL);
		apply_link(st, path, links->pdata[i]);
	}
	g_ptr_array_sort(st->instances, compare_instances);
	return g_steal_pointer(&st);
}

static gboolean rescan(RotaArtifactRepoState *st, GError **error)
{
	RotaArtifactRepoState *fresh = rota_artifact_repo_scan(st->config, error);

	if (!fresh)
		return FALSE;
	g_ptr_array_unref(st->instances);
	st->instances = g_steal_pointer(&fresh->instances);
	g_free(fresh);
	return TRUE;
}

/* ---- pruning ---- */

/* Whether any regular file below path is open somewhere: a write lease can
 * only be taken on a file nobody else has open. Used instances stay. */
static gboolean tree_in_use(const gchar *path)
{
	struct stat st;
	g_autoptr(GDir) dir = NULL;
	const gchar *base;

	if (lstat(path, &st) != 0)
		return FALSE;
	if (S_ISREG(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		gboolean busy;
		if (fd < 0)
			return FALSE;
		busy = fcntl(fd, F_SETLEASE, F_WRLCK) != 0 && errno == EAGAIN;
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		return busy;
	}
	if (!S_ISDIR(st.st_mode) || !(dir = g_dir_open(path, 0, NULL)))
		return FALSE;
	while ((base = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child = g_build_filename(path, base, NULL);
		if (tree_in_use(child))
			return TRUE;
	}
	return FALSE;
}

/* What prune removes without looking further: visible entries that are
 * not links, hidden entries that are not instances (leftover `.tmp`
 * instances and temporary links of an interrupted install). */
static gboolean is_stray(const gchar *path, const gchar *base)
{
	g_autofree gchar *name = NULL, *digest = NULL;

	if (base[0] != '.')
		return !g_file_test(path, G_FILE_TEST_IS_SYMLINK);
	return g_file_test(path, G_FILE_TEST_IS_SYMLINK) || !parse_instance(base, &name, &digest);
}

/* A link that activates nothing is left alone (it may be the admin's),
 * but said once per prune. */
static void report_foreign_link(RotaArtifactRepoState *st, const gchar *path, const gchar *base)
{
	g_autofree gchar *target = g_file_read_link(path, NULL);
	g_autofree gchar *name = NULL, *digest = NULL;

	if (target && parse_instance(target, &name, &digest) && g_str_equal(name, base))
		return;
	g_message("Artifact repo '%s': link '%s' -> '%s' is not an instance of '%s' (left alone)", st->config->name,
		  base, target ? target : "?", base);
}

static gboolean remove_strays(RotaArtifactRepoState *st, GError **error)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GPtrArray) strays = g_ptr_array_new_with_free_func(g_free);
	const gchar *base;

	if (!open_repo_dir(st->config, &dir, error))
		return FALSE;
	while ((base = g_dir_read_name(dir)) != NULL) {
		gchar *path = g_build_filename(st->config->path, base, NULL);
		if (is_stray(path, base)) {
			g_ptr_array_add(strays, path);
			continue;
		}
		if (base[0] != '.')
			report_foreign_link(st, path, base);
		g_free(path);
	}
	for (guint i = 0; i < strays->len; i++) {
		g_message("Artifact repo '%s': removing stray entry '%s'", st->config->name, (gchar *)strays->pdata[i]);
		rota_remove_tree(strays->pdata[i]);
	}
	return TRUE;
}

/* An instance goes in two steps: renamed to a hidden name that is no
 * instance's (atomic), then removed. Whatever stops the removal halfway
 * (power loss, a mount inside the tree) leaves a stray for the next prune,
 * never a partial instance that an install would reuse as complete. */
static void remove_instance(const RotaArtifactRepo *repo, const gchar *base)
{
	g_autofree gchar *path = g_build_filename(repo->path, base, NULL);
	g_autofree gchar *doomed_base = g_strconcat(".removing", base, NULL);
	g_autofree gchar *doomed = g_build_filename(repo->path, doomed_base, NULL);

	rota_remove_tree(doomed); /* an interrupted prune's */
	if (rename(path, doomed) != 0) {
		int err = errno;
		g_message("Artifact repo '%s': cannot remove instance '%s': %s", repo->name, base, g_strerror(err));
		return;
	}
	rota_remove_tree(doomed);
}

gboolean rota_artifact_repo_prune(RotaArtifactRepoState *st, GError **error)
{
	if (!remove_strays(st, error) || !rescan(st, error))
		return FALSE;
	for (guint i = 0; i < st->instances->len; i++) {
		RotaArtifactInstance *in = st->instances->pdata[i];
		g_autofree gchar *base = instance_basename(in->name, in->digest);
		g_autofree gchar *path = g_build_filename(st->config->path, base, NULL);
		if (in->active)
			continue;
		if (tree_in_use(path)) {
			g_message("Skipping removal of artifact '%s' (%s) in repo '%s': in use", in->name, in->digest,
				  st->config->name);
			continue;
		}
		remove_instance(st->config, base);
	}
	rota_fsync_dir(st->config->path);
	return rescan(st, error);
}

/* ---- adding an instance ---- */

static gboolean add_file(const gchar *tmp, const gchar *what, const gchar *digest, RotaView *src,
			 RotaProgress *progress, GError **error)
{
	RotaSlot out = {.name = (gchar *)what, .device = (gchar *)tmp, .type = (gchar *)"raw"};
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	gboolean sized;

	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create %s: %s", tmp, g_strerror(err));
		return FALSE;
	}
	/* The copy may leave runs of zeros unwritten: the file has its size first. */
	sized = ftruncate(fd, (off_t)rota_view_get_size(src)) == 0;
	close(fd);
	if (!sized) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot size %s", tmp);
		return FALSE;
	}
	return rota_writer_copy_range(src, &out, 0, digest, progress, error);
}

static gboolean add_tree(const gchar *tmp, const gchar *digest, RotaView *src, RotaProgress *progress,
			 GError **error)
{
	if (g_mkdir(tmp, 0755) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create %s: %s", tmp, g_strerror(err));
		return FALSE;
	}
	return rota_writer_extract_tar(src, tmp, digest, progress, error);
}

static gboolean sync_path(const gchar *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = syncfs(fd) == 0;
	close(fd);
	return ok;
}

gboolean rota_artifact_repo_add_instance(RotaArtifactRepoState *st, const gchar *name, const gchar *digest,
					 RotaView *src, RotaProgress *progress, GError **error)
{
	const RotaArtifactRepo *repo = st->config;
	g_autofree gchar *base = instance_basename(name, digest);
	g_autofree gchar *path = g_build_filename(repo->path, base, NULL);
	g_autofree gchar *tmp = g_strconcat(path, ".tmp", NULL);
	g_autofree gchar *what = g_strdup_printf("%s/%s", repo->name, name);
	gboolean ok;

	if (!is_digest(digest)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "artifact %s has no valid sha256", what);
		return FALSE;
	}
	rota_remove_tree(tmp); /* an interrupted install's */
	ok = g_str_equal(repo->type, "trees") ? add_tree(tmp, digest, src, progress, error)
					      : add_file(tmp, what, digest, src, progress, error);
	if (!ok) {
		g_prefix_error(error, "Failed to install artifact %s: ", what);
		rota_remove_tree(tmp);
		return FALSE;
	}
	if (!sync_path(tmp) || rename(tmp, path) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Failed to install artifact %s: cannot complete %s: %s", what,
			    path, g_strerror(err));
		rota_remove_tree(tmp);
		return FALSE;
	}
	rota_fsync_parent_dir(path);
	return rescan(st, error);
}

/* ---- switching the links ---- */

static gboolean replace_link(const RotaArtifactRepo *repo, const gchar *name, const gchar *digest, GError **error)
{
	g_autofree gchar *target = instance_basename(name, digest);
	g_autofree gchar *link = g_build_filename(repo->path, name, NULL);
	/* Hidden and not an instance name: an interrupted commit's is pruned. */
	g_autofree gchar *tmp_base = g_strdup_printf(".link-%s", name);
	g_autofree gchar *tmp = g_build_filename(repo->path, tmp_base, NULL);

	unlink(tmp);
	if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Artifact repo '%s': cannot point %s at %s: %s", repo->name,
			    link, target, g_strerror(err));
		unlink(tmp);
		return FALSE;
	}
	return TRUE;
}

static gboolean remove_other_links(const RotaArtifactRepo *repo, GHashTable *active, GError **error)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);
	const gchar *base;

	if (!open_repo_dir(repo, &dir, error))
		return FALSE;
	while ((base = g_dir_read_name(dir)) != NULL) {
		gchar *path = g_build_filename(repo->path, base, NULL);
		if (base[0] != '.' && g_file_test(path, G_FILE_TEST_IS_SYMLINK) && !g_hash_table_contains(active, base))
			g_ptr_array_add(stale, path);
		else
			g_free(path);
	}
	for (guint i = 0; i < stale->len; i++) {
		if (unlink(stale->pdata[i]) != 0 && errno != ENOENT) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Artifact repo '%s': cannot remove %s: %s", repo->name,
				    (gchar *)stale->pdata[i], g_strerror(err));
			return FALSE;
		}
	}
	return TRUE;
}

gboolean rota_artifact_repo_commit(RotaArtifactRepoState *st, GHashTable *active, GError **error)
{
	GHashTableIter it;
	gpointer name, digest;

	g_hash_table_iter_init(&it, active);
	while (g_hash_table_iter_next(&it, &name, &digest)) {
		if (!replace_link(st->config, name, digest, error))
			return FALSE;
	}
	if (!remove_other_links(st->config, active, error))
		return FALSE;
	sync_path(st->config->path);
	return rescan(st, error);
}

/* ---- status ---- */

static GVariant *instances_variant(const RotaArtifactRepoState *st, guint *i)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE("aa{sv}"));
	const gchar *name = ((RotaArtifactInstance *)st->instances->pdata[*i])->name;

	for (; *i < st->instances->len; (*i)++) {
		RotaArtifactInstance *in = st->instances->pdata[*i];
		g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
		const gchar *const active[] = {"", NULL}, *const none[] = {NULL};
		if (!g_str_equal(in->name, name))
			break;
		g_variant_dict_insert(&d, "checksum", "s", in->digest);
		/* Without parent classes an active instance is referenced by "". */
		g_variant_dict_insert_value(&d, "references", g_variant_new_strv(in->active ? active : none, -1));
		g_variant_builder_add_value(&b, g_variant_dict_end(&d));
	}
	return g_variant_builder_end(&b);
}

static GVariant *repo_variant(const RotaArtifactRepo *repo)
{
	g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantBuilder) artifacts = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE("aa{sv}"));
	g_autoptr(RotaArtifactRepoState) st = NULL;
	g_autoptr(GError) local = NULL;

	g_variant_dict_insert(&d, "name", "s", repo->name);
	if (repo->description)
		g_variant_dict_insert(&d, "description", "s", repo->description);
	g_variant_dict_insert(&d, "path", "s", repo->path);
	g_variant_dict_insert(&d, "type", "s", repo->type);
	st = rota_artifact_repo_scan(repo, &local);
	if (!st)
		g_warning("%s", local->message);
	for (guint i = 0; st && i < st->instances->len;) {
		g_auto(GVariantDict) a = G_VARIANT_DICT_INIT(NULL);
		const gchar *name = ((RotaArtifactInstance *)st->instances->pdata[i])->name;
		g_variant_dict_insert(&a, "name", "s", name);
		g_variant_dict_insert_value(&a, "instances", instances_variant(st, &i));
		g_variant_builder_add_value(&artifacts, g_variant_dict_end(&a));
	}
	g_variant_dict_insert_value(&d, "artifacts", g_variant_builder_end(&artifacts));
	return g_variant_dict_end(&d);
}

GVariant *rota_artifact_repos_status(const RotaConfig *config)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE("aa{sv}"));

	for (guint i = 0; i < config->artifact_repos->len; i++)
		g_variant_builder_add_value(&b, repo_variant(config->artifact_repos->pdata[i]));
	return g_variant_builder_end(&b);
}
