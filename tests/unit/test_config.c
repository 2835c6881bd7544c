/* test_config.c — system.conf loading (system-conf.md §1–§9): every key the
 * parser knows, defaults, path resolution against the config's directory,
 * validation errors that name file, section and key, and warnings (not
 * errors) for unknown keys and sections. */
#include <glib/gstdio.h>
#include <string.h>

#include "bundle/bundle.h"
#include "system/config.h"
#include "common/util.h"

/* ---- helpers ---- */

typedef struct {
	gchar *dir;   /* temporary directory holding the config */
	gchar *path;  /* <dir>/system.conf */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	(void)data;
	f->dir = g_dir_make_tmp("rota-config-XXXXXX", &error);
	g_assert_no_error(error);
	f->path = g_build_filename(f->dir, "system.conf", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	rota_remove_tree(f->dir);
	g_free(f->dir);
	g_free(f->path);
}

static RotaConfig *load_text(Fixture *f, const gchar *text, GError **error)
{
	g_assert_true(g_file_set_contents(f->path, text, -1, NULL));
	return rota_config_load(f->path, error);
}

static RotaConfig *load_ok(Fixture *f, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	RotaConfig *c = load_text(f, text, &error);

	g_assert_no_error(error);
	g_assert_nonnull(c);
	return c;
}

/* Loading text fails; the message names the file, "[section] key" (when key
 * is not NULL, else just the section) and contains what. */
static void assert_load_error(Fixture *f, const gchar *text, const gchar *section, const gchar *key, const gchar *what)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaConfig) c = load_text(f, text, &error);

	g_assert_null(c);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	if (!strstr(error->message, f->path))
		g_error("error '%s' does not name the file %s", error->message, f->path);
	if (key) {
		g_autofree gchar *where = g_strdup_printf("[%s] %s", section, key);
		if (!strstr(error->message, where))
			g_error("error '%s' does not name '%s'", error->message, where);
	} else if (section && !strstr(error->message, section)) {
		g_error("error '%s' does not name section '%s'", error->message, section);
	}
	if (what && !strstr(error->message, what))
		g_error("error '%s' does not contain '%s'", error->message, what);
}

static gchar *in_dir(Fixture *f, const gchar *name)
{
	return g_build_filename(f->dir, name, NULL);
}

#define ALL_FORMATS ((1u << ROTA_FORMAT_PLAIN) | (1u << ROTA_FORMAT_VERITY) | (1u << ROTA_FORMAT_CRYPT))

#define MINIMAL "[system]\ncompatible=Test Config\nbootloader=noop\n"

/* ---- a complete file ---- */

static const gchar full_conf[] =
	"[system]\n"
	"compatible=Test Config\n"
	"bootloader=grub\n"
	"mountprefix=/mnt/myrauc/\n"
	"grubenv=grubenv.test\n"
	"data-directory=data\n"
	"min-bundle-version=1.2.3\n"
	"bundle-formats=-plain\n"
	"activate-installed=false\n"
	"max-bundle-download-size=1024\n"
	"max-bundle-signature-size=2048\n"
	"variant-name=variant-a\n"
	"perform-pre-check=true\n"
	"prevent-late-fallback=1\n"
	"\n"
	"[keyring]\n"
	"path=keyring.pem\n"
	"directory=/etc/rota/certs\n"
	"check-crl=true\n"
	"allow-partial-chain=1\n"
	"use-bundle-signing-time=true\n"
	"check-purpose=codesign\n"
	"\n"
	"[streaming]\n"
	"sandbox-user=rauc\n"
	"tls-cert=pkcs11:token=rauc;object=cert\n"
	"tls-key=client.key\n"
	"tls-ca=/etc/ssl/ca.pem\n"
	"send-headers=boot-id;machine-id;uptime\n"
	"\n"
	"[encryption]\n"
	"key=crypt.key\n"
	"cert=/etc/rota/crypt.pem\n"
	"\n"
	"[handlers]\n"
	"system-info=/usr/lib/rota/info.sh\n"
	"pre-install=pre.sh\n"
	"post-install=post.sh\n"
	"\n"
	"[slot.rootfs.0]\n"
	"device=/dev/sda1\n"
	"type=ext4\n"
	"bootname=A\n"
	"\n"
	"[slot.rootfs.1]\n"
	"device=rootfs1.img\n"
	"type=ext4\n"
	"bootname=B\n"
	"description=Second root\n"
	"install-same=false\n"
	"resize=true\n"
	"allow-mounted=true\n"
	"extra-mount-opts=noatime\n"
	"extra-mkfs-opts=-O ^has_journal\n"
	"\n"
	"[slot.appfs.0]\n"
	"device=/dev/sda3\n"
	"type=vfat\n"
	"parent=rootfs.0\n"
	"\n"
	"[slot.data.0]\n"
	"device=/dev/sda4\n"
	"parent=appfs.0\n"
	"\n"
	"[slot.bootloader.0]\n"
	"device=/dev/mtd0\n"
	"type=nor\n"
	"readonly=true\n";

