/* test_signature.c — unit tests of bundle/signature.c against the PKI that
 * tests/pki.sh generates (once per run, in a temporary directory).
 *
 * Besides rota's own API the tests use OpenSSL directly to look inside the
 * produced CMS and to build CMS variants rota never produces (past signing
 * times, two signers), and the openssl CLI for interoperability. */
#include <string.h>
#include <sys/mman.h>

#include <glib.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bundle/signature.h"

/* Under `make test` (ROTA_REQUIRE_ALL_TOOLS=1) the tools are installed, so a
 * missing one is a broken setup, not a reason to skip. */
#define SKIP_WITHOUT_TOOL(msg)                                   \
	do {                                                     \
		if (g_getenv("ROTA_REQUIRE_ALL_TOOLS"))          \
			g_error("required tool missing: %s", msg); \
		g_test_skip(msg);                                \
	} while (0)

#ifndef ROTA_SOURCE_DIR
#define ROTA_SOURCE_DIR "."
#endif

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free_all)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CMS_ContentInfo, CMS_ContentInfo_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)

static gchar *pki_dir;
static const gchar manifest[] = "[update]\ncompatible=rota-test\nversion=1\n";
static const gchar payload[] = "this stands in for a squashfs image\n";

/* ---- helpers ------------------------------------------------------------ */

static gchar *pki(const gchar *name)
{
	return g_build_filename(pki_dir, name, NULL);
}

/* Runs a shell command; TRUE when it exits 0. Output goes to *out if given. */
static gboolean sh(gchar **out, const gchar *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean sh(gchar **out, const gchar *fmt, ...)
{
	va_list ap;
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *stdout_buf = NULL;
	g_autofree gchar *stderr_buf = NULL;
	gint status = 0;
	const gchar *argv[] = { "/bin/sh", "-c", NULL, NULL };

	va_start(ap, fmt);
	cmd = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	argv[2] = cmd;
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_buf, &stderr_buf,
			  &status, NULL))
		return FALSE;
	if (out)
		*out = g_steal_pointer(&stdout_buf);
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_test_message("command failed: %s\n%s", cmd, stderr_buf);
		return FALSE;
	}
	return TRUE;
}

static void signer_init(RotaSigner *signer, const gchar *name)
{
	g_autofree gchar *cert = g_strdup_printf("%s.cert.pem", name);
	g_autofree gchar *key = g_strdup_printf("%s.key.pem", name);

	signer->cert = pki(cert);
	signer->key = pki(key);
	signer->intermediates = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(signer->intermediates, pki("intermediate.pem"));
}

static void signer_clear(RotaSigner *signer)
{
	g_free(signer->cert);
	g_free(signer->key);
	g_clear_pointer(&signer->intermediates, g_ptr_array_unref);
}

/* Signs with PKI signer `name` (+ the intermediate). */
static GBytes *sign_as(const gchar *name, gboolean detached, GError **error)
{
	RotaSigner signer = { 0 };
	const gchar *content = detached ? payload : manifest;
	GBytes *cms;

	signer_init(&signer, name);
	cms = rota_cms_sign(content, strlen(content), detached, &signer, error);
	signer_clear(&signer);
	return cms;
}

static GBytes *sign_ok(const gchar *name, gboolean detached)
{
	g_autoptr(GError) error = NULL;
	GBytes *cms = sign_as(name, detached, &error);

	g_assert_no_error(error);
	g_assert_nonnull(cms);
	return cms;
}

static void keyring_init(RotaKeyring *keyring, const gchar *file)
{
	memset(keyring, 0, sizeof(*keyring));
	keyring->path = file ? pki(file) : NULL;
}

/* Verifies a signature made by sign_as(); content as there. */
static gboolean verify(GBytes *cms, const RotaKeyring *keyring, GPtrArray **chain, GError **error)
{
	gboolean detached = FALSE;
	g_autoptr(GBytes) content = NULL;
	gboolean ok;

	g_assert_true(rota_cms_is_detached(cms, &detached, NULL));
	if (detached)
		return rota_cms_verify(cms, payload, strlen(payload), keyring, NULL, chain, error);
	ok = rota_cms_verify(cms, NULL, 0, keyring, &content, chain, error);
	if (ok)
		g_assert_cmpmem(g_bytes_get_data(content, NULL), g_bytes_get_size(content), manifest,
				strlen(manifest));
	return ok;
}

