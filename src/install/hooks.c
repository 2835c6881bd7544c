/* hooks.c — see hooks.h. rota reads bundles without mounting them, so the
 * executables a hook or handler needs are copied out of the verified
 * payload into a private directory that stands in for the mount point. */
#include "hooks.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/util.h"

/* ---- staging ---- */

static gboolean stage_file(RotaHookEnv *env, const gchar *rel, int mode, GError **error)
{
	RotaSquashfs *sqfs = rota_bundle_get_squashfs(env->bundle, error);
	g_autofree gchar *dest = g_build_filename(env->bundle_dir, rel, NULL);
	g_autofree gchar *dir = g_path_get_dirname(dest);

	if (!sqfs)
		return FALSE;
	if (g_file_test(dest, G_FILE_TEST_EXISTS))
		return TRUE;
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create %s", dir);
		return FALSE;
	}
	if (!rota_squashfs_copy_file_out(sqfs, rel, dest, mode, error)) {
		g_prefix_error(error, "cannot stage '%s' from the bundle: ", rel);
		return FALSE;
	}
	return TRUE;
}

/* Staging directories that exist now, so that a service told to stop in
 * the middle of an install can remove them (they may hold a whole image,
 * and /tmp is often RAM on a device). */
static GMutex staged_lock;
static GPtrArray *staged;

static void staged_add(const gchar *dir)
{
	g_mutex_lock(&staged_lock);
	if (!staged)
		staged = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(staged, g_strdup(dir));
	g_mutex_unlock(&staged_lock);
}

static void staged_remove(const gchar *dir)
{
	g_mutex_lock(&staged_lock);
	for (guint i = 0; staged && i < staged->len; i++) {
		if (g_str_equal(staged->pdata[i], dir)) {
			g_ptr_array_remove_index_fast(staged, i);
			break;
		}
	}
	g_mutex_unlock(&staged_lock);
}

void rota_hooks_remove_staged(void)
{
	g_mutex_lock(&staged_lock);
	for (guint i = 0; staged && i < staged->len; i++)
		rota_remove_tree(staged->pdata[i]);
	g_mutex_unlock(&staged_lock);
}

/* child_setup of every hook and handler: it goes when rota goes (a hook
 * left running could go on writing a slot after rota stopped). */
static void die_with_rota(gpointer parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)GPOINTER_TO_INT(parent))
		_exit(127); /* rota is gone already */
}
#define DIE_WITH_ROTA die_with_rota, GINT_TO_POINTER(getpid())

gboolean rota_hooks_stage(RotaHookEnv *env, GError **error)
{
	const RotaManifest *m = env->bundle->manifest;

	env->bundle_dir = g_dir_make_tmp("rota-bundle-XXXXXX", NULL);
	if (!env->bundle_dir) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create a staging directory in %s", g_get_tmp_dir());
		return FALSE;
	}
	staged_add(env->bundle_dir);
	return (!m->hook_name || stage_file(env, m->hook_name, 0700, error)) &&
	       (!m->handler_name || stage_file(env, m->handler_name, 0700, error));
}

gchar *rota_hooks_stage_image(RotaHookEnv *env, const RotaImage *image, GError **error)
{
	if (!stage_file(env, image->filename, 0600, error))
		return NULL;
	return g_build_filename(env->bundle_dir, image->filename, NULL);
}

void rota_hooks_unstage(RotaHookEnv *env)
{
	if (env->bundle_dir) {
		staged_remove(env->bundle_dir);
		rota_remove_tree(env->bundle_dir);
	}
	g_clear_pointer(&env->bundle_dir, g_free);
}

/* ---- environments ---- */

static gchar **env_set(gchar **envp, const gchar *name, const gchar *value)
{
	return g_environ_setenv(envp, name, value ? value : "", TRUE);
}

static gchar **env_add_meta(gchar **envp, const RotaManifest *m, gboolean overwrite)
{
	g_auto(GStrv) meta = rota_manifest_meta_environ(m);

	for (gchar **e = meta; *e; e++) {
		g_auto(GStrv) kv = g_strsplit(*e, "=", 2);
		envp = g_environ_setenv(envp, kv[0], kv[1], overwrite);
	}
	return envp;
}