static void test_full_system_section(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, full_conf);
	g_autofree gchar *grubenv = in_dir(f, "grubenv.test");
	g_autofree gchar *datadir = in_dir(f, "data");
	g_autofree gchar *central = g_build_filename(f->dir, "data", "central.raucs", NULL);

	(void)data;
	g_assert_cmpstr(c->path, ==, f->path);
	g_assert_cmpstr(c->compatible, ==, "Test Config");
	g_assert_cmpstr(c->bootloader, ==, "grub");
	g_assert_cmpstr(c->mountprefix, ==, "/mnt/myrauc/");
	g_assert_cmpstr(c->grubenv, ==, grubenv);
	g_assert_cmpstr(c->data_directory, ==, datadir);
	g_assert_cmpstr(c->statusfile, ==, central);
	g_assert_cmpstr(c->min_bundle_version, ==, "1.2.3");
	g_assert_cmpuint(c->bundle_formats, ==, (1u << ROTA_FORMAT_VERITY) | (1u << ROTA_FORMAT_CRYPT));
	g_assert_false(c->activate_installed);
	g_assert_cmpuint(c->max_download_size, ==, 1024);
	g_assert_cmpuint(c->max_signature_size, ==, 2048);
	g_assert_cmpstr(c->variant, ==, "variant-a");
	g_assert_true(c->perform_pre_check);
	g_assert_true(c->prevent_late_fallback);
	g_assert_cmpint(c->boot_attempts, ==, 0);
	g_assert_null(c->barebox_statename);
	g_assert_null(c->custom_bootloader_backend);
}

static void test_full_other_sections(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, full_conf);
	g_autofree gchar *keyring = in_dir(f, "keyring.pem");
	g_autofree gchar *tls_key = in_dir(f, "client.key");
	g_autofree gchar *crypt_key = in_dir(f, "crypt.key");
	g_autofree gchar *pre = in_dir(f, "pre.sh");
	g_autofree gchar *post = in_dir(f, "post.sh");
	const gchar *const headers[] = {"boot-id", "machine-id", "uptime", NULL};

	(void)data;
	g_assert_cmpstr(c->keyring.path, ==, keyring);
	g_assert_cmpstr(c->keyring.directory, ==, "/etc/rota/certs");
	g_assert_true(c->keyring.check_crl);
	g_assert_true(c->keyring.allow_partial_chain);
	g_assert_true(c->keyring.use_bundle_signing_time);
	g_assert_cmpstr(c->keyring.check_purpose, ==, "codesign");

	g_assert_cmpstr(c->streaming_sandbox_user, ==, "rauc");
	g_assert_cmpstr(c->streaming_tls_cert, ==, "pkcs11:token=rauc;object=cert"); /* kept as is */
	g_assert_cmpstr(c->streaming_tls_key, ==, tls_key);
	g_assert_cmpstr(c->streaming_tls_ca, ==, "/etc/ssl/ca.pem");
	g_assert_nonnull(c->streaming_send_headers);
	g_assert_true(g_strv_equal((const gchar *const *)c->streaming_send_headers, headers));

	g_assert_cmpstr(c->encryption_key, ==, crypt_key);
	g_assert_cmpstr(c->encryption_cert, ==, "/etc/rota/crypt.pem");

	g_assert_cmpstr(c->handler_system_info, ==, "/usr/lib/rota/info.sh");
	g_assert_cmpstr(c->handler_pre_install, ==, pre);
	g_assert_cmpstr(c->handler_post_install, ==, post);
}

static void test_full_slots(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, full_conf);
	g_autofree gchar *rootfs1_dev = in_dir(f, "rootfs1.img");
	RotaSlot *r0, *r1, *app, *dat, *bl;

	(void)data;
	g_assert_cmpuint(c->slots->len, ==, 5);
	r0 = rota_config_find_slot(c, "rootfs.0");
	r1 = rota_config_find_slot(c, "rootfs.1");
	app = rota_config_find_slot(c, "appfs.0");
	dat = rota_config_find_slot(c, "data.0");
	bl = rota_config_find_slot(c, "bootloader.0");
	g_assert_nonnull(r0);
	g_assert_nonnull(r1);
	g_assert_nonnull(app);
	g_assert_nonnull(dat);
	g_assert_nonnull(bl);
	g_assert_null(rota_config_find_slot(c, "rootfs.2"));
	/* config order is kept */
	g_assert_true(c->slots->pdata[0] == r0);
	g_assert_true(c->slots->pdata[4] == bl);

	g_assert_cmpstr(r0->name, ==, "rootfs.0");
	g_assert_cmpstr(r0->sclass, ==, "rootfs");
	g_assert_cmpstr(r0->device, ==, "/dev/sda1");
	g_assert_cmpstr(r0->type, ==, "ext4");
	g_assert_cmpstr(r0->bootname, ==, "A");
	g_assert_null(r0->parent);
	g_assert_null(r0->description);
	g_assert_true(r0->install_same); /* default */
	g_assert_false(r0->resize);
	g_assert_false(r0->readonly);
	g_assert_false(r0->allow_mounted);
	g_assert_cmpint(r0->state, ==, ROTA_SLOT_INACTIVE);
	g_assert_null(r0->mount_point);

	g_assert_cmpstr(r1->device, ==, rootfs1_dev); /* resolved against the config dir */
	g_assert_cmpstr(r1->bootname, ==, "B");
	g_assert_cmpstr(r1->description, ==, "Second root");
	g_assert_false(r1->install_same);
	g_assert_true(r1->resize);
	g_assert_true(r1->allow_mounted);
	g_assert_cmpstr(r1->extra_mount_opts, ==, "noatime");
	g_assert_cmpstr(r1->extra_mkfs_opts, ==, "-O ^has_journal");

	g_assert_cmpstr(app->type, ==, "vfat");
	g_assert_cmpstr(app->parent_name, ==, "rootfs.0");
	g_assert_true(app->parent == r0);
	g_assert_null(app->bootname);

	/* chains are flattened to the root parent */
	g_assert_cmpstr(dat->parent_name, ==, "appfs.0");
	g_assert_true(dat->parent == r0);
	g_assert_cmpstr(dat->type, ==, "raw"); /* default type */

	g_assert_cmpstr(bl->type, ==, "nor");
	g_assert_true(bl->readonly);
	g_assert_null(bl->parent);
}

