/* test_status.c — the slot status store (system-conf.md §12): central key
 * file roundtrip of every key, atomic rewrites, a broken central file moved
 * aside when it is next saved, an unwritable one, keys removed for unset
 * values, counters, and per-slot files in a slot's existing mount point. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "system/status.h"
#include "common/util.h"

/* ---- helpers ---- */

typedef struct {
	gchar *dir;
	gchar *data_dir;  /* <dir>/data */
	gchar *central;   /* <dir>/data/central.raucs */
	RotaConfig *config;
} Fixture;

static RotaConfig *load_config(const gchar *dir, const gchar *system_extra)
{
	g_autofree gchar *path = g_build_filename(dir, "system.conf", NULL);
	g_autofree gchar *text = g_strdup_printf("[system]\ncompatible=Test Config\nbootloader=noop\n%s\n"
						 "[slot.rootfs.0]\ndevice=/dev/null\ntype=ext4\nbootname=A\n"
						 "[slot.rootfs.1]\ndevice=/dev/null\ntype=ext4\nbootname=B\n"
						 "[slot.bootloader.0]\ndevice=/dev/null\ntype=raw\n",
						 system_extra);
	g_autoptr(GError) error = NULL;
	RotaConfig *c;

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	c = rota_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(c);
	return c;
}

/* Central store in <dir>/data (not yet existing). */
static void central_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	(void)data;
	f->dir = g_dir_make_tmp("rota-status-XXXXXX", &error);
	g_assert_no_error(error);
	f->data_dir = g_build_filename(f->dir, "data", NULL);
	f->central = g_build_filename(f->data_dir, "central.raucs", NULL);
	f->config = load_config(f->dir, "data-directory=data");
	g_assert_cmpstr(f->config->statusfile, ==, f->central);
}

/* Per-slot store (no data-directory, no statusfile). */
static void per_slot_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	(void)data;
	f->dir = g_dir_make_tmp("rota-status-XXXXXX", &error);
	g_assert_no_error(error);
	f->config = load_config(f->dir, "");
	g_assert_null(f->config->statusfile);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	rota_config_free(f->config);
	rota_remove_tree(f->dir);
	g_free(f->dir);
	g_free(f->data_dir);
	g_free(f->central);
}

static RotaSlot *slot(Fixture *f, const gchar *name)
{
	RotaSlot *s = rota_config_find_slot(f->config, name);
	g_assert_nonnull(s);
	return s;
}

static void fill_status(RotaSlotStatus *s)
{
	rota_slot_status_clear(s);
	s->bundle_compatible = g_strdup("Test Config");
	s->bundle_version = g_strdup("2011.03-2");
	s->bundle_description = g_strdup("A test bundle");
	s->bundle_build = g_strdup("build-42");
	s->bundle_hash = g_strdup("0123456789abcdef");
	s->status = g_strdup("ok");
	s->sha256 = g_strdup("3fa9ae8f0f7f3b0c7d7e1b6c6dd3a9d1c1a6f0e5a9b8c7d6e5f4a3b2c1d0f411");
	s->size = 65536;
	s->installed_transaction = g_strdup("d359b438-b28b-416b-9270-257484a8a58e");
	s->installed_timestamp = g_strdup("2026-11-24T19:45:47Z");
	s->installed_count = 3;
	s->activated_timestamp = g_strdup("2026-11-24T19:46:00Z");
	s->activated_count = 5;
}

static void assert_status_equal(const RotaSlotStatus *a, const RotaSlotStatus *b)
{
	g_assert_cmpstr(a->bundle_compatible, ==, b->bundle_compatible);
	g_assert_cmpstr(a->bundle_version, ==, b->bundle_version);
	g_assert_cmpstr(a->bundle_description, ==, b->bundle_description);
	g_assert_cmpstr(a->bundle_build, ==, b->bundle_build);
	g_assert_cmpstr(a->bundle_hash, ==, b->bundle_hash);
	g_assert_cmpstr(a->status, ==, b->status);
	g_assert_cmpstr(a->sha256, ==, b->sha256);
	g_assert_cmpuint(a->size, ==, b->size);
	g_assert_cmpstr(a->installed_transaction, ==, b->installed_transaction);
	g_assert_cmpstr(a->installed_timestamp, ==, b->installed_timestamp);
	g_assert_cmpuint(a->installed_count, ==, b->installed_count);
	g_assert_cmpstr(a->activated_timestamp, ==, b->activated_timestamp);
	g_assert_cmpuint(a->activated_count, ==, b->activated_count);
}

