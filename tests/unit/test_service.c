/* test_service.c — the bus-free parts of the D-Bus service: InstallBundle
 * and InspectBundle args dictionaries, source paths, streaming options,
 * InspectBundle's result, GetSlotStatus's dictionaries and the status
 * report the client rebuilds from them, and the compiled-in interface
 * description. */
#include <string.h>

#include "service/service.h"
#include "service/variants.h"

static GVariant *dict_from_text(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	GVariant *v = g_variant_parse(G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);
	g_assert_no_error(error);
	return v;
}

static void test_install_args_all_keys(void)
{
	g_autoptr(GVariant) d = dict_from_text(
		"{'ignore-compatible': <true>, 'ignore-version-limit': <true>, 'transaction-id': <'t-1'>,"
		" 'require-manifest-hash': <'abc'>, 'tls-cert': <'c.pem'>, 'tls-key': <'k.pem'>, 'tls-ca': <'ca.pem'>,"
		" 'tls-no-verify': <true>, 'http-headers': <['A: 1', 'B: 2']>}");
	g_auto(RotaDbusInstallArgs) a = {0};
	g_autoptr(GError) error = NULL;

	g_assert_true(rota_dbus_parse_args(d, TRUE, &a, &error));
	g_assert_no_error(error);
	g_assert_true(a.ignore_compatible && a.ignore_version_limit && a.tls_no_verify);
	g_assert_cmpstr(a.transaction_id, ==, "t-1");
	g_assert_cmpstr(a.require_manifest_hash, ==, "abc");
	g_assert_cmpstr(a.tls_cert, ==, "c.pem");
	g_assert_cmpstr(a.tls_key, ==, "k.pem");
	g_assert_cmpstr(a.tls_ca, ==, "ca.pem");
	g_assert_cmpuint(g_strv_length(a.http_headers), ==, 2);
	g_assert_cmpstr(a.http_headers[1], ==, "B: 2");
}

static void assert_unsupported(const gchar *text, gboolean for_install, const gchar *key)
{
	g_autoptr(GVariant) d = dict_from_text(text);
	g_auto(RotaDbusInstallArgs) a = {0};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = g_strdup_printf("Unsupported key: %s", key);

	g_assert_false(rota_dbus_parse_args(d, for_install, &a, &error));
	g_assert_nonnull(error);
	g_assert_cmpstr(error->message, ==, expected);
}

static void test_args_rejected(void)
{
	assert_unsupported("{'foo': <true>}", TRUE, "foo");
	/* a known key with another type is just as unsupported */
	assert_unsupported("{'ignore-compatible': <'yes'>}", TRUE, "ignore-compatible");
	assert_unsupported("{'http-headers': <'A: 1'>}", TRUE, "http-headers");
	/* InspectBundle takes only the streaming keys */
	assert_unsupported("{'tls-ca': <'x'>, 'ignore-compatible': <true>}", FALSE, "ignore-compatible");
	assert_unsupported("{'transaction-id': <'x'>}", FALSE, "transaction-id");
}

static void test_empty_args(void)
{
	g_autoptr(GVariant) d = dict_from_text("@a{sv} {}");
	g_auto(RotaDbusInstallArgs) a = {0};

	g_assert_true(rota_dbus_parse_args(d, FALSE, &a, NULL));
	g_assert_false(a.ignore_compatible);
	g_assert_null(a.transaction_id);
	g_assert_null(a.http_headers);
}

static void test_repeated_key_keeps_last(void)
{
	GVariantBuilder b;
	g_autoptr(GVariant) d = NULL;
	g_auto(RotaDbusInstallArgs) a = {0};

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "tls-ca", g_variant_new_string("one"));
	g_variant_builder_add(&b, "{sv}", "tls-ca", g_variant_new_string("two"));
	d = g_variant_ref_sink(g_variant_builder_end(&b));
	g_assert_true(rota_dbus_parse_args(d, FALSE, &a, NULL));
	g_assert_cmpstr(a.tls_ca, ==, "two");
}

static void test_source_to_path(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *p1 = rota_dbus_source_to_path("file:///tmp/a%20b.raucb", &error);
	g_autofree gchar *p2 = rota_dbus_source_to_path("/tmp/x.raucb", NULL);
	g_autofree gchar *p3 = rota_dbus_source_to_path("https://example.com/u.raucb", NULL);
	g_autofree gchar *p4 = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(p1, ==, "/tmp/a b.raucb");
	g_assert_cmpstr(p2, ==, "/tmp/x.raucb");
	g_assert_cmpstr(p3, ==, "https://example.com/u.raucb");
	p4 = rota_dbus_source_to_path("file://host/tmp/x.raucb", &error);
	g_assert_null(p4);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "hostname"));
}