static void test_relative_config_path(Fixture *f, gconstpointer data)
{
	g_autofree gchar *cwd = g_get_current_dir();
	g_autofree gchar *sub = in_dir(f, "etc");
	g_autofree gchar *conf = g_build_filename(sub, "system.conf", NULL);
	g_autofree gchar *device = g_build_filename(sub, "img", "rootfs0.img", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	g_assert_cmpint(g_mkdir(sub, 0755), ==, 0);
	g_assert_true(g_file_set_contents(conf, MINIMAL "[slot.rootfs.0]\ndevice=img/rootfs0.img\n", -1, NULL));
	/* a config given by a relative path still resolves paths against its own directory */
	g_assert_cmpint(g_chdir(f->dir), ==, 0);
	c = rota_config_load("etc/system.conf", &error);
	g_assert_cmpint(g_chdir(cwd), ==, 0);
	g_assert_no_error(error);
	g_assert_nonnull(c);
	g_assert_cmpstr(c->path, ==, "etc/system.conf");
	g_assert_cmpstr(rota_config_find_slot(c, "rootfs.0")->device, ==, device);
}

/* ---- defaults ---- */

static void test_minimal_defaults(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, MINIMAL);

	(void)data;
	g_assert_cmpstr(c->bootloader, ==, "noop");
	g_assert_cmpstr(c->mountprefix, ==, "/mnt/rauc/");
	g_assert_null(c->data_directory);
	g_assert_null(c->statusfile); /* per-slot */
	g_assert_cmpuint(c->bundle_formats, ==, ALL_FORMATS);
	g_assert_true(c->activate_installed);
	g_assert_cmpuint(c->max_download_size, ==, 8388608);
	g_assert_cmpuint(c->max_signature_size, ==, ROTA_MAX_SIGNATURE_SIZE);
	g_assert_false(c->perform_pre_check);
	g_assert_false(c->prevent_late_fallback);
	g_assert_null(c->variant);
	g_assert_null(c->min_bundle_version);
	g_assert_null(c->grubenv);
	g_assert_null(c->keyring.path);
	g_assert_false(c->keyring.check_crl);
	g_assert_null(c->streaming_send_headers);
	g_assert_null(c->handler_post_install);
	g_assert_cmpuint(c->slots->len, ==, 0);
}

static void test_new_default(void)
{
	g_autoptr(RotaConfig) c = rota_config_new_default();

	g_assert_nonnull(c);
	g_assert_null(c->path);
	g_assert_null(c->compatible);
	g_assert_cmpstr(c->mountprefix, ==, "/mnt/rauc/");
	g_assert_cmpuint(c->bundle_formats, ==, ALL_FORMATS);
	g_assert_cmpuint(c->max_signature_size, ==, ROTA_MAX_SIGNATURE_SIZE);
	g_assert_cmpuint(c->max_download_size, ==, 8388608);
	g_assert_true(c->activate_installed);
	g_assert_nonnull(c->slots);
	g_assert_cmpuint(c->slots->len, ==, 0);
	g_assert_null(rota_config_find_slot(c, "rootfs.0"));
}

static void test_slot_state_names(void)
{
	g_assert_cmpstr(rota_slot_state_name(ROTA_SLOT_BOOTED), ==, "booted");
	g_assert_cmpstr(rota_slot_state_name(ROTA_SLOT_ACTIVE), ==, "active");
	g_assert_cmpstr(rota_slot_state_name(ROTA_SLOT_INACTIVE), ==, "inactive");
}

static void test_grubenv_default(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, "[system]\ncompatible=x\nbootloader=grub\n");

	(void)data;
	g_assert_cmpstr(c->grubenv, ==, "/boot/grub/grubenv");
}

static void test_grubenv_absolute(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, "[system]\ncompatible=x\nbootloader=grub\ngrubenv=/boot/efi/grubenv\n");

	(void)data;
	g_assert_cmpstr(c->grubenv, ==, "/boot/efi/grubenv");
}

static void test_barebox_keys(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, "[system]\ncompatible=x\nbootloader=barebox\n"
					     "barebox-statename=mystate\nbarebox-dtbpath=/boot/state.dtb\n"
					     "boot-attempts=5\nboot-attempts-primary=7\n");

	(void)data;
	g_assert_cmpstr(c->barebox_statename, ==, "mystate");
	g_assert_cmpstr(c->barebox_dtbpath, ==, "/boot/state.dtb");
	g_assert_cmpint(c->boot_attempts, ==, 5);
	g_assert_cmpint(c->boot_attempts_primary, ==, 7);
}

static void test_uboot_boot_attempts(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, "[system]\ncompatible=x\nbootloader=uboot\nboot-attempts=4\n");

	(void)data;
	g_assert_cmpint(c->boot_attempts, ==, 4);
	g_assert_cmpint(c->boot_attempts_primary, ==, 0);
}

static void test_efi_use_bootnext(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) def = load_ok(f, "[system]\ncompatible=x\nbootloader=efi\n");
	g_autoptr(RotaConfig) off = load_ok(f, "[system]\ncompatible=x\nbootloader=efi\nefi-use-bootnext=false\n");

	(void)data;
	g_assert_true(def->efi_use_bootnext);
	g_assert_false(off->efi_use_bootnext);
}

static void test_custom_backend(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = load_ok(f, "[system]\ncompatible=x\nbootloader=custom\n"
					     "[handlers]\nbootloader-custom-backend=backend.sh\n");
	g_autofree gchar *backend = in_dir(f, "backend.sh");

	(void)data;
	g_assert_cmpstr(c->custom_bootloader_backend, ==, backend);
}

