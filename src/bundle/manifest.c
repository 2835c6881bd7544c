/* manifest.c — parse, validate and serialize bundle manifests
 * (manifest.md). Parsing consumes every known key and rejects leftovers,
 * as RAUC does, so a manifest means the same thing to both tools. */
#include "manifest.h"

#include <string.h>

#include "common/util.h"

const gchar *rota_bundle_format_name(RotaBundleFormat format)
{
	switch (format) {
	case ROTA_FORMAT_VERITY:
		return "verity";
	case ROTA_FORMAT_CRYPT:
		return "crypt";
	default:
		return "plain";
	}
}

static void image_free(RotaImage *img)
{
	g_free(img->slotclass);
	g_free(img->artifact);
	g_free(img->variant);
	g_free(img->filename);
	g_free(img->type);
	g_free(img->sha256);
	g_strfreev(img->hooks);
	g_strfreev(img->adaptive);
	g_strfreev(img->convert);
	g_strfreev(img->converted);
	g_free(img);
}

static void meta_group_free(RotaMetaGroup *meta)
{
	g_free(meta->label);
	g_ptr_array_unref(meta->keys);
	g_ptr_array_unref(meta->values);
	g_free(meta);
}

void rota_manifest_free(RotaManifest *m)
{
	if (!m)
		return;
	g_free(m->compatible);
	g_free(m->version);
	g_free(m->description);
	g_free(m->build);
	g_free(m->min_rauc_version);
	g_free(m->verity_hash);
	g_free(m->verity_salt);
	g_free(m->crypt_key);
	g_free(m->handler_name);
	g_free(m->handler_args);
	g_free(m->hook_name);
	g_strfreev(m->hooks);
	g_ptr_array_unref(m->images);
	g_ptr_array_unref(m->meta);
	g_free(m);
}

/* ---- reading keys, consuming them ---- */

/* Takes an optional string; empty counts as unset. Removes the key so that
 * leftovers can be reported as unknown. */
static gboolean take_string(GKeyFile *kf, const gchar *group, const gchar *key, gchar **out, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree gchar *value = NULL;

	*out = NULL;
	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	value = g_key_file_get_string(kf, group, key, &local);
	if (!value) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid value for key '%s' in group '[%s]': %s", key,
			    group, local->message);
		return FALSE;
	}
	g_key_file_remove_key(kf, group, key, NULL);
	if (*value)
		*out = g_steal_pointer(&value);
	return TRUE;
}

static gboolean take_list(GKeyFile *kf, const gchar *group, const gchar *key, gchar ***out, GError **error)
{
	g_autoptr(GError) local = NULL;
	gchar **value;

	*out = NULL;
	if (!g_key_file_has_key(kf, group, key, NULL)) {
		*out = g_new0(gchar *, 1);
		return TRUE;
	}
	value = g_key_file_get_string_list(kf, group, key, NULL, &local);
	if (!value) {
		/* An empty value is an empty list. */
		value = g_new0(gchar *, 1);
	}
	g_key_file_remove_key(kf, group, key, NULL);
	*out = value;
	(void)error;
	return TRUE;
}

static gboolean take_u64(GKeyFile *kf, const gchar *group, const gchar *key, guint64 *out, gboolean *present,
			 GError **error)
{
	g_autofree gchar *value = NULL;
	guint64 v;

	*present = FALSE;
	if (!take_string(kf, group, key, &value, error))
		return FALSE;
	if (!value)
		return TRUE;
	if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &v, NULL)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Invalid value '%s' for key '%s' in group '[%s]': not an unsigned integer", value, key, group);
		return FALSE;
	}
	*out = v;
	*present = TRUE;
	return TRUE;
}

/* After a group was consumed: any key left is unknown. */
static gboolean reject_leftover_keys(GKeyFile *kf, const gchar *group, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

	if (keys && keys[0]) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid key '%s' in group '[%s]'", keys[0], group);
		return FALSE;
	}
	g_key_file_remove_group(kf, group, NULL);
	return TRUE;
}

/* ---- groups ---- */

static gboolean parse_update(GKeyFile *kf, RotaManifest *m, GError **error)
{
	if (!g_key_file_has_group(kf, "update")) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Missing group '[update]'");
		return FALSE;
	}
	if (!take_string(kf, "update", "compatible", &m->compatible, error) ||
	    !take_string(kf, "update", "version", &m->version, error) ||
	    !take_string(kf, "update", "description", &m->description, error) ||
	    !take_string(kf, "update", "build", &m->build, error) ||
	    !take_string(kf, "update", "min-rauc-version", &m->min_rauc_version, error))
		return FALSE;
	if (!m->compatible) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Missing value for key 'compatible' in group '[update]'");
		return FALSE;
	}
	return reject_leftover_keys(kf, "update", error);
}