static void test_http_options_over_config(void)
{
	g_autoptr(RotaConfig) c = rota_config_new_default();
	RotaDbusInstallArgs a = {0};
	RotaHttpOptions o;
	gchar *headers[] = {"X: 1", NULL};

	c->streaming_tls_cert = g_strdup("conf-cert.pem");
	c->streaming_tls_ca = g_strdup("conf-ca.pem");
	c->max_download_size = 1234;
	a.tls_ca = "call-ca.pem";
	a.tls_no_verify = TRUE;
	a.http_headers = headers;
	rota_dbus_http_options(&a, c, &o);
	g_assert_cmpstr(o.tls_cert, ==, "conf-cert.pem");
	g_assert_cmpstr(o.tls_ca, ==, "call-ca.pem");
	g_assert_null(o.tls_key);
	g_assert_true(o.tls_no_verify);
	g_assert_cmpstr(o.headers[0], ==, "X: 1");
	g_assert_cmpuint(o.max_download_size, ==, 0); /* no limit when streaming */
}

static void test_bundle_info_variant(void)
{
	static const gchar manifest[] = "[update]\ncompatible=dev\nversion=1.2\n\n"
					"[bundle]\nformat=verity\nverity-hash=00ff\nverity-salt=11ee\nverity-size=4096\n\n"
					"[image.rootfs]\nfilename=root.ext4\nsha256="
					"0000000000000000000000000000000000000000000000000000000000000000\nsize=8192\n\n"
					"[image.appfs]\nfilename=app.img\nsize=4096\nhooks=post-install\n\n"
					"[meta.release]\nchannel=beta\n";
	g_autoptr(GError) error = NULL;
	RotaBundle b = {.format = ROTA_FORMAT_VERITY, .manifest_hash = "feed"};
	g_autoptr(GVariant) info = NULL;
	g_autoptr(GVariant) images = NULL;
	g_autoptr(GVariant) img = NULL;
	g_autoptr(GVariant) update = NULL;
	g_autoptr(GVariant) bundle = NULL;
	const gchar *s;
	guint64 t;

	b.manifest = rota_manifest_parse(manifest, strlen(manifest), "test", &error);
	g_assert_no_error(error);
	info = g_variant_ref_sink(rota_dbus_bundle_info(&b));
	g_assert_true(g_variant_lookup(info, "manifest-hash", "&s", &s));
	g_assert_cmpstr(s, ==, "feed");
	update = g_variant_lookup_value(info, "update", G_VARIANT_TYPE_VARDICT);
	g_assert_true(g_variant_lookup(update, "compatible", "&s", &s));
	g_assert_cmpstr(s, ==, "dev");
	g_assert_false(g_variant_lookup(update, "description", "&s", &s)); /* only when set */
	bundle = g_variant_lookup_value(info, "bundle", G_VARIANT_TYPE_VARDICT);
	g_assert_true(g_variant_lookup(bundle, "format", "&s", &s));
	g_assert_cmpstr(s, ==, "verity");
	g_assert_true(g_variant_lookup(bundle, "verity-size", "t", &t));
	g_assert_cmpuint(t, ==, 4096);
	images = g_variant_lookup_value(info, "images", G_VARIANT_TYPE("aa{sv}"));
	g_assert_cmpuint(g_variant_n_children(images), ==, 2);
	img = g_variant_get_child_value(images, 0);
	g_assert_true(g_variant_lookup(img, "slot-class", "&s", &s));
	g_assert_cmpstr(s, ==, "rootfs");
	g_assert_true(g_variant_lookup(img, "type", "&s", &s));
	g_assert_cmpstr(s, ==, "ext4");
	g_assert_true(g_variant_lookup(img, "size", "t", &t));
	g_assert_cmpuint(t, ==, 8192);
	{
		g_autoptr(GVariant) meta = g_variant_lookup_value(info, "meta", G_VARIANT_TYPE("a{sa{ss}}"));
		g_autoptr(GVariant) release = NULL;
		g_assert_nonnull(meta);
		release = g_variant_lookup_value(meta, "release", G_VARIANT_TYPE("a{ss}"));
		g_assert_true(g_variant_lookup(release, "channel", "&s", &s));
		g_assert_cmpstr(s, ==, "beta");
	}
	rota_manifest_free(b.manifest);
}