static void test_custom_backend_missing(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=custom\n", "handlers", "bootloader-custom-backend",
			  "No custom bootloader backend defined");
}

/* ---- bundle-formats ---- */

static guint load_formats(Fixture *f, const gchar *value)
{
	g_autofree gchar *text = g_strdup_printf(MINIMAL "bundle-formats=%s\n", value);
	g_autoptr(RotaConfig) c = load_ok(f, text);
	return c->bundle_formats;
}

static void test_bundle_formats_fixed(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpuint(load_formats(f, "verity"), ==, 1u << ROTA_FORMAT_VERITY);
	g_assert_cmpuint(load_formats(f, "plain verity"), ==, (1u << ROTA_FORMAT_PLAIN) | (1u << ROTA_FORMAT_VERITY));
	g_assert_cmpuint(load_formats(f, "crypt  plain"), ==, (1u << ROTA_FORMAT_PLAIN) | (1u << ROTA_FORMAT_CRYPT));
}

static void test_bundle_formats_modifiers(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpuint(load_formats(f, "-plain"), ==, (1u << ROTA_FORMAT_VERITY) | (1u << ROTA_FORMAT_CRYPT));
	g_assert_cmpuint(load_formats(f, "-plain -crypt"), ==, 1u << ROTA_FORMAT_VERITY);
	g_assert_cmpuint(load_formats(f, "+crypt"), ==, ALL_FORMATS);
	g_assert_cmpuint(load_formats(f, "-verity +verity"), ==, ALL_FORMATS);
}

static void test_bundle_formats_errors(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "bundle-formats=plain -verity\n", "system", "bundle-formats", "mixing");
	assert_load_error(f, MINIMAL "bundle-formats=-plain verity\n", "system", "bundle-formats", "mixing");
	assert_load_error(f, MINIMAL "bundle-formats=squash\n", "system", "bundle-formats",
			  "Invalid bundle format 'squash'");
	assert_load_error(f, MINIMAL "bundle-formats=+zip\n", "system", "bundle-formats", "Invalid bundle format 'zip'");
	assert_load_error(f, MINIMAL "bundle-formats=-plain -verity -crypt\n", "system", "bundle-formats",
			  "no remaining formats");
}

/* ---- status location (system-conf.md §2 table) ---- */

static void test_status_location_table(Fixture *f, gconstpointer data)
{
	g_autofree gchar *dd = in_dir(f, "dd");
	g_autofree gchar *dd_central = g_build_filename(f->dir, "dd", "central.raucs", NULL);
	g_autofree gchar *rel = in_dir(f, "my.raucs");

	(void)data;
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL);
		g_assert_null(c->data_directory);
		g_assert_null(c->statusfile);
	}
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "data-directory=dd\n");
		g_assert_cmpstr(c->data_directory, ==, dd);
		g_assert_cmpstr(c->statusfile, ==, dd_central);
	}
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "data-directory=/var/lib/rota\n");
		g_assert_cmpstr(c->data_directory, ==, "/var/lib/rota");
		g_assert_cmpstr(c->statusfile, ==, "/var/lib/rota/central.raucs");
	}
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "statusfile=per-slot\n");
		g_assert_null(c->statusfile);
	}
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "statusfile=my.raucs\n");
		g_assert_cmpstr(c->statusfile, ==, rel);
	}
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "statusfile=/var/status.raucs\ndata-directory=dd\n");
		g_assert_cmpstr(c->statusfile, ==, "/var/status.raucs");
		g_assert_cmpstr(c->data_directory, ==, dd);
	}
	assert_load_error(f, MINIMAL "statusfile=per-slot\ndata-directory=dd\n", "system", "statusfile",
			  "Using data-directory= with statusfile=per-slot is not supported.");
}

/* ---- variants ---- */

static void test_variant_file(Fixture *f, gconstpointer data)
{
	g_autofree gchar *vfile = in_dir(f, "variant");
	g_autofree gchar *text = g_strdup_printf(MINIMAL "variant-file=%s\n", vfile);
	g_autoptr(RotaConfig) c = NULL;
	g_autofree gchar *variant = NULL;
	g_autoptr(GError) error = NULL;

	(void)data;
	c = load_ok(f, text); /* read when resolved, not at load */
	g_assert_true(g_file_set_contents(vfile, "board-rev-b\n", -1, NULL));
	g_assert_true(rota_config_resolve_variant(c, &variant, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(variant, ==, "board-rev-b"); /* trailing newline removed */
}

/* A missing variant file does not stop the config from loading (`rota
 * info` needs no variant); resolving it fails naming file and key. */
static void test_variant_file_missing(Fixture *f, gconstpointer data)
{
	g_autofree gchar *vfile = in_dir(f, "no-such-variant");
	g_autofree gchar *text = g_strdup_printf(MINIMAL "variant-file=%s\n", vfile);
	g_autoptr(RotaConfig) c = NULL;
	g_autofree gchar *variant = NULL;
	g_autoptr(GError) error = NULL;

	(void)data;
	c = load_ok(f, text);
	g_assert_false(rota_config_resolve_variant(c, &variant, &error));
	g_assert_null(variant);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, f->path));
	g_assert_nonnull(strstr(error->message, "[system] variant-file: cannot read variant"));
}

static void test_variant_exclusive(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "variant-name=a\nvariant-file=/etc/variant\n", "system", "variant-*",
			  "Only one of the keys");
	assert_load_error(f, MINIMAL "variant-name=a\nvariant-dtb=true\n", "system", "variant-*", "Only one of the keys");
}

/* ---- value errors ---- */

static void test_error_missing_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *missing = in_dir(f, "nope.conf");
	g_autoptr(RotaConfig) c = rota_config_load(missing, &error);

	(void)data;
	g_assert_null(c);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, missing));
}