static gboolean parse_bundle(GKeyFile *kf, RotaManifest *m, GError **error)
{
	g_autofree gchar *format = NULL;
	gboolean present;

	if (!g_key_file_has_group(kf, "bundle"))
		return TRUE;
	if (!take_string(kf, "bundle", "format", &format, error))
		return FALSE;
	if (format) {
		m->format_explicit = TRUE;
		if (g_str_equal(format, "plain"))
			m->format = ROTA_FORMAT_PLAIN;
		else if (g_str_equal(format, "verity"))
			m->format = ROTA_FORMAT_VERITY;
		else if (g_str_equal(format, "crypt"))
			m->format = ROTA_FORMAT_CRYPT;
		else {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid format value '%s' in group '[bundle]'",
				    format);
			return FALSE;
		}
	}
	/* verity and crypt keys are only known for the formats that use them:
	 * in a plain manifest they are unknown keys. */
	if (m->format != ROTA_FORMAT_PLAIN) {
		if (!take_string(kf, "bundle", "verity-hash", &m->verity_hash, error) ||
		    !take_string(kf, "bundle", "verity-salt", &m->verity_salt, error) ||
		    !take_u64(kf, "bundle", "verity-size", &m->verity_size, &present, error))
			return FALSE;
	}
	if (m->format == ROTA_FORMAT_CRYPT && !take_string(kf, "bundle", "crypt-key", &m->crypt_key, error))
		return FALSE;
	return reject_leftover_keys(kf, "bundle", error);
}

static gboolean parse_handler_and_hooks(GKeyFile *kf, RotaManifest *m, GError **error)
{
	if (g_key_file_has_group(kf, "handler")) {
		if (!take_string(kf, "handler", "filename", &m->handler_name, error) ||
		    !take_string(kf, "handler", "args", &m->handler_args, error) ||
		    !reject_leftover_keys(kf, "handler", error))
			return FALSE;
		if (m->handler_args && !m->handler_name) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "Setting 'args' requires a full custom handler to be defined under 'filename' in group '[handler]'.");
			return FALSE;
		}
	}
	if (g_key_file_has_group(kf, "hooks")) {
		if (!take_string(kf, "hooks", "filename", &m->hook_name, error) ||
		    !take_list(kf, "hooks", "hooks", &m->hooks, error) || !reject_leftover_keys(kf, "hooks", error))
			return FALSE;
		for (gchar **h = m->hooks; *h; h++) {
			if (!g_str_equal(*h, "install-check")) {
				g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "install hook type '%s' not supported", *h);
				return FALSE;
			}
		}
	} else {
		m->hooks = g_new0(gchar *, 1);
	}
	return TRUE;
}