static guint8 *find_bytes(guint8 *hay, gsize len, const gchar *needle)
{
	gsize n = strlen(needle);

	for (gsize i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

static void assert_one_line(const GError *error)
{
	g_assert_nonnull(error);
	g_assert_null(strchr(error->message, '\n'));
	g_assert_cmpuint(ERR_peek_error(), ==, 0);
}

/* Verification of `name`'s signature with the keyring must fail with a
 * message containing `expect`. */
static void assert_verify_fails(const gchar *name, const RotaKeyring *keyring, const gchar *expect)
{
	g_autoptr(GBytes) cms = sign_ok(name, TRUE);
	g_autoptr(GError) error = NULL;

	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	assert_one_line(error);
	if (!strstr(error->message, expect))
		g_error("'%s' does not contain '%s'", error->message, expect);
}

static void assert_verify_ok(const gchar *name, const RotaKeyring *keyring)
{
	g_autoptr(GBytes) cms = sign_ok(name, TRUE);
	g_autoptr(GError) error = NULL;

	g_assert_true(verify(cms, keyring, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(ERR_peek_error(), ==, 0);
}

static CMS_ContentInfo *cms_from_bytes(GBytes *bytes)
{
	gsize len = 0;
	const unsigned char *p = g_bytes_get_data(bytes, &len);
	CMS_ContentInfo *ci = d2i_CMS_ContentInfo(NULL, &p, (long)len);

	g_assert_nonnull(ci);
	return ci;
}

static GBytes *cms_to_bytes(CMS_ContentInfo *ci)
{
	unsigned char *der = NULL;
	int len = i2d_CMS_ContentInfo(ci, &der);
	GBytes *bytes;

	g_assert_cmpint(len, >, 0);
	bytes = g_bytes_new(der, len);
	OPENSSL_free(der);
	return bytes;
}

static X509 *read_cert(const gchar *name)
{
	g_autofree gchar *path = pki(name);
	g_autoptr(BIO) bio = BIO_new_file(path, "r");
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	g_assert_nonnull(cert);
	return cert;
}

static EVP_PKEY *read_key(const gchar *name)
{
	g_autofree gchar *path = pki(name);
	g_autoptr(BIO) bio = BIO_new_file(path, "r");
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	g_assert_nonnull(key);
	return key;
}

/* An inline CMS by PKI signer `name` whose signingTime is `when`
 * (YYYYMMDDHHMMSSZ), which rota_cms_sign cannot produce. */
static GBytes *sign_at(const gchar *name, const gchar *when)
{
	g_autofree gchar *certfile = g_strdup_printf("%s.cert.pem", name);
	g_autofree gchar *keyfile = g_strdup_printf("%s.key.pem", name);
	g_autoptr(X509) cert = read_cert(certfile);
	g_autoptr(EVP_PKEY) key = read_key(keyfile);
	g_autoptr(X509) inter = read_cert("intermediate.pem");
	g_autoptr(BIO) in = BIO_new_mem_buf(manifest, strlen(manifest));
	g_autoptr(CMS_ContentInfo) ci = NULL;
	STACK_OF(X509) *certs = sk_X509_new_null();
	ASN1_TIME *t = ASN1_TIME_new();
	CMS_SignerInfo *si;

	sk_X509_push(certs, inter);
	ci = CMS_sign(cert, key, certs, NULL, CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL);
	g_assert_nonnull(ci);
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(ci), 0);
	/* normalizes to UTCTime up to 2049, GeneralizedTime after */
	g_assert_true(ASN1_TIME_set_string_X509(t, when));
	g_assert_true(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, t->type, t, -1));
	g_assert_true(CMS_final(ci, in, NULL, CMS_BINARY | CMS_NOSMIMECAP));
	ASN1_TIME_free(t);
	sk_X509_free(certs);
	return cms_to_bytes(ci);
}

/* ---- tests -------------------------------------------------------------- */

static void test_sign_verify_inline(void)
{
	g_autoptr(GBytes) cms = sign_ok("signer", FALSE);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GBytes) content = NULL;
	g_autoptr(GError) error = NULL;
	gboolean detached = TRUE;

	keyring_init(keyring, "keyring.pem");
	g_assert_true(rota_cms_is_detached(cms, &detached, &error));
	g_assert_false(detached);
	g_assert_false(rota_cms_is_enveloped(cms));

	content = rota_cms_get_content(cms, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(content, NULL), g_bytes_get_size(content), manifest, strlen(manifest));

	g_assert_true(verify(cms, keyring, &chain, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(chain->len, ==, 3);
}

static void test_sign_verify_detached(void)
{
	g_autoptr(GBytes) cms = sign_ok("signer", TRUE);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) content = NULL;
	g_autoptr(GError) error = NULL;
	gboolean detached = FALSE;

	keyring_init(keyring, "keyring.pem");
	g_assert_true(rota_cms_is_detached(cms, &detached, &error));
	g_assert_true(detached);

	g_assert_true(rota_cms_verify(cms, payload, strlen(payload), keyring, &content, NULL, &error));
	g_assert_no_error(error);
	g_assert_null(content);

	g_assert_null(rota_cms_get_content(cms, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	g_clear_error(&error);

	/* detached needs the payload, inline must not get one */
	g_assert_false(rota_cms_verify(cms, NULL, 0, keyring, NULL, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	g_assert_cmpstr(error->message, ==, "no content provided for detached signature");
	g_clear_error(&error);
	{
		g_autoptr(GBytes) inline_cms = sign_ok("signer", FALSE);

		g_assert_false(rota_cms_verify(inline_cms, payload, strlen(payload), keyring, NULL, NULL, &error));
		g_assert_cmpstr(error->message, ==, "unexpected content provided for inline signature");
	}
}

static void test_empty_content(void)
{
	RotaSigner signer = { 0 };
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) cms = NULL;
	g_autoptr(GError) error = NULL;

	signer_init(&signer, "signer");
	keyring_init(keyring, "keyring.pem");
	cms = rota_cms_sign("", 0, TRUE, &signer, &error);
	g_assert_no_error(error);
	g_assert_true(rota_cms_verify(cms, "", 0, keyring, NULL, NULL, &error));
	g_assert_no_error(error);
	signer_clear(&signer);
}

static void test_tampered(void)
{
	g_autoptr(GBytes) detached = sign_ok("signer", TRUE);
	g_autoptr(GBytes) inline_cms = sign_ok("signer", FALSE);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *changed = g_strdup(payload);
	g_autofree guint8 *der = NULL;
	gsize len = 0;
	guint8 *hit;

	keyring_init(keyring, "keyring.pem");
	changed[3] ^= 1;
	g_assert_false(rota_cms_verify(detached, changed, strlen(changed), keyring, NULL, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	g_assert_true(g_str_has_prefix(error->message, "signature verification failed: "));
	assert_one_line(error);
	g_clear_error(&error);

	/* flip one byte of the embedded manifest */
	len = g_bytes_get_size(inline_cms);
	der = g_memdup2(g_bytes_get_data(inline_cms, NULL), len);
	hit = find_bytes(der, len, "rota-test");
	g_assert_nonnull(hit);
	hit[0] ^= 1;
	{
		g_autoptr(GBytes) tampered = g_bytes_new(der, len);

		g_assert_false(rota_cms_verify(tampered, NULL, 0, keyring, NULL, NULL, &error));
		g_assert_true(g_str_has_prefix(error->message, "signature verification failed: "));
		assert_one_line(error);
	}
}

static void test_untrusted(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_auto(RotaKeyring) other_storage = { 0 };
	RotaKeyring *other = &other_storage;

	keyring_init(keyring, "keyring.pem");
	keyring_init(other, "other-root.pem");
	assert_verify_fails("other", keyring, "unable to get local issuer certificate");
	assert_verify_fails("signer", other, "unable to get local issuer certificate");
	assert_verify_ok("other", other);
}

static void test_validity(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;

	keyring_init(keyring, "keyring.pem");
	assert_verify_fails("expired", keyring, "signature verification failed: Verify error: certificate has expired");
	assert_verify_fails("notyet", keyring, "certificate is not yet valid");
	keyring->no_check_time = TRUE;
	assert_verify_ok("expired", keyring);
	assert_verify_ok("notyet", keyring);
}

static void test_purpose(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) cms = sign_ok("signer", TRUE);
	g_autoptr(GError) error = NULL;

	keyring_init(keyring, "keyring.pem");
	/* OpenSSL's default for CMS: smimesign */
	assert_verify_ok("signer", keyring);
	assert_verify_ok("noeku", keyring);
	assert_verify_fails("codesign", keyring, "unsuitable certificate purpose");
	assert_verify_fails("serverauth", keyring, "unsuitable certificate purpose");

	keyring->check_purpose = g_strdup("codesign");
	assert_verify_ok("signer", keyring);
	assert_verify_ok("codesign", keyring);
	assert_verify_fails("noeku", keyring, "unsuitable certificate purpose");
	assert_verify_fails("serverauth", keyring, "unsuitable certificate purpose");

	g_free(keyring->check_purpose);
	keyring->check_purpose = g_strdup("smimesign");
	assert_verify_fails("codesign", keyring, "unsuitable certificate purpose");

	g_free(keyring->check_purpose);
	keyring->check_purpose = g_strdup("any");
	assert_verify_ok("codesign", keyring);
	assert_verify_ok("serverauth", keyring);

	g_free(keyring->check_purpose);
	keyring->check_purpose = g_strdup("bogus");
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	g_assert_cmpstr(error->message, ==, "Failed to configure X509 purpose 'bogus'");
}

/* codesign-rauc beyond the leaf's EKU: an issuing CA that carries an EKU
 * must list codeSigning in it, and a leaf with a keyUsage must allow
 * digitalSignature. The shared PKI has no such certificates, so they are
 * made here (issued by the PKI's root and intermediate). */
static GBytes *sign_with_files(const gchar *dir, const gchar *leaf, const gchar *issuer_pem)
{
	RotaSigner signer = { 0 };
	g_autoptr(GError) error = NULL;
	GBytes *cms;

	signer.cert = g_strdup_printf("%s/%s.pem", dir, leaf);
	signer.key = g_strdup_printf("%s/%s.key", dir, leaf);
	signer.intermediates = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(signer.intermediates, g_strdup(issuer_pem));
	cms = rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cms);
	signer_clear(&signer);
	return cms;
}

static void test_purpose_codesign_issuer_and_key_usage(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autofree gchar *dir = g_dir_make_tmp("rota-purpose-XXXXXX", NULL);
	g_autofree gchar *ca_codesign = g_build_filename(dir, "ca-codesign.pem", NULL);
	g_autofree gchar *ca_serverauth = g_build_filename(dir, "ca-serverauth.pem", NULL);
	g_autofree gchar *intermediate = pki("intermediate.pem");
	struct {
		const gchar *leaf, *issuer;
		gboolean ok;
	} cases[] = {
		{"leaf-via-codesign-ca", ca_codesign, TRUE},    /* the control: CA EKU lists codeSigning */
		{"leaf-via-serverauth-ca", ca_serverauth, FALSE}, /* CA EKU without codeSigning */
		{"leaf-no-digitalsignature", intermediate, FALSE}, /* leaf KU without digitalSignature */
	};

	g_assert_nonnull(dir);
	g_assert_true(sh(NULL,
			 "set -e; cd '%s'\n"
			 "cat > ext.cnf <<'EOF'\n"
			 "[ca_codesign]\nbasicConstraints = critical, CA:TRUE, pathlen:0\n"
			 "keyUsage = critical, keyCertSign, cRLSign\nextendedKeyUsage = codeSigning\n"
			 "[ca_serverauth]\nbasicConstraints = critical, CA:TRUE, pathlen:0\n"
			 "keyUsage = critical, keyCertSign, cRLSign\nextendedKeyUsage = serverAuth\n"
			 "[leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
			 "extendedKeyUsage = codeSigning\n"
			 "[leaf_no_ds]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, keyEncipherment\n"
			 "extendedKeyUsage = codeSigning\n"
			 "EOF\n"
			 "issue() { # name issuer-cert issuer-key extensions\n"
			 "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key 2>/dev/null\n"
			 "  openssl req -new -key $1.key -subj \"/CN=rota purpose test $1\" -out $1.csr\n"
			 "  openssl x509 -req -in $1.csr -CA $2 -CAkey $3 -set_serial 0x$(openssl rand -hex 8) -days 30 "
			 "-extfile ext.cnf -extensions $4 -out $1.pem 2>/dev/null\n"
			 "}\n"
			 "issue ca-codesign '%s/root.pem' '%s/root.key.pem' ca_codesign\n"
			 "issue ca-serverauth '%s/root.pem' '%s/root.key.pem' ca_serverauth\n"
			 "issue leaf-via-codesign-ca ca-codesign.pem ca-codesign.key leaf\n"
			 "issue leaf-via-serverauth-ca ca-serverauth.pem ca-serverauth.key leaf\n"
			 "issue leaf-no-digitalsignature '%s/intermediate.pem' '%s/intermediate.key.pem' leaf_no_ds\n",
			 dir, pki_dir, pki_dir, pki_dir, pki_dir, pki_dir, pki_dir));

	keyring_init(keyring, "keyring.pem");
	keyring->check_purpose = g_strdup("codesign");
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GBytes) cms = sign_with_files(dir, cases[i].leaf, cases[i].issuer);
		g_autoptr(GError) error = NULL;
		gboolean ok = verify(cms, keyring, NULL, &error);

		g_test_message("%s: %s", cases[i].leaf, error ? error->message : "verified");
		if (cases[i].ok) {
			g_assert_no_error(error);
			g_assert_true(ok);
		} else {
			g_assert_false(ok);
			g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
			assert_one_line(error);
			if (!strstr(error->message, "unsuitable certificate purpose"))
				g_error("%s: '%s' does not contain 'unsuitable certificate purpose'", cases[i].leaf,
					error->message);
		}
	}
	sh(NULL, "rm -rf '%s'", dir);
}

static void test_crl(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;

	keyring_init(keyring, "keyring-crl.pem");
	/* warns "Detected CRL but CRL checking is disabled!" (a g_message) */
	assert_verify_ok("revoked", keyring);
	keyring->check_crl = TRUE;
	assert_verify_fails("revoked", keyring, "certificate revoked");
	assert_verify_ok("signer", keyring);

	/* CRL checking without CRLs in the keyring */
	g_free(keyring->path);
	keyring->path = pki("keyring.pem");
	assert_verify_fails("signer", keyring, "unable to get certificate CRL");
}

static void test_partial_chain(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) cms = sign_ok("signer", TRUE);
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GError) error = NULL;

	keyring_init(keyring, "intermediate.pem");
	assert_verify_fails("signer", keyring, "unable to get issuer certificate");
	keyring->allow_partial_chain = TRUE;
	g_assert_true(verify(cms, keyring, &chain, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(chain->len, ==, 2);
}

static void test_keyring_sources(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) cms = sign_ok("signer", TRUE);
	g_autoptr(GError) error = NULL;

	keyring_init(keyring, NULL);
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_cmpstr(error->message, ==, "No keyring file or directory provided");
	g_clear_error(&error);
	g_assert_false(rota_cms_verify(cms, payload, strlen(payload), NULL, NULL, NULL, &error));
	g_assert_cmpstr(error->message, ==, "No keyring file or directory provided");
	g_clear_error(&error);

	keyring->directory = pki("keyring-dir");
	assert_verify_ok("signer", keyring);
	assert_verify_fails("other", keyring, "unable to get local issuer certificate");

	/* both: the other root from the file, ours from the directory */
	keyring->path = pki("other-root.pem");
	assert_verify_ok("signer", keyring);
	assert_verify_ok("other", keyring);

	g_free(keyring->directory);
	keyring->directory = pki("no-such-dir");
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_true(strstr(error->message, "no-such-dir"));
	g_clear_error(&error);

	g_clear_pointer(&keyring->directory, g_free);
	g_free(keyring->path);
	keyring->path = pki("no-such-file.pem");
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_true(strstr(error->message, "no-such-file.pem"));
	g_clear_error(&error);

	/* a PEM file without certificates */
	g_free(keyring->path);
	keyring->path = pki("root.crl.pem");
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_true(strstr(error->message, "contains no certificate"));
}

static void test_signing_time(void)
{
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) past = sign_at("expired", "20000601120000Z");
	g_autoptr(GBytes) future = sign_at("notyet", "20950601120000Z");
	g_autoptr(GError) error = NULL;

	keyring_init(keyring, "keyring.pem");
	g_assert_false(verify(past, keyring, NULL, &error));
	g_assert_true(strstr(error->message, "certificate has expired"));
	g_clear_error(&error);
	g_assert_false(verify(future, keyring, NULL, &error));
	g_clear_error(&error);

	keyring->use_bundle_signing_time = TRUE;
	g_assert_true(verify(past, keyring, NULL, &error));
	g_assert_no_error(error);
	/* 2095 is stored as GeneralizedTime */
	g_assert_true(verify(future, keyring, NULL, &error));
	g_assert_no_error(error);

	/* signed now: the signing time does not rescue an expired signer */
	assert_verify_fails("expired", keyring, "certificate has expired");
	assert_verify_ok("signer", keyring);
}

/* A CMS with two SignerInfos (RAUC's resign --append) verifies in OpenSSL
 * but is refused like RAUC does. */
static void test_two_signers(void)
{
	g_autoptr(X509) cert = read_cert("signer.cert.pem");
	g_autoptr(EVP_PKEY) key = read_key("signer.key.pem");
	g_autoptr(X509) cert2 = read_cert("noeku.cert.pem");
	g_autoptr(EVP_PKEY) key2 = read_key("noeku.key.pem");
	g_autoptr(X509) inter = read_cert("intermediate.pem");
	g_autoptr(BIO) in = BIO_new_mem_buf(manifest, strlen(manifest));
	g_autoptr(CMS_ContentInfo) ci = NULL;
	g_autoptr(GBytes) cms = NULL;
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GError) error = NULL;
	unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL;

	ci = CMS_sign(cert, key, NULL, NULL, flags);
	g_assert_nonnull(CMS_add1_signer(ci, cert2, key2, NULL, flags));
	g_assert_true(CMS_add1_cert(ci, inter));
	g_assert_true(CMS_final(ci, in, NULL, CMS_BINARY | CMS_NOSMIMECAP));
	cms = cms_to_bytes(ci);

	keyring_init(keyring, "keyring.pem");
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_cmpstr(error->message, ==, "Unsupported number of signers: 2");
	g_clear_error(&error);
	keyring->use_bundle_signing_time = TRUE;
	g_assert_false(verify(cms, keyring, NULL, &error));
	g_assert_cmpstr(error->message, ==, "multiple signerInfos are not supported with 'use-bundle-signing-time'");
}

