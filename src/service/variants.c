/* variants.c — see variants.h. */
#include "variants.h"

#include <string.h>

#include "common/error.h"

void rota_dbus_install_args_clear(RotaDbusInstallArgs *a)
{
	g_free(a->transaction_id);
	g_free(a->require_manifest_hash);
	g_free(a->tls_cert);
	g_free(a->tls_key);
	g_free(a->tls_ca);
	g_strfreev(a->http_headers);
	memset(a, 0, sizeof(*a));
}

RotaBundle *rota_dbus_open_bundle(const RotaConfig *c, const gchar *path, const RotaDbusInstallArgs *args,
				  gchar **info_headers, GError **error)
{
	RotaHttpOptions http;
	RotaBundleOpenOptions o = {.keyring = &c->keyring,
				   .max_signature_size = c->max_signature_size,
				   .decrypt_key = c->encryption_key,
				   .decrypt_cert = c->encryption_cert,
				   .http = &http};

	rota_dbus_http_options(args, c, &http);
	http.info_headers = (const gchar *const *)info_headers;
	return rota_bundle_open(path, &o, error);
}

void rota_dbus_http_options(const RotaDbusInstallArgs *a, const RotaConfig *c, RotaHttpOptions *out)
{
	memset(out, 0, sizeof(*out));
	out->tls_cert = a->tls_cert ? a->tls_cert : c->streaming_tls_cert;
	out->tls_key = a->tls_key ? a->tls_key : c->streaming_tls_key;
	out->tls_ca = a->tls_ca ? a->tls_ca : c->streaming_tls_ca;
	out->tls_no_verify = a->tls_no_verify;
	out->headers = (const gchar *const *)a->http_headers;
	out->sandbox_user = c->streaming_sandbox_user;
	/* max-bundle-download-size only limits full downloads; streaming
	 * fetches what it reads (system-conf.md §2), as the CLI does. */
}

/* One known key: its D-Bus type and where its value goes. */
typedef struct {
	const gchar *key;
	const gchar *type;
	gboolean install_only;
	gsize offset;
} ArgSpec;

static const ArgSpec arg_specs[] = {
	{"ignore-compatible", "b", TRUE, G_STRUCT_OFFSET(RotaDbusInstallArgs, ignore_compatible)},
	{"ignore-version-limit", "b", TRUE, G_STRUCT_OFFSET(RotaDbusInstallArgs, ignore_version_limit)},
	{"transaction-id", "s", TRUE, G_STRUCT_OFFSET(RotaDbusInstallArgs, transaction_id)},
	{"require-manifest-hash", "s", TRUE, G_STRUCT_OFFSET(RotaDbusInstallArgs, require_manifest_hash)},
	{"tls-cert", "s", FALSE, G_STRUCT_OFFSET(RotaDbusInstallArgs, tls_cert)},
	{"tls-key", "s", FALSE, G_STRUCT_OFFSET(RotaDbusInstallArgs, tls_key)},
	{"tls-ca", "s", FALSE, G_STRUCT_OFFSET(RotaDbusInstallArgs, tls_ca)},
	{"tls-no-verify", "b", FALSE, G_STRUCT_OFFSET(RotaDbusInstallArgs, tls_no_verify)},
	{"http-headers", "as", FALSE, G_STRUCT_OFFSET(RotaDbusInstallArgs, http_headers)},
};

static const ArgSpec *find_arg(const gchar *key, gboolean for_install)
{
	for (gsize i = 0; i < G_N_ELEMENTS(arg_specs); i++) {
		if (g_str_equal(arg_specs[i].key, key) && (for_install || !arg_specs[i].install_only))
			return &arg_specs[i];
	}
	return NULL;
}

static void store_arg(const ArgSpec *spec, GVariant *value, RotaDbusInstallArgs *out)
{
	gpointer field = G_STRUCT_MEMBER_P(out, spec->offset);

	if (g_str_equal(spec->type, "b")) {
		*(gboolean *)field = g_variant_get_boolean(value);
	} else if (g_str_equal(spec->type, "s")) {
		g_free(*(gchar **)field);
		*(gchar **)field = g_variant_dup_string(value, NULL);
	} else {
		g_strfreev(*(gchar ***)field);
		*(gchar ***)field = g_variant_dup_strv(value, NULL);
	}
}