static gboolean check_list_members(gchar **list, const gchar *const *known, const gchar *what, GError **error)
{
	for (gchar **item = list; *item; item++) {
		if (!g_strv_contains(known, *item)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, what, *item);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean parse_image_name(const gchar *group, RotaImage *img, GError **error)
{
	/* image.<target>[.<variant>]: the variant is all after the second dot. */
	const gchar *target = group + strlen("image.");
	const gchar *dot = strchr(target, '.');
	g_autofree gchar *tgt = dot ? g_strndup(target, (gsize)(dot - target)) : g_strdup(target);
	const gchar *slash = strchr(tgt, '/');

	if (dot)
		img->variant = g_strdup(dot + 1);
	if (slash) {
		img->slotclass = g_strndup(tgt, (gsize)(slash - tgt));
		img->artifact = g_strdup(slash + 1);
		if (!*img->artifact || img->artifact[0] == '.' || strchr(img->artifact, '/')) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid artifact name in group '[%s]'", group);
			return FALSE;
		}
	} else {
		img->slotclass = g_steal_pointer(&tgt);
	}
	if (!*img->slotclass || (img->variant && !*img->variant)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid image group name '[%s]'", group);
		return FALSE;
	}
	return TRUE;
}

static const gchar *const image_types[] = {"raw",     "ext4",      "vfat",       "ubifs",       "squashfs",
					   "tar",     "emptyfs",   "caidx",      "catar",       "ext4-caibx",
					   "vfat-caibx", "ubifs-caibx", "squashfs-caibx", "raw-caibx", NULL};

static gboolean parse_image(GKeyFile *kf, const gchar *group, RotaManifest *m, GError **error)
{
	RotaImage *img = g_new0(RotaImage, 1);
	static const gchar *const slot_hooks[] = {"pre-install", "install", "post-install", NULL};

	g_ptr_array_add(m->images, img);
	if (!parse_image_name(group, img, error))
		return FALSE;
	if (!take_string(kf, group, "filename", &img->filename, error) ||
	    !take_string(kf, group, "sha256", &img->sha256, error) ||
	    !take_u64(kf, group, "size", &img->size, &img->has_size, error) ||
	    !take_list(kf, group, "hooks", &img->hooks, error) ||
	    !take_list(kf, group, "adaptive", &img->adaptive, error) ||
	    !take_list(kf, group, "convert", &img->convert, error) ||
	    !take_list(kf, group, "converted", &img->converted, error))
		return FALSE;
	if (!img->artifact && !take_string(kf, group, "type", &img->type, error))
		return FALSE;
	/* Accepted and dropped, as current RAUC does. */
	for (const gchar *const *k = (const gchar *const[]){"version", "description", "build", NULL}; *k; k++)
		g_key_file_remove_key(kf, group, *k, NULL);
	if (!reject_leftover_keys(kf, group, error))
		return FALSE;

	if (img->type && !g_strv_contains(image_types, img->type) && !g_strv_contains((const gchar *const *)img->hooks, "install")) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Unsupported image type '%s' in group '[%s]'", img->type,
			    group);
		return FALSE;
	}
	if (!check_list_members(img->hooks, slot_hooks, "slot hook type '%s' not supported", error))
		return FALSE;
	if (img->filename && !rota_is_plain_filename(img->filename)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Image filename %s must not contain '/'", img->filename);
		return FALSE;
	}
	if (g_strcmp0(img->type, "emptyfs") == 0 && img->filename) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "'filename' is not allowed with type=emptyfs in group '[%s]'",
			    group);
		return FALSE;
	}
	if (!img->filename && g_strcmp0(img->type, "emptyfs") != 0 &&
	    !g_strv_contains((const gchar *const *)img->hooks, "install")) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Missing required 'filename' in group '[%s]'", group);
		return FALSE;
	}
	if (img->sha256) {
		guint8 digest[32];
		if (!rota_hex_decode(img->sha256, digest, sizeof(digest))) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid digest %s for image %s", img->sha256,
				    img->filename ? img->filename : group);
			return FALSE;
		}
		g_autofree gchar *lower = g_ascii_strdown(img->sha256, -1);
		g_free(img->sha256);
		img->sha256 = g_steal_pointer(&lower);
	}
	for (gchar **c = img->converted; *c; c++) {
		if (!rota_is_plain_filename(*c)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Converted image filename %s must not contain '/'", *c);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean is_meta_name(const gchar *s)
{
	if (!s || !*s)
		return FALSE;
	for (; *s; s++) {
		if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-')
			return FALSE;
	}
	return TRUE;
}

static gboolean parse_meta(GKeyFile *kf, const gchar *group, RotaManifest *m, GError **error)
{
	const gchar *label = group + strlen("meta.");
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	RotaMetaGroup *meta;

	if (!is_meta_name(label)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid metadata section name '[%s]'", group);
		return FALSE;
	}
	meta = g_new0(RotaMetaGroup, 1);
	meta->label = g_strdup(label);
	meta->keys = g_ptr_array_new_with_free_func(g_free);
	meta->values = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(m->meta, meta);
	for (gchar **k = keys; k && *k; k++) {
		g_autoptr(GError) local = NULL;
		g_autofree gchar *value = g_key_file_get_string(kf, group, *k, &local);
		if (!is_meta_name(*k)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid metadata key name '%s' in group '[%s]'", *k,
				    group);
			return FALSE;
		}
		if (!value) {
			/* not UTF-8: say so rather than "missing" */
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid value for key '%s' in group '[%s]': %s", *k,
				    group, local->message);
			return FALSE;
		}
		if (!*value) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Missing value for key '%s' in group '[%s]'", *k, group);
			return FALSE;
		}
		g_ptr_array_add(meta->keys, g_strdup(*k));
		g_ptr_array_add(meta->values, g_steal_pointer(&value));
	}
	g_key_file_remove_group(kf, group, NULL);
	return TRUE;
}