static gchar **system_env(RotaHookEnv *env)
{
	gchar **envp = g_get_environ();

	envp = env_set(envp, "RAUC_SYSTEM_COMPATIBLE", env->ctx->config->compatible);
	envp = env_set(envp, "RAUC_SYSTEM_VARIANT", env->ctx->variant);
	envp = env_set(envp, "RAUC_SYSTEM_VERSION", env->ctx->system_version);
	envp = env_set(envp, "RAUC_MOUNT_PREFIX", env->ctx->config->mountprefix);
	return envp;
}

static gchar *spki_hashes(const RotaBundle *b)
{
	g_autoptr(GPtrArray) list = g_ptr_array_new();

	for (guint i = 0; b->chain && i < b->chain->len; i++)
		g_ptr_array_add(list, ((RotaCertInfo *)b->chain->pdata[i])->spki_sha256);
	g_ptr_array_add(list, NULL);
	return g_strjoinv(" ", (gchar **)list->pdata);
}

static gchar **slot_hook_env(RotaHookEnv *env, RotaSlot *slot, const RotaImage *image, const gchar *image_path,
			     const gchar *mount_point)
{
	gchar **envp = system_env(env);
	g_autofree gchar *size = g_strdup_printf("%" G_GINT64_FORMAT, image->filename ? (gint64)image->size : -1);
	g_autofree gchar *spki = spki_hashes(env->bundle);
	const gchar *bootname = slot->bootname ? slot->bootname : (slot->parent ? slot->parent->bootname : NULL);

	envp = env_set(envp, "RAUC_SLOT_NAME", slot->name);
	envp = env_set(envp, "RAUC_SLOT_STATE", rota_slot_state_name(slot->state));
	envp = env_set(envp, "RAUC_SLOT_CLASS", slot->sclass);
	envp = env_set(envp, "RAUC_SLOT_TYPE", slot->type);
	envp = env_set(envp, "RAUC_SLOT_DEVICE", slot->device);
	envp = env_set(envp, "RAUC_SLOT_BOOTNAME", bootname);
	envp = env_set(envp, "RAUC_SLOT_PARENT", slot->parent ? slot->parent->name : NULL);
	/* A slot mounted outside rota (allow-mounted, install hooks) is where
	 * the hook has to work: RAUC passes that mount point too. */
	if (mount_point || slot->mount_point)
		envp = env_set(envp, "RAUC_SLOT_MOUNT_POINT", mount_point ? mount_point : slot->mount_point);
	envp = env_set(envp, "RAUC_IMAGE_NAME", image_path);
	envp = env_set(envp, "RAUC_IMAGE_SIZE", size);
	envp = env_set(envp, "RAUC_IMAGE_DIGEST", image->sha256);
	envp = env_set(envp, "RAUC_IMAGE_CLASS", image->slotclass);
	envp = env_set(envp, "RAUC_BUNDLE_SPKI_HASHES", spki);
	envp = env_set(envp, "RAUC_BUNDLE_MOUNT_POINT", env->bundle_dir);
	return envp;
}

/* The numbered slot variables of the handler environment (§7). */
static gchar **add_slot_list(RotaHookEnv *env, gchar **envp)
{
	const RotaConfig *c = env->ctx->config;
	const RotaManifest *m = env->bundle->manifest;
	GString *all = g_string_new(NULL), *targets = g_string_new(NULL);

	for (guint i = 0; i < c->slots->len; i++) {
		RotaSlot *s = c->slots->pdata[i];
		guint n = i + 1;
		const struct {
			const gchar *name;
			const gchar *value;
		} vars[] = {{"RAUC_SLOT_NAME_%u", s->name},        {"RAUC_SLOT_CLASS_%u", s->sclass},
			    {"RAUC_SLOT_TYPE_%u", s->type},        {"RAUC_SLOT_DEVICE_%u", s->device},
			    {"RAUC_SLOT_BOOTNAME_%u", s->bootname}, {"RAUC_SLOT_PARENT_%u", s->parent ? s->parent->name : NULL}};

		g_string_append_printf(all, "%s%u", i ? " " : "", n);
		for (gsize v = 0; v < G_N_ELEMENTS(vars); v++) {
			g_autofree gchar *var = g_strdup_printf(vars[v].name, n);
			envp = env_set(envp, var, vars[v].value);
		}
		if (!env->target_group || g_hash_table_lookup(env->target_group, s->sclass) != s)
			continue;
		g_string_append_printf(targets, "%s%u", targets->len ? " " : "", n);
		for (guint k = 0; k < m->images->len; k++) {
			RotaImage *img = m->images->pdata[k];
			if (img->artifact || g_strcmp0(img->slotclass, s->sclass) != 0)
				continue;
			g_autofree gchar *vn = g_strdup_printf("RAUC_IMAGE_NAME_%u", n);
			g_autofree gchar *vd = g_strdup_printf("RAUC_IMAGE_DIGEST_%u", n);
			g_autofree gchar *vc = g_strdup_printf("RAUC_IMAGE_CLASS_%u", n);
			envp = env_set(envp, vn, img->filename);
			envp = env_set(envp, vd, img->sha256);
			envp = env_set(envp, vc, img->slotclass);
			break;
		}
	}
	envp = env_set(envp, "RAUC_SLOTS", all->str);
	envp = env_set(envp, "RAUC_TARGET_SLOTS", targets->str);
	g_string_free(all, TRUE);
	g_string_free(targets, TRUE);
	return envp;
}