static void test_key_mismatch(void)
{
	RotaSigner signer = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expect = NULL;

	signer_init(&signer, "signer");
	g_free(signer.key);
	signer.key = pki("codesign.key.pem");
	g_assert_null(rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	expect = g_strdup_printf("Key '%s' does not match certificate '%s'", signer.key, signer.cert);
	g_assert_cmpstr(error->message, ==, expect);
	assert_one_line(error);
	g_clear_error(&error);

	/* missing files are named */
	g_free(signer.key);
	signer.key = pki("missing.key.pem");
	g_assert_null(rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_true(strstr(error->message, "missing.key.pem"));
	g_clear_error(&error);

	/* a key file given as certificate */
	g_free(signer.cert);
	signer.cert = pki("signer.key.pem");
	g_assert_null(rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error));
	g_assert_true(g_str_has_prefix(error->message, "Failed to parse certificate file"));
	assert_one_line(error);
	signer_clear(&signer);
}

static void test_encrypted_key(void)
{
	RotaSigner signer = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) cms = NULL;

	signer_init(&signer, "signer");
	g_free(signer.key);
	signer.key = pki("signer-enc.key.pem");

	g_unsetenv("RAUC_KEY_PASSPHRASE");
	g_assert_null(rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error));
	g_assert_true(strstr(error->message, "is encrypted but RAUC_KEY_PASSPHRASE is not set"));
	assert_one_line(error);
	g_clear_error(&error);

	g_setenv("RAUC_KEY_PASSPHRASE", "wrong", TRUE);
	g_assert_null(rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error));
	g_assert_true(g_str_has_prefix(error->message, "Failed to parse key file"));
	assert_one_line(error);
	g_clear_error(&error);

	g_setenv("RAUC_KEY_PASSPHRASE", "rota-test", TRUE);
	cms = rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cms);
	g_unsetenv("RAUC_KEY_PASSPHRASE");
	signer_clear(&signer);
}

