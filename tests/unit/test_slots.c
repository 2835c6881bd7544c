/* test_slots.c — booted-slot detection and slot states (system-conf.md §8),
 * target group selection (install-and-runtime.md §3, system-conf.md §10)
 * and slot identifiers (booted / other / <class>.<index>). The kernel
 * command line comes from $RAUC_TEST_CMDLINE or $ROTA_CMDLINE_FILE. */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "system/slots.h"
#include "common/util.h"

/* ---- helpers ---- */

typedef struct {
	gchar *dir;
	RotaConfig *config;
	RotaBootloader *noop;
} Fixture;

/* A/B root with one child per group, plus a non-redundant bootloader slot.
 * Devices are files in the fixture directory; link1 is a symlink to disk1. */
static const gchar ab_conf[] =
	"[system]\n"
	"compatible=Test Config\n"
	"bootloader=noop\n"
	"data-directory=data\n"
	"[slot.rootfs.0]\ndevice=disk0\ntype=ext4\nbootname=A\n"
	"[slot.rootfs.1]\ndevice=link1\ntype=ext4\nbootname=B\n"
	"[slot.appfs.0]\ndevice=app0\nparent=rootfs.0\n"
	"[slot.appfs.1]\ndevice=app1\nparent=rootfs.1\n"
	"[slot.bootloader.0]\ndevice=boot0\n";

/* Three root slots (A/B/C) with children, for the target preference. */
static const gchar abc_conf[] =
	"[system]\n"
	"compatible=Test Config\n"
	"bootloader=noop\n"
	"data-directory=data\n"
	"[slot.rootfs.0]\ndevice=disk0\nbootname=A\n"
	"[slot.rootfs.1]\ndevice=disk1\nbootname=B\n"
	"[slot.rootfs.2]\ndevice=disk2\nbootname=C\n"
	"[slot.appfs.0]\ndevice=app0\nparent=rootfs.0\n"
	"[slot.appfs.1]\ndevice=app1\nparent=rootfs.1\n"
	"[slot.appfs.2]\ndevice=app2\nparent=rootfs.2\n";

static void touch(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_assert_true(g_file_set_contents(path, "", 0, NULL));
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
	const gchar *text = data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = NULL, *link = NULL;
	RotaBootloaderConfig bl = {.backend = (gchar *)"noop"};

	f->dir = g_dir_make_tmp("rota-slots-XXXXXX", &error);
	g_assert_no_error(error);
	for (const gchar *const *n = (const gchar *const[]){"disk0", "disk1", "disk2", "app0", "app1", "app2", "boot0", NULL};
	     *n; n++)
		touch(f->dir, *n);
	link = g_build_filename(f->dir, "link1", NULL);
	g_assert_cmpint(symlink("disk1", link), ==, 0);
	conf = g_build_filename(f->dir, "system.conf", NULL);
	g_assert_true(g_file_set_contents(conf, text, -1, NULL));
	f->config = rota_config_load(conf, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->config);
	f->noop = rota_bootloader_new(&bl, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->noop);
	g_unsetenv("RAUC_TEST_CMDLINE");
	g_unsetenv("ROTA_CMDLINE_FILE");
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	g_unsetenv("RAUC_TEST_CMDLINE");
	g_unsetenv("ROTA_CMDLINE_FILE");
	rota_bootloader_free(f->noop);
	rota_config_free(f->config);
	rota_remove_tree(f->dir);
	g_free(f->dir);
}

static RotaSlot *slot(Fixture *f, const gchar *name)
{
	RotaSlot *s = rota_config_find_slot(f->config, name);
	g_assert_nonnull(s);
	return s;
}

static RotaSlotState state(Fixture *f, const gchar *name)
{
	return slot(f, name)->state;
}

/* Determines states from cmdline (via $RAUC_TEST_CMDLINE); returns the boot name. */
static gchar *determine(Fixture *f, const gchar *cmdline, RotaBootloader *bl)
{
	g_autoptr(GError) error = NULL;
	gchar *bootname = NULL;

	g_setenv("RAUC_TEST_CMDLINE", cmdline, TRUE);
	g_assert_true(rota_slots_determine_states(f->config, bl, NULL, &bootname, &error));
	g_assert_no_error(error);
	g_assert_nonnull(bootname);
	return bootname;
}