static RotaManifest *manifest_new(void)
{
	RotaManifest *m = g_new0(RotaManifest, 1);
	m->images = g_ptr_array_new_with_free_func((GDestroyNotify)image_free);
	m->meta = g_ptr_array_new_with_free_func((GDestroyNotify)meta_group_free);
	return m;
}

static gboolean parse_groups(GKeyFile *kf, RotaManifest *m, GError **error)
{
	g_auto(GStrv) groups = NULL;

	if (!parse_update(kf, m, error) || !parse_bundle(kf, m, error) || !parse_handler_and_hooks(kf, m, error))
		return FALSE;
	groups = g_key_file_get_groups(kf, NULL);
	for (gchar **g = groups; *g; g++) {
		if (g_str_has_prefix(*g, "image.")) {
			if (!parse_image(kf, *g, m, error))
				return FALSE;
		} else if (g_str_has_prefix(*g, "meta.")) {
			if (!parse_meta(kf, *g, m, error))
				return FALSE;
		} else if (g_str_equal(*g, "rollout")) {
			g_key_file_remove_group(kf, *g, NULL); /* reserved, ignored */
		} else {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Invalid group '[%s]'", *g);
			return FALSE;
		}
	}
	return TRUE;
}

RotaManifest *rota_manifest_parse(const void *data, gsize len, const gchar *name, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(RotaManifest) m = manifest_new();
	g_autoptr(GError) local = NULL;

	if (len == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: manifest is empty", name);
		return NULL;
	}
	if (memchr(data, '\0', len)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: manifest contains a NUL byte", name);
		return NULL;
	}
	if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: manifest is not a valid key file: %s", name,
			    local->message);
		return NULL;
	}
	if (!parse_groups(kf, m, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: %s", name, local->message);
		return NULL;
	}
	return g_steal_pointer(&m);
}

RotaManifest *rota_manifest_load_file(const gchar *path, GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) local = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &data, &len, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot read manifest: %s", path, local->message);
		return NULL;
	}
	return rota_manifest_parse(data, len, path, error);
}

/* ---- validation sets (manifest.md §8) ---- */

static gboolean hooks_have_file(const RotaManifest *m, const gchar *name, GError **error)
{
	gboolean used = m->hooks[0] != NULL;

	for (guint i = 0; i < m->images->len; i++)
		used = used || ((RotaImage *)m->images->pdata[i])->hooks[0] != NULL;
	if (used && !m->hook_name) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Hooks used, but no hook 'filename' defined in [hooks] section", name);
		return FALSE;
	}
	if ((m->hook_name && !rota_is_safe_relative_path(m->hook_name)) ||
	    (m->handler_name && !rota_is_safe_relative_path(m->handler_name))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: hook or handler filename must be a relative path without '..'", name);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_common(const RotaManifest *m, const gchar *name, GError **error)
{
	if (m->min_rauc_version) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Minimum RAUC version in manifest (%s) is not supported by this version", name,
			    m->min_rauc_version);
		return FALSE;
	}
	if (!hooks_have_file(m, name, error))
		return FALSE;
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		if (img->adaptive[0] && !img->filename) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: 'adaptive' requires 'filename' for image %s",
				    name, img->slotclass);
			return FALSE;
		}
		if (img->convert[0] && !img->filename) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: 'convert' requires 'filename' for image %s",
				    name, img->slotclass);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean check_no_artifacts_for_plain(const RotaManifest *m, const gchar *name, GError **error)
{
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		if (img->artifact) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Artifacts are not supported in plain bundles", name);
			return FALSE;
		}
		if (img->convert[0] || img->converted[0]) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Image converters are not supported in plain bundles",
				    name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean rota_manifest_check_input(const RotaManifest *m, const gchar *name, GError **error)
{
	static const gchar *const adaptive_methods[] = {"block-hash-index", "adaptive-test-method", NULL};

	if (!check_common(m, name, error))
		return FALSE;
	if (m->format == ROTA_FORMAT_PLAIN && !check_no_artifacts_for_plain(m, name, error))
		return FALSE;
	if (m->verity_hash || m->verity_salt || m->verity_size || m->crypt_key) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Unexpected verity or crypt key in input manifest", name);
		return FALSE;
	}
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		const gchar *label = img->filename ? img->filename : img->slotclass;
		if (img->sha256) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Unexpected digest for image %s in input manifest",
				    name, label);
			return FALSE;
		}
		if (img->has_size) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "%s: Unexpected size %" G_GUINT64_FORMAT " for image %s in input manifest", name, img->size,
				    label);
			return FALSE;
		}
		if (img->converted[0]) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Unexpected 'converted' option in input manifest",
				    name);
			return FALSE;
		}
		for (gchar **a = img->adaptive; *a; a++) {
			if (!g_strv_contains(adaptive_methods, *a)) {
				g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Unsupported adaptive method: %s", name, *a);
				return FALSE;
			}
		}
		if (g_strv_contains((const gchar *const *)img->hooks, "install") &&
		    (g_strv_contains((const gchar *const *)img->hooks, "pre-install") ||
		     g_strv_contains((const gchar *const *)img->hooks, "post-install"))) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "%s: 'install' hook cannot be combined with 'pre-install' or 'post-install' for image %s",
				    name, label);
			return FALSE;
		}
		if (img->convert[0]) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: image conversions are not supported yet (image %s)",
				    name, label);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean check_bundled_images(const RotaManifest *m, const gchar *name, GError **error)
{
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		if (!img->filename)
			continue;
		if (!img->sha256) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Missing digest for image %s", name, img->filename);
			return FALSE;
		}
		if (!img->has_size && !g_strv_contains((const gchar *const *)img->hooks, "install")) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Missing size for image %s", name, img->filename);
			return FALSE;
		}
		if (img->convert[0] && g_strv_length(img->convert) != g_strv_length(img->converted)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "%s: Inconsistent number of converted inputs/outputs for image %s", name, img->filename);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean rota_manifest_check_internal(const RotaManifest *m, const gchar *name, GError **error)
{
	if (!check_common(m, name, error) || !check_bundled_images(m, name, error))
		return FALSE;
	if (m->format != ROTA_FORMAT_PLAIN) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: plain bundles can only contain plain manifests", name);
		return FALSE;
	}
	return check_no_artifacts_for_plain(m, name, error);
}