static void test_invalid_cms(void)
{
	g_autoptr(GBytes) garbage = g_bytes_new_static("\x30\x03garbage", 9);
	g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	GBytes *inputs[] = { garbage, empty };

	keyring_init(keyring, "keyring.pem");
	for (guint i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autoptr(GError) error = NULL;
		gboolean detached;

		g_assert_false(rota_cms_is_detached(inputs[i], &detached, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
		g_assert_cmpstr(error->message, ==, "Signature data is no valid CMS");
		g_clear_error(&error);
		g_assert_null(rota_cms_get_content(inputs[i], &error));
		g_assert_cmpstr(error->message, ==, "Signature data is no valid CMS");
		g_clear_error(&error);
		g_assert_null(rota_cms_get_certs(inputs[i], &error));
		g_assert_cmpstr(error->message, ==, "Signature data is no valid CMS");
		g_clear_error(&error);
		g_assert_false(rota_cms_verify(inputs[i], payload, 4, keyring, NULL, NULL, &error));
		g_assert_cmpstr(error->message, ==, "Signature data is no valid CMS");
		g_assert_false(rota_cms_is_enveloped(inputs[i]));
		g_assert_cmpuint(ERR_peek_error(), ==, 0);
	}
}

static void test_enveloped(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-sig-XXXXXX", NULL);
	g_autofree gchar *cert = pki("signer.cert.pem");
	g_autoptr(GBytes) cms = NULL;
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GError) error = NULL;
	gboolean detached = TRUE;
	gsize len = 0;

	g_assert_true(sh(NULL, "cd '%s' && printf secret > in && openssl cms -encrypt -binary -aes256 -outform DER "
			       "-in in -out env.der '%s'", dir, cert));
	{
		g_autofree gchar *path = g_build_filename(dir, "env.der", NULL);
		gchar *data = NULL;

		g_assert_true(g_file_get_contents(path, &data, &len, NULL));
		cms = g_bytes_new_take(data, len);
		g_assert_true(sh(NULL, "rm -r '%s'", dir));
	}

	g_assert_true(rota_cms_is_enveloped(cms));
	g_assert_true(rota_cms_is_detached(cms, &detached, &error));
	g_assert_false(detached);
	keyring_init(keyring, "keyring.pem");
	g_assert_false(rota_cms_verify(cms, NULL, 0, keyring, NULL, NULL, &error));
	g_assert_cmpstr(error->message, ==, "Expected CMS of type 'pkcs7-signedData' but got 'pkcs7-envelopedData'");
}

/* The CMS is what spec §2.1 describes. */
static void test_structure(void)
{
	g_autoptr(GBytes) cms = sign_ok("signer", TRUE);
	g_autoptr(CMS_ContentInfo) ci = cms_from_bytes(cms);
	g_autoptr(GBytes) reencoded = cms_to_bytes(ci);
	g_autoptr(X509) root = read_cert("root.pem");
	g_autoptr(X509) inter = read_cert("intermediate.pem");
	g_autoptr(X509) leaf = read_cert("signer.cert.pem");
	STACK_OF(X509) *certs = CMS_get1_certs(ci);
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(ci);
	CMS_SignerInfo *si;
	X509_ALGOR *digest = NULL;
	int expected[] = { NID_pkcs9_contentType, NID_pkcs9_signingTime, NID_pkcs9_messageDigest };
	int found = 0;

	/* DER: re-encoding gives the same bytes */
	g_assert_true(g_bytes_equal(cms, reencoded));
	g_assert_cmpint(OBJ_obj2nid(CMS_get0_type(ci)), ==, NID_pkcs7_signed);
	g_assert_cmpint(OBJ_obj2nid(CMS_get0_eContentType(ci)), ==, NID_pkcs7_data);

	g_assert_cmpint(sk_X509_num(certs), ==, 2);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		g_assert_true(X509_cmp(c, root) != 0);
		g_assert_true(X509_cmp(c, leaf) == 0 || X509_cmp(c, inter) == 0);
	}
	sk_X509_pop_free(certs, X509_free);

	g_assert_cmpint(sk_CMS_SignerInfo_num(sis), ==, 1);
	si = sk_CMS_SignerInfo_value(sis, 0);
	g_assert_cmpint(CMS_signed_get_attr_count(si), ==, 3);
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++)
		found += CMS_signed_get_attr_by_NID(si, expected[i], -1) >= 0;
	g_assert_cmpint(found, ==, 3);
	g_assert_cmpint(CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, -1), <, 0);
	g_assert_cmpint(CMS_unsigned_get_attr_count(si), <=, 0);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &digest, NULL);
	g_assert_cmpint(OBJ_obj2nid(digest->algorithm), ==, NID_sha256);
}