static gchar **handler_env(RotaHookEnv *env)
{
	gchar **envp = system_env(env);

	envp = env_set(envp, "RAUC_SYSTEM_CONFIG", env->ctx->config->path);
	envp = env_set(envp, "RAUC_CURRENT_BOOTNAME", env->ctx->bootname);
	for (guint i = 0; i < env->ctx->system_info_env->len; i++) {
		g_auto(GStrv) kv = g_strsplit(env->ctx->system_info_env->pdata[i], "=", 2);
		envp = g_environ_setenv(envp, kv[0], kv[1], FALSE);
	}
	envp = env_set(envp, "RAUC_BUNDLE_MOUNT_POINT", env->bundle_dir);
	envp = env_set(envp, "RAUC_UPDATE_SOURCE", env->bundle_dir);
	envp = env_set(envp, "RAUC_TRANSACTION_ID", env->transaction);
	envp = add_slot_list(env, envp);
	return env_add_meta(envp, env->bundle->manifest, FALSE);
}

/* ---- running ---- */

static gchar *hook_path(RotaHookEnv *env)
{
	return g_build_filename(env->bundle_dir, env->bundle->manifest->hook_name, NULL);
}

static gchar *last_line(const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	for (gint i = (gint)g_strv_length(lines) - 1; i >= 0; i--) {
		if (*g_strstrip(lines[i]))
			return g_strdup(lines[i]);
	}
	return NULL;
}

gboolean rota_hooks_install_check(RotaHookEnv *env, gboolean *rejected, GError **error)
{
	g_autofree gchar *path = hook_path(env);
	const gchar *argv[] = {path, "install-check", NULL};
	g_auto(GStrv) envp = system_env(env);
	g_autofree gchar *err = NULL, *line = NULL;
	g_autoptr(GError) local = NULL;
	gint status = 0;

	*rejected = FALSE;
	envp = env_set(envp, "RAUC_MF_COMPATIBLE", env->bundle->manifest->compatible);
	envp = env_set(envp, "RAUC_MF_VERSION", env->bundle->manifest->version);
	envp = env_set(envp, "RAUC_MF_BUILD", env->bundle->manifest->build);
	envp = env_add_meta(envp, env->bundle->manifest, TRUE);
	if (!g_spawn_sync(NULL, (gchar **)argv, envp, 0, DIE_WITH_ROTA, NULL, &err, &status, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Install-check hook failed: %s", local->message);
		return FALSE;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return TRUE;
	line = last_line(err);
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 10) {
		*rejected = TRUE;
		if (line)
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Bundle rejected: Hook returned: '%s'", line);
		else
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Bundle rejected: Hook returned with exit code %d",
				    WEXITSTATUS(status));
		return FALSE;
	}
	/* status is a wait status: GLib words it ("exited with code N", "killed
	 * by signal S") as RAUC reports it. */
	g_spawn_check_wait_status(status, &local);
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Install-check hook failed: failed to run bundle hook: %s%s%s",
		    local ? local->message : "unknown status", line ? ": " : "", line ? line : "");
	return FALSE;
}