gboolean rota_dbus_parse_args(GVariant *dict, gboolean for_install, RotaDbusInstallArgs *out, GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&iter, dict);
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
		const ArgSpec *spec = find_arg(key, for_install);
		if (!spec || !g_variant_is_of_type(value, G_VARIANT_TYPE(spec->type))) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Unsupported key: %s", key);
			g_variant_unref(value);
			return FALSE;
		}
		store_arg(spec, value, out);
		g_variant_unref(value);
	}
	return TRUE;
}

gchar *rota_dbus_source_to_path(const gchar *source, GError **error)
{
	if (g_str_has_prefix(source, "file://")) {
		g_autofree gchar *host = NULL;
		gchar *path = g_filename_from_uri(source, &host, NULL);
		if (!path || host) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "file URI with hostname detected or invalid: %s",
				    source);
			g_free(path);
			return NULL;
		}
		return path;
	}
	return g_strdup(source);
}

/* ---- InspectBundle ---- */

static void add_str(GVariantBuilder *b, const gchar *key, const gchar *value)
{
	if (value)
		g_variant_builder_add(b, "{sv}", key, g_variant_new_string(value));
}

static GVariant *strv_variant(gchar **list)
{
	return g_variant_new_strv((const gchar *const *)list, list ? -1 : 0);
}

static GVariant *image_variant(const RotaImage *img)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add_str(&b, "slot-class", img->slotclass);
	add_str(&b, "artifact", img->artifact);
	add_str(&b, "variant", img->variant);
	add_str(&b, "filename", img->filename);
	add_str(&b, "type", rota_image_get_type(img, NULL));
	add_str(&b, "checksum", img->sha256);
	/* RAUC keeps the size signed; an image without file reports -1. */
	if (!img->filename)
		g_variant_builder_add(&b, "{sv}", "size", g_variant_new_uint64(G_MAXUINT64));
	else if (img->size)
		g_variant_builder_add(&b, "{sv}", "size", g_variant_new_uint64(img->size));
	g_variant_builder_add(&b, "{sv}", "hooks", strv_variant(img->hooks));
	if (img->adaptive && *img->adaptive)
		g_variant_builder_add(&b, "{sv}", "adaptive", strv_variant(img->adaptive));
	if (img->convert && *img->convert)
		g_variant_builder_add(&b, "{sv}", "convert", strv_variant(img->convert));
	if (img->converted && *img->converted)
		g_variant_builder_add(&b, "{sv}", "converted", strv_variant(img->converted));
	return g_variant_builder_end(&b);
}

static GVariant *meta_variant(const RotaManifest *m)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{ss}}"));
	for (guint i = 0; m->meta && i < m->meta->len; i++) {
		const RotaMetaGroup *g = m->meta->pdata[i];
		GVariantBuilder kv;
		g_variant_builder_init(&kv, G_VARIANT_TYPE("a{ss}"));
		for (guint k = 0; k < g->keys->len; k++)
			g_variant_builder_add(&kv, "{ss}", (const gchar *)g->keys->pdata[k], (const gchar *)g->values->pdata[k]);
		g_variant_builder_add(&b, "{sa{ss}}", g->label, &kv);
	}
	return g_variant_builder_end(&b);
}