static void test_rsa_signer(void)
{
	g_autoptr(GBytes) cms = sign_ok("signer-rsa", FALSE);
	g_autoptr(CMS_ContentInfo) ci = cms_from_bytes(cms);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GError) error = NULL;
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(ci), 0);
	X509_ALGOR *sig = NULL;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig);
	g_assert_cmpint(OBJ_obj2nid(sig->algorithm), ==, NID_rsaEncryption);
	keyring_init(keyring, "keyring.pem");
	g_assert_true(verify(cms, keyring, NULL, &error));
	g_assert_no_error(error);
}

static void test_chain_info(void)
{
	g_autoptr(GBytes) cms = sign_ok("signer", FALSE);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GPtrArray) certs = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *root_pem = pki("root.pem");
	g_autofree gchar *expected_spki = NULL;
	RotaCertInfo *leaf, *root;

	keyring_init(keyring, "keyring.pem");
	g_assert_true(verify(cms, keyring, &chain, &error));
	g_assert_cmpuint(chain->len, ==, 3);
	leaf = g_ptr_array_index(chain, 0);
	root = g_ptr_array_index(chain, 2);
	g_assert_cmpstr(leaf->subject, ==, "C = DE, O = rota Test, CN = rota Test Signer signer");
	g_assert_cmpstr(leaf->issuer, ==, "C = DE, O = rota Test, CN = rota Test Intermediate CA");
	g_assert_cmpstr(((RotaCertInfo *)g_ptr_array_index(chain, 1))->subject, ==, leaf->issuer);
	g_assert_cmpstr(root->subject, ==, "C = DE, O = rota Test, CN = rota Test Root CA");
	g_assert_cmpstr(root->subject, ==, root->issuer);
	g_assert_cmpstr(leaf->not_before, ==, "Jan  1 00:00:00 2000 GMT");
	g_assert_cmpstr(leaf->not_after, ==, "Dec 31 23:59:59 2099 GMT");
	g_assert_cmpint(leaf->not_after_unix, ==, G_GINT64_CONSTANT(4102444799));
	g_assert_true(g_regex_match_simple("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", leaf->spki_sha256, 0, 0));

	/* SPKI hash as computed by the openssl CLI */
	g_assert_true(sh(&expected_spki,
			 "openssl x509 -in '%s' -noout -pubkey | openssl pkey -pubin -outform DER | "
			 "openssl dgst -sha256 -c -hex | sed 's/.*= //' | tr a-f A-F | tr -d '\\n'",
			 root_pem));
	g_assert_cmpstr(root->spki_sha256, ==, expected_spki);

	certs = rota_cms_get_certs(cms, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(certs->len, ==, 2);
}