gboolean rota_manifest_check_external(const RotaManifest *m, const gchar *name, GError **error)
{
	const gchar *fmt = rota_bundle_format_name(m->format);
	guint8 buf[32];

	if (!check_common(m, name, error) || !check_bundled_images(m, name, error))
		return FALSE;
	if (m->format == ROTA_FORMAT_PLAIN) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Bundle format 'plain' not allowed for external manifest",
			    name);
		return FALSE;
	}
	if (m->format == ROTA_FORMAT_CRYPT) {
		if (!m->crypt_key) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Missing key for crypt bundle", name);
			return FALSE;
		}
		if (!rota_hex_decode(m->crypt_key, buf, 32)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Invalid key for crypt bundle", name);
			return FALSE;
		}
	}
	if (!m->verity_hash || !rota_hex_decode(m->verity_hash, buf, 32)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: %s hash for %s bundle (field verity-hash)", name,
			    m->verity_hash ? "Invalid" : "Missing", fmt);
		return FALSE;
	}
	if (!m->verity_salt || !rota_hex_decode(m->verity_salt, buf, 32)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: %s salt for %s bundle (field verity-salt)", name,
			    m->verity_salt ? "Invalid" : "Missing", fmt);
		return FALSE;
	}
	if (m->verity_size == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Missing size for %s bundle (field verity-size)", name,
			    fmt);
		return FALSE;
	}
	if (m->verity_size % 4096 != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Unaligned size for %s bundle (field verity-size)", name,
			    fmt);
		return FALSE;
	}
	return TRUE;
}

/* ---- serialization ---- */

static void set_opt(GKeyFile *kf, const gchar *group, const gchar *key, const gchar *value)
{
	if (value)
		g_key_file_set_string(kf, group, key, value);
}

static void set_list(GKeyFile *kf, const gchar *group, const gchar *key, gchar **list)
{
	if (list && list[0])
		g_key_file_set_string_list(kf, group, key, (const gchar *const *)list, g_strv_length(list));
}

gchar *rota_image_group_name(const RotaImage *img)
{
	GString *s = g_string_new("image.");

	g_string_append(s, img->slotclass);
	if (img->artifact)
		g_string_append_printf(s, "/%s", img->artifact);
	if (img->variant)
		g_string_append_printf(s, ".%s", img->variant);
	return g_string_free(s, FALSE);
}