static void assert_status_empty(const RotaSlotStatus *s)
{
	g_assert_null(s->bundle_compatible);
	g_assert_null(s->bundle_version);
	g_assert_null(s->bundle_description);
	g_assert_null(s->bundle_build);
	g_assert_null(s->bundle_hash);
	g_assert_null(s->status);
	g_assert_null(s->sha256);
	g_assert_cmpuint(s->size, ==, 0);
	g_assert_null(s->installed_transaction);
	g_assert_null(s->installed_timestamp);
	g_assert_cmpuint(s->installed_count, ==, 0);
	g_assert_null(s->activated_timestamp);
	g_assert_cmpuint(s->activated_count, ==, 0);
}

static GKeyFile *read_keyfile(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	GKeyFile *kf = g_key_file_new();

	g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error);
	g_assert_no_error(error);
	return kf;
}

static guint count_entries(const gchar *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	guint n = 0;

	g_assert_nonnull(d);
	while (g_dir_read_name(d))
		n++;
	return n;
}

static RotaStatusStore *open_store(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	RotaStatusStore *st = rota_status_store_new(f->config, &error);

	g_assert_no_error(error);
	g_assert_nonnull(st);
	return st;
}

/* ---- central store ---- */

static void test_central_creates_data_directory(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = NULL;
	struct stat sb;

	(void)data;
	g_assert_false(g_file_test(f->data_dir, G_FILE_TEST_EXISTS));
	st = open_store(f);
	g_assert_true(rota_status_store_is_central(st));
	g_assert_cmpint(stat(f->data_dir, &sb), ==, 0);
	g_assert_true(S_ISDIR(sb.st_mode));
	g_assert_cmpint(sb.st_mode & 0777, ==, 0700);
	/* nothing written until the first save */
	g_assert_false(g_file_test(f->central, G_FILE_TEST_EXISTS));
}

static void test_central_missing_file_is_empty(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) s = {0};

	(void)data;
	s.status = g_strdup("stale"); /* load clears first */
	rota_status_load(st, slot(f, "rootfs.0"), &s);
	assert_status_empty(&s);
}

static void test_central_roundtrip(Fixture *f, gconstpointer data)
{
	g_auto(RotaSlotStatus) in = {0};
	g_auto(RotaSlotStatus) out = {0};
	g_auto(RotaSlotStatus) fresh = {0};
	g_autoptr(GError) error = NULL;

	(void)data;
	fill_status(&in);
	{
		g_autoptr(RotaStatusStore) st = open_store(f);
		g_assert_true(rota_status_save(st, slot(f, "rootfs.1"), &in, &error));
		g_assert_no_error(error);
		/* the same store sees it */
		rota_status_load(st, slot(f, "rootfs.1"), &out);
		assert_status_equal(&out, &in);
	}
	/* a new store reads it back from disk */
	{
		g_autoptr(RotaStatusStore) st = open_store(f);
		rota_status_load(st, slot(f, "rootfs.1"), &fresh);
		assert_status_equal(&fresh, &in);
		rota_status_load(st, slot(f, "rootfs.0"), &out);
		assert_status_empty(&out);
	}
}

static void test_central_file_format(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) kf = NULL;

	(void)data;
	fill_status(&in);
	g_assert_true(rota_status_save(st, slot(f, "rootfs.1"), &in, &error));
	g_assert_no_error(error);
	kf = read_keyfile(f->central);
	g_assert_true(g_key_file_has_group(kf, "slot.rootfs.1"));
	g_assert_false(g_key_file_has_group(kf, "slot.rootfs.0"));
