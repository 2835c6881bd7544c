/* test_manifest.c — parsing strictness, validation sets and RAUC's
 * serialization order. */
#include <string.h>

#include "bundle/manifest.h"

static RotaManifest *parse(const gchar *text, GError **error)
{
	return rota_manifest_parse(text, strlen(text), "test.raucm", error);
}

static void assert_rejected(const gchar *text, const gchar *fragment)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaManifest) m = parse(text, &error);

	g_assert_null(m);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	if (!strstr(error->message, fragment))
		g_error("message '%s' lacks '%s'", error->message, fragment);
	g_assert_nonnull(strstr(error->message, "test.raucm"));
}

static void test_parse_full(void)
{
	const gchar *text = "[update]\ncompatible=Test Config\nversion=2011.03-2\ndescription=d\nbuild=b\n\n"
			    "[bundle]\nformat=verity\nverity-hash=" "931b44c2989432c0fcfcd215ec94384576b973d70530fdc75b6c4c67b0a60297\n"
			    "verity-salt=ea12cb34c699ebbad0ebee8f6aca0049ee991f289011345d9cdb473ba4fdd285\nverity-size=4096\n\n"
			    "[hooks]\nfilename=hook.sh\nhooks=install-check;\n\n"
			    "[image.rootfs]\nsha256=3FA9AE6719105BFED11358C588BC2EDB37ACF0BFD6AD2DF4211E0BBD5A72F411\nsize=65536\n"
			    "filename=rootfs.ext4\nhooks=pre-install;post-install;\n\n"
			    "[image.appfs.var-a.1]\nsha256=9f1dcbc35c350d6027f98be0f5c8b43b42ca52b7604459c0c42be3aa88913d47\n"
			    "size=8192\nfilename=appfs.img\n\n[meta.release]\nchannel=stable\nnote-1=x y\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaManifest) m = parse(text, &error);
	RotaImage *img;
	gboolean detected;

	g_assert_no_error(error);
	g_assert_cmpstr(m->compatible, ==, "Test Config");
	g_assert_cmpint(m->format, ==, ROTA_FORMAT_VERITY);
	g_assert_cmpuint(m->verity_size, ==, 4096);
	g_assert_cmpstr(m->hooks[0], ==, "install-check");
	g_assert_cmpuint(m->images->len, ==, 2);
	img = m->images->pdata[0];
	g_assert_cmpstr(img->sha256, ==, "3fa9ae6719105bfed11358c588bc2edb37acf0bfd6ad2df4211e0bbd5a72f411");
	g_assert_cmpstr(rota_image_get_type(img, &detected), ==, "ext4");
	g_assert_true(detected);
	img = m->images->pdata[1];
	g_assert_cmpstr(img->slotclass, ==, "appfs");
	g_assert_cmpstr(img->variant, ==, "var-a.1");
	g_assert_cmpstr(rota_image_get_type(img, NULL), ==, "raw");
	g_assert_cmpuint(m->meta->len, ==, 1);
	g_assert_true(rota_manifest_check_external(m, "test.raucm", &error));
	g_assert_false(rota_manifest_check_input(m, "test.raucm", &error));
	g_assert_nonnull(strstr(error->message, "Unexpected"));
}

static void test_serialize_order(void)
{
	const gchar *in = "[image.rootfs]\nfilename=rootfs.img\n\n[update]\nversion=1\ncompatible=c\n\n"
			  "[bundle]\nformat=verity\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaManifest) m = parse(in, &error);
	g_autoptr(GBytes) out = NULL;
	RotaImage *img = m->images->pdata[0];

	img->sha256 = g_strdup("00");
	img->size = 65536;
	img->has_size = TRUE;
	m->verity_hash = g_strdup("aa");
	m->verity_salt = g_strdup("bb");
	m->verity_size = 4096;
	out = rota_manifest_serialize(m, TRUE);
	g_assert_cmpstr(g_bytes_get_data(out, NULL), ==,
			"[update]\ncompatible=c\nversion=1\n\n[bundle]\nformat=verity\nverity-hash=aa\nverity-salt=bb\n"
			"verity-size=4096\n\n[image.rootfs]\nsha256=00\nsize=65536\nfilename=rootfs.img\n");
	g_bytes_unref(out);
	/* The copy inside the payload has no verity keys. */
	out = rota_manifest_serialize(m, FALSE);
	g_assert_null(strstr(g_bytes_get_data(out, NULL), "verity-"));
}

static void test_implicit_plain(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaManifest) m = parse("[update]\ncompatible=c\n", &error);
	g_autoptr(GBytes) out = NULL;

	g_assert_cmpint(m->format, ==, ROTA_FORMAT_PLAIN);
	g_assert_false(m->format_explicit);
	out = rota_manifest_serialize(m, TRUE);
	g_assert_null(strstr(g_bytes_get_data(out, NULL), "[bundle]"));
	g_assert_true(rota_manifest_check_input(m, "x", &error));
}