static void test_error_missing_system(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, "[keyring]\npath=/x\n", "system", NULL, "missing section");
}

static void test_error_missing_compatible(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, "[system]\nbootloader=noop\n", "system", "compatible", "System compatible string is not set");
	assert_load_error(f, "[system]\ncompatible=\nbootloader=noop\n", "system", "compatible",
			  "System compatible string is not set");
}

static void test_error_bootloader(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=lilo\n", "system", "bootloader",
			  "Unsupported bootloader 'lilo' selected in system config");
	assert_load_error(f, "[system]\ncompatible=x\n", "system", "bootloader", "No bootloader selected in system config");
}

static void test_error_bad_boolean(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "activate-installed=yes\n", "system", "activate-installed",
			  "'yes' is not a boolean");
	assert_load_error(f, MINIMAL "[keyring]\ncheck-crl=maybe\n", "keyring", "check-crl", "'maybe' is not a boolean");
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nreadonly=on\n", "slot.rootfs.0", "readonly",
			  "'on' is not a boolean");
}

static void test_error_min_bundle_version(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "min-bundle-version=abc\n", "system", "min-bundle-version",
			  "Min version format invalid");
}

static void test_error_bad_integer(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=uboot\nboot-attempts=three\n", "system", "boot-attempts",
			  "'three' is not an integer");
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=uboot\nboot-attempts=-1\n", "system", "boot-attempts",
			  "not an integer");
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=uboot\nboot-attempts=99999999999\n", "system",
			  "boot-attempts", "too large");
	assert_load_error(f, MINIMAL "max-bundle-download-size=0\n", "system", "max-bundle-download-size", ">= 1");
	assert_load_error(f, MINIMAL "max-bundle-signature-size=12k\n", "system", "max-bundle-signature-size",
			  "not an integer");
}

static void test_error_boot_attempts_bootloader(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=grub\nboot-attempts=3\n", "system", "boot-attempts",
			  "valid for uboot or barebox only (not for grub)");
	assert_load_error(f, "[system]\ncompatible=x\nbootloader=efi\nboot-attempts-primary=3\n", "system",
			  "boot-attempts", "not for efi");
	/* 0 is "unset" and allowed everywhere */
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "boot-attempts=0\n");
		g_assert_cmpint(c->boot_attempts, ==, 0);
	}
}

static void test_error_send_headers(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[streaming]\nsend-headers=boot-id;cookie\n", "streaming", "send-headers",
			  "Automatic HTTP header 'cookie' not supported");
}

/* ---- slot errors ---- */

static void test_error_slot_name_format(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[slot.rootfs]\ndevice=/dev/sda1\n", "slot.rootfs", NULL, "Invalid slot name format");
	assert_load_error(f, MINIMAL "[slot.root.fs.0]\ndevice=/dev/sda1\n", "slot.root.fs.0", NULL,
			  "Invalid slot name format");
	assert_load_error(f, MINIMAL "[slot..0]\ndevice=/dev/sda1\n", "slot..0", NULL, "Invalid slot name format");
	assert_load_error(f, MINIMAL "[slot.rootfs.]\ndevice=/dev/sda1\n", "slot.rootfs.", NULL,
			  "Invalid slot name format");
}

static void test_error_slot_type(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\ntype=btrfs\n", "slot.rootfs.0", "type",
			  "Unsupported slot type 'btrfs'");
}

static void test_slot_types_accepted(Fixture *f, gconstpointer data)
{
	static const gchar *const types[] = {"raw", "ext4", "vfat", "ubifs", "ubivol", "nand", "nor", "boot-emmc",
					     "boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback", NULL};

	(void)data;
	for (const gchar *const *t = types; *t; t++) {
		const gchar *region = g_str_has_prefix(*t, "boot-") && !g_str_equal(*t, "boot-emmc")
					      ? "region-start=1M\nregion-size=2M\n"
					      : "";
		g_autofree gchar *text = g_strdup_printf(MINIMAL "[slot.x.0]\ndevice=/dev/x\ntype=%s\n%s", *t, region);
		g_autoptr(RotaConfig) c = load_ok(f, text);
		g_assert_cmpstr(rota_config_find_slot(c, "x.0")->type, ==, *t);
	}
}

/* region-start / region-size: sizes with K/M/G/T suffixes (× 1024^n),
 * trailing text ignored, no digits = 0 (RAUC's parser). */
static void test_region_sizes(Fixture *f, gconstpointer data)
{
	static const struct {
		const gchar *text;
		guint64 value;
	} cases[] = {{"2048", 2048},
		     {"1k", 1024},
		     {"4K", 4096},
		     {"1M", 1048576},
		     {"3m", 3145728},
		     {"2G", 2147483648ull},
		     {"1T", 1099511627776ull},
		     {"12k bytes", 12288},
		     {"7x", 7},
		     {"0", 0},
		     {"abc", 0}};

	(void)data;
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = g_strdup_printf(MINIMAL "[slot.boot.0]\ndevice=/dev/x\ntype=boot-gpt-switch\n"
								 "region-start=%s\nregion-size=%s\n",
							 cases[i].text, "1M");
		g_autoptr(RotaConfig) c = load_ok(f, text);
		RotaSlot *s = rota_config_find_slot(c, "boot.0");
		g_assert_cmpuint(s->region_start, ==, cases[i].value);
		g_assert_cmpuint(s->region_size, ==, 1048576);
	}
}