#define KEY(k, expect)                                                            \
	do {                                                                      \
		g_autofree gchar *val = g_key_file_get_string(kf, "slot.rootfs.1", k, NULL); \
		g_assert_cmpstr(val, ==, expect);                                 \
	} while (0)
	KEY("bundle.compatible", "Test Config");
	KEY("bundle.version", "2011.03-2");
	KEY("bundle.description", "A test bundle");
	KEY("bundle.build", "build-42");
	KEY("bundle.hash", "0123456789abcdef");
	KEY("status", "ok");
	KEY("sha256", in.sha256);
	KEY("size", "65536");
	KEY("installed.transaction", "d359b438-b28b-416b-9270-257484a8a58e");
	KEY("installed.timestamp", "2026-11-24T19:45:47Z");
	KEY("installed.count", "3");
	KEY("activated.timestamp", "2026-11-24T19:46:00Z");
	KEY("activated.count", "5");
#undef KEY
}

static void test_central_atomic_no_temp_left(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_autoptr(GError) error = NULL;
	struct stat sb;

	(void)data;
	fill_status(&in);
	for (int i = 0; i < 3; i++) {
		in.installed_count = i + 1;
		g_assert_true(rota_status_save(st, slot(f, i % 2 ? "rootfs.0" : "rootfs.1"), &in, &error));
		g_assert_no_error(error);
	}
	g_assert_cmpuint(count_entries(f->data_dir), ==, 1); /* only central.raucs */
	g_assert_cmpint(stat(f->central, &sb), ==, 0);
	g_assert_true(S_ISREG(sb.st_mode));
}

static void test_central_keeps_other_slots(Fixture *f, gconstpointer data)
{
	g_auto(RotaSlotStatus) a = {0};
	g_auto(RotaSlotStatus) b = {0};
	g_auto(RotaSlotStatus) out = {0};
	g_autoptr(GError) error = NULL;

	(void)data;
	fill_status(&a);
	fill_status(&b);
	g_free(b.bundle_version);
	b.bundle_version = g_strdup("other");
	{
		g_autoptr(RotaStatusStore) st = open_store(f);
		g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &a, &error));
		g_assert_true(rota_status_save(st, slot(f, "rootfs.1"), &b, &error));
		g_assert_no_error(error);
	}
	{
		g_autoptr(RotaStatusStore) st = open_store(f);
		rota_status_load(st, slot(f, "rootfs.0"), &out);
		assert_status_equal(&out, &a);
		rota_status_load(st, slot(f, "rootfs.1"), &out);
		assert_status_equal(&out, &b);
	}
}

static void test_central_keeps_foreign_groups(Fixture *f, gconstpointer data)
{
	g_auto(RotaSlotStatus) in = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) kf = NULL;
	g_autofree gchar *boot_id = NULL;

	(void)data;
	g_assert_cmpint(g_mkdir_with_parents(f->data_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(f->central, "[system]\nboot-id=abc\n", -1, NULL));
	{
		g_autoptr(RotaStatusStore) st = open_store(f);
		fill_status(&in);
		g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &in, &error));
		g_assert_no_error(error);
	}
	kf = read_keyfile(f->central);
	boot_id = g_key_file_get_string(kf, "system", "boot-id", NULL);
	g_assert_cmpstr(boot_id, ==, "abc");
	g_assert_true(g_key_file_has_group(kf, "slot.rootfs.0"));
}