GVariant *rota_dbus_bundle_info(const RotaBundle *bundle)
{
	const RotaManifest *m = bundle->manifest;
	GVariantBuilder info, update, bb, images;

	g_variant_builder_init(&update, G_VARIANT_TYPE_VARDICT);
	add_str(&update, "compatible", m->compatible);
	add_str(&update, "version", m->version);
	add_str(&update, "description", m->description);
	add_str(&update, "build", m->build);

	g_variant_builder_init(&bb, G_VARIANT_TYPE_VARDICT);
	add_str(&bb, "format", rota_bundle_format_name(bundle->format));
	add_str(&bb, "verity-hash", m->verity_hash);
	add_str(&bb, "verity-salt", m->verity_salt);
	if (m->verity_size)
		g_variant_builder_add(&bb, "{sv}", "verity-size", g_variant_new_uint64(m->verity_size));

	g_variant_builder_init(&images, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < m->images->len; i++)
		g_variant_builder_add_value(&images, image_variant(m->images->pdata[i]));

	g_variant_builder_init(&info, G_VARIANT_TYPE_VARDICT);
	add_str(&info, "manifest-hash", bundle->manifest_hash);
	g_variant_builder_add(&info, "{sv}", "update", g_variant_builder_end(&update));
	g_variant_builder_add(&info, "{sv}", "bundle", g_variant_builder_end(&bb));
	if (m->hook_name) {
		GVariantBuilder hooks;
		g_variant_builder_init(&hooks, G_VARIANT_TYPE_VARDICT);
		add_str(&hooks, "filename", m->hook_name);
		g_variant_builder_add(&hooks, "{sv}", "hooks", strv_variant(m->hooks));
		g_variant_builder_add(&info, "{sv}", "hooks", g_variant_builder_end(&hooks));
	}
	if (m->handler_name) {
		GVariantBuilder handler;
		g_variant_builder_init(&handler, G_VARIANT_TYPE_VARDICT);
		add_str(&handler, "filename", m->handler_name);
		add_str(&handler, "args", m->handler_args);
		g_variant_builder_add(&info, "{sv}", "handler", g_variant_builder_end(&handler));
	}
	g_variant_builder_add(&info, "{sv}", "images", g_variant_builder_end(&images));
	g_variant_builder_add(&info, "{sv}", "meta", meta_variant(m));
	return g_variant_builder_end(&info);
}

/* ---- GetSlotStatus ---- */

/* The dictionary keys (cli-and-dbus.md §2.5) are written by slot_dict()
 * and read back by status_slot_from_dict(); the unit tests check that a
 * report survives the round trip. */

static void add_stamp(GVariantBuilder *b, const gchar *prefix, const gchar *timestamp, guint32 count)
{
	g_autofree gchar *ts_key = g_strdup_printf("%s.timestamp", prefix);
	g_autofree gchar *count_key = g_strdup_printf("%s.count", prefix);

	if (!timestamp)
		return;
	add_str(b, ts_key, timestamp);
	g_variant_builder_add(b, "{sv}", count_key, g_variant_new_uint32(count));
}

static GVariant *slot_dict(const RotaStatusSlot *slot)
{
	const RotaSlotStatus *st = &slot->status;
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add_str(&b, "class", slot->sclass);
	add_str(&b, "device", slot->device);
	add_str(&b, "type", slot->type);
	add_str(&b, "bootname", slot->bootname);
	add_str(&b, "state", slot->state);
	add_str(&b, "description", slot->description);
	add_str(&b, "parent", slot->parent);
	add_str(&b, "mountpoint", slot->mountpoint);
	add_str(&b, "boot-status", slot->boot_status);
	add_str(&b, "bundle.compatible", st->bundle_compatible);
	add_str(&b, "bundle.version", st->bundle_version);
	add_str(&b, "bundle.description", st->bundle_description);
	add_str(&b, "bundle.build", st->bundle_build);
	add_str(&b, "bundle.hash", st->bundle_hash);
	add_str(&b, "status", st->status);
	if (st->sha256) {
		add_str(&b, "sha256", st->sha256);
		g_variant_builder_add(&b, "{sv}", "size", g_variant_new_uint64(st->size));
	}
	add_str(&b, "installed.transaction", st->installed_transaction);
	add_stamp(&b, "installed", st->installed_timestamp, st->installed_count);
	add_stamp(&b, "activated", st->activated_timestamp, st->activated_count);
	return g_variant_builder_end(&b);
}

GVariant *rota_dbus_slot_status(const RotaStatusReport *report)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(sa{sv})"));
	for (guint i = 0; i < report->slots->len; i++) {
		const RotaStatusSlot *slot = report->slots->pdata[i];
		g_variant_builder_add(&b, "(s@a{sv})", slot->name, slot_dict(slot));
	}
	return g_variant_builder_end(&b);
}

/* A string value of dict, or NULL when the key is missing (or, from a
 * service that is not rota, has another type). */
static gchar *dup_str(GVariant *dict, const gchar *key)
{
	const gchar *value = NULL;

	return g_variant_lookup(dict, key, "&s", &value) ? g_strdup(value) : NULL;
}

static guint32 lookup_u32(GVariant *dict, const gchar *key)
{
	guint32 value = 0;

	g_variant_lookup(dict, key, "u", &value);
	return value;
}

