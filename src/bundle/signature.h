/* signature.h — CMS signatures of bundles (OpenSSL 3).
 *
 * Signing as RAUC does it (SignedData, CMS_BINARY|CMS_NOSMIMECAP, SHA-256,
 * signer + intermediates, detached for plain), verification against a
 * keyring with RAUC's options (purpose incl. codesign, CRLs, partial
 * chains, signing time), and the signer chain for `info`. */
#pragma once

#include <glib.h>

#include "common/error.h"

typedef struct {
	gchar *path;                  /* PEM file with certificates and CRLs */
	gchar *directory;             /* OpenSSL hashed directory */
	gboolean check_crl;
	gchar *check_purpose;         /* NULL = OpenSSL's default (smimesign); "codesign", "any", ... */
	gboolean allow_partial_chain;
	gboolean use_bundle_signing_time;
	gboolean no_check_time;
} RotaKeyring;

void rota_keyring_clear(RotaKeyring *keyring);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RotaKeyring, rota_keyring_clear)

typedef struct {
	gchar *cert;                  /* PEM file or pkcs11: URI */
	gchar *key;                   /* PEM file or pkcs11: URI (RAUC_KEY_PASSPHRASE, RAUC_PKCS11_PIN) */
	GPtrArray *intermediates;     /* gchar*: PEM files, may be NULL */
} RotaSigner;

typedef struct {
	gchar *subject;               /* one-line DN as OpenSSL prints it */
	gchar *issuer;
	gchar *spki_sha256;           /* "AA:BB:..." */
	gchar *not_before;            /* OpenSSL ASN1_TIME_print form */
	gchar *not_after;
	gint64 not_after_unix;
} RotaCertInfo;

void rota_cert_info_free(RotaCertInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaCertInfo, rota_cert_info_free)

/* Signs content (len bytes). detached: the CMS carries no content (plain
 * bundles); otherwise it embeds it (the manifest of verity/crypt bundles).
 * Fails when the key does not match the certificate. Returns DER. */
GBytes *rota_cms_sign(const void *content, gsize len, gboolean detached, const RotaSigner *signer,
		      GError **error);

/* TRUE when cms (DER) is a SignedData without content. EnvelopedData counts
 * as not detached. Errors when cms is not valid DER CMS. */
gboolean rota_cms_is_detached(GBytes *cms, gboolean *out_detached, GError **error);

/* TRUE when cms is EnvelopedData (an encrypted crypt bundle). */
gboolean rota_cms_is_enveloped(GBytes *cms);

/* The embedded content of an inline SignedData, without verifying anything
 * (for --no-verify). */
GBytes *rota_cms_get_content(GBytes *cms, GError **error);

/* Verifies cms against keyring. detached_content/len: the payload for a
 * detached signature (must be NULL for inline). On success *out_content (if
 * not NULL) receives the embedded content of an inline signature, and
 * *out_chain (if not NULL) a GPtrArray of RotaCertInfo*, leaf first. */
gboolean rota_cms_verify(GBytes *cms, const void *detached_content, gsize len, const RotaKeyring *keyring,
			 GBytes **out_content, GPtrArray **out_chain, GError **error);

/* Certificate info of every certificate carried in the CMS (unverified). */
GPtrArray *rota_cms_get_certs(GBytes *cms, GError **error);

/* `info --dump-cert`: the first certificate of a SignedData in OpenSSL's
 * text form. */
gchar *rota_cms_dump_cert(GBytes *cms, GError **error);

/* `info --dump-recipients`: "<n> Recipients:" and one entry each. */
gchar *rota_cms_dump_recipients(GBytes *enveloped, GError **error);

/* ---- encrypted bundles (CMS EnvelopedData around the SignedData) ---- */

/* Wraps signed_cms (DER SignedData) in EnvelopedData (AES-256-CBC) for every
 * certificate in every PEM file of recipient_files (RSA: key transport, EC:
 * key agreement). *out_count receives the number of recipients. */
GBytes *rota_cms_encrypt(GBytes *signed_cms, gchar **recipient_files, guint *out_count, GError **error);

/* Decrypts EnvelopedData with key (PEM or pkcs11: URI) and, when given, its
 * certificate (which also tells whether this device is a recipient at
 * all). Returns the inner DER SignedData. */
GBytes *rota_cms_decrypt(GBytes *enveloped, const gchar *key, const gchar *cert, GError **error);
