/* slots.c — booted-slot detection, slot states, mounts and the choice of
 * the target group (system-conf.md §8, §10; install-and-runtime.md §3). */
#include "slots.h"

#include <stdlib.h>
#include <string.h>

gchar *rota_read_cmdline(GError **error)
{
	const gchar *test = g_getenv("RAUC_TEST_CMDLINE");
	const gchar *path = g_getenv("ROTA_CMDLINE_FILE") ? g_getenv("ROTA_CMDLINE_FILE") : "/proc/cmdline";
	g_autoptr(GError) local = NULL;
	gchar *content = NULL;

	if (test)
		return g_strdup(test);
	if (!g_file_get_contents(path, &content, NULL, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot read kernel command line %s: %s", path, local->message);
		return NULL;
	}
	return content;
}

/* The value of `key=` in the command line (first match), or NULL. */
static gchar *cmdline_value(const gchar *cmdline, const gchar *key)
{
	g_auto(GStrv) words = g_strsplit_set(cmdline, " \t\n", -1);
	gsize klen = strlen(key);

	for (gchar **w = words; *w; w++) {
		if (strncmp(*w, key, klen) == 0 && (*w)[klen] == '=' && (*w)[klen + 1])
			return g_strdup(*w + klen + 1);
	}
	return NULL;
}

/* root=PARTUUID=x and friends become /dev/disk/by-…/x, then realpath. */
static gchar *resolve_root_device(const gchar *value)
{
	static const struct {
		const gchar *prefix;
		const gchar *dir;
	} kinds[] = {{"PARTLABEL=", "/dev/disk/by-partlabel/"},
		     {"PARTUUID=", "/dev/disk/by-partuuid/"},
		     {"UUID=", "/dev/disk/by-uuid/"}};
	g_autofree gchar *path = NULL;
	gchar *real;

	for (gsize i = 0; i < G_N_ELEMENTS(kinds) && !path; i++) {
		if (g_str_has_prefix(value, kinds[i].prefix))
			path = g_strconcat(kinds[i].dir, value + strlen(kinds[i].prefix), NULL);
	}
	if (!path)
		path = g_strdup(value);
	real = realpath(path, NULL);
	return real ? real : g_steal_pointer(&path);
}

static gchar *detect_bootname(const gchar *cmdline, RotaBootloader *bootloader)
{
	gchar *value;

	if (strstr(cmdline, "rauc.external") || strstr(cmdline, "root=/dev/nfs"))
		return g_strdup("_external_");
	value = cmdline_value(cmdline, "rauc.slot");
	if (value)
		return value;
	if (bootloader) {
		g_autoptr(GError) error = NULL;
		value = rota_bootloader_get_current(bootloader, &error);
		if (value)
			return value;
		if (error)
			g_message("bootloader cannot tell the booted slot: %s", error->message);
		value = cmdline_value(cmdline, "bootstate.active");
		if (!value)
			value = cmdline_value(cmdline, "bootchooser.active");
		if (value)
			return value;
	}
	value = cmdline_value(cmdline, "root");
	if (!value)
		value = cmdline_value(cmdline, "systemd.verity_root_data");
	if (value) {
		gchar *dev = resolve_root_device(value);
		g_free(value);
		return dev;
	}
	return NULL;
}

static gboolean slot_matches(const RotaSlot *s, const gchar *bootname)
{
	g_autofree gchar *real = NULL;

	if (g_strcmp0(s->bootname, bootname) == 0 || g_strcmp0(s->name, bootname) == 0)
		return TRUE;
	real = realpath(s->device, NULL);
	return g_strcmp0(real ? real : s->device, bootname) == 0;
}

gboolean rota_slots_determine_states(RotaConfig *config, RotaBootloader *bootloader, const gchar *override,
				     gchar **out_bootname, GError **error)
{
	g_autofree gchar *bootname = NULL;
	RotaSlot *booted = NULL, *booted_root;

	if (override) {
		bootname = g_strdup(override);
	} else {
		g_autofree gchar *cmdline = rota_read_cmdline(error);
		if (!cmdline)
			return FALSE;
		bootname = detect_bootname(cmdline, bootloader);
	}
	if (!bootname) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED,
			    "Could not find any root device or rauc slot information in the kernel command line");
		return FALSE;
	}
	for (guint i = 0; i < config->slots->len && !booted; i++) {
		RotaSlot *s = config->slots->pdata[i];
		if (slot_matches(s, bootname))
			booted = s;
	}
	if (!booted && !g_str_equal(bootname, "_external_")) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Did not find booted slot (matching '%s')", bootname);
		return FALSE;
	}
	/* A booted child (rauc.slot= or root= naming it) means its whole group
	 * is running: its parent and siblings are active, never a target. */
	booted_root = booted && booted->parent ? booted->parent : booted;
	for (guint i = 0; i < config->slots->len; i++) {
		RotaSlot *s = config->slots->pdata[i];
		if (s == booted)
			s->state = ROTA_SLOT_BOOTED;
		else if (booted_root && (s == booted_root || s->parent == booted_root))
			s->state = ROTA_SLOT_ACTIVE;
		else
			s->state = ROTA_SLOT_INACTIVE;
	}
	if (out_bootname)
		*out_bootname = g_steal_pointer(&bootname);
	return TRUE;
}