static void test_expiring(void)
{
	g_autoptr(GBytes) cms = sign_ok("expiring", TRUE);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GError) error = NULL;
	gint64 left;

	keyring_init(keyring, "keyring.pem");
	g_assert_true(verify(cms, keyring, &chain, &error));
	left = ((RotaCertInfo *)g_ptr_array_index(chain, 0))->not_after_unix - g_get_real_time() / G_USEC_PER_SEC;
	g_assert_cmpint(left, >, 0);
	g_assert_cmpint(left, <, 30 * 24 * 3600);
}

static gboolean write_bytes(const gchar *path, GBytes *bytes)
{
	return g_file_set_contents(path, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes), NULL);
}

/* openssl cms accepts what rota signs, and rota accepts what openssl cms
 * signs with RAUC's options. */
static void test_openssl_interop(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-sig-XXXXXX", NULL);
	g_autofree gchar *inline_path = g_build_filename(dir, "inline.der", NULL);
	g_autofree gchar *detached_path = g_build_filename(dir, "detached.der", NULL);
	g_autofree gchar *content_path = g_build_filename(dir, "payload", NULL);
	g_autofree gchar *theirs_path = g_build_filename(dir, "theirs.der", NULL);
	g_autofree gchar *root = pki("root.pem");
	g_autofree gchar *out = NULL;
	g_autoptr(GBytes) inline_cms = sign_ok("signer", FALSE);
	g_autoptr(GBytes) detached_cms = sign_ok("signer", TRUE);
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GError) error = NULL;

	g_assert_true(write_bytes(inline_path, inline_cms));
	g_assert_true(write_bytes(detached_path, detached_cms));
	g_assert_true(g_file_set_contents(content_path, payload, -1, NULL));

	g_assert_true(sh(&out, "openssl cms -verify -binary -inform DER -CAfile '%s' -in '%s' 2>/dev/null", root,
			 inline_path));
	g_assert_cmpstr(out, ==, manifest);
	g_assert_true(sh(NULL, "openssl cms -verify -binary -inform DER -CAfile '%s' -in '%s' -content '%s' -out /dev/null",
			 root, detached_path, content_path));

	g_assert_true(sh(NULL, "cd '%s' && openssl cms -sign -binary -nosmimecap -md sha256 -outform DER -nodetach "
			       "-signer '%s/signer.cert.pem' -inkey '%s/signer.key.pem' -certfile '%s/intermediate.pem' "
			       "-in payload -out theirs.der",
			 dir, pki_dir, pki_dir, pki_dir));
	{
		gchar *data = NULL;
		gsize len = 0;
		g_autoptr(GBytes) theirs = NULL;
		g_autoptr(GBytes) content = NULL;

		g_assert_true(g_file_get_contents(theirs_path, &data, &len, NULL));
		theirs = g_bytes_new_take(data, len);
		keyring_init(keyring, "keyring.pem");
		g_assert_true(rota_cms_verify(theirs, NULL, 0, keyring, &content, NULL, &error));
		g_assert_no_error(error);
		g_assert_cmpmem(g_bytes_get_data(content, NULL), g_bytes_get_size(content), payload, strlen(payload));
	}
	g_assert_true(sh(NULL, "rm -r '%s'", dir));
}

