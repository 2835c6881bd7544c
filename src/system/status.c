/* status.c — slot status in a central key file or in slot.raucs per slot.
 * Both use the same key names (system-conf.md §12.1); the central file is
 * rewritten whole through a temporary file, fsync and rename. */
#include "status.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "common/util.h"
#include "system/mount.h"

struct _RotaStatusStore {
	RotaConfig *config;  /* not owned */
	gchar *central;      /* NULL: per-slot */
	GKeyFile *kf;        /* central file contents */
	gchar *unreadable;   /* why the central file could not be loaded, until it is replaced */
};

void rota_slot_status_clear(RotaSlotStatus *s)
{
	g_free(s->bundle_compatible);
	g_free(s->bundle_version);
	g_free(s->bundle_description);
	g_free(s->bundle_build);
	g_free(s->bundle_hash);
	g_free(s->status);
	g_free(s->sha256);
	g_free(s->installed_transaction);
	g_free(s->installed_timestamp);
	g_free(s->activated_timestamp);
	memset(s, 0, sizeof(*s));
}

void rota_slot_status_copy(RotaSlotStatus *d, const RotaSlotStatus *s)
{
	rota_slot_status_clear(d);
	*d = *s;
	d->bundle_compatible = g_strdup(s->bundle_compatible);
	d->bundle_version = g_strdup(s->bundle_version);
	d->bundle_description = g_strdup(s->bundle_description);
	d->bundle_build = g_strdup(s->bundle_build);
	d->bundle_hash = g_strdup(s->bundle_hash);
	d->status = g_strdup(s->status);
	d->sha256 = g_strdup(s->sha256);
	d->installed_transaction = g_strdup(s->installed_transaction);
	d->installed_timestamp = g_strdup(s->installed_timestamp);
	d->activated_timestamp = g_strdup(s->activated_timestamp);
}

gchar *rota_status_timestamp_now(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

/* ---- key file mapping ---- */

static guint32 get_count(GKeyFile *kf, const gchar *group, const gchar *key)
{
	g_autofree gchar *v = g_key_file_get_string(kf, group, key, NULL);
	guint64 n = 0;

	if (v && !g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT32, &n, NULL))
		g_message("status: ignoring invalid %s '%s' in [%s]", key, v, group);
	return (guint32)n;
}

static void status_from_keyfile(GKeyFile *kf, const gchar *group, RotaSlotStatus *s)
{
	g_autofree gchar *size = g_key_file_get_string(kf, group, "size", NULL);

	s->bundle_compatible = g_key_file_get_string(kf, group, "bundle.compatible", NULL);
	s->bundle_version = g_key_file_get_string(kf, group, "bundle.version", NULL);
	s->bundle_description = g_key_file_get_string(kf, group, "bundle.description", NULL);
	s->bundle_build = g_key_file_get_string(kf, group, "bundle.build", NULL);
	s->bundle_hash = g_key_file_get_string(kf, group, "bundle.hash", NULL);
	s->status = g_key_file_get_string(kf, group, "status", NULL);
	s->sha256 = g_key_file_get_string(kf, group, "sha256", NULL);
	if (size)
		g_ascii_string_to_unsigned(size, 10, 0, G_MAXUINT64, &s->size, NULL);
	s->installed_transaction = g_key_file_get_string(kf, group, "installed.transaction", NULL);
	s->installed_timestamp = g_key_file_get_string(kf, group, "installed.timestamp", NULL);
	s->installed_count = get_count(kf, group, "installed.count");
	s->activated_timestamp = g_key_file_get_string(kf, group, "activated.timestamp", NULL);
	s->activated_count = get_count(kf, group, "activated.count");
}

static void set_or_remove(GKeyFile *kf, const gchar *group, const gchar *key, const gchar *value)
{
	if (value)
		g_key_file_set_string(kf, group, key, value);
	else
		g_key_file_remove_key(kf, group, key, NULL);
}