static void test_interface_description(void)
{
	GDBusInterfaceInfo *iface = rota_service_interface_info();
	static const gchar *const methods[] = {"Install", "InstallBundle", "Info", "InspectBundle", "Mark",
					       "GetSlotStatus", "GetArtifactStatus", "GetPrimary"};
	static const struct {
		const gchar *name, *type;
	} props[] = {{"Operation", "s"}, {"LastError", "s"}, {"Progress", "(isi)"}, {"Compatible", "s"},
		     {"Variant", "s"},   {"BootSlot", "s"}};
	GDBusMethodInfo *m;

	g_assert_nonnull(iface);
	g_assert_cmpstr(iface->name, ==, "de.pengutronix.rauc.Installer");
	for (gsize i = 0; i < G_N_ELEMENTS(methods); i++)
		g_assert_nonnull(g_dbus_interface_info_lookup_method(iface, methods[i]));
	for (gsize i = 0; i < G_N_ELEMENTS(props); i++) {
		GDBusPropertyInfo *p = g_dbus_interface_info_lookup_property(iface, props[i].name);
		g_assert_nonnull(p);
		g_assert_cmpstr(p->signature, ==, props[i].type);
		g_assert_cmpint(p->flags, ==, G_DBUS_PROPERTY_INFO_FLAGS_READABLE);
	}
	m = g_dbus_interface_info_lookup_method(iface, "InstallBundle");
	g_assert_cmpstr(m->in_args[0]->signature, ==, "s");
	g_assert_cmpstr(m->in_args[1]->signature, ==, "a{sv}");
	m = g_dbus_interface_info_lookup_method(iface, "GetSlotStatus");
	g_assert_cmpstr(m->out_args[0]->signature, ==, "a(sa{sv})");
	g_assert_nonnull(g_dbus_interface_info_lookup_signal(iface, "Completed"));
}

static void test_bus_selection(void)
{
	g_setenv("DBUS_STARTER_BUS_TYPE", "session", TRUE);
	g_assert_cmpint(rota_service_bus_type(), ==, G_BUS_TYPE_SESSION);
	g_unsetenv("DBUS_STARTER_BUS_TYPE");
	g_assert_cmpint(rota_service_bus_type(), ==, G_BUS_TYPE_SYSTEM);
	g_unsetenv("ROTA_BUS_NAME");
	g_assert_cmpstr(rota_service_bus_name(NULL), ==, "de.pengutronix.rauc");
	g_setenv("ROTA_BUS_NAME", "org.example.X", TRUE);
	g_assert_cmpstr(rota_service_bus_name(NULL), ==, "org.example.X");
	g_assert_cmpstr(rota_service_bus_name("org.example.Y"), ==, "org.example.Y");
	g_unsetenv("ROTA_BUS_NAME");
}

/* ---- GetSlotStatus and the client's status report ---- */

/* A report with every field set (the child has the parent), so the round
 * trip covers every key. */
static RotaStatusReport *full_report(void)
{
	RotaStatusReport *r = rota_status_report_new();
	RotaStatusSlot *s = rota_status_report_add_slot(r, "rootfs.1");
	RotaStatusSlot *child = rota_status_report_add_slot(r, "appfs.1");

	r->compatible = g_strdup("dev");
	r->variant = g_strdup("board");
	r->system_version = g_strdup("1.4");
	r->bootname = g_strdup("B");
	r->primary = g_strdup("rootfs.1");
	s->sclass = g_strdup("rootfs");
	s->device = g_strdup("/dev/sda2");
	s->type = g_strdup("ext4");
	s->bootname = g_strdup("B");
	s->state = g_strdup("booted");
	s->description = g_strdup("second root");
	s->mountpoint = g_strdup("/");
	s->boot_status = g_strdup("good");
	s->status = (RotaSlotStatus){
		.bundle_compatible = g_strdup("dev"), .bundle_version = g_strdup("2.0"),
		.bundle_description = g_strdup("desc"), .bundle_build = g_strdup("b7"), .bundle_hash = g_strdup("h"),
		.status = g_strdup("ok"), .sha256 = g_strdup("ab12"), .size = G_GUINT64_CONSTANT(5000000000),
		.installed_transaction = g_strdup("t-1"), .installed_timestamp = g_strdup("2024-01-02T03:04:05Z"),
		.installed_count = 3, .activated_timestamp = g_strdup("2024-01-02T03:04:06Z"), .activated_count = 4};
	child->sclass = g_strdup("appfs");
	child->device = g_strdup("/dev/sda4");
	child->type = g_strdup("raw");
	child->state = g_strdup("active");
	child->parent = g_strdup("rootfs.1");
	return r;
}