GBytes *rota_manifest_serialize(const RotaManifest *m, gboolean with_bundle_keys)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	gsize len = 0;
	gchar *data;

	g_key_file_set_string(kf, "update", "compatible", m->compatible);
	set_opt(kf, "update", "version", m->version);
	set_opt(kf, "update", "description", m->description);
	set_opt(kf, "update", "build", m->build);

	if (m->format == ROTA_FORMAT_CRYPT && with_bundle_keys)
		set_opt(kf, "bundle", "crypt-key", m->crypt_key);
	if (m->format != ROTA_FORMAT_PLAIN || m->format_explicit)
		g_key_file_set_string(kf, "bundle", "format", rota_bundle_format_name(m->format));
	if (m->format != ROTA_FORMAT_PLAIN && with_bundle_keys) {
		set_opt(kf, "bundle", "verity-hash", m->verity_hash);
		set_opt(kf, "bundle", "verity-salt", m->verity_salt);
		if (m->verity_size)
			g_key_file_set_uint64(kf, "bundle", "verity-size", m->verity_size);
	}

	set_opt(kf, "handler", "filename", m->handler_name);
	set_opt(kf, "handler", "args", m->handler_args);
	set_opt(kf, "hooks", "filename", m->hook_name);
	set_list(kf, "hooks", "hooks", m->hooks);

	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		g_autofree gchar *group = rota_image_group_name(img);
		set_opt(kf, group, "sha256", img->sha256);
		if (img->has_size)
			g_key_file_set_uint64(kf, group, "size", img->size);
		set_opt(kf, group, "filename", img->filename);
		set_opt(kf, group, "type", img->type);
		set_list(kf, group, "hooks", img->hooks);
		set_list(kf, group, "adaptive", img->adaptive);
		set_list(kf, group, "convert", img->convert);
		set_list(kf, group, "converted", img->converted);
		if (!g_key_file_has_group(kf, group))
			g_key_file_set_comment(kf, group, NULL, "", NULL); /* keep empty image groups */
	}
	for (guint i = 0; i < m->meta->len; i++) {
		RotaMetaGroup *meta = m->meta->pdata[i];
		g_autofree gchar *group = g_strdup_printf("meta.%s", meta->label);
		for (guint k = 0; k < meta->keys->len; k++)
			g_key_file_set_string(kf, group, meta->keys->pdata[k], meta->values->pdata[k]);
	}
	data = g_key_file_to_data(kf, &len, NULL);
	return g_bytes_new_take(data, len);
}

static gchar *env_name(const gchar *s)
{
	gchar *up = g_ascii_strup(s, -1);
	return g_strdelimit(up, "-", '_');
}

gchar **rota_manifest_meta_environ(const RotaManifest *m)
{
	GPtrArray *out = g_ptr_array_new();

	for (guint i = 0; i < m->meta->len; i++) {
		RotaMetaGroup *meta = m->meta->pdata[i];
		g_autofree gchar *label = env_name(meta->label);
		for (guint k = 0; k < meta->keys->len; k++) {
			g_autofree gchar *key = env_name(meta->keys->pdata[k]);
			g_ptr_array_add(out, g_strdup_printf("RAUC_META_%s_%s=%s", label, key, (gchar *)meta->values->pdata[k]));
		}
	}
	g_ptr_array_add(out, NULL);
	return (gchar **)g_ptr_array_free(out, FALSE);
}

/* ---- image types (manifest.md §4) ---- */

const gchar *rota_image_get_type(const RotaImage *img, gboolean *detected)
{
	static const struct {
		const gchar *pattern;
		const gchar *type;
	} map[] = {
		{"*.ext4.caibx", "ext4-caibx"}, {"*.vfat.caibx", "vfat-caibx"}, {"*.ubifs.caibx", "ubifs-caibx"},
		{"*.img.caibx", "raw-caibx"},   {"*.squashfs.caibx", "squashfs-caibx"},
		{"*.squashfs-*.caibx", "squashfs-caibx"}, {"*.catar", "catar"}, {"*.caidx", "caidx"},
		{"*.tar*", "tar"},              {"*.tgz", "tar"},                {"*.ext4", "ext4"},
		{"*.vfat", "vfat"},             {"*.img", "raw"},                {"*.squashfs-*", "squashfs"},
		{"*.squashfs", "squashfs"},     {"*.ubifs", "ubifs"},
	};

	if (detected)
		*detected = FALSE;
	if (img->type)
		return img->type;
	if (!img->filename)
		return NULL;
	for (gsize i = 0; i < G_N_ELEMENTS(map); i++) {
		if (g_pattern_match_simple(map[i].pattern, img->filename)) {
			if (detected)
				*detected = TRUE;
			return map[i].type;
		}
	}
	return NULL;
}
