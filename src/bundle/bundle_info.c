/* bundle_info.c — renders a bundle's manifest and signer chain as RAUC's
 * `info` does (cli-and-dbus.md, `info`). */
#include "bundle_info.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"

gboolean rota_output_format_parse(const gchar *name, RotaOutputFormat *out, GError **error)
{
	static const struct {
		const gchar *name;
		RotaOutputFormat format;
	} formats[] = {{"readable", ROTA_OUTPUT_READABLE},
		       {"shell", ROTA_OUTPUT_SHELL},
		       {"json", ROTA_OUTPUT_JSON},
		       {"json-pretty", ROTA_OUTPUT_JSON_PRETTY}};

	for (gsize i = 0; i < G_N_ELEMENTS(formats); i++) {
		if (g_strcmp0(name, formats[i].name) == 0) {
			*out = formats[i].format;
			return TRUE;
		}
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
		    "Unknown output format: '%s'. Supported formats are: readable, shell, json, json-pretty", name);
	return FALSE;
}

static gchar *join_list(gchar **list)
{
	return g_strjoinv(" ", list ? list : (gchar *[]){NULL});
}

static gchar *quoted(const gchar *s)
{
	return s ? g_strdup_printf("'%s'", s) : g_strdup("'(null)'");
}

/* ---- readable ---- */

static void readable_images(GString *out, const RotaManifest *m)
{
	guint n = m->images->len;

	g_string_append_printf(out, "\n%u Image%s:\n", n, n == 1 ? "" : "s");
	for (guint i = 0; i < n; i++) {
		RotaImage *img = m->images->pdata[i];
		g_autofree gchar *hooks = join_list(img->hooks);
		gboolean detected = FALSE;
		const gchar *type = rota_image_get_type(img, &detected);

		g_string_append_printf(out, "  [%s]\n", img->slotclass);
		if (img->variant)
			g_string_append_printf(out, "    Variant:   %s\n", img->variant);
		if (img->artifact)
			g_string_append_printf(out, "    Artifact:  %s\n", img->artifact);
		/* RAUC prints "(no image file)" on a line of its own, without
		 * any of the file's lines */
		if (!img->filename)
			g_string_append(out, "    (no image file)\n");
		else
			g_string_append_printf(out, "    Filename:  %s\n", img->filename);
		if (img->filename && !img->artifact && type)
			g_string_append_printf(out, "    Type:      %s%s\n", type, detected ? " (detected)" : "");
		if (img->filename) {
			g_autofree gchar *size = rota_format_size(img->size);
			g_string_append_printf(out, "    Checksum:  %s\n", img->sha256);
			g_string_append_printf(out, "    Size:      %s\n", size);
		}
		g_string_append_printf(out, "    Hooks:     %s\n", hooks);
		if (img->adaptive[0]) {
			g_autofree gchar *adaptive = join_list(img->adaptive);
			g_string_append_printf(out, "    Adaptive:  %s\n", adaptive);
		}
		if (img->convert && img->convert[0]) {
			g_autofree gchar *convert = join_list(img->convert);
			g_string_append_printf(out, "    Convert:   %s\n", convert);
		}
		if (img->converted && img->converted[0]) {
			g_string_append(out, "    Converted:");
			for (gchar **c = img->converted; *c; c++)
				g_string_append_printf(out, " '%s'", *c);
			g_string_append_c(out, '\n');
		}
	}
}

static void readable_chain(GString *out, const RotaBundle *b)
{
	if (!b->verified) {
		g_string_append(out, "Signature unverified\n");
		return;
	}
	g_string_append(out, "Certificate Chain:\n");
	for (guint i = 0; i < b->chain->len; i++) {
		RotaCertInfo *ci = b->chain->pdata[i];
		g_string_append_printf(out, "%2u Subject: %s\n", i, ci->subject);
		g_string_append_printf(out, "   Issuer: %s\n", ci->issuer);
		g_string_append_printf(out, "   SPKI sha256: %s\n", ci->spki_sha256);
		g_string_append_printf(out, "   Not Before: %s\n", ci->not_before);
		g_string_append_printf(out, "   Not After:  %s\n", ci->not_after);
	}
}