/* Content of more than INT_MAX bytes (plain bundles of 2 GiB and more):
 * BIO_new_mem_buf takes an int length, and a length cast to int is
 * negative here (it would then read up to the first NUL: nothing) or, if
 * clamped, stops short of the last byte. The length is the smallest an int
 * cannot hold, and only the last byte, the first one past INT_MAX, is not
 * zero: the signature must cover it. The zeros come from an anonymous
 * mapping (the kernel's zero page: no memory, no file), so the cost is
 * hashing 2 GiB three times, a few seconds. */
static void test_large_content(void)
{
	const gsize len = (gsize)G_MAXINT32 + 1;
	RotaSigner signer = { 0 };
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) cms = NULL;
	g_autoptr(GError) error = NULL;
	guint8 *map;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g_assert_true(map != MAP_FAILED);
	map[len - 1] = 1;

	signer_init(&signer, "signer");
	keyring_init(keyring, "keyring.pem");
	cms = rota_cms_sign(map, len, TRUE, &signer, &error);
	g_assert_no_error(error);
	g_assert_true(rota_cms_verify(cms, map, len, keyring, NULL, NULL, &error));
	g_assert_no_error(error);
	map[len - 1] = 2;
	g_assert_false(rota_cms_verify(cms, map, len, keyring, NULL, NULL, &error));
	g_assert_true(g_str_has_prefix(error->message, "signature verification failed"));

	munmap(map, len);
	signer_clear(&signer);
}

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* Runs first among the PKCS#11 tests: the engine is looked up in an empty
 * directory, so loading fails (and failures are not cached). */
static void test_pkcs11_no_engine(void)
{
	RotaSigner signer = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree gchar *old = g_strdup(g_getenv("OPENSSL_ENGINES"));

	signer.cert = g_strdup("pkcs11:token=none;object=none;type=cert");
	signer.key = g_strdup("pkcs11:token=none;object=none;type=private");
	g_setenv("OPENSSL_ENGINES", pki_dir, TRUE);
	g_assert_null(rota_cms_sign(payload, 4, TRUE, &signer, &error));
	if (old)
		g_setenv("OPENSSL_ENGINES", old, TRUE);
	else
		g_unsetenv("OPENSSL_ENGINES");
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE);
	g_assert_cmpstr(error->message, ==,
			"PKCS#11 URI given but OpenSSL's pkcs11 engine is not available "
			"(install libengine-pkcs11-openssl)");
	signer_clear(&signer);
}