static void test_region_keys_per_type(Fixture *f, gconstpointer data)
{
	static const gchar *const types[] = {"boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback"};

	(void)data;
	for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
		g_autofree gchar *no_start = g_strdup_printf(MINIMAL "[slot.boot.0]\ndevice=/dev/x\ntype=%s\nregion-size=2M\n",
							     types[i]);
		g_autofree gchar *no_size = g_strdup_printf(MINIMAL "[slot.boot.0]\ndevice=/dev/x\ntype=%s\nregion-start=1M\n",
							    types[i]);
		g_autofree gchar *too_large = g_strdup_printf(
			MINIMAL "[slot.boot.0]\ndevice=/dev/x\ntype=%s\nregion-start=1M\nregion-size=99999999T\n", types[i]);
		g_autofree gchar *mandatory = g_strdup_printf("mandatory for %s", types[i]);
		g_autofree gchar *ok_text = g_strdup_printf(
			MINIMAL "[slot.boot.0]\ndevice=/dev/x\ntype=%s\nregion-start=4M\nregion-size=8M\n", types[i]);
		g_autoptr(RotaConfig) c = NULL;

		assert_load_error(f, no_start, "slot.boot.0", "region-start", mandatory);
		assert_load_error(f, no_size, "slot.boot.0", "region-size", mandatory);
		assert_load_error(f, too_large, "slot.boot.0", "region-size", "too large");
		c = load_ok(f, ok_text);
		g_assert_cmpuint(rota_config_find_slot(c, "boot.0")->region_start, ==, 4u << 20);
		g_assert_cmpuint(rota_config_find_slot(c, "boot.0")->region_size, ==, 8u << 20);
	}
}

/* Other slot types do not know the region keys: they are unknown keys. */
static void test_region_keys_unknown_elsewhere(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'region-*' in section [slot.rootfs.0]*");
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'region-*' in section [slot.rootfs.0]*");
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'region-start' in section [slot.emmc.0]*");
	c = load_ok(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nregion-start=1M\nregion-size=2M\n"
			       "[slot.emmc.0]\ndevice=/dev/mmcblk0\ntype=boot-emmc\nregion-start=1M\n");
	g_test_assert_expected_messages();
	g_assert_cmpuint(rota_config_find_slot(c, "rootfs.0")->region_start, ==, 0);
	g_assert_cmpuint(rota_config_find_slot(c, "rootfs.0")->region_size, ==, 0);
}

static void test_error_slot_device_missing(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ntype=ext4\n", "slot.rootfs.0", "device", "missing");
}

static void test_error_duplicate_bootname(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f,
			  MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nbootname=A\n"
				  "[slot.rootfs.1]\ndevice=/dev/sda2\nbootname=A\n",
			  "slot.rootfs.1", "bootname", "Bootname 'A' is set on more than one slot");
}

static void test_error_bootname_whitespace(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nbootname=A B\n", "slot.rootfs.0", "bootname",
			  "whitespace");
}

static void test_error_child_with_bootname(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f,
			  MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nbootname=A\n"
				  "[slot.appfs.0]\ndevice=/dev/sda3\nparent=rootfs.0\nbootname=X\n",
			  "slot.appfs.0", "bootname", "Child slot 'appfs.0' has bootname set");
}

static void test_error_unknown_parent(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[slot.appfs.0]\ndevice=/dev/sda3\nparent=rootfs.7\n", "slot.appfs.0", "parent",
			  "Parent slot 'rootfs.7' not found!");
}

static void test_error_parent_loop(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f,
			  MINIMAL "[slot.a.0]\ndevice=/dev/a\nparent=b.0\n"
				  "[slot.b.0]\ndevice=/dev/b\nparent=a.0\n",
			  "slot.a.0", "parent", "has a parent loop");
	assert_load_error(f, MINIMAL "[slot.a.0]\ndevice=/dev/a\nparent=a.0\n", "slot.a.0", "parent", "parent loop");
}

/* ---- unknown keys and sections only warn ---- */

static void test_unknown_key_warns(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'colour' in section [system]*");
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'foo' in section [keyring]*");
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'speed' in section [slot.rootfs.0]*");
	c = load_ok(f, MINIMAL "colour=blue\n[keyring]\npath=/k.pem\nfoo=1\n"
			       "[slot.rootfs.0]\ndevice=/dev/sda1\nspeed=fast\n");
	g_test_assert_expected_messages();
	g_assert_cmpstr(c->keyring.path, ==, "/k.pem");
	g_assert_nonnull(rota_config_find_slot(c, "rootfs.0"));
}

static void test_unknown_section_warns(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown section [casync]*");
	c = load_ok(f, MINIMAL "[casync]\nstorepath=/x\n[slot.rootfs.0]\ndevice=/dev/sda1\n");
	g_test_assert_expected_messages();
	g_assert_cmpuint(c->slots->len, ==, 1);
}

/* [artifacts.<repo>]: path resolved against the config's directory like
 * slot devices; unknown keys warn as elsewhere. */
static void test_artifact_repo(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;
	g_autofree gchar *expected = NULL;
	RotaArtifactRepo *a;

	(void)data;
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*colour*[artifacts.apps]*");
	c = load_ok(f, MINIMAL "[artifacts.apps]\npath=repos/apps\ntype=trees\ndescription=Apps\ncolour=blue\n"
			       "[artifacts.files]\npath=/data/files\ntype=files\n");
	g_test_assert_expected_messages();
	g_assert_cmpuint(c->artifact_repos->len, ==, 2);
	a = rota_config_find_artifact_repo(c, "apps");
	g_assert_nonnull(a);
	expected = g_build_filename(f->dir, "repos/apps", NULL);
	g_assert_cmpstr(a->path, ==, expected);
	g_assert_cmpstr(a->type, ==, "trees");
	g_assert_cmpstr(a->description, ==, "Apps");
	g_assert_cmpstr(rota_config_find_artifact_repo(c, "files")->path, ==, "/data/files");
	g_assert_null(rota_config_find_artifact_repo(c, "nope"));
}