static gchar *format_readable(const RotaBundle *b, const gchar *dump)
{
	const RotaManifest *m = b->manifest;
	GString *out = g_string_new(NULL);
	g_autofree gchar *compatible = quoted(m->compatible), *version = quoted(m->version),
			 *description = quoted(m->description), *build = quoted(m->build);
	g_autofree gchar *hooks = join_list(m->hooks);

	g_string_append_printf(out, "Compatible:     %s\n", compatible);
	g_string_append_printf(out, "Version:        %s\n", version);
	g_string_append_printf(out, "Description:    %s\n", description);
	g_string_append_printf(out, "Build:          %s\n", build);
	g_string_append_printf(out, "Hooks:          '%s'\n", hooks);
	g_string_append_printf(out, "Bundle Format:  %s%s\n", rota_bundle_format_name(b->format),
			       b->format != ROTA_FORMAT_CRYPT ? "" : b->enveloped ? " [encrypted CMS]" : " [unencrypted CMS]");
	if (b->format != ROTA_FORMAT_PLAIN) {
		if (b->format == ROTA_FORMAT_CRYPT)
			g_string_append(out, "  Crypt Key:    '<hidden>'\n");
		g_string_append_printf(out, "  Verity Salt:  '%s'\n", m->verity_salt);
		g_string_append_printf(out, "  Verity Hash:  '%s'\n", m->verity_hash);
		g_string_append_printf(out, "  Verity Size:  %" G_GUINT64_FORMAT "\n", m->verity_size);
	}
	g_string_append_printf(out, "Manifest Hash:  '%s'\n", b->manifest_hash);
	if (m->meta->len) {
		g_string_append(out, "\nMetadata:\n");
		for (guint i = 0; i < m->meta->len; i++) {
			RotaMetaGroup *meta = m->meta->pdata[i];
			g_string_append_printf(out, "  %s:\n", meta->label);
			for (guint k = 0; k < meta->keys->len; k++)
				g_string_append_printf(out, "    %s: %s\n", (gchar *)meta->keys->pdata[k],
						       (gchar *)meta->values->pdata[k]);
		}
	}
	readable_images(out, m);
	/* RAUC prints --dump-cert/--dump-recipients between the images and
	 * the chain */
	g_string_append_c(out, '\n');
	if (dump)
		g_string_append(out, dump);
	readable_chain(out, b);
	return g_string_free(out, FALSE);
}

/* ---- shell ---- */

static void shell_var(GString *out, const gchar *name, const gchar *value)
{
	g_autofree gchar *q = g_shell_quote(value ? value : "");
	g_string_append_printf(out, "%s=%s\n", name, q);
}

static gchar *format_shell(const RotaBundle *b)
{
	const RotaManifest *m = b->manifest;
	GString *out = g_string_new(NULL);
	g_autofree gchar *hooks = join_list(m->hooks);
	g_autofree gchar *count = g_strdup_printf("%u", m->images->len);
	g_auto(GStrv) meta = NULL;

	shell_var(out, "RAUC_MF_COMPATIBLE", m->compatible);
	shell_var(out, "RAUC_MF_VERSION", m->version);
	shell_var(out, "RAUC_MF_DESCRIPTION", m->description);
	shell_var(out, "RAUC_MF_BUILD", m->build);
	shell_var(out, "RAUC_MF_HASH", b->manifest_hash);
	shell_var(out, "RAUC_MF_FORMAT", rota_bundle_format_name(b->format));
	shell_var(out, "RAUC_MF_IMAGES", count);
	shell_var(out, "RAUC_MF_HOOKS", hooks);
	meta = rota_manifest_meta_environ(m);
	for (gchar **e = meta; *e; e++) {
		g_auto(GStrv) kv = g_strsplit(*e, "=", 2);
		shell_var(out, kv[0], kv[1]);
	}
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		/* RAUC keeps the size signed: -1 for an image without file */
		g_autofree gchar *size = img->filename ? g_strdup_printf("%" G_GUINT64_FORMAT, img->size) : g_strdup("-1");
		g_autofree gchar *ihooks = join_list(img->hooks);
		const struct {
			const gchar *name;
			const gchar *value;
		} vars[] = {{"NAME", img->filename},   {"CLASS", img->slotclass}, {"ARTIFACT", img->artifact},
			    {"VARIANT", img->variant}, {"DIGEST", img->sha256},   {"SIZE", size},
			    {"HOOKS", ihooks}};
		for (gsize v = 0; v < G_N_ELEMENTS(vars); v++) {
			g_autofree gchar *var = g_strdup_printf("RAUC_IMAGE_%s_%u", vars[v].name, i);
			shell_var(out, var, vars[v].value);
		}
		if (img->adaptive[0]) {
			g_autofree gchar *var = g_strdup_printf("RAUC_IMAGE_ADAPTIVE_%u", i);
			g_autofree gchar *adaptive = join_list(img->adaptive);
			shell_var(out, var, adaptive);
		}
		if (img->convert && img->convert[0]) {
			g_autofree gchar *var = g_strdup_printf("RAUC_IMAGE_CONVERT_%u", i);
			g_autofree gchar *convert = join_list(img->convert);
			shell_var(out, var, convert);
		}
		if (img->converted && img->converted[0]) {
			g_autofree gchar *var = g_strdup_printf("RAUC_IMAGE_CONVERTED_%u", i);
			g_autofree gchar *converted = join_list(img->converted);
			shell_var(out, var, converted);
		}
	}
	return g_string_free(out, FALSE);
}