/* Signing with key and certificate in a SoftHSM token. */
static void test_pkcs11_softhsm(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *conf = NULL;
	RotaSigner signer = { 0 };
	g_auto(RotaKeyring) keyring_storage = { 0 };
	RotaKeyring *keyring = &keyring_storage;
	g_autoptr(GBytes) cms = NULL;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_file_test(SOFTHSM_MODULE, G_FILE_TEST_EXISTS) || !sh(NULL, "command -v pkcs11-tool softhsm2-util") ||
	    !sh(NULL, "openssl engine pkcs11 >/dev/null 2>&1")) {
		SKIP_WITHOUT_TOOL("needs softhsm2, opensc and libengine-pkcs11-openssl");
		return;
	}
	dir = g_dir_make_tmp("rota-hsm-XXXXXX", NULL);
	conf = g_build_filename(dir, "softhsm2.conf", NULL);
	g_assert_true(sh(NULL,
			 "set -e; cd '%s'; mkdir tokens; "
			 "printf 'directories.tokendir = %s/tokens\\nobjectstore.backend = file\\nlog.level = ERROR\\n' > '%s'; "
			 "export SOFTHSM2_CONF='%s'; "
			 "softhsm2-util --init-token --free --label rota --pin 1234 --so-pin 0000 >/dev/null; "
			 "openssl pkcs8 -topk8 -nocrypt -in '%s/signer.key.pem' -out key.pk8; "
			 "softhsm2-util --import key.pk8 --token rota --label signer --id 01 --pin 1234 >/dev/null; "
			 "openssl x509 -in '%s/signer.cert.pem' -outform DER -out cert.der; "
			 "pkcs11-tool --module " SOFTHSM_MODULE " --token-label rota --login --pin 1234 "
			 "--write-object cert.der --type cert --id 01 --label signer >/dev/null",
			 dir, dir, conf, conf, pki_dir, pki_dir));

	g_setenv("SOFTHSM2_CONF", conf, TRUE);
	g_setenv("RAUC_PKCS11_MODULE", SOFTHSM_MODULE, TRUE);
	g_setenv("RAUC_PKCS11_PIN", "1234", TRUE);

	signer.cert = g_strdup("pkcs11:token=rota;object=signer;type=cert");
	signer.key = g_strdup("pkcs11:token=rota;object=signer;type=private");
	signer.intermediates = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(signer.intermediates, pki("intermediate.pem"));
	cms = rota_cms_sign(manifest, strlen(manifest), FALSE, &signer, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cms);

	keyring_init(keyring, "keyring.pem");
	g_assert_true(verify(cms, keyring, &chain, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(chain->len, ==, 3);

	/* a PEM certificate with the key in the token works too */
	g_free(signer.cert);
	signer.cert = pki("signer.cert.pem");
	g_clear_pointer(&cms, g_bytes_unref);
	cms = rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error);
	g_assert_no_error(error);
	g_assert_true(verify(cms, keyring, NULL, &error));
	g_assert_no_error(error);

	g_free(signer.key);
	signer.key = g_strdup("pkcs11:token=rota;object=nothere;type=private");
	g_assert_null(rota_cms_sign(payload, strlen(payload), TRUE, &signer, &error));
	g_assert_true(g_str_has_prefix(error->message, "Failed to load PKCS#11 key"));
	assert_one_line(error);

	g_unsetenv("RAUC_PKCS11_PIN");
	g_unsetenv("RAUC_PKCS11_MODULE");
	g_assert_true(sh(NULL, "rm -r '%s'", dir));
	signer_clear(&signer);
}

/* ---- setup -------------------------------------------------------------- */

static void make_pki(void)
{
	const gchar *src = g_getenv("ROTA_SOURCE_DIR");
	g_autofree gchar *script = g_build_filename(src ? src : ROTA_SOURCE_DIR, "tests", "pki.sh", NULL);

	pki_dir = g_dir_make_tmp("rota-pki-XXXXXX", NULL);
	g_assert_nonnull(pki_dir);
	if (!sh(NULL, "'%s' '%s'", script, pki_dir))
		g_error("tests/pki.sh failed (set ROTA_SOURCE_DIR to the source tree)");
}

int main(int argc, char **argv)
{
	int ret;

	g_test_init(&argc, &argv, NULL);
	make_pki();

	g_test_add_func("/signature/sign-verify/inline", test_sign_verify_inline);
	g_test_add_func("/signature/sign-verify/detached", test_sign_verify_detached);
	g_test_add_func("/signature/sign-verify/empty", test_empty_content);
	g_test_add_func("/signature/sign-verify/rsa", test_rsa_signer);
	g_test_add_func("/signature/verify/tampered", test_tampered);
	g_test_add_func("/signature/verify/untrusted", test_untrusted);
	g_test_add_func("/signature/verify/validity", test_validity);
	g_test_add_func("/signature/verify/purpose", test_purpose);
	g_test_add_func("/signature/verify/purpose-codesign-issuer-key-usage", test_purpose_codesign_issuer_and_key_usage);
	g_test_add_func("/signature/verify/crl", test_crl);
	g_test_add_func("/signature/verify/partial-chain", test_partial_chain);
	g_test_add_func("/signature/verify/keyring-sources", test_keyring_sources);
	g_test_add_func("/signature/verify/signing-time", test_signing_time);
	g_test_add_func("/signature/verify/two-signers", test_two_signers);
	g_test_add_func("/signature/verify/enveloped", test_enveloped);
	g_test_add_func("/signature/sign/key-mismatch", test_key_mismatch);
	g_test_add_func("/signature/sign/encrypted-key", test_encrypted_key);
	g_test_add_func("/signature/sign/large-content", test_large_content);
	g_test_add_func("/signature/parse/invalid", test_invalid_cms);
	g_test_add_func("/signature/structure", test_structure);
	g_test_add_func("/signature/chain-info", test_chain_info);
	g_test_add_func("/signature/expiring", test_expiring);
	g_test_add_func("/signature/openssl-interop", test_openssl_interop);
	g_test_add_func("/signature/pkcs11/no-engine", test_pkcs11_no_engine);
	g_test_add_func("/signature/pkcs11/softhsm", test_pkcs11_softhsm);

	ret = g_test_run();
	sh(NULL, "rm -rf '%s'", pki_dir);
	g_free(pki_dir);
	return ret;
}