static GVariant *properties_of(const RotaStatusReport *r)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "Operation", g_variant_new_string("idle"));
	g_variant_builder_add(&b, "{sv}", "Compatible", g_variant_new_string(r->compatible));
	g_variant_builder_add(&b, "{sv}", "Variant", g_variant_new_string(r->variant ? r->variant : ""));
	g_variant_builder_add(&b, "{sv}", "SystemVersion", g_variant_new_string(r->system_version));
	g_variant_builder_add(&b, "{sv}", "BootSlot", g_variant_new_string(r->bootname));
	return g_variant_ref_sink(g_variant_builder_end(&b));
}

static gboolean has_key(GVariant *dict, const gchar *key, const GVariantType *type)
{
	g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, type);

	return value != NULL;
}

static void test_slot_status_keys(void)
{
	static const gchar *const keys[] = {
		"class", "device", "type", "bootname", "state", "description", "mountpoint", "boot-status",
		"bundle.compatible", "bundle.version", "bundle.description", "bundle.build", "bundle.hash", "status",
		"sha256", "size", "installed.transaction", "installed.timestamp", "installed.count",
		"activated.timestamp", "activated.count", NULL};
	g_autoptr(RotaStatusReport) r = full_report();
	g_autoptr(GVariant) v = g_variant_ref_sink(rota_dbus_slot_status(r));
	g_autoptr(GVariant) dict = NULL, child = NULL;
	const gchar *name;

	g_assert_cmpstr(g_variant_get_type_string(v), ==, "a(sa{sv})");
	g_assert_cmpuint(g_variant_n_children(v), ==, 2);
	g_variant_get_child(v, 0, "(&s@a{sv})", &name, &dict);
	g_assert_cmpstr(name, ==, "rootfs.1");
	for (const gchar *const *k = keys; *k; k++)
		g_assert_true(has_key(dict, *k, NULL));
	g_assert_cmpuint(g_variant_n_children(dict), ==, g_strv_length((gchar **)keys));
	g_assert_true(has_key(dict, "size", G_VARIANT_TYPE_UINT64));
	g_assert_true(has_key(dict, "installed.count", G_VARIANT_TYPE_UINT32));
	g_assert_true(has_key(dict, "activated.count", G_VARIANT_TYPE_UINT32));
	/* unset values are left out, as RAUC does */
	g_variant_get_child(v, 1, "(&s@a{sv})", &name, &child);
	g_assert_cmpuint(g_variant_n_children(child), ==, 5);
	g_assert_true(has_key(child, "parent", G_VARIANT_TYPE_STRING));
	g_assert_false(g_variant_lookup(child, "bootname", "&s", NULL));
	g_assert_false(g_variant_lookup(child, "boot-status", "&s", NULL));
}

/* What the client rebuilds from the service's answers prints exactly what
 * the service's own report prints, in every form. */
static void test_status_report_round_trip(void)
{
	static const RotaOutputFormat formats[] = {ROTA_OUTPUT_READABLE, ROTA_OUTPUT_SHELL, ROTA_OUTPUT_JSON,
						   ROTA_OUTPUT_JSON_PRETTY};
	g_autoptr(RotaStatusReport) r = full_report();
	g_autoptr(GVariant) slots = g_variant_ref_sink(rota_dbus_slot_status(r));
	g_autoptr(GVariant) props = properties_of(r);
	g_autoptr(RotaStatusReport) back = rota_dbus_status_report(slots, props, "rootfs.1");
	const RotaStatusSlot *s;

	for (gsize i = 0; i < G_N_ELEMENTS(formats); i++) {
		for (gboolean detailed = FALSE; detailed <= TRUE; detailed++) {
			g_autofree gchar *want = rota_status_report_format(r, formats[i], detailed);
			g_autofree gchar *got = rota_status_report_format(back, formats[i], detailed);
			g_assert_cmpstr(got, ==, want);
		}
	}
	s = back->slots->pdata[0];
	g_assert_cmpstr(s->description, ==, "second root");
	g_assert_cmpstr(s->status.bundle_build, ==, "b7");
	g_assert_cmpuint(s->status.size, ==, G_GUINT64_CONSTANT(5000000000));
	g_assert_cmpuint(s->status.activated_count, ==, 4);
	g_assert_cmpstr(((RotaStatusSlot *)back->slots->pdata[1])->parent, ==, "rootfs.1");
}