/* ---- json ---- */

static void json_string_or_null(JsonBuilder *jb, const gchar *name, const gchar *value)
{
	json_builder_set_member_name(jb, name);
	if (value)
		json_builder_add_string_value(jb, value);
	else
		json_builder_add_null_value(jb);
}

static void json_list(JsonBuilder *jb, const gchar *name, gchar **list)
{
	json_builder_set_member_name(jb, name);
	json_builder_begin_array(jb);
	for (gchar **p = list; p && *p; p++)
		json_builder_add_string_value(jb, *p);
	json_builder_end_array(jb);
}

static void json_image(JsonBuilder *jb, const RotaImage *img)
{
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, img->slotclass);
	json_builder_begin_object(jb);
	json_string_or_null(jb, "artifact", img->artifact);
	json_string_or_null(jb, "variant", img->variant);
	json_string_or_null(jb, "filename", img->filename);
	json_string_or_null(jb, "type", img->artifact ? NULL : rota_image_get_type(img, NULL));
	json_string_or_null(jb, "checksum", img->sha256);
	json_builder_set_member_name(jb, "size");
	json_builder_add_int_value(jb, img->filename ? (gint64)img->size : -1); /* as RAUC's signed size */
	json_list(jb, "hooks", img->hooks);
	json_list(jb, "adaptive", img->adaptive);
	if (img->convert && img->convert[0])
		json_list(jb, "convert", img->convert);
	if (img->converted && img->converted[0])
		json_list(jb, "converted", img->converted);
	json_builder_end_object(jb);
	json_builder_end_object(jb);
}

static gchar *format_json(const RotaBundle *b, gboolean pretty)
{
	const RotaManifest *m = b->manifest;
	g_autoptr(JsonBuilder) jb = json_builder_new();

	json_builder_begin_object(jb);
	json_string_or_null(jb, "compatible", m->compatible);
	json_string_or_null(jb, "version", m->version);
	json_string_or_null(jb, "description", m->description);
	json_string_or_null(jb, "build", m->build);
	json_string_or_null(jb, "format", rota_bundle_format_name(b->format));
	json_list(jb, "hooks", m->hooks);
	json_string_or_null(jb, "hash", b->manifest_hash);
	json_builder_set_member_name(jb, "images");
	json_builder_begin_array(jb);
	for (guint i = 0; i < m->images->len; i++)
		json_image(jb, m->images->pdata[i]);
	json_builder_end_array(jb);
	json_builder_end_object(jb);

	return rota_json_to_string(jb, pretty);
}

gchar *rota_bundle_info_dump(const RotaBundle *b, gboolean cert, gboolean recipients, GError **error)
{
	g_autoptr(GString) out = g_string_new(NULL);

	if (cert) {
		g_autofree gchar *text = rota_cms_dump_cert(b->signed_cms, error);
		if (!text)
			return NULL;
		g_string_append_printf(out, "%s\n", text);
	}
	if (recipients && !b->enveloped) {
		g_string_append(out, "No recipient data to dump (bundle is not encrypted)\n\n");
	} else if (recipients) {
		g_autofree gchar *text = rota_cms_dump_recipients(b->cms, error);
		if (!text)
			return NULL;
		g_string_append_printf(out, "%s\n", text);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

gchar *rota_bundle_info_format(const RotaBundle *b, RotaOutputFormat format, const gchar *dump)
{
	switch (format) {
	case ROTA_OUTPUT_SHELL:
		return format_shell(b);
	case ROTA_OUTPUT_JSON:
		return format_json(b, FALSE);
	case ROTA_OUTPUT_JSON_PRETTY:
		return format_json(b, TRUE);
	default:
		return format_readable(b, dump);
	}
}