RotaSlot *rota_slots_get_booted(RotaConfig *config)
{
	for (guint i = 0; i < config->slots->len; i++) {
		RotaSlot *s = config->slots->pdata[i];
		if (s->state == ROTA_SLOT_BOOTED)
			return s;
	}
	return NULL;
}

/* /dev/loopN is reported by its backing file, so file-backed slots match. */
static gchar *mount_source(const gchar *source)
{
	g_autofree gchar *base = g_path_get_basename(source);
	g_autofree gchar *sys = NULL;
	gchar *backing = NULL;

	if (!g_str_has_prefix(source, "/dev/loop"))
		return g_strdup(source);
	sys = g_strdup_printf("/sys/block/%s/loop/backing_file", base);
	if (g_file_get_contents(sys, &backing, NULL, NULL))
		return g_strchomp(backing);
	return g_strdup(source);
}

void rota_slots_update_mounts(RotaConfig *config)
{
	g_autofree gchar *mounts = NULL;
	g_auto(GStrv) lines = NULL;

	for (guint i = 0; i < config->slots->len; i++)
		g_clear_pointer(&((RotaSlot *)config->slots->pdata[i])->mount_point, g_free);
	if (!g_file_get_contents("/proc/self/mounts", &mounts, NULL, NULL))
		return;
	lines = g_strsplit(mounts, "\n", -1);
	for (gchar **l = lines; *l; l++) {
		g_auto(GStrv) f = g_strsplit(*l, " ", 3);
		g_autofree gchar *src = NULL;
		if (g_strv_length(f) < 2)
			continue;
		src = mount_source(f[0]);
		for (guint i = 0; i < config->slots->len; i++) {
			RotaSlot *s = config->slots->pdata[i];
			g_autofree gchar *real = realpath(s->device, NULL);
			if (!s->mount_point && (g_strcmp0(src, s->device) == 0 || g_strcmp0(src, real) == 0))
				s->mount_point = g_strdup(f[1]);
		}
	}
}

/* Preference among inactive slots: failed, never installed, oldest install. */
static gboolean better_target(RotaStatusStore *store, RotaSlot *candidate, RotaSlot *current)
{
	g_auto(RotaSlotStatus) a = {0};
	g_auto(RotaSlotStatus) b = {0};

	if (!current)
		return TRUE;
	if (!store || !rota_status_store_is_central(store))
		return FALSE; /* per-slot: the first one found */
	rota_status_load(store, candidate, &a);
	rota_status_load(store, current, &b);
	if (g_strcmp0(b.status, "failed") == 0 || !b.installed_timestamp)
		return FALSE;
	if (g_strcmp0(a.status, "failed") == 0 || !a.installed_timestamp)
		return TRUE;
	return g_strcmp0(a.installed_timestamp, b.installed_timestamp) < 0;
}

GHashTable *rota_slots_select_target_group(RotaConfig *config, RotaStatusStore *store)
{
	g_autoptr(GHashTable) picked = g_hash_table_new(g_str_hash, g_str_equal); /* root class → slot */
	GHashTable *group = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < config->slots->len; i++) {
		RotaSlot *s = config->slots->pdata[i];
		if (s->parent || s->state != ROTA_SLOT_INACTIVE)
			continue;
		if (better_target(store, s, g_hash_table_lookup(picked, s->sclass)))
			g_hash_table_insert(picked, s->sclass, s);
	}
	for (guint i = 0; i < config->slots->len; i++) {
		RotaSlot *s = config->slots->pdata[i];
		RotaSlot *root = s->parent ? s->parent : s;
		if (s->state == ROTA_SLOT_INACTIVE && g_hash_table_lookup(picked, root->sclass) == root)
			g_hash_table_insert(group, s->sclass, s);
	}
	return group;
}

GPtrArray *rota_slots_resolve_identifier(RotaConfig *config, const gchar *identifier, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new();
	RotaSlot *booted = rota_slots_get_booted(config);

	if (g_strcmp0(identifier, "booted") == 0) {
		if (!booted) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Did not find booted slot");
			return NULL;
		}
		g_ptr_array_add(out, booted);
	} else if (g_strcmp0(identifier, "other") == 0) {
		for (guint i = 0; booted && i < config->slots->len; i++) {
			RotaSlot *s = config->slots->pdata[i];
			if (s != booted && !s->parent && s->bootname && g_str_equal(s->sclass, booted->sclass))
				g_ptr_array_add(out, s);
		}
		if (!out->len) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No other bootable slot of the same class found");
			return NULL;
		}
	} else {
		/* Exactly <class>.<index>, with RAUC's messages (install-and-runtime.md §13). */
		g_auto(GStrv) parts = g_strsplit(identifier, ".", -1);
		RotaSlot *s = rota_config_find_slot(config, identifier);
		if (g_strv_length(parts) != 2) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid slot name format: '%s'", identifier);
			return NULL;
		}
		if (!s) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No slot with class %s and name %s found", parts[0],
				    identifier);
			return NULL;
		}
		if (!s->bootname) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Slot %s has no bootname set", identifier);
			return NULL;
		}
		g_ptr_array_add(out, s);
	}
	return g_steal_pointer(&out);
}