static void test_central_null_values_remove_keys(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_auto(RotaSlotStatus) out = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) kf = NULL;
	static const gchar *const gone[] = {"bundle.version", "bundle.description", "bundle.build", "bundle.hash",
					    "sha256", "size", "installed.transaction", "installed.timestamp",
					    "installed.count", "activated.timestamp", "activated.count", NULL};

	(void)data;
	fill_status(&in);
	g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &in, &error));
	g_assert_no_error(error);

	/* now only compatible and status remain set */
	g_clear_pointer(&in.bundle_version, g_free);
	g_clear_pointer(&in.bundle_description, g_free);
	g_clear_pointer(&in.bundle_build, g_free);
	g_clear_pointer(&in.bundle_hash, g_free);
	g_clear_pointer(&in.sha256, g_free);
	g_clear_pointer(&in.installed_transaction, g_free);
	g_clear_pointer(&in.installed_timestamp, g_free);
	g_clear_pointer(&in.activated_timestamp, g_free);
	in.installed_count = 0;
	in.activated_count = 0;
	g_free(in.status);
	in.status = g_strdup("failed");
	g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &in, &error));
	g_assert_no_error(error);

	kf = read_keyfile(f->central);
	for (const gchar *const *k = gone; *k; k++) {
		if (g_key_file_has_key(kf, "slot.rootfs.0", *k, NULL))
			g_error("key %s still present after saving it unset", *k);
	}
	g_assert_true(g_key_file_has_key(kf, "slot.rootfs.0", "bundle.compatible", NULL));
	g_assert_true(g_key_file_has_key(kf, "slot.rootfs.0", "status", NULL));

	rota_status_load(st, slot(f, "rootfs.0"), &out);
	g_assert_cmpstr(out.status, ==, "failed");
	g_assert_cmpstr(out.bundle_compatible, ==, "Test Config");
	g_assert_null(out.bundle_version);
	g_assert_null(out.sha256);
	g_assert_cmpuint(out.size, ==, 0);
	g_assert_cmpuint(out.installed_count, ==, 0);
	g_assert_null(out.activated_timestamp);
}

/* As in RAUC (system-conf.md §12.2): loading an unreadable central file
 * only reports it and gives empty status; the next save moves it aside to
 * <file>.broken, with a warning, and writes a new one. */
static void test_central_broken_file_moved(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = NULL;
	g_autofree gchar *broken = g_strdup_printf("%s.broken", f->central);
	g_autofree gchar *kept = NULL;
	g_autofree gchar *moved = NULL;
	g_auto(RotaSlotStatus) in = {0};
	g_auto(RotaSlotStatus) out = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) kf = NULL;
	const gchar *garbage = "this is [not a key file\n\x01\x02\n";

	(void)data;
	g_assert_cmpint(g_mkdir_with_parents(f->data_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(f->central, garbage, -1, NULL));

	g_test_expect_message("rota", G_LOG_LEVEL_MESSAGE, "*cannot load status file*central.raucs*");
	st = open_store(f);
	g_test_assert_expected_messages();
	rota_status_load(st, slot(f, "rootfs.0"), &out);
	assert_status_empty(&out);
	/* loading changed nothing on disk */
	g_assert_true(g_file_get_contents(f->central, &kept, NULL, NULL));
	g_assert_cmpstr(kept, ==, garbage);
	g_assert_false(g_file_test(broken, G_FILE_TEST_EXISTS));

	fill_status(&in);
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*central.raucs*moved to*central.raucs.broken*");
	g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &in, &error));
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(broken, &moved, NULL, NULL));
	g_assert_cmpstr(moved, ==, garbage);
	kf = read_keyfile(f->central);
	g_assert_true(g_key_file_has_group(kf, "slot.rootfs.0"));

	/* moved once: the next save neither warns nor touches the copy */
	g_assert_true(rota_status_save(st, slot(f, "rootfs.1"), &in, &error));
	g_assert_no_error(error);
	g_clear_pointer(&moved, g_free);
	g_assert_true(g_file_get_contents(broken, &moved, NULL, NULL));
	g_assert_cmpstr(moved, ==, garbage);
}

/* A status file that cannot be written (its directory is a regular file):
 * the save fails naming the file. */