gboolean rota_hooks_run_slot_hook(RotaHookEnv *env, const gchar *hook_arg, RotaSlot *slot, const RotaImage *image,
				  const gchar *image_path, const gchar *mount_point, GError **error)
{
	return rota_hooks_run_slot_hook_env(env, hook_arg, slot, image, image_path, mount_point, NULL, error);
}

gboolean rota_hooks_run_slot_hook_env(RotaHookEnv *env, const gchar *hook_arg, RotaSlot *slot, const RotaImage *image,
				      const gchar *image_path, const gchar *mount_point, const gchar *const *extra_env,
				      GError **error)
{
	g_autofree gchar *path = hook_path(env);
	const gchar *argv[] = {path, hook_arg, NULL};
	g_auto(GStrv) envp = slot_hook_env(env, slot, image, image_path, mount_point);
	g_autofree gchar *err = NULL;
	g_autoptr(GError) local = NULL;
	gint status = 0;

	for (const gchar *const *e = extra_env; e && *e; e++) {
		g_auto(GStrv) kv = g_strsplit(*e, "=", 2);
		envp = env_set(envp, kv[0], kv[1]);
	}
	if (!g_spawn_sync(NULL, (gchar **)argv, envp, 0, DIE_WITH_ROTA, NULL, &err, &status, &local) ||
	    !g_spawn_check_wait_status(status, &local)) {
		g_autofree gchar *line = last_line(err);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "failed to run slot hook %s for slot %s: %s%s%s", hook_arg,
			    slot->name, local->message, line ? ": " : "", line ? line : "");
		return FALSE;
	}
	return TRUE;
}

/* The handler output protocol (§6.4): "<< kind text" lines are status. */
static void handle_output_line(RotaHookEnv *env, const gchar *line)
{
	static const struct {
		const gchar *prefix;
		const gchar *format;
	} kinds[] = {{"<< handler ", "Handler status: %s"}, {"<< bootloader ", "Bootloader status: %s"},
		     {"<< error ", "Error: %s"},            {"<< debug ", "Debug: %s"}};
	g_autofree gchar *msg = NULL;

	if (!g_str_has_prefix(line, "<< ")) {
		msg = g_strdup_printf("# %s", line);
	} else if (g_str_has_prefix(line, "<< image ")) {
		g_auto(GStrv) parts = g_strsplit(line + strlen("<< image "), " ", 2);
		msg = g_strdup_printf("Image '%s' status: %s", parts[0], parts[0] && parts[1] ? parts[1] : "");
	} else {
		for (gsize i = 0; i < G_N_ELEMENTS(kinds) && !msg; i++) {
			if (g_str_has_prefix(line, kinds[i].prefix))
				msg = g_strdup_printf(kinds[i].format, line + strlen(kinds[i].prefix));
		}
		if (!msg)
			msg = g_strdup_printf("Unknown handler output: %s", line);
	}
	if (env->message)
		env->message(msg, env->message_data);
	else
		g_message("%s", msg);
}

gboolean rota_hooks_run_handler(RotaHookEnv *env, const gchar *path, gchar **extra_args, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) envp = handler_env(env);
	/* stderr goes into the same pipe as stdout: RAUC reads both, in the
	 * order written, with the output protocol (§6.4). */
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GBytes) out = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GError) local = NULL;
	g_auto(GStrv) lines = NULL;
	gboolean ok;

	g_ptr_array_add(argv, (gpointer)path);
	for (gchar **a = extra_args; a && *a; a++)
		g_ptr_array_add(argv, *a);
	g_ptr_array_add(argv, NULL);
	g_subprocess_launcher_set_environ(launcher, envp);
	g_subprocess_launcher_set_child_setup(launcher, DIE_WITH_ROTA, NULL);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &local);
	ok = proc && g_subprocess_communicate(proc, NULL, NULL, &out, NULL, &local) &&
	     g_subprocess_wait_check(proc, NULL, &local);
	if (out)
		text = g_strndup(g_bytes_get_data(out, NULL), g_bytes_get_size(out));
	lines = g_strsplit(text ? text : "", "\n", -1);
	for (gchar **l = lines; *l; l++) {
		if (**l)
			handle_output_line(env, *l);
	}
	if (!ok) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "handler %s failed: %s", path, local->message);
		return FALSE;
	}
	return TRUE;
}
