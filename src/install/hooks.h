/* hooks.h — running code that comes with a bundle (install-check and slot
 * hooks, the full custom handler) and the system's own handlers
 * (pre-install, post-install), each with the RAUC_* environment the spec
 * lists (install-and-runtime.md §5–§7). */
#pragma once

#include <glib.h>

#include "bundle/bundle.h"
#include "system/context.h"

typedef void (*RotaMessageFunc)(const gchar *message, gpointer user_data);

/* What hooks and handlers of one installation share. */
typedef struct {
	RotaContext *ctx;
	RotaBundle *bundle;
	gchar *bundle_dir;        /* private dir holding the bundle's hook/handler files */
	gchar *transaction;
	GHashTable *target_group; /* class → RotaSlot* */
	RotaMessageFunc message;
	gpointer message_data;
} RotaHookEnv;

/* Copies the hook and handler executables named by the manifest out of
 * the bundle into env->bundle_dir (created, mode 0700). */
gboolean rota_hooks_stage(RotaHookEnv *env, GError **error);
/* Copies an image file into bundle_dir too (for `install` hooks and full
 * custom handlers that read it). Returns its path. */
gchar *rota_hooks_stage_image(RotaHookEnv *env, const RotaImage *image, GError **error);
/* Removes bundle_dir. */
void rota_hooks_unstage(RotaHookEnv *env);
/* Removes every staging directory that still exists (a service stopping
 * in the middle of an install). */
void rota_hooks_remove_staged(void);

/* install-check (§5.1). Returns FALSE with *rejected = TRUE for exit >= 10. */
gboolean rota_hooks_install_check(RotaHookEnv *env, gboolean *rejected, GError **error);

/* A slot hook: hook_arg is "slot-pre-install", "slot-install" or
 * "slot-post-install". mount_point may be NULL. */
gboolean rota_hooks_run_slot_hook(RotaHookEnv *env, const gchar *hook_arg, RotaSlot *slot, const RotaImage *image,
				  const gchar *image_path, const gchar *mount_point, GError **error);
/* The same with extra "NAME=value" variables on top (NULL-terminated, may
 * be NULL): the boot region writers' RAUC_BOOT_* (install-and-runtime.md). */
gboolean rota_hooks_run_slot_hook_env(RotaHookEnv *env, const gchar *hook_arg, RotaSlot *slot, const RotaImage *image,
				      const gchar *image_path, const gchar *mount_point, const gchar *const *extra_env,
				      GError **error);

/* A handler (pre-install, post-install or the full custom handler) with the
 * handler environment and RAUC's output protocol. extra_args may be NULL. */
gboolean rota_hooks_run_handler(RotaHookEnv *env, const gchar *path, gchar **extra_args, GError **error);