static void test_central_unwritable(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("rota-status-XXXXXX", &error);
	g_autofree gchar *not_dir = g_build_filename(dir, "not-a-dir", NULL);
	g_autofree gchar *path = g_build_filename(not_dir, "central.raucs", NULL);
	g_autoptr(RotaStatusStore) st = NULL;
	g_auto(RotaSlotStatus) in = {0};
	RotaConfig *config;

	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(not_dir, "", 0, NULL));
	config = load_config(dir, "statusfile=not-a-dir/central.raucs");
	g_assert_cmpstr(config->statusfile, ==, path);

	g_test_expect_message("rota", G_LOG_LEVEL_MESSAGE, "*cannot load status file*not-a-dir/central.raucs*");
	st = rota_status_store_new(config, &error);
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	fill_status(&in);
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*cannot be moved to*not-a-dir/central.raucs.broken*");
	g_assert_false(rota_status_save(st, rota_config_find_slot(config, "rootfs.1"), &in, &error));
	g_test_assert_expected_messages();
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_assert_true(g_str_has_suffix(error->message, "Not a directory"));

	g_clear_pointer(&st, rota_status_store_free);
	rota_config_free(config);
	rota_remove_tree(dir);
}

/* ---- counters and odd values ---- */

static void load_from_text(Fixture *f, const gchar *group_body, RotaSlotStatus *out)
{
	g_autofree gchar *text = g_strdup_printf("[slot.rootfs.0]\n%s", group_body);
	g_autoptr(RotaStatusStore) st = NULL;

	g_assert_cmpint(g_mkdir_with_parents(f->data_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(f->central, text, -1, NULL));
	st = open_store(f);
	rota_status_load(st, slot(f, "rootfs.0"), out);
}

static void test_counters_valid(Fixture *f, gconstpointer data)
{
	g_auto(RotaSlotStatus) s = {0};

	(void)data;
	load_from_text(f, "installed.count=4294967295\nactivated.count=7\n", &s);
	g_assert_cmpuint(s.installed_count, ==, G_MAXUINT32);
	g_assert_cmpuint(s.activated_count, ==, 7);
}

static void test_counters_invalid_are_zero(Fixture *f, gconstpointer data)
{
	g_auto(RotaSlotStatus) s = {0};

	(void)data;
	g_test_expect_message("rota", G_LOG_LEVEL_MESSAGE, "*invalid installed.count 'many'*");
	g_test_expect_message("rota", G_LOG_LEVEL_MESSAGE, "*invalid activated.count '4294967296'*");
	load_from_text(f, "installed.count=many\nactivated.count=4294967296\nsize=huge\n", &s);
	g_test_assert_expected_messages();
	g_assert_cmpuint(s.installed_count, ==, 0);
	g_assert_cmpuint(s.activated_count, ==, 0); /* > 2^32-1 */
	g_assert_cmpuint(s.size, ==, 0);
}

static void test_counters_zero_omitted(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) kf = NULL;

	(void)data;
	in.status = g_strdup("ok");
	in.installed_count = 0;
	in.activated_count = 1;
	g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &in, &error));
	g_assert_no_error(error);
	kf = read_keyfile(f->central);
	g_assert_false(g_key_file_has_key(kf, "slot.rootfs.0", "installed.count", NULL));
	g_assert_cmpuint(g_key_file_get_uint64(kf, "slot.rootfs.0", "activated.count", NULL), ==, 1);
}

static void test_size_only_with_sha256(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) kf = NULL;

	(void)data;
	in.size = 1234; /* without a digest the size is meaningless */
	g_assert_true(rota_status_save(st, slot(f, "rootfs.0"), &in, &error));
	g_assert_no_error(error);
	kf = read_keyfile(f->central);
	g_assert_false(g_key_file_has_key(kf, "slot.rootfs.0", "size", NULL));
}

/* ---- per-slot store ---- */

static void test_per_slot_not_central(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);

	(void)data;
	g_assert_false(rota_status_store_is_central(st));
}

static void test_per_slot_non_mountable_slot(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_auto(RotaSlotStatus) out = {0};
	g_autoptr(GError) error = NULL;

	(void)data;
	fill_status(&in);
	/* a raw slot has nowhere to keep a status: saving succeeds, nothing is stored */
	g_assert_true(rota_status_save(st, slot(f, "bootloader.0"), &in, &error));
	g_assert_no_error(error);
	rota_status_load(st, slot(f, "bootloader.0"), &out);
	assert_status_empty(&out);
	g_assert_cmpuint(count_entries(f->dir), ==, 1); /* system.conf only */
}