static void assert_determine_fails(Fixture *f, const gchar *cmdline, RotaBootloader *bl, const gchar *what)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *bootname = NULL;

	g_setenv("RAUC_TEST_CMDLINE", cmdline, TRUE);
	g_assert_false(rota_slots_determine_states(f->config, bl, NULL, &bootname, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	if (!strstr(error->message, what))
		g_error("error '%s' does not contain '%s'", error->message, what);
	g_assert_null(bootname);
}

/* Marks every slot with a recognisable non-inactive state so that a later
 * determine_states visibly resets them. */
static void dirty_states(Fixture *f)
{
	for (guint i = 0; i < f->config->slots->len; i++)
		((RotaSlot *)f->config->slots->pdata[i])->state = ROTA_SLOT_ACTIVE;
}

/* ---- rota_read_cmdline ---- */

static void test_cmdline_from_env(Fixture *f, gconstpointer data)
{
	g_autofree gchar *file = g_build_filename(f->dir, "cmdline", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cmdline = NULL;

	(void)data;
	g_assert_true(g_file_set_contents(file, "from file\n", -1, NULL));
	g_setenv("ROTA_CMDLINE_FILE", file, TRUE);
	g_setenv("RAUC_TEST_CMDLINE", "quiet rauc.slot=A", TRUE);
	cmdline = rota_read_cmdline(&error); /* the variable wins over the file */
	g_assert_no_error(error);
	g_assert_cmpstr(cmdline, ==, "quiet rauc.slot=A");
}

static void test_cmdline_from_file(Fixture *f, gconstpointer data)
{
	g_autofree gchar *file = g_build_filename(f->dir, "cmdline", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cmdline = NULL;
	g_autofree gchar *bootname = NULL;

	(void)data;
	g_assert_true(g_file_set_contents(file, "console=ttyS0 rauc.slot=B\n", -1, NULL));
	g_setenv("ROTA_CMDLINE_FILE", file, TRUE);
	cmdline = rota_read_cmdline(&error);
	g_assert_no_error(error);
	g_assert_cmpstr(cmdline, ==, "console=ttyS0 rauc.slot=B\n");

	/* and it is what determine_states uses (trailing newline not part of the value) */
	g_assert_true(rota_slots_determine_states(f->config, NULL, NULL, &bootname, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(bootname, ==, "B");
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
}

static void test_cmdline_file_missing(Fixture *f, gconstpointer data)
{
	g_autofree gchar *file = g_build_filename(f->dir, "no-cmdline", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cmdline = NULL;
	g_autofree gchar *bootname = NULL;

	(void)data;
	g_setenv("ROTA_CMDLINE_FILE", file, TRUE);
	cmdline = rota_read_cmdline(&error);
	g_assert_null(cmdline);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_nonnull(strstr(error->message, file));
	g_clear_error(&error);

	g_assert_false(rota_slots_determine_states(f->config, NULL, NULL, &bootname, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
}

/* ---- booted slot detection ---- */

static void test_rauc_slot_bootname(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	dirty_states(f);
	bootname = determine(f, "console=ttyS0 rauc.slot=B quiet", f->noop);
	g_assert_cmpstr(bootname, ==, "B");
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
	g_assert_cmpint(state(f, "appfs.1"), ==, ROTA_SLOT_ACTIVE);
	g_assert_cmpint(state(f, "rootfs.0"), ==, ROTA_SLOT_INACTIVE);
	g_assert_cmpint(state(f, "appfs.0"), ==, ROTA_SLOT_INACTIVE);
	g_assert_cmpint(state(f, "bootloader.0"), ==, ROTA_SLOT_INACTIVE);
	g_assert_true(rota_slots_get_booted(f->config) == slot(f, "rootfs.1"));
}

static void test_rauc_slot_slot_name(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=rootfs.0", NULL);
	g_assert_cmpstr(bootname, ==, "rootfs.0");
	g_assert_cmpint(state(f, "rootfs.0"), ==, ROTA_SLOT_BOOTED);
	g_assert_cmpint(state(f, "appfs.0"), ==, ROTA_SLOT_ACTIVE);
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_INACTIVE);
}

static void test_rauc_slot_before_root(Fixture *f, gconstpointer data)
{
	g_autofree gchar *disk0 = g_build_filename(f->dir, "disk0", NULL);
	g_autofree gchar *cmdline = g_strdup_printf("root=%s rauc.slot=B", disk0);
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, cmdline, NULL);
	g_assert_cmpstr(bootname, ==, "B");
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
}

static void test_root_device_path(Fixture *f, gconstpointer data)
{
	g_autofree gchar *disk1 = g_build_filename(f->dir, "disk1", NULL);
	g_autofree gchar *real = realpath(disk1, NULL);
	g_autofree gchar *cmdline = g_strdup_printf("console=ttyS0 root=%s rw", disk1);
	g_autofree gchar *bootname = NULL;

	(void)data;
	g_assert_nonnull(real);
	/* rootfs.1's device is the symlink link1 → disk1: matched through realpath */
	bootname = determine(f, cmdline, f->noop);
	g_assert_cmpstr(bootname, ==, real);
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
	g_assert_cmpint(state(f, "appfs.1"), ==, ROTA_SLOT_ACTIVE);
	g_assert_cmpint(state(f, "rootfs.0"), ==, ROTA_SLOT_INACTIVE);
}

static void test_root_symlink_resolved(Fixture *f, gconstpointer data)
{
	g_autofree gchar *link = g_build_filename(f->dir, "link1", NULL);
	g_autofree gchar *disk1 = g_build_filename(f->dir, "disk1", NULL);
	g_autofree gchar *real = realpath(disk1, NULL);
	g_autofree gchar *cmdline = g_strdup_printf("root=%s", link);
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, cmdline, NULL);
	g_assert_cmpstr(bootname, ==, real); /* the command line value is resolved too */
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
}

static void test_verity_root_data(Fixture *f, gconstpointer data)
{
	g_autofree gchar *disk0 = g_build_filename(f->dir, "disk0", NULL);
	g_autofree gchar *cmdline = g_strdup_printf("systemd.verity_root_data=%s", disk0);
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, cmdline, NULL);
	g_assert_cmpint(state(f, "rootfs.0"), ==, ROTA_SLOT_BOOTED);
}

static void test_root_partuuid_no_match(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_determine_fails(f, "root=PARTUUID=deadbeef-rota-test-02", f->noop,
			       "Did not find booted slot (matching '/dev/disk/by-partuuid/deadbeef-rota-test-02')");
}

static void test_unknown_rauc_slot(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_determine_fails(f, "rauc.slot=Z", NULL, "Did not find booted slot (matching 'Z')");
}

static void test_no_boot_information(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_determine_fails(f, "console=ttyS0 quiet", f->noop, "Could not find any root device or rauc slot information");
	assert_determine_fails(f, "rauc.slot= root=", NULL, "Could not find any root device");
}

static void test_external(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	dirty_states(f);
	bootname = determine(f, "rauc.slot=A rauc.external", f->noop);
	g_assert_cmpstr(bootname, ==, "_external_");
	for (guint i = 0; i < f->config->slots->len; i++)
		g_assert_cmpint(((RotaSlot *)f->config->slots->pdata[i])->state, ==, ROTA_SLOT_INACTIVE);
	g_assert_null(rota_slots_get_booted(f->config));
}

static void test_nfs_root_is_external(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "root=/dev/nfs nfsroot=1.2.3.4:/srv", NULL);
	g_assert_cmpstr(bootname, ==, "_external_");
	g_assert_null(rota_slots_get_booted(f->config));
}

static void test_override(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *bootname = NULL;

	(void)data;
	g_setenv("RAUC_TEST_CMDLINE", "rauc.slot=A", TRUE);
	g_assert_true(rota_slots_determine_states(f->config, f->noop, "B", &bootname, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(bootname, ==, "B");
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
	g_assert_cmpint(state(f, "rootfs.0"), ==, ROTA_SLOT_INACTIVE);

	/* an override that matches nothing is an error too, also without a command line */
	g_unsetenv("RAUC_TEST_CMDLINE");
	g_setenv("ROTA_CMDLINE_FILE", "/nonexistent/cmdline", TRUE);
	g_clear_pointer(&bootname, g_free);
	g_assert_false(rota_slots_determine_states(f->config, NULL, "Q", &bootname, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "'Q'"));
}

static void test_out_bootname_optional(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	(void)data;
	g_setenv("RAUC_TEST_CMDLINE", "rauc.slot=A", TRUE);
	g_assert_true(rota_slots_determine_states(f->config, NULL, NULL, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(state(f, "rootfs.0"), ==, ROTA_SLOT_BOOTED);
}

static void test_bootchooser_with_bootloader(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	/* bootstate/bootchooser.active= are consulted only with a bootloader */
	bootname = determine(f, "bootchooser.active=B", f->noop);
	g_assert_cmpstr(bootname, ==, "B");
	g_assert_cmpint(state(f, "rootfs.1"), ==, ROTA_SLOT_BOOTED);
	assert_determine_fails(f, "bootchooser.active=B", NULL, "Could not find any root device");
}

/* ---- target group ---- */

static void assert_group(GHashTable *group, const gchar *const *pairs)
{
	guint n = 0;

	for (const gchar *const *p = pairs; *p; p += 2, n++) {
		RotaSlot *s = g_hash_table_lookup(group, p[0]);
		if (!s)
			g_error("no target for class %s", p[0]);
		g_assert_cmpstr(s->name, ==, p[1]);
	}
	g_assert_cmpuint(g_hash_table_size(group), ==, n);
}

static void test_target_group_ab(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;
	g_autoptr(GHashTable) group = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=A", NULL);
	group = rota_slots_select_target_group(f->config, NULL);
	/* the inactive root and its children; the single inactive bootloader slot too */
	assert_group(group, (const gchar *const[]){"rootfs", "rootfs.1", "appfs", "appfs.1", "bootloader",
						    "bootloader.0", NULL});
}

static void test_target_group_ba(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;
	g_autoptr(GHashTable) group = NULL;
	g_autoptr(RotaStatusStore) store = NULL;
	g_autoptr(GError) error = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=B", NULL);
	store = rota_status_store_new(f->config, &error);
	g_assert_no_error(error);
	group = rota_slots_select_target_group(f->config, store);
	assert_group(group, (const gchar *const[]){"rootfs", "rootfs.0", "appfs", "appfs.0", "bootloader",
						    "bootloader.0", NULL});
}

static void test_target_group_external(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;
	g_autoptr(GHashTable) group = NULL;

	(void)data;
	bootname = determine(f, "rauc.external", NULL);
	group = rota_slots_select_target_group(f->config, NULL);
	/* all inactive: the first root slot per class (no status to prefer another) */
	assert_group(group, (const gchar *const[]){"rootfs", "rootfs.0", "appfs", "appfs.0", "bootloader",
						    "bootloader.0", NULL});
}

static void test_target_group_class_without_inactive(Fixture *f, gconstpointer data)
{
	g_autoptr(GHashTable) group = NULL;

	(void)data;
	/* booted: the bootloader slot (as if it were the root); its class has no inactive member */
	slot(f, "bootloader.0")->state = ROTA_SLOT_BOOTED;
	group = rota_slots_select_target_group(f->config, NULL);
	g_assert_null(g_hash_table_lookup(group, "bootloader"));
	g_assert_nonnull(g_hash_table_lookup(group, "rootfs"));
}

static void write_central(Fixture *f, const gchar *text)
{
	g_autofree gchar *data_dir = g_build_filename(f->dir, "data", NULL);
	g_assert_cmpstr(f->config->statusfile, !=, NULL);
	g_assert_cmpint(g_mkdir_with_parents(data_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(f->config->statusfile, text, -1, NULL));
}

/* With A booted, B and C are candidates; returns the picked rootfs slot name
 * and checks its child came along. */
static const gchar *pick_with_status(Fixture *f, const gchar *central)
{
	g_autofree gchar *bootname = NULL;
	g_autoptr(GHashTable) group = NULL;
	g_autoptr(RotaStatusStore) store = NULL;
	g_autoptr(GError) error = NULL;
	RotaSlot *root, *app;

	if (central)
		write_central(f, central);
	bootname = determine(f, "rauc.slot=A", NULL);
	store = rota_status_store_new(f->config, &error);
	g_assert_no_error(error);
	group = rota_slots_select_target_group(f->config, store);
	g_assert_cmpuint(g_hash_table_size(group), ==, 2);
	root = g_hash_table_lookup(group, "rootfs");
	app = g_hash_table_lookup(group, "appfs");
	g_assert_nonnull(root);
	g_assert_nonnull(app);
	g_assert_true(app->parent == root);
	return root->name;
}

static void test_target_prefers_oldest(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpstr(pick_with_status(f, "[slot.rootfs.1]\nstatus=ok\ninstalled.timestamp=2025-05-01T10:00:00Z\n"
					    "[slot.rootfs.2]\nstatus=ok\ninstalled.timestamp=2024-01-01T10:00:00Z\n"),
			==, "rootfs.2");
}

static void test_target_prefers_oldest_first(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpstr(pick_with_status(f, "[slot.rootfs.1]\nstatus=ok\ninstalled.timestamp=2023-05-01T10:00:00Z\n"
					    "[slot.rootfs.2]\nstatus=ok\ninstalled.timestamp=2024-01-01T10:00:00Z\n"),
			==, "rootfs.1");
}

static void test_target_prefers_failed(Fixture *f, gconstpointer data)
{
	(void)data;
	/* failed wins over an older successful install */
	g_assert_cmpstr(pick_with_status(f, "[slot.rootfs.1]\nstatus=ok\ninstalled.timestamp=2020-01-01T00:00:00Z\n"
					    "[slot.rootfs.2]\nstatus=failed\ninstalled.timestamp=2025-01-01T00:00:00Z\n"),
			==, "rootfs.2");
}

static void test_target_prefers_never_installed(Fixture *f, gconstpointer data)
{
	(void)data;
	/* rootfs.2 has no status at all */
	g_assert_cmpstr(pick_with_status(f, "[slot.rootfs.1]\nstatus=ok\ninstalled.timestamp=2020-01-01T00:00:00Z\n"),
			==, "rootfs.2");
}

static void test_target_failed_before_never_installed(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpstr(pick_with_status(f, "[slot.rootfs.1]\nstatus=failed\ninstalled.timestamp=2025-01-01T00:00:00Z\n"),
			==, "rootfs.1");
}

static void test_target_per_slot_first_found(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;
	g_autoptr(GHashTable) group = NULL;
	RotaSlot *root;

	(void)data;
	write_central(f, "[slot.rootfs.1]\nstatus=ok\ninstalled.timestamp=2025-05-01T10:00:00Z\n");
	bootname = determine(f, "rauc.slot=A", NULL);
	/* without a (central) store the first inactive slot is taken */
	group = rota_slots_select_target_group(f->config, NULL);
	root = g_hash_table_lookup(group, "rootfs");
	g_assert_nonnull(root);
	g_assert_cmpstr(root->name, ==, "rootfs.1");
	g_assert_cmpstr(((RotaSlot *)g_hash_table_lookup(group, "appfs"))->name, ==, "appfs.1");
}

/* ---- identifiers ---- */

static void assert_resolves(Fixture *f, const gchar *identifier, const gchar *const *names)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) slots = rota_slots_resolve_identifier(f->config, identifier, &error);
	guint n = 0;

	g_assert_no_error(error);
	g_assert_nonnull(slots);
	for (; names[n]; n++) {
		g_assert_cmpuint(n, <, slots->len);
		g_assert_cmpstr(((RotaSlot *)slots->pdata[n])->name, ==, names[n]);
	}
	g_assert_cmpuint(slots->len, ==, n);
}

static void assert_resolve_fails(Fixture *f, const gchar *identifier, const gchar *what)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) slots = rota_slots_resolve_identifier(f->config, identifier, &error);

	g_assert_null(slots);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	if (!strstr(error->message, what))
		g_error("error '%s' does not contain '%s'", error->message, what);
}

static void test_identifier_booted_other(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=A", NULL);
	assert_resolves(f, "booted", (const gchar *const[]){"rootfs.0", NULL});
	assert_resolves(f, "other", (const gchar *const[]){"rootfs.1", NULL});
}

static void test_identifier_other_several(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=B", NULL);
	assert_resolves(f, "other", (const gchar *const[]){"rootfs.0", "rootfs.2", NULL});
}

static void test_identifier_slot_name(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=A", NULL);
	assert_resolves(f, "rootfs.1", (const gchar *const[]){"rootfs.1", NULL});
	assert_resolves(f, "rootfs.0", (const gchar *const[]){"rootfs.0", NULL});
}

static void test_identifier_invalid(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "rauc.slot=A", NULL);
	assert_resolve_fails(f, "rootfs", "Invalid slot name format");
	/* RAUC's messages: exactly <class>.<index>, and the class is named */
	assert_resolve_fails(f, "rootfs.7", "No slot with class rootfs and name rootfs.7 found");
	assert_resolve_fails(f, "rootfs.0.x", "Invalid slot name format: 'rootfs.0.x'");
	assert_resolve_fails(f, "", "Invalid slot name format: ''");
	assert_resolve_fails(f, "appfs.1", "Slot appfs.1 has no bootname set");
}

static void test_identifier_without_booted(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bootname = NULL;

	(void)data;
	bootname = determine(f, "rauc.external", NULL);
	assert_resolve_fails(f, "booted", "Did not find booted slot");
	assert_resolve_fails(f, "other", "No other bootable slot");
	/* naming a slot still works */
	assert_resolves(f, "rootfs.1", (const gchar *const[]){"rootfs.1", NULL});
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define AB(path, fn) g_test_add("/slots/" path, Fixture, ab_conf, fixture_setup, fn, fixture_teardown)
#define ABC(path, fn) g_test_add("/slots/" path, Fixture, abc_conf, fixture_setup, fn, fixture_teardown)
	AB("cmdline/env", test_cmdline_from_env);
	AB("cmdline/file", test_cmdline_from_file);
	AB("cmdline/file-missing", test_cmdline_file_missing);
	AB("detect/rauc-slot-bootname", test_rauc_slot_bootname);
	AB("detect/rauc-slot-slot-name", test_rauc_slot_slot_name);
	AB("detect/rauc-slot-before-root", test_rauc_slot_before_root);
	AB("detect/root-device-path", test_root_device_path);
	AB("detect/root-symlink-resolved", test_root_symlink_resolved);
	AB("detect/verity-root-data", test_verity_root_data);
	AB("detect/root-partuuid-no-match", test_root_partuuid_no_match);
	AB("detect/unknown-rauc-slot", test_unknown_rauc_slot);
	AB("detect/no-boot-information", test_no_boot_information);
	AB("detect/external", test_external);
	AB("detect/nfs-root-external", test_nfs_root_is_external);
	AB("detect/override", test_override);
	AB("detect/out-bootname-optional", test_out_bootname_optional);
	AB("detect/bootchooser-with-bootloader", test_bootchooser_with_bootloader);
	AB("target/ab", test_target_group_ab);
	AB("target/ba", test_target_group_ba);
	AB("target/external", test_target_group_external);
	AB("target/class-without-inactive", test_target_group_class_without_inactive);
	ABC("target/prefers-oldest", test_target_prefers_oldest);
	ABC("target/prefers-oldest-first", test_target_prefers_oldest_first);
	ABC("target/prefers-failed", test_target_prefers_failed);
	ABC("target/prefers-never-installed", test_target_prefers_never_installed);
	ABC("target/failed-before-never-installed", test_target_failed_before_never_installed);
	ABC("target/per-slot-first-found", test_target_per_slot_first_found);
	AB("identifier/booted-other", test_identifier_booted_other);
	ABC("identifier/other-several", test_identifier_other_several);
	AB("identifier/slot-name", test_identifier_slot_name);
	AB("identifier/invalid", test_identifier_invalid);
	AB("identifier/without-booted", test_identifier_without_booted);
#undef AB
#undef ABC
	return g_test_run();
}