/* The messages of system-conf.md §9a and §1.4. */
static void test_artifact_repo_errors(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[artifacts.a.b]\npath=/x\ntype=files\n", "artifacts.a.b", NULL,
			  "Invalid artifacts repo format");
	assert_load_error(f, MINIMAL "[artifacts.a]\npath=/x\ntype=composefs\n", "artifacts.a", "type",
			  "Unsupported artifacts repo type 'composefs' for repo a selected in system config");
	assert_load_error(f, MINIMAL "[artifacts.a]\npath=/x\ntype=files\nparent-class=rootfs\n", "artifacts.a",
			  "parent-class", "Parent slot classes are not yet supported for artifact repos");
	assert_load_error(f, MINIMAL "[artifacts.a]\ntype=files\n", "artifacts.a", "path", "missing");
	assert_load_error(f, MINIMAL "[artifacts.a]\npath=/x\n", "artifacts.a", "type", "missing");
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/a\n[artifacts.rootfs]\npath=/x\ntype=files\n", NULL,
			  NULL, "Existing slot class 'rootfs' cannot be used as artifact repo name!");
}

static void test_other_bootloader_keys_warn(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	/* grubenv is only known with bootloader=grub, the custom backend only with custom */
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*unknown key 'grubenv' in section [system]*");
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING,
			      "*unknown key 'bootloader-custom-backend' in section [handlers]*");
	c = load_ok(f, "[system]\ncompatible=x\nbootloader=uboot\ngrubenv=/boot/grubenv\n"
		       "[handlers]\nbootloader-custom-backend=/bin/backend\n");
	g_test_assert_expected_messages();
	g_assert_null(c->grubenv);
	g_assert_null(c->custom_bootloader_backend);
}

/* Booleans as GKeyFile (and so RAUC) reads them: trailing whitespace is
 * fine, an empty value is an error rather than the default. */
static void test_boolean_like_gkeyfile(Fixture *f, gconstpointer data)
{
	(void)data;
	{
		g_autoptr(RotaConfig) c = load_ok(f, MINIMAL "activate-installed=false \n"
							     "[slot.rootfs.0]\ndevice=/dev/sda1\nreadonly=1\t\n");
		g_assert_false(c->activate_installed);
		g_assert_true(rota_config_find_slot(c, "rootfs.0")->readonly);
	}
	assert_load_error(f, MINIMAL "activate-installed=\n", "system", "activate-installed", "is not a boolean");
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nreadonly=\n", "slot.rootfs.0", "readonly",
			  "is not a boolean");
}

/* force-install-same and ignore-checksum are RAUC's deprecated spellings of
 * install-same, used when install-same is absent. */
static void test_install_same_aliases(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	c = load_ok(f, MINIMAL "[slot.a.0]\ndevice=/dev/a\nforce-install-same=false\n"
			       "[slot.b.0]\ndevice=/dev/b\nignore-checksum=false\n"
			       "[slot.c.0]\ndevice=/dev/c\ninstall-same=true\nforce-install-same=false\n"
			       "[slot.d.0]\ndevice=/dev/d\n");
	g_assert_false(rota_config_find_slot(c, "a.0")->install_same);
	g_assert_false(rota_config_find_slot(c, "b.0")->install_same);
	g_assert_true(rota_config_find_slot(c, "c.0")->install_same);
	g_assert_true(rota_config_find_slot(c, "d.0")->install_same);
	assert_load_error(f, MINIMAL "[slot.a.0]\ndevice=/dev/a\nforce-install-same=maybe\n", "slot.a.0",
			  "force-install-same", "is not a boolean");
}

/* A value that is not UTF-8 is refused, not taken for unset (which would
 * drop the slot's bootname without a word). */
static void test_non_utf8_value(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "[slot.rootfs.0]\ndevice=/dev/sda1\nbootname=A\xff\n", "slot.rootfs.0", "bootname",
			  "UTF-8");
	assert_load_error(f, MINIMAL "[keyring]\npath=/etc/\xfe.pem\n", "keyring", "path", "UTF-8");
}

/* An empty bundle-formats or statusfile is refused (RAUC: "Missing
 * value"), not taken for the default. */
static void test_empty_value_refused(Fixture *f, gconstpointer data)
{
	(void)data;
	assert_load_error(f, MINIMAL "bundle-formats=\n", "system", "bundle-formats", "Missing value");
	assert_load_error(f, MINIMAL "statusfile=\n", "system", "statusfile", "Missing value");
}

static const RotaEventLogger *logger(const RotaConfig *c, guint i)
{
	g_assert_cmpuint(i, <, c->loggers->len);
	return c->loggers->pdata[i];
}

/* [log.<name>] (system-conf.md §7): defaults, the data-directory for a
 * relative filename, max-size with K/M/G/T (powers of 1024), and nothing but
 * such a size. */