static void status_to_keyfile(GKeyFile *kf, const gchar *group, const RotaSlotStatus *s)
{
	g_key_file_remove_group(kf, group, NULL);
	set_or_remove(kf, group, "bundle.compatible", s->bundle_compatible);
	set_or_remove(kf, group, "bundle.version", s->bundle_version);
	set_or_remove(kf, group, "bundle.description", s->bundle_description);
	set_or_remove(kf, group, "bundle.build", s->bundle_build);
	set_or_remove(kf, group, "bundle.hash", s->bundle_hash);
	set_or_remove(kf, group, "status", s->status);
	if (s->sha256) {
		g_key_file_set_string(kf, group, "sha256", s->sha256);
		g_key_file_set_uint64(kf, group, "size", s->size);
	}
	set_or_remove(kf, group, "installed.transaction", s->installed_transaction);
	set_or_remove(kf, group, "installed.timestamp", s->installed_timestamp);
	if (s->installed_count)
		g_key_file_set_uint64(kf, group, "installed.count", s->installed_count);
	set_or_remove(kf, group, "activated.timestamp", s->activated_timestamp);
	if (s->activated_count)
		g_key_file_set_uint64(kf, group, "activated.count", s->activated_count);
}

static gboolean save_keyfile(GKeyFile *kf, const gchar *path, GError **error)
{
	gsize len = 0;
	g_autofree gchar *data = g_key_file_to_data(kf, &len, NULL);
	return rota_write_file_atomic(path, data, len, 0644, error);
}

/* A central file that could not be loaded is kept as <file>.broken before
 * it is replaced, for whoever wants to find out what broke it. */
static void move_unreadable_aside(RotaStatusStore *st)
{
	g_autofree gchar *broken = NULL;

	if (!st->unreadable)
		return;
	broken = g_strdup_printf("%s.broken", st->central);
	if (g_rename(st->central, broken) == 0) {
		g_warning("status file %s is unreadable (%s): moved to %s", st->central, st->unreadable, broken);
	} else if (errno != ENOENT) { /* ENOENT: gone since it was loaded, nothing to keep */
		int err = errno;
		g_warning("status file %s is unreadable (%s) and cannot be moved to %s: %s", st->central, st->unreadable,
			  broken, g_strerror(err));
		return; /* tried again by the next save */
	}
	g_clear_pointer(&st->unreadable, g_free);
}

static gboolean save_central(RotaStatusStore *st, GError **error)
{
	move_unreadable_aside(st);
	if (!save_keyfile(st->kf, st->central, error))
		return FALSE;
	g_clear_pointer(&st->unreadable, g_free); /* replaced, if it could not be moved */
	return TRUE;
}

/* ---- the store ---- */

RotaStatusStore *rota_status_store_new(RotaConfig *config, GError **error)
{
	RotaStatusStore *st = g_new0(RotaStatusStore, 1);
	g_autoptr(GError) local = NULL;

	st->config = config;
	st->kf = g_key_file_new();
	if (!config->statusfile)
		return st;
	st->central = g_strdup(config->statusfile);
	if (config->data_directory && g_mkdir_with_parents(config->data_directory, 0700) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create data directory %s", config->data_directory);
		rota_status_store_free(st);
		return NULL;
	}
	/* As in RAUC, loading only reports an unreadable file and goes on with
	 * empty status: a status query must not change anything. The file is
	 * moved aside when the status is next saved. */
	if (!g_key_file_load_from_file(st->kf, st->central, G_KEY_FILE_KEEP_COMMENTS, &local) &&
	    !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_message("cannot load status file %s: %s", st->central, local->message);
		st->unreadable = g_strdup(local->message);
		g_key_file_unref(st->kf);
		st->kf = g_key_file_new();
	}
	return st;
}

void rota_status_store_free(RotaStatusStore *st)
{
	if (!st)
		return;
	g_free(st->central);
	g_key_file_unref(st->kf);
	g_free(st->unreadable);
	g_free(st);
}