/* RAUC 1.8's service has no SystemVersion; "" means unset; GetPrimary may
 * have failed; a value of an unexpected type is ignored, not fatal. */
static void test_status_report_from_sparse_answers(void)
{
	/* g_variant_parse returns a reference of our own (not floating). */
	g_autoptr(GVariant) slots = g_variant_parse(
		G_VARIANT_TYPE("a(sa{sv})"),
		"[('rootfs.0', {'class': <'rootfs'>, 'state': <'booted'>, 'installed.count': <'x'>, 'size': <7>})]",
		NULL, NULL, NULL);
	g_autoptr(GVariant) props = dict_from_text("{'Compatible': <'dev'>, 'Variant': <''>, 'BootSlot': <'A'>}");
	g_autoptr(RotaStatusReport) r = rota_dbus_status_report(slots, props, NULL);
	const RotaStatusSlot *s = r->slots->pdata[0];

	g_assert_cmpstr(r->compatible, ==, "dev");
	g_assert_null(r->variant);
	g_assert_null(r->system_version);
	g_assert_cmpstr(r->bootname, ==, "A");
	g_assert_null(r->primary);
	g_assert_cmpstr(s->name, ==, "rootfs.0");
	g_assert_cmpstr(s->state, ==, "booted");
	g_assert_null(s->bootname);
	g_assert_cmpuint(s->status.installed_count, ==, 0);
	g_assert_cmpuint(s->status.size, ==, 0);
}

static void test_install_statistics(void)
{
	RotaHttpStats http = {.downloaded = 5000, .needed = 4096, .requests = 3, .retries = 1, .seconds = 0.5};
	g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func((GDestroyNotify)rota_image_stats_free);
	RotaImageStats *img = g_new0(RotaImageStats, 1);
	g_autoptr(GVariant) local = NULL, streamed = NULL, list = NULL, first = NULL;
	guint64 v;
	gboolean b;

	img->slot = g_strdup("rootfs.1");
	img->image = g_strdup("rootfs.img");
	img->adaptive = (RotaAdaptiveStats){.chunks = 10, .zero = 1, .from_target = 2, .from_active = 3, .from_bundle = 4,
					    .bundle_bytes = 16384, .written = 7};
	g_ptr_array_add(images, img);

	local = g_variant_ref_sink(rota_dbus_install_statistics("/b.raucb", NULL, NULL));
	g_assert_true(g_variant_lookup(local, "streamed", "b", &b) && !b);
	g_assert_false(g_variant_lookup(local, "bytes-downloaded", "t", &v));

	streamed = g_variant_ref_sink(rota_dbus_install_statistics("http://h/b.raucb", &http, images));
	g_assert_true(g_variant_lookup(streamed, "streamed", "b", &b) && b);
	g_assert_true(g_variant_lookup(streamed, "bytes-downloaded", "t", &v) && v == 5000);
	g_assert_true(g_variant_lookup(streamed, "retries", "t", &v) && v == 1);
	list = g_variant_lookup_value(streamed, "images", G_VARIANT_TYPE("aa{sv}"));
	first = g_variant_get_child_value(list, 0);
	g_assert_true(g_variant_lookup(first, "from-active", "t", &v) && v == 3);
	g_assert_true(g_variant_lookup(first, "bundle-bytes", "t", &v) && v == 16384);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/service/install-statistics", test_install_statistics);
	g_test_add_func("/service/install-args/all-keys", test_install_args_all_keys);
	g_test_add_func("/service/install-args/rejected", test_args_rejected);
	g_test_add_func("/service/install-args/empty", test_empty_args);
	g_test_add_func("/service/install-args/repeated", test_repeated_key_keeps_last);
	g_test_add_func("/service/source-to-path", test_source_to_path);
	g_test_add_func("/service/http-options", test_http_options_over_config);
	g_test_add_func("/service/bundle-info", test_bundle_info_variant);
	g_test_add_func("/service/interface", test_interface_description);
	g_test_add_func("/service/bus-selection", test_bus_selection);
	g_test_add_func("/service/slot-status/keys", test_slot_status_keys);
	g_test_add_func("/service/slot-status/round-trip", test_status_report_round_trip);
	g_test_add_func("/service/slot-status/sparse-answers", test_status_report_from_sparse_answers);
	return g_test_run();
}