static void test_rejections(void)
{
	assert_rejected("", "empty");
	assert_rejected("[update]\nversion=1\n", "compatible");
	assert_rejected("[bundle]\nformat=verity\n", "[update]");
	assert_rejected("[update]\ncompatible=c\nfoo=1\n", "Invalid key 'foo' in group '[update]'");
	assert_rejected("[update]\ncompatible=c\n[bogus]\na=b\n", "Invalid group '[bogus]'");
	assert_rejected("[update]\ncompatible=c\n[bundle]\nformat=zip\n", "Invalid format value 'zip'");
	assert_rejected("[update]\ncompatible=c\n[bundle]\nverity-hash=00\n", "Invalid key 'verity-hash'");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nfilename=../etc/passwd\n", "must not contain '/'");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nfilename=/abs.img\n", "must not contain '/'");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nsize=1\n", "Missing required 'filename'");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nfilename=a.img\nsha256=xyz\n", "Invalid digest");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nfilename=a.img\nsize=-3\n", "not an unsigned integer");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nfilename=a.img\nhooks=pre;\n", "slot hook type 'pre'");
	assert_rejected("[update]\ncompatible=c\n[image.rootfs]\nfilename=a.img\ntype=zip\n", "Unsupported image type");
	assert_rejected("[update]\ncompatible=c\n[hooks]\nhooks=install-check;foo;\n", "install hook type 'foo'");
	assert_rejected("[update]\ncompatible=c\n[meta.a.b]\nk=v\n", "Invalid metadata section name");
	assert_rejected("[update]\ncompatible=c\n[meta.a]\nk$=v\n", "Invalid metadata key name");
	assert_rejected("[update]\ncompatible=c\n[handler]\nargs=-x\n", "requires a full custom handler");
	assert_rejected("not a key file", "not a valid key file");
}

/* A value that is not UTF-8 is refused with a message that names group and
 * key and says so (a [meta.*] value was reported as missing). */
static void test_non_utf8_values(void)
{
	static const gchar *const texts[] = {
		"[update]\ncompatible=c\ndescription=caf\xe9\n",
		"[update]\ncompatible=c\n[image.rootfs]\nfilename=r\xff.img\n",
		"[update]\ncompatible=c\n[meta.release]\nchannel=st\xfe\n",
	};
	static const gchar *const where[] = {"key 'description' in group '[update]'",
					     "key 'filename' in group '[image.rootfs]'",
					     "key 'channel' in group '[meta.release]'"};

	for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(RotaManifest) m = parse(texts[i], &error);

		g_assert_null(m);
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		if (!g_utf8_validate(error->message, -1, NULL))
			g_error("message of case %" G_GSIZE_FORMAT " is not valid UTF-8", i);
		if (!strstr(error->message, where[i]) || !strstr(error->message, "UTF-8"))
			g_error("message '%s' lacks '%s' or 'UTF-8'", error->message, where[i]);
	}
}

static void check_fails(const gchar *text, gboolean (*check)(const RotaManifest *, const gchar *, GError **),
			const gchar *fragment)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaManifest) m = parse(text, &error);

	g_assert_no_error(error);
	g_assert_false(check(m, "test.raucm", &error));
	if (!strstr(error->message, fragment))
		g_error("message '%s' lacks '%s'", error->message, fragment);
}

static void test_validation_sets(void)
{
	const gchar *hash = "sha256=9f1dcbc35c350d6027f98be0f5c8b43b42ca52b7604459c0c42be3aa88913d47\n";
	g_autofree gchar *no_size = g_strconcat("[update]\ncompatible=c\n[image.a]\nfilename=a.img\n", hash, NULL);
	g_autofree gchar *no_verity = g_strconcat("[update]\ncompatible=c\n[bundle]\nformat=verity\n", NULL);
	g_autofree gchar *bad_size = g_strconcat("[update]\ncompatible=c\n[bundle]\nformat=verity\nverity-hash=",
						 "931b44c2989432c0fcfcd215ec94384576b973d70530fdc75b6c4c67b0a60297\n"
						 "verity-salt=ea12cb34c699ebbad0ebee8f6aca0049ee991f289011345d9cdb473ba4fdd285\n"
						 "verity-size=100\n", NULL);

	check_fails(no_size, rota_manifest_check_internal, "Missing size for image a.img");
	check_fails("[update]\ncompatible=c\n[image.a]\nfilename=a.img\nsize=1\n", rota_manifest_check_internal,
		    "Missing digest");
	check_fails(no_verity, rota_manifest_check_external, "Missing hash for verity bundle");
	check_fails("[update]\ncompatible=c\n", rota_manifest_check_external, "not allowed for external manifest");
	check_fails(bad_size, rota_manifest_check_external, "Unaligned size");
	check_fails("[update]\ncompatible=c\n[bundle]\nformat=verity\n", rota_manifest_check_internal,
		    "plain bundles can only contain plain manifests");
	check_fails("[update]\ncompatible=c\n[hooks]\nfilename=h.sh\n[image.a]\nfilename=a.img\nhooks=install;pre-install;\n",
		    rota_manifest_check_input, "cannot be combined");
	check_fails("[update]\ncompatible=c\n[image.a]\nfilename=a.img\nhooks=pre-install;\n", rota_manifest_check_input,
		    "no hook 'filename'");
	check_fails("[update]\ncompatible=c\n[image.a]\nfilename=a.img\nadaptive=magic;\n", rota_manifest_check_input,
		    "Unsupported adaptive method: magic");
	check_fails("[update]\ncompatible=c\n[hooks]\nfilename=../hook\nhooks=install-check;\n", rota_manifest_check_input,
		    "relative path");
	check_fails("[update]\ncompatible=c\n[image.repo/app]\nfilename=a.tar\n", rota_manifest_check_input,
		    "Artifacts are not supported in plain bundles");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/manifest/parse-full", test_parse_full);
	g_test_add_func("/manifest/serialize-order", test_serialize_order);
	g_test_add_func("/manifest/implicit-plain", test_implicit_plain);
	g_test_add_func("/manifest/rejections", test_rejections);
	g_test_add_func("/manifest/validation-sets", test_validation_sets);
	g_test_add_func("/manifest/non-utf8-values", test_non_utf8_values);
	return g_test_run();
}