gboolean rota_status_store_is_central(RotaStatusStore *st)
{
	return st->central != NULL;
}

static gboolean slot_is_mountable(const RotaSlot *slot)
{
	return g_strcmp0(slot->type, "ext4") == 0 || g_strcmp0(slot->type, "vfat") == 0 ||
	       g_strcmp0(slot->type, "ubifs") == 0;
}

/* Per-slot files live in the slot's filesystem: use its mount point or mount it. */
static gchar *per_slot_dir(RotaStatusStore *st, RotaSlot *slot, gboolean *mounted_here, GError **error)
{
	*mounted_here = FALSE;
	if (slot->mount_point)
		return g_strdup(slot->mount_point);
	*mounted_here = TRUE;
	return rota_mount_slot(st->config, slot, error);
}

/* Loads the status of slot; FALSE (error set) only when a slot mounted here
 * to read it could not be unmounted again. */
static gboolean status_load(RotaStatusStore *st, RotaSlot *slot, RotaSlotStatus *out, GError **error)
{
	g_autofree gchar *group = g_strdup_printf("slot.%s", slot->name);
	g_autoptr(GError) local = NULL;
	g_autoptr(GKeyFile) kf = NULL;
	g_autofree gchar *dir = NULL, *file = NULL;
	gboolean mounted_here;

	rota_slot_status_clear(out);
	if (st->central) {
		status_from_keyfile(st->kf, group, out);
		return TRUE;
	}
	if (!slot_is_mountable(slot))
		return TRUE;
	dir = per_slot_dir(st, slot, &mounted_here, &local);
	if (!dir) {
		g_message("cannot read status of slot %s: %s", slot->name, local->message);
		return TRUE;
	}
	file = g_build_filename(dir, "slot.raucs", NULL);
	kf = g_key_file_new();
	if (g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, NULL))
		status_from_keyfile(kf, "slot", out);
	if (mounted_here && !rota_umount_slot(dir, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Slot %s still mounted at %s after reading its status: %s",
			    slot->name, dir, local->message);
		return FALSE;
	}
	return TRUE;
}

void rota_status_load(RotaStatusStore *st, RotaSlot *slot, RotaSlotStatus *out)
{
	g_autoptr(GError) error = NULL;

	if (!status_load(st, slot, out, &error))
		g_message("%s", error->message);
}

gboolean rota_status_load_before_write(RotaStatusStore *st, RotaSlot *slot, RotaSlotStatus *out, GError **error)
{
	return status_load(st, slot, out, error);
}

gchar *rota_status_get_boot_id(RotaStatusStore *st)
{
	return st->central ? g_key_file_get_string(st->kf, "system", "boot-id", NULL) : NULL;
}

gboolean rota_status_set_boot_id(RotaStatusStore *st, const gchar *boot_id, GError **error)
{
	if (!st->central)
		return TRUE;
	g_key_file_set_string(st->kf, "system", "boot-id", boot_id);
	return save_central(st, error);
}

gboolean rota_status_save(RotaStatusStore *st, RotaSlot *slot, const RotaSlotStatus *status, GError **error)
{
	g_autofree gchar *group = g_strdup_printf("slot.%s", slot->name);
	g_autoptr(GKeyFile) kf = NULL;
	g_autofree gchar *dir = NULL, *file = NULL;
	gboolean mounted_here, ok;

	if (st->central) {
		status_to_keyfile(st->kf, group, status);
		return save_central(st, error);
	}
	if (!slot_is_mountable(slot))
		return TRUE; /* nowhere to keep it, as in RAUC */
	dir = per_slot_dir(st, slot, &mounted_here, error);
	if (!dir)
		return FALSE;
	file = g_build_filename(dir, "slot.raucs", NULL);
	kf = g_key_file_new();
	status_to_keyfile(kf, "slot", status);
	ok = save_keyfile(kf, file, error);
	if (mounted_here && !rota_umount_slot(dir, ok ? error : NULL))
		ok = FALSE;
	return ok;
}
