/* bundle.h — RAUC-compatible bundles: create, open and check, extract,
 * resign, replace and extract signatures.
 *
 * Layout (bundle-format.md §1): payload | CMS | u64 big-endian CMS size.
 * Opening a bundle reads the trailer and the CMS, verifies the signature
 * (unless told not to), loads the authoritative manifest and stacks the
 * views: file → (verity) → squashfs. */
#pragma once

#include <glib.h>

#include "bundle/manifest.h"
#include "bundle/signature.h"
#include "bundle/squashfs.h"
#include "view/http_view.h"
#include "view/view.h"

#define ROTA_MAX_SIGNATURE_SIZE 65536u
#define ROTA_MAX_PLAIN_PAYLOAD 2147483647u /* INT32_MAX: CVE-2026-34155 */

typedef struct {
	gchar *path;
	RotaView *file;        /* the whole bundle file */
	guint64 size;          /* file size */
	guint64 payload_size;  /* bytes before the CMS */
	GBytes *cms;           /* the CMS blob as read */
	GBytes *signed_cms;    /* the SignedData: cms, or what its envelope held */
	gboolean enveloped;    /* an encrypted crypt bundle */
	gboolean detached;     /* plain format */
	GBytes *manifest_data; /* the exact bytes of the authoritative manifest */
	RotaManifest *manifest;
	gchar *manifest_hash;  /* sha256 hex of manifest_data */
	RotaBundleFormat format;
	gboolean verified;     /* signature verified against a keyring */
	GPtrArray *chain;      /* RotaCertInfo*, leaf first, when verified */
	RotaView *payload;     /* the data the squashfs is read from (verity view for verity; for crypt
				* the decrypting verity view, which returns plaintext) */
	RotaSquashfs *sqfs;    /* opened on demand by rota_bundle_get_squashfs() */
	gboolean streamed;     /* file is an HTTP view (path was an http(s) URL) */
} RotaBundle;

void rota_bundle_free(RotaBundle *bundle);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaBundle, rota_bundle_free)

typedef struct {
	const RotaKeyring *keyring; /* NULL: do not verify the signature (--no-verify) */
	guint64 max_signature_size; /* 0: ROTA_MAX_SIGNATURE_SIZE */
	const gchar *decrypt_key;   /* encrypted crypt bundles: private key (PEM or pkcs11:) */
	const gchar *decrypt_cert;  /* and its certificate (optional) */
	const RotaHttpOptions *http; /* http(s) URLs: access options; NULL: defaults */
} RotaBundleOpenOptions;

/* path is a file, or an http:// or https:// URL to stream from (verity
 * and crypt bundles only). */
RotaBundle *rota_bundle_open(const gchar *path, const RotaBundleOpenOptions *opts, GError **error);

/* Download statistics of a streamed bundle; FALSE for a local one. */
gboolean rota_bundle_get_http_stats(RotaBundle *bundle, RotaHttpStats *out);

/* The squashfs of the payload, read through the verified view. */
RotaSquashfs *rota_bundle_get_squashfs(RotaBundle *bundle, GError **error);

/* Checks the whole payload against the signed root hash on all cores
 * (verity). For plain bundles the signature check already covered it. */
gboolean rota_bundle_check_payload(RotaBundle *bundle, GError **error);

/* Checks the whole payload, then writes the bundle's files to outdir, which
 * must not exist. */
gboolean rota_bundle_extract(RotaBundle *bundle, const gchar *outdir, GError **error);

/* Writes the CMS blob to outpath (must not exist, mode 0600). */
gboolean rota_bundle_extract_signature(RotaBundle *bundle, const gchar *outpath, GError **error);

typedef struct {
	RotaSigner signer;
	RotaSquashfsOptions squashfs;
	const RotaKeyring *signing_keyring; /* verify right after signing, or NULL */
} RotaBundleCreateOptions;

/* Builds a bundle from inputdir (with manifest.raucm) into bundle_path, which
 * must not exist. On failure nothing is left at bundle_path. */
gboolean rota_bundle_create(const gchar *inputdir, const gchar *bundle_path, const RotaBundleCreateOptions *opts,
			    GError **error);

/* Writes bundle's payload with a new signature to outpath (verity: over the
 * re-serialized manifest, as RAUC does). Checks the payload first. */
gboolean rota_bundle_resign(RotaBundle *bundle, const gchar *outpath, const RotaSigner *signer,
			    const RotaKeyring *signing_keyring, GError **error);

/* Writes an encrypted copy of a verified, unencrypted crypt bundle to
 * outpath: same payload, the SignedData wrapped for every certificate in
 * recipient_files. *out_count receives the number of recipients. */
gboolean rota_bundle_encrypt(RotaBundle *bundle, const gchar *outpath, gchar **recipient_files, guint *out_count,
			     GError **error);

/* Writes inpath's payload followed by the CMS in sigpath to outpath, then
 * opens the result with keyring (if not NULL) to verify it; removes outpath
 * on failure. */
gboolean rota_bundle_replace_signature(const gchar *inpath, const gchar *sigpath, const gchar *outpath,
				       const RotaKeyring *keyring, GError **error);