static void status_slot_from_dict(RotaStatusSlot *slot, GVariant *dict)
{
	RotaSlotStatus *st = &slot->status;

	slot->sclass = dup_str(dict, "class");
	slot->device = dup_str(dict, "device");
	slot->type = dup_str(dict, "type");
	slot->bootname = dup_str(dict, "bootname");
	slot->state = dup_str(dict, "state");
	slot->description = dup_str(dict, "description");
	slot->parent = dup_str(dict, "parent");
	slot->mountpoint = dup_str(dict, "mountpoint");
	slot->boot_status = dup_str(dict, "boot-status");
	st->bundle_compatible = dup_str(dict, "bundle.compatible");
	st->bundle_version = dup_str(dict, "bundle.version");
	st->bundle_description = dup_str(dict, "bundle.description");
	st->bundle_build = dup_str(dict, "bundle.build");
	st->bundle_hash = dup_str(dict, "bundle.hash");
	st->status = dup_str(dict, "status");
	st->sha256 = dup_str(dict, "sha256");
	g_variant_lookup(dict, "size", "t", &st->size);
	st->installed_transaction = dup_str(dict, "installed.transaction");
	st->installed_timestamp = dup_str(dict, "installed.timestamp");
	st->installed_count = lookup_u32(dict, "installed.count");
	st->activated_timestamp = dup_str(dict, "activated.timestamp");
	st->activated_count = lookup_u32(dict, "activated.count");
}

/* Empty strings are how the properties say "unset"; the report keeps NULL. */
static gchar *dup_property(GVariant *properties, const gchar *name)
{
	g_autofree gchar *value = dup_str(properties, name);

	return value && *value ? g_steal_pointer(&value) : NULL;
}

RotaStatusReport *rota_dbus_status_report(GVariant *slot_status, GVariant *properties, const gchar *primary)
{
	RotaStatusReport *report = rota_status_report_new();
	GVariantIter iter;
	const gchar *name;
	GVariant *dict;

	report->compatible = dup_str(properties, "Compatible");
	report->variant = dup_property(properties, "Variant");
	report->system_version = dup_property(properties, "SystemVersion");
	report->bootname = dup_property(properties, "BootSlot");
	report->primary = g_strdup(primary);
	g_variant_iter_init(&iter, slot_status);
	while (g_variant_iter_next(&iter, "(&s@a{sv})", &name, &dict)) {
		status_slot_from_dict(rota_status_report_add_slot(report, name), dict);
		g_variant_unref(dict);
	}
	return report;
}

static void add_u64(GVariantBuilder *b, const gchar *key, guint64 value)
{
	g_variant_builder_add(b, "{sv}", key, g_variant_new_uint64(value));
}

static GVariant *image_statistics(const RotaImageStats *s)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "slot", g_variant_new_string(s->slot));
	g_variant_builder_add(&b, "{sv}", "image", g_variant_new_string(s->image ? s->image : ""));
	add_u64(&b, "chunks", s->adaptive.chunks);
	add_u64(&b, "zero", s->adaptive.zero);
	add_u64(&b, "from-target", s->adaptive.from_target);
	add_u64(&b, "from-active", s->adaptive.from_active);
	add_u64(&b, "from-bundle", s->adaptive.from_bundle);
	add_u64(&b, "bundle-bytes", s->adaptive.bundle_bytes);
	add_u64(&b, "written", s->adaptive.written);
	return g_variant_builder_end(&b);
}

GVariant *rota_dbus_install_statistics(const gchar *source, const RotaHttpStats *http, GPtrArray *images)
{
	GVariantBuilder b, list;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "source", g_variant_new_string(source));
	g_variant_builder_add(&b, "{sv}", "streamed", g_variant_new_boolean(http != NULL));
	if (http) {
		add_u64(&b, "bytes-downloaded", http->downloaded);
		add_u64(&b, "bytes-needed", http->needed);
		add_u64(&b, "requests", http->requests);
		add_u64(&b, "retries", http->retries);
		g_variant_builder_add(&b, "{sv}", "seconds", g_variant_new_double(http->seconds));
	}
	g_variant_builder_init(&list, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; images && i < images->len; i++)
		g_variant_builder_add_value(&list, image_statistics(images->pdata[i]));
	g_variant_builder_add(&b, "{sv}", "images", g_variant_builder_end(&list));
	return g_variant_builder_end(&b);
}
