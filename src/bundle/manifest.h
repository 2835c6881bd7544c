/* manifest.h — the bundle manifest (manifest.raucm): parsing with RAUC's
 * strictness, the validation sets for input/internal/external manifests,
 * and serialization in RAUC's group and key order. */
#pragma once

#include <glib.h>

#include "common/error.h"

typedef enum {
	ROTA_FORMAT_PLAIN = 0,
	ROTA_FORMAT_VERITY,
	ROTA_FORMAT_CRYPT,
} RotaBundleFormat;

const gchar *rota_bundle_format_name(RotaBundleFormat format);

typedef struct {
	gchar *slotclass;  /* slot class, or artifact repository */
	gchar *artifact;   /* artifact name (image.<repo>/<artifact>), or NULL */
	gchar *variant;    /* or NULL */
	gchar *filename;   /* or NULL */
	gchar *type;       /* explicit type=, or NULL */
	gchar *sha256;     /* lower-case hex, or NULL */
	guint64 size;
	gboolean has_size;
	gchar **hooks;     /* NULL-terminated, never NULL */
	gchar **adaptive;
	gchar **convert;
	gchar **converted;
} RotaImage;

typedef struct {
	gchar *label;
	GPtrArray *keys;   /* gchar* */
	GPtrArray *values; /* gchar* */
} RotaMetaGroup;

typedef struct {
	gchar *compatible;
	gchar *version;
	gchar *description;
	gchar *build;
	gchar *min_rauc_version;

	RotaBundleFormat format;
	gboolean format_explicit;
	gchar *verity_hash;
	gchar *verity_salt;
	guint64 verity_size;
	gchar *crypt_key;

	gchar *handler_name;
	gchar *handler_args;
	gchar *hook_name;
	gchar **hooks;     /* bundle hooks (install-check), never NULL */

	GPtrArray *images; /* RotaImage* */
	GPtrArray *meta;   /* RotaMetaGroup* */
} RotaManifest;

void rota_manifest_free(RotaManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaManifest, rota_manifest_free)

/* Parses manifest bytes; `name` (file name or "signed manifest of X") is used
 * in messages. Applies the syntax checks every manifest gets (unknown keys
 * and groups, value formats). */
RotaManifest *rota_manifest_parse(const void *data, gsize len, const gchar *name, GError **error);
RotaManifest *rota_manifest_load_file(const gchar *path, GError **error);

/* Rules for a manifest given to `rota bundle` (no generated values). */
gboolean rota_manifest_check_input(const RotaManifest *m, const gchar *name, GError **error);
/* Rules for the manifest inside a plain bundle. */
gboolean rota_manifest_check_internal(const RotaManifest *m, const gchar *name, GError **error);
/* Rules for the signed manifest of a verity/crypt bundle. */
gboolean rota_manifest_check_external(const RotaManifest *m, const gchar *name, GError **error);

/* Serializes as RAUC does (GKeyFile, RAUC's order). with_bundle_keys: write
 * verity-* and crypt-key (FALSE for the copy inside the payload). */
GBytes *rota_manifest_serialize(const RotaManifest *m, gboolean with_bundle_keys);

/* The image type: explicit, or derived from the filename (*detected = TRUE).
 * NULL when it cannot be determined. */
const gchar *rota_image_get_type(const RotaImage *image, gboolean *detected);
/* The metadata as environment entries "RAUC_META_<LABEL>_<KEY>=value"
 * (label and key upper-cased, '-' as '_'), for hooks, handlers and
 * `info --output-format=shell`. */
gchar **rota_manifest_meta_environ(const RotaManifest *m);
/* "image.<class>[/<artifact>][.<variant>]" */
gchar *rota_image_group_name(const RotaImage *image);
