/* test_bundle.c — creating and opening bundles through the library:
 * random-offset reads through the view stack, and hand-crafted bundles
 * whose signed manifest lies about the layout. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "bundle/bundle_private.h"
#include "common/util.h"

typedef struct {
	gchar *dir;
	gchar *pki;
	RotaSigner signer;
	RotaKeyring keyring;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
	const gchar *src = g_getenv("ROTA_SOURCE_DIR") ? g_getenv("ROTA_SOURCE_DIR") : ROTA_SOURCE_DIR;
	g_autofree gchar *cmd = NULL;
	gint status;

	f->dir = g_dir_make_tmp("rota-bundle-XXXXXX", NULL);
	f->pki = g_build_filename(f->dir, "pki", NULL);
	cmd = g_strdup_printf("bash %s/tests/pki.sh %s", src, f->pki);
	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
	f->signer.cert = g_build_filename(f->pki, "signer.cert.pem", NULL);
	f->signer.key = g_build_filename(f->pki, "signer.key.pem", NULL);
	f->signer.intermediates = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(f->signer.intermediates, g_build_filename(f->pki, "intermediate.pem", NULL));
	f->keyring.path = g_build_filename(f->pki, "keyring.pem", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
	rota_remove_tree(f->dir);
	g_free(f->signer.cert);
	g_free(f->signer.key);
	g_ptr_array_unref(f->signer.intermediates);
	rota_keyring_clear(&f->keyring);
	g_free(f->pki);
	g_free(f->dir);
}

/* An input dir with a 1 MiB image of a known pattern. */
static gchar *make_input(Fixture *f, const gchar *format)
{
	gchar *in = g_build_filename(f->dir, "in", NULL);
	g_autofree gchar *manifest = g_strdup_printf("[update]\ncompatible=unit\n\n[bundle]\nformat=%s\n\n"
						     "[image.rootfs]\nfilename=rootfs.img\n", format);
	g_autofree gchar *mpath = g_build_filename(in, "manifest.raucm", NULL);
	g_autofree gchar *ipath = g_build_filename(in, "rootfs.img", NULL);
	g_autofree guint8 *img = g_malloc(1 << 20);

	for (gsize i = 0; i < (1 << 20); i++)
		img[i] = (guint8)(i * 31 + i / 4096);
	g_assert_cmpint(g_mkdir(in, 0755), ==, 0);
	g_assert_true(g_file_set_contents(mpath, manifest, -1, NULL));
	g_assert_true(g_file_set_contents(ipath, (gchar *)img, 1 << 20, NULL));
	return in;
}

/* Creates out from in with copts (its squashfs options set to defaults). */
static void create_ok(const gchar *in, const gchar *out, RotaBundleCreateOptions *copts)
{
	g_autoptr(GError) error = NULL;

	rota_squashfs_options_init(&copts->squashfs);
	g_assert_true(rota_bundle_create(in, out, copts, &error));
	g_assert_no_error(error);
	rota_squashfs_options_clear(&copts->squashfs);
}

static void test_create_and_read(Fixture *f, gconstpointer data)
{
	const gchar *format = data;
	g_autofree gchar *in = make_input(f, format);
	g_autofree gchar *out = g_build_filename(f->dir, "b.raucb", NULL);
	RotaBundleCreateOptions copts = {.signer = f->signer, .signing_keyring = &f->keyring};
	RotaBundleOpenOptions oopts = {.keyring = &f->keyring};
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaBundle) b = NULL;
	RotaSquashfs *sqfs;
	guint8 buf[1000];
	guint64 size;

	create_ok(in, out, &copts);

	b = rota_bundle_open(out, &oopts, &error);
	g_assert_no_error(error);
	g_assert_true(b->verified);
	g_assert_cmpstr(rota_bundle_format_name(b->format), ==, format);
	g_assert_cmpuint(b->chain->len, ==, 3);
	g_assert_cmpuint(((RotaImage *)b->manifest->images->pdata[0])->size, ==, 1 << 20);
	sqfs = rota_bundle_get_squashfs(b, &error);
	g_assert_nonnull(sqfs);
	g_assert_true(rota_squashfs_file_size(sqfs, "rootfs.img", &size, &error));
	g_assert_cmpuint(size, ==, 1 << 20);
	/* Random access without extracting: a read across a 4 KiB boundary. */
	g_assert_true(rota_squashfs_read_file(sqfs, "rootfs.img", 500000, buf, sizeof(buf), &error));
	for (gsize i = 0; i < sizeof(buf); i++) {
		gsize pos = 500000 + i;
		g_assert_cmpuint(buf[i], ==, (guint8)(pos * 31 + pos / 4096));
	}
	g_assert_true(rota_bundle_check_payload(b, &error));
}

/* Assembles payload + CMS(manifest) + trailer by hand. */
static gchar *craft_bundle(Fixture *f, const gchar *manifest, gsize payload_size)
{
	gchar *path = g_build_filename(f->dir, "crafted.raucb", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) cms = rota_cms_sign(manifest, strlen(manifest), FALSE, &f->signer, &error);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	g_assert_no_error(error);
	g_assert_cmpint(ftruncate(fd, (off_t)payload_size), ==, 0);
	g_assert_cmpint(lseek(fd, 0, SEEK_END), ==, (off_t)payload_size);
	g_assert_true(rota_bundle_append_signature(fd, cms, path, &error));
	close(fd);
	return path;
}

