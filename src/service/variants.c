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

void rota_dbus_http_options(const RotaDbusInstallArgs *a, const RotaConfig *c, RotaHttpOptions *out)
{
	memset(out, 0, sizeof(*out));
	out->tls_cert = a->tls_cert ? a->tls_cert : c->streaming_tls_cert;
	out->tls_key = a->tls_key ? a->tls_key : c->streaming_tls_key;
	out->tls_ca = a->tls_ca ? a->tls_ca : c->streaming_tls_ca;
	out->tls_no_verify = a->tls_no_verify;
	out->headers = (const gchar *const *)a->http_headers;
	out->sandbox_user = c->streaming_sandbox_user;
	out->max_download_size = c->max_download_size;
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

static void add_stamp(GVariantBuilder *b, const gchar *prefix, const gchar *timestamp, guint32 count)
{
	g_autofree gchar *ts_key = g_strdup_printf("%s.timestamp", prefix);
	g_autofree gchar *count_key = g_strdup_printf("%s.count", prefix);

	if (!timestamp)
		return;
	add_str(b, ts_key, timestamp);
	g_variant_builder_add(b, "{sv}", count_key, g_variant_new_uint32(count));
}

static const gchar *boot_status(RotaContext *ctx, const RotaSlot *slot)
{
	g_autoptr(GError) error = NULL;
	gboolean good = FALSE;

	if (!rota_bootloader_get_state(ctx->bootloader, slot->bootname, &good, &error))
		return "unknown";
	return good ? "good" : "bad";
}

static GVariant *slot_dict(RotaContext *ctx, RotaSlot *slot)
{
	g_auto(RotaSlotStatus) st = {0};
	GVariantBuilder b;

	rota_status_load(ctx->status, slot, &st);
	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add_str(&b, "class", slot->sclass);
	add_str(&b, "device", slot->device);
	add_str(&b, "type", slot->type);
	add_str(&b, "bootname", slot->bootname);
	add_str(&b, "state", rota_slot_state_name(slot->state));
	add_str(&b, "description", slot->description);
	add_str(&b, "parent", slot->parent ? slot->parent->name : NULL);
	add_str(&b, "mountpoint", slot->mount_point);
	if (slot->bootname)
		add_str(&b, "boot-status", boot_status(ctx, slot));
	add_str(&b, "bundle.compatible", st.bundle_compatible);
	add_str(&b, "bundle.version", st.bundle_version);
	add_str(&b, "bundle.description", st.bundle_description);
	add_str(&b, "bundle.build", st.bundle_build);
	add_str(&b, "bundle.hash", st.bundle_hash);
	add_str(&b, "status", st.status);
	if (st.sha256) {
		add_str(&b, "sha256", st.sha256);
		g_variant_builder_add(&b, "{sv}", "size", g_variant_new_uint64(st.size));
	}
	add_str(&b, "installed.transaction", st.installed_transaction);
	add_stamp(&b, "installed", st.installed_timestamp, st.installed_count);
	add_stamp(&b, "activated", st.activated_timestamp, st.activated_count);
	return g_variant_builder_end(&b);
}

GVariant *rota_dbus_slot_status(RotaContext *ctx)
{
	GVariantBuilder b;

	rota_slots_update_mounts(ctx->config);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a(sa{sv})"));
	for (guint i = 0; i < ctx->config->slots->len; i++) {
		RotaSlot *slot = ctx->config->slots->pdata[i];
		g_variant_builder_add(&b, "(s@a{sv})", slot->name, slot_dict(ctx, slot));
	}
	return g_variant_builder_end(&b);
}