static void test_per_slot_in_mount_point(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaStatusStore) st = open_store(f);
	g_auto(RotaSlotStatus) in = {0};
	g_auto(RotaSlotStatus) out = {0};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *mp = g_build_filename(f->dir, "mnt", NULL);
	g_autofree gchar *file = g_build_filename(mp, "slot.raucs", NULL);
	g_autoptr(GKeyFile) kf = NULL;
	g_autofree gchar *version = NULL;
	RotaSlot *s = slot(f, "rootfs.1");

	(void)data;
	g_assert_cmpint(g_mkdir(mp, 0755), ==, 0);
	s->mount_point = g_strdup(mp); /* mounted outside rota: used directly */
	fill_status(&in);
	g_assert_true(rota_status_save(st, s, &in, &error));
	g_assert_no_error(error);

	kf = read_keyfile(file);
	g_assert_true(g_key_file_has_group(kf, "slot"));
	version = g_key_file_get_string(kf, "slot", "bundle.version", NULL);
	g_assert_cmpstr(version, ==, "2011.03-2");
	g_assert_cmpuint(count_entries(mp), ==, 1); /* no temp file left */

	rota_status_load(st, s, &out);
	assert_status_equal(&out, &in);
}

/* ---- helpers of the API ---- */

static void test_status_copy(void)
{
	g_auto(RotaSlotStatus) a = {0};
	g_auto(RotaSlotStatus) b = {0};

	fill_status(&a);
	b.status = g_strdup("will be replaced");
	rota_slot_status_copy(&b, &a);
	assert_status_equal(&b, &a);
	g_assert_true(b.bundle_version != a.bundle_version); /* deep copy */
	g_assert_true(b.sha256 != a.sha256);
}

static void test_status_clear(void)
{
	RotaSlotStatus s = {0};

	fill_status(&s);
	rota_slot_status_clear(&s);
	assert_status_empty(&s);
}

static void test_timestamp_now_format(void)
{
	g_autofree gchar *ts = rota_status_timestamp_now();

	g_assert_nonnull(ts);
	g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$", ts, 0, 0));
	g_assert_cmpstr(ts, >=, "2020-01-01T00:00:00Z");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define CENTRAL(path, fn) g_test_add("/status/central/" path, Fixture, NULL, central_setup, fn, fixture_teardown)
#define PER_SLOT(path, fn) g_test_add("/status/per-slot/" path, Fixture, NULL, per_slot_setup, fn, fixture_teardown)
	CENTRAL("creates-data-directory", test_central_creates_data_directory);
	CENTRAL("missing-file-is-empty", test_central_missing_file_is_empty);
	CENTRAL("roundtrip", test_central_roundtrip);
	CENTRAL("file-format", test_central_file_format);
	CENTRAL("atomic-no-temp-left", test_central_atomic_no_temp_left);
	CENTRAL("keeps-other-slots", test_central_keeps_other_slots);
	CENTRAL("keeps-foreign-groups", test_central_keeps_foreign_groups);
	CENTRAL("null-values-remove-keys", test_central_null_values_remove_keys);
	CENTRAL("broken-file-moved", test_central_broken_file_moved);
	g_test_add_func("/status/central/unwritable", test_central_unwritable);
	CENTRAL("counters-valid", test_counters_valid);
	CENTRAL("counters-invalid-are-zero", test_counters_invalid_are_zero);
	CENTRAL("counters-zero-omitted", test_counters_zero_omitted);
	CENTRAL("size-only-with-sha256", test_size_only_with_sha256);
	PER_SLOT("not-central", test_per_slot_not_central);
	PER_SLOT("non-mountable-slot", test_per_slot_non_mountable_slot);
	PER_SLOT("in-mount-point", test_per_slot_in_mount_point);
	g_test_add_func("/status/copy", test_status_copy);
	g_test_add_func("/status/clear", test_status_clear);
	g_test_add_func("/status/timestamp-now", test_timestamp_now_format);
#undef CENTRAL
#undef PER_SLOT
	return g_test_run();
}