static void expect_open_error(Fixture *f, const gchar *manifest, gsize payload, const gchar *fragment)
{
	g_autofree gchar *path = craft_bundle(f, manifest, payload);
	RotaBundleOpenOptions o = {.keyring = &f->keyring};
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaBundle) b = rota_bundle_open(path, &o, &error);

	g_assert_null(b);
	g_assert_nonnull(error);
	if (!strstr(error->message, fragment))
		g_error("'%s' lacks '%s'", error->message, fragment);
	g_unlink(path);
}

static void test_crafted_manifests(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
	const gchar *keys = "verity-hash=931b44c2989432c0fcfcd215ec94384576b973d70530fdc75b6c4c67b0a60297\n"
			    "verity-salt=ea12cb34c699ebbad0ebee8f6aca0049ee991f289011345d9cdb473ba4fdd285\n";
	g_autofree gchar *too_big = g_strdup_printf("[update]\ncompatible=c\n[bundle]\nformat=verity\n%sverity-size=81920\n", keys);
	g_autofree gchar *wrong_tree = g_strdup_printf("[update]\ncompatible=c\n[bundle]\nformat=verity\n%sverity-size=8192\n", keys);
	g_autofree gchar *unaligned = g_strdup_printf("[update]\ncompatible=c\n[bundle]\nformat=verity\n%sverity-size=4096\n", keys);

	expect_open_error(f, too_big, 8192, "does not fit in the payload");
	expect_open_error(f, wrong_tree, 8 * 4096, "verity-size 8192 does not fit a data area");
	/* verity-size fits, but leaves a data area that is no whole number of blocks */
	expect_open_error(f, unaligned, 2 * 4096 + 512,
			  "data area of 4608 bytes (payload minus verity-size) is not a multiple of 4096");
	expect_open_error(f, "[update]\ncompatible=c\n", 8192, "Bundle format 'plain' not allowed for external manifest");
	expect_open_error(f, "[update]\ncompatible=c\n[bundle]\nformat=verity\n", 8192, "Missing hash for verity bundle");
}

/* A bundle opened without a keyring (--no-verify) has nothing its payload
 * could be checked against (plain) and must not be passed on as checked
 * (encrypt): the library refuses both, whatever its callers do. */
static void test_unverified(Fixture *f, gconstpointer data)
{
	const gchar *format = data;
	g_autofree gchar *in = make_input(f, format);
	g_autofree gchar *out = g_build_filename(f->dir, "b.raucb", NULL);
	g_autofree gchar *enc = g_build_filename(f->dir, "enc.raucb", NULL);
	g_autofree gchar *cert = g_build_filename(f->pki, "signer.cert.pem", NULL);
	gchar *to[] = {cert, NULL};
	RotaBundleCreateOptions copts = {.signer = f->signer};
	RotaBundleOpenOptions oopts = {0}; /* no keyring */
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaBundle) b = NULL;

	create_ok(in, out, &copts);
	b = rota_bundle_open(out, &oopts, &error);
	g_assert_no_error(error);
	g_assert_false(b->verified);
	if (g_str_equal(format, "plain")) {
		g_assert_false(rota_bundle_check_payload(b, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
		g_assert_nonnull(strstr(error->message, "without verifying its signature"));
	} else {
		g_assert_false(rota_bundle_encrypt(b, enc, to, NULL, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
		g_assert_nonnull(strstr(error->message, "signature was not verified"));
		g_assert_false(g_file_test(enc, G_FILE_TEST_EXISTS));
	}
}

static void test_signature_limit(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
	g_autofree gchar *in = make_input(f, "verity");
	g_autofree gchar *out = g_build_filename(f->dir, "b.raucb", NULL);
	RotaBundleCreateOptions copts = {.signer = f->signer};
	RotaBundleOpenOptions oopts = {.keyring = &f->keyring, .max_signature_size = 100};
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaBundle) b = NULL;

	create_ok(in, out, &copts);
	b = rota_bundle_open(out, &oopts, &error);
	g_assert_null(b);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT);
	g_assert_nonnull(strstr(error->message, "exceeds max-bundle-signature-size (100)"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/bundle/create-read/verity", Fixture, "verity", fixture_setup, test_create_and_read, fixture_teardown);
	g_test_add("/bundle/create-read/plain", Fixture, "plain", fixture_setup, test_create_and_read, fixture_teardown);
	g_test_add("/bundle/crafted-manifests", Fixture, NULL, fixture_setup, test_crafted_manifests, fixture_teardown);
	g_test_add("/bundle/unverified/plain", Fixture, "plain", fixture_setup, test_unverified, fixture_teardown);
	g_test_add("/bundle/unverified/crypt", Fixture, "crypt", fixture_setup, test_unverified, fixture_teardown);
	g_test_add("/bundle/signature-limit", Fixture, NULL, fixture_setup, test_signature_limit, fixture_teardown);
	return g_test_run();
}