static void test_log_sections(Fixture *f, gconstpointer data)
{
	g_autoptr(RotaConfig) c = NULL;

	(void)data;
	c = load_ok(f, MINIMAL "data-directory=/data\n"
			       "[log.a]\nfilename=a.log\n"
			       "[log.b]\nfilename=/var/b.log\nevents=mark;boot\nformat=json-pretty\nmax-size=3K\nmax-files=1\n"
			       "[log.c]\nfilename=/c\nmax-size=2M\n[log.d]\nfilename=/d\nmax-size=1G\n"
			       "[log.e]\nfilename=/e\nmax-size=1T\n[log.f]\nfilename=/f\nmax-size=100\nevents=all\n");
	g_assert_cmpstr(logger(c, 0)->name, ==, "a");
	g_assert_cmpstr(logger(c, 0)->filename, ==, "/data/a.log");
	g_assert_null(logger(c, 0)->events);
	g_assert_cmpint(logger(c, 0)->format, ==, ROTA_LOG_READABLE);
	g_assert_cmpuint(logger(c, 0)->max_size, ==, 0);
	g_assert_cmpuint(logger(c, 0)->max_files, ==, 10);
	g_assert_cmpstr(logger(c, 1)->filename, ==, "/var/b.log");
	g_assert_cmpstrv(logger(c, 1)->events, ((const gchar *const[]){"mark", "boot", NULL}));
	g_assert_cmpint(logger(c, 1)->format, ==, ROTA_LOG_JSON_PRETTY);
	g_assert_cmpuint(logger(c, 1)->max_size, ==, 3 * 1024);
	g_assert_cmpuint(logger(c, 1)->max_files, ==, 1);
	g_assert_cmpuint(logger(c, 2)->max_size, ==, 2 * 1024 * 1024);
	g_assert_cmpuint(logger(c, 3)->max_size, ==, G_GUINT64_CONSTANT(1) << 30);
	g_assert_cmpuint(logger(c, 4)->max_size, ==, G_GUINT64_CONSTANT(1) << 40);
	g_assert_cmpuint(logger(c, 5)->max_size, ==, 100);
	g_assert_null(logger(c, 5)->events);

	assert_load_error(f, MINIMAL "[log.a]\nfilename=a.log\n", "log.a", "filename", "data-directory");
	assert_load_error(f, MINIMAL "[log.a]\nfilename=/a\nmax-size=10MB\n", "log.a", "max-size", "not a size");
	assert_load_error(f, MINIMAL "[log.a]\nfilename=/a\nmax-size=K\n", "log.a", "max-size", "not a size");
	assert_load_error(f, MINIMAL "[log.a]\nfilename=/a\nmax-size=1 K\n", "log.a", "max-size", "not a size");
	assert_load_error(f, MINIMAL "[log.a]\nfilename=/a\nmax-size=99999999999T\n", "log.a", "max-size", "too large");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add("/config/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("full/system", test_full_system_section);
	ADD("full/other-sections", test_full_other_sections);
	ADD("full/slots", test_full_slots);
	ADD("full/relative-config-path", test_relative_config_path);
	ADD("defaults/minimal", test_minimal_defaults);
	g_test_add_func("/config/defaults/new-default", test_new_default);
	g_test_add_func("/config/slot-state-names", test_slot_state_names);
	ADD("log-sections", test_log_sections);
	ADD("grub/grubenv-default", test_grubenv_default);
	ADD("grub/grubenv-absolute", test_grubenv_absolute);
	ADD("barebox/keys", test_barebox_keys);
	ADD("uboot/boot-attempts", test_uboot_boot_attempts);
	ADD("efi/use-bootnext", test_efi_use_bootnext);
	ADD("custom/backend", test_custom_backend);
	ADD("custom/backend-missing", test_custom_backend_missing);
	ADD("bundle-formats/fixed", test_bundle_formats_fixed);
	ADD("bundle-formats/modifiers", test_bundle_formats_modifiers);
	ADD("bundle-formats/errors", test_bundle_formats_errors);
	ADD("status-location", test_status_location_table);
	ADD("variant/file", test_variant_file);
	ADD("variant/file-missing", test_variant_file_missing);
	ADD("variant/exclusive", test_variant_exclusive);
	ADD("error/missing-file", test_error_missing_file);
	ADD("error/missing-system", test_error_missing_system);
	ADD("error/missing-compatible", test_error_missing_compatible);
	ADD("error/bootloader", test_error_bootloader);
	ADD("error/bad-boolean", test_error_bad_boolean);
	ADD("error/min-bundle-version", test_error_min_bundle_version);
	ADD("error/bad-integer", test_error_bad_integer);
	ADD("error/boot-attempts-bootloader", test_error_boot_attempts_bootloader);
	ADD("error/send-headers", test_error_send_headers);
	ADD("slot/name-format", test_error_slot_name_format);
	ADD("slot/type-unsupported", test_error_slot_type);
	ADD("slot/types-accepted", test_slot_types_accepted);
	ADD("slot/device-missing", test_error_slot_device_missing);
	ADD("slot/region-sizes", test_region_sizes);
	ADD("slot/region-keys-per-type", test_region_keys_per_type);
	ADD("slot/region-keys-unknown-elsewhere", test_region_keys_unknown_elsewhere);
	ADD("slot/duplicate-bootname", test_error_duplicate_bootname);
	ADD("slot/bootname-whitespace", test_error_bootname_whitespace);
	ADD("slot/child-with-bootname", test_error_child_with_bootname);
	ADD("slot/unknown-parent", test_error_unknown_parent);
	ADD("slot/parent-loop", test_error_parent_loop);
	ADD("warn/unknown-key", test_unknown_key_warns);
	ADD("warn/unknown-section", test_unknown_section_warns);
	ADD("artifacts/repo", test_artifact_repo);
	ADD("artifacts/repo-errors", test_artifact_repo_errors);
	ADD("warn/other-bootloader-keys", test_other_bootloader_keys_warn);
	ADD("value/boolean-like-gkeyfile", test_boolean_like_gkeyfile);
	ADD("value/non-utf8", test_non_utf8_value);
	ADD("slot/install-same-aliases", test_install_same_aliases);
	ADD("value/empty-refused", test_empty_value_refused);
#undef ADD
	return g_test_run();
}
