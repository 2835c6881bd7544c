/* signature.c — CMS SignedData of bundles (see signature.h).
 *
 * Owns every use of OpenSSL's CMS, X.509 store and PKCS#11 engine APIs in
 * rota: creating signatures the way RAUC does, verifying them against a
 * keyring with RAUC's options (including its `codesign-rauc` purpose), and
 * reading what a CMS carries (content, certificates, the signer's chain).
 * Every OpenSSL failure is turned into one GError line and the OpenSSL error
 * queue is left empty. */
#include "signature.h"

#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#endif

/* Owning stack: frees the certificates too. */
typedef STACK_OF(X509) RotaX509Stack;
/* Borrowing stack (CMS_get0_signers): frees only the stack. */
typedef STACK_OF(X509) RotaX509List;
typedef STACK_OF(X509_INFO) RotaX509InfoStack;

static void x509_stack_free(RotaX509Stack *stack)
{
	sk_X509_pop_free(stack, X509_free);
}

static void x509_list_free(RotaX509List *list)
{
	sk_X509_free(list);
}

static void x509_info_stack_free(RotaX509InfoStack *stack)
{
	sk_X509_INFO_pop_free(stack, X509_INFO_free);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free_all)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CMS_ContentInfo, CMS_ContentInfo_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE_CTX, X509_STORE_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaX509Stack, x509_stack_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaX509List, x509_list_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaX509InfoStack, x509_info_stack_free)

/* Id of the codesign-rauc purpose; any value outside OpenSSL's built-in
 * range works, this one spells "ROTA". */
#define ROTA_PURPOSE_CODESIGN_ID 0x524f5441
#define ROTA_PURPOSE_CODESIGN_SNAME "codesign-rauc"

void rota_keyring_clear(RotaKeyring *keyring)
{
	if (!keyring)
		return;
	g_clear_pointer(&keyring->path, g_free);
	g_clear_pointer(&keyring->directory, g_free);
	g_clear_pointer(&keyring->check_purpose, g_free);
	keyring->check_crl = FALSE;
	keyring->allow_partial_chain = FALSE;
	keyring->use_bundle_signing_time = FALSE;
	keyring->no_check_time = FALSE;
}

void rota_cert_info_free(RotaCertInfo *info)
{
	if (!info)
		return;
	g_free(info->subject);
	g_free(info->issuer);
	g_free(info->spki_sha256);
	g_free(info->not_before);
	g_free(info->not_after);
	g_free(info);
}

/* ---- OpenSSL errors ---------------------------------------------------- */

/* The OpenSSL error queue as one line, oldest first: each entry's detail
 * text when it has one (CMS puts "Verify error: certificate has expired"
 * there, which is what RAUC shows), else its reason string. Empties the
 * queue, so later calls start clean. */
static gchar *openssl_errors(void)
{
	g_autoptr(GString) line = g_string_new(NULL);
	const char *data = NULL;
	int flags = 0;
	unsigned long code;

	while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		const char *text = NULL;

		if ((flags & ERR_TXT_STRING) && data && data[0])
			text = data;
		else if (ERR_SYSTEM_ERROR(code))
			text = g_strerror(ERR_GET_REASON(code));
		else
			text = ERR_reason_error_string(code);
		if (!text)
			text = "unknown OpenSSL error";
		/* several layers often report the same cause */
		if (strstr(line->str, text))
			continue;
		if (line->len)
			g_string_append(line, ": ");
		g_string_append(line, text);
	}
	ERR_clear_error();

	if (!line->len)
		g_string_append(line, "unknown OpenSSL error");
	g_strdelimit(line->str, "\r\n", ' ');
	return g_string_free(g_steal_pointer(&line), FALSE);
}

/* ---- BIO helpers ------------------------------------------------------- */

/* A read-only BIO over caller memory with a gsize length: BIO_new_mem_buf
 * takes an int and so cannot carry plain payloads of 2 GiB and more. */
typedef struct {
	const guint8 *data;
	gsize len;
	gsize pos;
} MemSource;

static int mem_source_read(BIO *bio, char *buf, size_t size, size_t *readbytes)
{
	MemSource *src = BIO_get_data(bio);
	gsize n = MIN(size, src->len - src->pos);

	if (n == 0) {
		*readbytes = 0;
		return 0;
	}
	memcpy(buf, src->data + src->pos, n);
	src->pos += n;
	*readbytes = n;
	return 1;
}

static long mem_source_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	MemSource *src = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_EOF:
		return src->pos == src->len;
	case BIO_CTRL_PENDING:
		return (long)MIN(src->len - src->pos, (gsize)LONG_MAX);
	case BIO_CTRL_RESET:
		src->pos = 0;
		return 1;
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int mem_source_destroy(BIO *bio)
{
	g_free(BIO_get_data(bio));
	BIO_set_data(bio, NULL);
	return 1;
}

static const BIO_METHOD *mem_source_method(void)
{
	static BIO_METHOD *method;
	static gsize once;

	/* created once and kept for the process: BIOs refer to it */
	if (g_once_init_enter(&once)) {
		method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rota memory source");
		g_assert(method);
		BIO_meth_set_read_ex(method, mem_source_read);
		BIO_meth_set_ctrl(method, mem_source_ctrl);
		BIO_meth_set_destroy(method, mem_source_destroy);
		g_once_init_leave(&once, 1);
	}
	return method;
}

static BIO *mem_source_new(const void *data, gsize len)
{
	BIO *bio = BIO_new(mem_source_method());
	MemSource *src = g_new0(MemSource, 1);

	g_assert(bio);
	src->data = data;
	src->len = data ? len : 0;
	BIO_set_data(bio, src);
	BIO_set_init(bio, 1);
	return bio;
}

/* Everything written to a memory BIO, as a string. */
static gchar *mem_bio_to_string(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	return g_strndup(data, len > 0 ? (gsize)len : 0);
}

static GBytes *mem_bio_to_bytes(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	return g_bytes_new(data, len > 0 ? (gsize)len : 0);
}

/* ---- loading certificates and keys ------------------------------------- */

/* A file's contents as a memory BIO; the GError names the file and `what`. */
static BIO *file_bio_new(const gchar *path, const gchar *what, gchar **out_contents, GError **error)
{
	g_autoptr(GError) ierror = NULL;
	gchar *contents = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &contents, &len, &ierror)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Failed to read %s: %s", what, ierror->message);
		return NULL;
	}
	if (len > INT_MAX) {
		g_free(contents);
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "%s '%s' is too large", what, path);
		return NULL;
	}
	*out_contents = contents;
	return BIO_new_mem_buf(contents, (int)len);
}

static X509 *load_cert_file(const gchar *path, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *what = g_strdup_printf("certificate file '%s'", path);
	g_autoptr(BIO) bio = file_bio_new(path, what, &contents, error);
	X509 *cert;

	if (!bio)
		return NULL;
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!cert) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to parse certificate file '%s': %s",
			    path, reason);
	}
	return cert;
}

/* Every certificate of a PEM file, in file order (CRLs are skipped). */
static gboolean load_certs_file(const gchar *path, RotaX509Stack *into, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *what = g_strdup_printf("certificate file '%s'", path);
	g_autoptr(BIO) bio = file_bio_new(path, what, &contents, error);
	g_autoptr(RotaX509InfoStack) infos = NULL;
	int added = 0;

	if (!bio)
		return FALSE;
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	if (!infos) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to parse certificate file '%s': %s",
			    path, reason);
		return FALSE;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);

		if (!info->x509)
			continue;
		X509_up_ref(info->x509);
		sk_X509_push(into, info->x509);
		added++;
	}
	if (added == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "No certificate found in '%s'", path);
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	gboolean asked;
} PassphraseRequest;

/* Supplies RAUC_KEY_PASSPHRASE; never prompts on a terminal (OpenSSL's
 * default callback would), because rota runs unattended. */
static int passphrase_from_env(char *buf, int size, int rwflag, void *user_data)
{
	PassphraseRequest *request = user_data;
	const gchar *passphrase = g_getenv("RAUC_KEY_PASSPHRASE");
	gsize len;

	(void)rwflag;
	request->asked = TRUE;
	if (!passphrase || !passphrase[0])
		return -1;
	len = strlen(passphrase);
	if (len > (gsize)size)
		return -1;
	memcpy(buf, passphrase, len);
	return (int)len;
}

static EVP_PKEY *load_key_file(const gchar *path, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *what = g_strdup_printf("key file '%s'", path);
	g_autoptr(BIO) bio = file_bio_new(path, what, &contents, error);
	PassphraseRequest request = { FALSE };
	const gchar *passphrase = g_getenv("RAUC_KEY_PASSPHRASE");
	EVP_PKEY *key;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, passphrase_from_env, &request);
	if (key)
		return key;

	if (request.asked && (!passphrase || !passphrase[0])) {
		ERR_clear_error();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
			    "Key file '%s' is encrypted but RAUC_KEY_PASSPHRASE is not set", path);
	} else {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to parse key file '%s': %s", path,
			    reason);
	}
	return NULL;
}

#ifndef OPENSSL_NO_ENGINE
/* The ENGINE API is deprecated in OpenSSL 3, but libp11's engine is what
 * Debian ships (no pkcs11 provider in bookworm) and what RAUC uses. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* A functional reference to the pkcs11 engine, configured with
 * RAUC_PKCS11_MODULE. */
static ENGINE *pkcs11_engine_load(GError **error)
{
	const gchar *module = g_getenv("RAUC_PKCS11_MODULE");
	ENGINE *e = ENGINE_by_id("pkcs11");

	if (!e) {
		ERR_clear_error();
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "PKCS#11 URI given but OpenSSL's pkcs11 engine is not available "
				    "(install libengine-pkcs11-openssl)");
		return NULL;
	}
	if (module && module[0] && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0)) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to set PKCS#11 module '%s': %s", module,
			    reason);
		ENGINE_free(e);
		return NULL;
	}
	if (!ENGINE_init(e)) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
			    "Failed to initialize OpenSSL's pkcs11 engine (RAUC_PKCS11_MODULE=%s): %s",
			    module ? module : "unset", reason);
		ENGINE_free(e);
		return NULL;
	}
	/* ENGINE_init took the functional reference we keep */
	ENGINE_free(e);
	return e;
}

/* The pkcs11 engine, loaded once per process (the module stays loaded);
 * the PIN is applied on every call so a changed RAUC_PKCS11_PIN counts. */
static ENGINE *pkcs11_engine(GError **error)
{
	static GMutex lock;
	static ENGINE *engine;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lock);
	const gchar *pin = g_getenv("RAUC_PKCS11_PIN");

	if (!engine)
		engine = pkcs11_engine_load(error);
	if (!engine)
		return NULL;
	if (pin && pin[0] && !ENGINE_ctrl_cmd_string(engine, "PIN", pin, 0)) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to set PKCS#11 PIN: %s", reason);
		return NULL;
	}
	return engine;
}

static EVP_PKEY *load_key_pkcs11(const gchar *uri, GError **error)
{
	ENGINE *e = pkcs11_engine(error);
	EVP_PKEY *key;

	if (!e)
		return NULL;
	key = ENGINE_load_private_key(e, uri, NULL, NULL);
	if (!key) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to load PKCS#11 key '%s': %s", uri,
			    reason);
	}
	return key;
}

static X509 *load_cert_pkcs11(const gchar *uri, GError **error)
{
	ENGINE *e = pkcs11_engine(error);
	/* the parameter block of libp11's LOAD_CERT_CTRL command */
	struct {
		const char *uri;
		X509 *cert;
	} params = { uri, NULL };

	if (!e)
		return NULL;
	if (!ENGINE_ctrl_cmd(e, "LOAD_CERT_CTRL", 0, &params, NULL, 1) || !params.cert) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to load PKCS#11 certificate '%s': %s",
			    uri, reason);
		return NULL;
	}
	return params.cert;
}

#pragma GCC diagnostic pop
#else
static void set_no_engine_error(GError **error)
{
	g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
			    "PKCS#11 URI given but OpenSSL's pkcs11 engine is not available "
			    "(OpenSSL built without engine support)");
}

static EVP_PKEY *load_key_pkcs11(const gchar *uri, GError **error)
{
	(void)uri;
	set_no_engine_error(error);
	return NULL;
}

static X509 *load_cert_pkcs11(const gchar *uri, GError **error)
{
	(void)uri;
	set_no_engine_error(error);
	return NULL;
}
#endif

static gboolean is_pkcs11_uri(const gchar *name)
{
	return g_str_has_prefix(name, "pkcs11:");
}

static X509 *load_signer_cert(const gchar *name, GError **error)
{
	return is_pkcs11_uri(name) ? load_cert_pkcs11(name, error) : load_cert_file(name, error);
}

static EVP_PKEY *load_signer_key(const gchar *name, GError **error)
{
	return is_pkcs11_uri(name) ? load_key_pkcs11(name, error) : load_key_file(name, error);
}

static RotaX509Stack *load_intermediates(GPtrArray *paths, GError **error)
{
	g_autoptr(RotaX509Stack) certs = sk_X509_new_null();

	for (guint i = 0; paths && i < paths->len; i++) {
		if (!load_certs_file(g_ptr_array_index(paths, i), certs, error))
			return NULL;
	}
	return g_steal_pointer(&certs);
}

/* ---- signing ------------------------------------------------------------ */

static GBytes *cms_to_der(CMS_ContentInfo *cms, GError **error)
{
	unsigned char *der = NULL;
	int len = i2d_CMS_ContentInfo(cms, &der);
	GBytes *bytes;

	if (len <= 0) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to encode signature: %s", reason);
		return NULL;
	}
	bytes = g_bytes_new(der, len);
	OPENSSL_free(der);
	return bytes;
}

GBytes *rota_cms_sign(const void *content, gsize len, gboolean detached, const RotaSigner *signer,
		      GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	g_autoptr(RotaX509Stack) intermediates = NULL;
	g_autoptr(BIO) in = NULL;
	g_autoptr(CMS_ContentInfo) cms = NULL;
	unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP | (detached ? CMS_DETACHED : 0);

	g_return_val_if_fail(content != NULL || len == 0, NULL);
	g_return_val_if_fail(signer != NULL && signer->cert != NULL && signer->key != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	ERR_clear_error();
	cert = load_signer_cert(signer->cert, error);
	if (!cert)
		return NULL;
	key = load_signer_key(signer->key, error);
	if (!key)
		return NULL;
	/* checked here so the message names both files; CMS_sign would only
	 * say "private key does not match certificate" */
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Key '%s' does not match certificate '%s'",
			    signer->key, signer->cert);
		return NULL;
	}
	intermediates = load_intermediates(signer->intermediates, error);
	if (!intermediates)
		return NULL;

	in = mem_source_new(content, len);
	cms = CMS_sign(cert, key, intermediates, in, flags);
	if (!cms) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to create signature: %s", reason);
		return NULL;
	}
	return cms_to_der(cms, error);
}

/* ---- parsing ------------------------------------------------------------ */

static CMS_ContentInfo *cms_parse(GBytes *cms, GError **error)
{
	gsize size = 0;
	const unsigned char *p = cms ? g_bytes_get_data(cms, &size) : NULL;
	CMS_ContentInfo *ci = NULL;

	if (p && size > 0 && size <= LONG_MAX)
		ci = d2i_CMS_ContentInfo(NULL, &p, (long)size);
	ERR_clear_error();
	if (!ci)
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Signature data is no valid CMS");
	return ci;
}

static int cms_type(CMS_ContentInfo *ci)
{
	return OBJ_obj2nid(CMS_get0_type(ci));
}

static gboolean require_signed_data(CMS_ContentInfo *ci, GError **error)
{
	int nid = cms_type(ci);

	if (nid == NID_pkcs7_signed)
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Expected CMS of type 'pkcs7-signedData' but got '%s'",
		    nid == NID_undef ? "unknown" : OBJ_nid2sn(nid));
	return FALSE;
}

gboolean rota_cms_is_detached(GBytes *cms, gboolean *out_detached, GError **error)
{
	g_autoptr(CMS_ContentInfo) ci = NULL;

	g_return_val_if_fail(out_detached != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	ci = cms_parse(cms, error);
	if (!ci)
		return FALSE;
	*out_detached = cms_type(ci) == NID_pkcs7_signed && CMS_is_detached(ci) == 1;
	return TRUE;
}

gboolean rota_cms_is_enveloped(GBytes *cms)
{
	g_autoptr(CMS_ContentInfo) ci = cms_parse(cms, NULL);

	return ci && cms_type(ci) == NID_pkcs7_enveloped;
}

GBytes *rota_cms_get_content(GBytes *cms, GError **error)
{
	g_autoptr(CMS_ContentInfo) ci = NULL;
	ASN1_OCTET_STRING **content;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	ci = cms_parse(cms, error);
	if (!ci || !require_signed_data(ci, error))
		return NULL;
	content = CMS_get0_content(ci);
	if (!content || !*content) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "Signature is detached and has no embedded content");
		return NULL;
	}
	return g_bytes_new(ASN1_STRING_get0_data(*content), ASN1_STRING_length(*content));
}

/* ---- certificate info --------------------------------------------------- */

static gchar *name_to_string(const X509_NAME *name)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());

	/* XN_FLAG_ONELINE ("C = DE, O = ..., CN = ...") is what `rauc info`
	 * prints in its certificate chain */
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE);
	return mem_bio_to_string(bio);
}

static gchar *time_to_string(const ASN1_TIME *time)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());

	ASN1_TIME_print(bio, time);
	return mem_bio_to_string(bio);
}

static gboolean time_to_unix(const ASN1_TIME *time, gint64 *out, GError **error)
{
	struct tm tm = { 0 };
	g_autoptr(GDateTime) dt = NULL;

	if (ASN1_TIME_to_tm(time, &tm) == 1)
		dt = g_date_time_new_utc(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
					 tm.tm_sec);
	ERR_clear_error();
	if (!dt) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Invalid time in certificate or signature");
		return FALSE;
	}
	*out = g_date_time_to_unix(dt);
	return TRUE;
}

/* SHA-256 of the DER SubjectPublicKeyInfo as "AA:BB:...", RAUC's format. */
static gchar *spki_sha256(X509 *cert)
{
	unsigned char *der = NULL;
	int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	GString *hex;

	if (der_len <= 0 || !EVP_Digest(der, der_len, md, &md_len, EVP_sha256(), NULL)) {
		OPENSSL_free(der);
		ERR_clear_error();
		return g_strdup("");
	}
	OPENSSL_free(der);
	hex = g_string_sized_new(md_len * 3);
	for (unsigned int i = 0; i < md_len; i++)
		g_string_append_printf(hex, i ? ":%02X" : "%02X", md[i]);
	return g_string_free(hex, FALSE);
}

static RotaCertInfo *cert_info_new(X509 *cert)
{
	RotaCertInfo *info = g_new0(RotaCertInfo, 1);

	info->subject = name_to_string(X509_get_subject_name(cert));
	info->issuer = name_to_string(X509_get_issuer_name(cert));
	info->spki_sha256 = spki_sha256(cert);
	info->not_before = time_to_string(X509_get0_notBefore(cert));
	info->not_after = time_to_string(X509_get0_notAfter(cert));
	/* an unparsable notAfter cannot pass verification; 0 marks it */
	if (!time_to_unix(X509_get0_notAfter(cert), &info->not_after_unix, NULL))
		info->not_after_unix = 0;
	return info;
}

static GPtrArray *cert_infos_new(const STACK_OF(X509) *certs)
{
	GPtrArray *infos = g_ptr_array_new_with_free_func((GDestroyNotify)rota_cert_info_free);

	for (int i = 0; certs && i < sk_X509_num(certs); i++)
		g_ptr_array_add(infos, cert_info_new(sk_X509_value(certs, i)));
	return infos;
}

/* The certificates SignedData carries (NULL with error set when cms is not
 * SignedData; NULL without error when it carries none). */
static STACK_OF(X509) *signed_data_certs(GBytes *cms, GError **error)
{
	g_autoptr(CMS_ContentInfo) ci = cms_parse(cms, error);

	if (!ci || !require_signed_data(ci, error))
		return NULL;
	return CMS_get1_certs(ci);
}

GPtrArray *rota_cms_get_certs(GBytes *cms, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(RotaX509Stack) certs = NULL;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	certs = signed_data_certs(cms, &local);
	if (local) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return cert_infos_new(certs);
}

/* `info --dump-cert`: the first certificate the CMS carries, in OpenSSL's
 * text form, as RAUC's sigdata_to_string() prints it. */
gchar *rota_cms_dump_cert(GBytes *cms, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(RotaX509Stack) certs = NULL;
	g_autoptr(BIO) bio = NULL;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	certs = signed_data_certs(cms, &local);
	if (local) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	if (!certs || sk_X509_num(certs) < 1) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to obtain signer info");
		return NULL;
	}
	bio = BIO_new(BIO_s_mem());
	X509_print_ex(bio, sk_X509_value(certs, 0), 0, 0);
	return mem_bio_to_string(bio);
}

/* One recipient as RAUC's bio_print_recipient() shows it. */
static void print_recipient(BIO *bio, int id, const gchar *algorithm, const ASN1_OCTET_STRING *keyid,
			    X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	char *s;

	if (keyid) {
		BIO_printf(bio, "%3d   <keyid>", id);
		return;
	}
	if (!issuer || !serial) {
		BIO_printf(bio, "%3d   <unknown>", id);
		return;
	}
	BIO_printf(bio, "%3d   Issuer:    ", id);
	X509_NAME_print_ex(bio, issuer, 0, XN_FLAG_ONELINE);
	s = i2s_ASN1_INTEGER(NULL, serial);
	BIO_printf(bio, "\n      Serial:    %s\n", s ? s : "");
	OPENSSL_free(s);
	if (algorithm)
		BIO_printf(bio, "      Algorithm: %s\n", algorithm);
}

/* `info --dump-recipients`: the recipients of EnvelopedData, in RAUC's
 * envelopeddata_to_string() form. */
gchar *rota_cms_dump_recipients(GBytes *enveloped, GError **error)
{
	g_autoptr(CMS_ContentInfo) ci = NULL;
	g_autoptr(BIO) bio = NULL;
	STACK_OF(CMS_RecipientInfo) *ris;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	ci = cms_parse(enveloped, error);
	if (!ci)
		return NULL;
	ris = CMS_get0_RecipientInfos(ci);
	bio = BIO_new(BIO_s_mem());
	BIO_printf(bio, "%d Recipients:\n", sk_CMS_RecipientInfo_num(ris));
	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		X509_ALGOR *alg = NULL;
		gchar algo[80] = "";

		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS) {
			ASN1_OCTET_STRING *keyid = NULL;
			X509_NAME *issuer = NULL;
			ASN1_INTEGER *serial = NULL;

			CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &serial);
			if (CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg) == 1 && alg)
				OBJ_obj2txt(algo, sizeof(algo), alg->algorithm, 0);
			print_recipient(bio, i, algo, keyid, issuer, serial);
		} else if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
			STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);

			if (CMS_RecipientInfo_kari_get0_alg(ri, &alg, NULL) == 1 && alg)
				OBJ_obj2txt(algo, sizeof(algo), alg->algorithm, 0);
			for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++) {
				ASN1_OCTET_STRING *keyid = NULL;
				X509_NAME *issuer = NULL;
				ASN1_INTEGER *serial = NULL;

				CMS_RecipientEncryptedKey_get0_id(sk_CMS_RecipientEncryptedKey_value(reks, j), &keyid, NULL,
								  NULL, &issuer, &serial);
				print_recipient(bio, i, algo, keyid, issuer, serial);
			}
		}
	}
	ERR_clear_error();
	return mem_bio_to_string(bio);
}

/* ---- the keyring -------------------------------------------------------- */

/* RAUC's codesign-rauc purpose (spec §2.3). OpenSSL passes a const cert
 * whose extension cache is already computed; its getters just lack const. */
static int check_purpose_codesign(const X509_PURPOSE *purpose, const X509 *const_cert, int ca)
{
	X509 *cert = (X509 *)const_cert;
	uint32_t ex_flags = X509_get_extension_flags(cert);
	uint32_t ku = X509_get_key_usage(cert);
	uint32_t xku = X509_get_extended_key_usage(cert);

	(void)purpose;
	if (ca) {
		if ((ex_flags & EXFLAG_XKUSAGE) && !(xku & XKU_CODE_SIGN))
			return 0;
		return X509_check_ca(cert) != 0;
	}
	if ((ex_flags & EXFLAG_KUSAGE) && !(ku & KU_DIGITAL_SIGNATURE))
		return 0;
	if (!(ex_flags & EXFLAG_XKUSAGE) || !(xku & XKU_CODE_SIGN))
		return 0;
	if (!(ex_flags & EXFLAG_KUSAGE))
		g_message("Signer certificate should specify 'Key Usage' and mark it 'critical' to be fully CAB Forum compliant.");
	return 1;
}

static gboolean register_codesign_purpose(GError **error)
{
	static gsize once;
	static gboolean ok;

	if (g_once_init_enter(&once)) {
		ok = X509_PURPOSE_add(ROTA_PURPOSE_CODESIGN_ID, X509_TRUST_OBJECT_SIGN, 0, check_purpose_codesign,
				      "Code signing (RAUC)", ROTA_PURPOSE_CODESIGN_SNAME, NULL) == 1;
		ERR_clear_error();
		g_once_init_leave(&once, 1);
	}
	if (!ok)
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "Failed to register the codesign-rauc certificate purpose with OpenSSL");
	return ok;
}

static gboolean store_set_purpose(X509_STORE *store, const gchar *name, GError **error)
{
	const gchar *sname = name;
	int idx;

	if (g_strcmp0(name, "codesign") == 0) {
		if (!register_codesign_purpose(error))
			return FALSE;
		sname = ROTA_PURPOSE_CODESIGN_SNAME;
	}
	idx = X509_PURPOSE_get_by_sname(sname);
	if (idx < 0 || !X509_STORE_set_purpose(store, X509_PURPOSE_get_id(X509_PURPOSE_get0(idx)))) {
		ERR_clear_error();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to configure X509 purpose '%s'", name);
		return FALSE;
	}
	return TRUE;
}

static gboolean keyring_load_file(X509_STORE *store, const gchar *path, gboolean *has_crl, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *what = g_strdup_printf("keyring file '%s'", path);
	g_autoptr(BIO) bio = file_bio_new(path, what, &contents, error);
	g_autoptr(RotaX509InfoStack) infos = NULL;
	int certs = 0;

	if (!bio)
		return FALSE;
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	if (!infos) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to parse keyring file '%s': %s", path,
			    reason);
		return FALSE;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);

		if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1)
			certs++;
		if (info->crl && X509_STORE_add_crl(store, info->crl) == 1)
			*has_crl = TRUE;
	}
	ERR_clear_error();
	if (certs == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Keyring file '%s' contains no certificate",
			    path);
		return FALSE;
	}
	return TRUE;
}

static gboolean file_has_crl(const gchar *path)
{
	g_autofree gchar *contents = NULL;

	return g_file_get_contents(path, &contents, NULL, NULL) && strstr(contents, "-----BEGIN X509 CRL-----");
}

/* Only to warn: OpenSSL reads the directory lazily while verifying. */
static gboolean directory_has_crl(const gchar *directory)
{
	g_autoptr(GDir) dir = g_dir_open(directory, 0, NULL);
	const gchar *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree gchar *path = g_build_filename(directory, name, NULL);

		if (g_file_test(path, G_FILE_TEST_IS_REGULAR) && file_has_crl(path))
			return TRUE;
	}
	return FALSE;
}

static gboolean keyring_load_directory(X509_STORE *store, const gchar *directory, gboolean *has_crl,
				       GError **error)
{
	if (!g_file_test(directory, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "Keyring directory '%s' does not exist", directory);
		return FALSE;
	}
	if (X509_STORE_load_path(store, directory) != 1) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to use keyring directory '%s': %s",
			    directory, reason);
		return FALSE;
	}
	if (directory_has_crl(directory))
		*has_crl = TRUE;
	return TRUE;
}

static X509_STORE *keyring_store_new(const RotaKeyring *keyring, GError **error)
{
	const gchar *path = keyring && keyring->path && keyring->path[0] ? keyring->path : NULL;
	const gchar *directory = keyring && keyring->directory && keyring->directory[0] ? keyring->directory : NULL;
	g_autoptr(X509_STORE) store = NULL;
	gboolean has_crl = FALSE;

	if (!path && !directory) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "No keyring file or directory provided");
		return NULL;
	}
	store = X509_STORE_new();
	g_assert(store);
	if (path && !keyring_load_file(store, path, &has_crl, error))
		return NULL;
	if (directory && !keyring_load_directory(store, directory, &has_crl, error))
		return NULL;

	if (keyring->check_crl)
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL |
						    X509_V_FLAG_EXTENDED_CRL_SUPPORT);
	else if (has_crl)
		g_message("Detected CRL but CRL checking is disabled!");
	if (keyring->allow_partial_chain)
		X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (keyring->no_check_time)
		X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME);
	if (keyring->check_purpose && keyring->check_purpose[0] &&
	    !store_set_purpose(store, keyring->check_purpose, error))
		return NULL;
	return g_steal_pointer(&store);
}

/* ---- verification ------------------------------------------------------- */

/* The signingTime attribute of the single SignerInfo, for
 * use-bundle-signing-time. */
static gboolean cms_signing_time(CMS_ContentInfo *ci, gint64 *out, GError **error)
{
	STACK_OF(CMS_SignerInfo) *signer_infos = CMS_get0_SignerInfos(ci);
	int count = sk_CMS_SignerInfo_num(signer_infos);
	CMS_SignerInfo *si;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *value;
	int idx;

	if (count > 1) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "multiple signerInfos are not supported with 'use-bundle-signing-time'");
		return FALSE;
	}
	if (count < 1) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Signature has no signerInfo");
		return FALSE;
	}
	si = sk_CMS_SignerInfo_value(signer_infos, 0);
	idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	attr = idx >= 0 ? CMS_signed_get_attr(si, idx) : NULL;
	if (!attr) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "Signature has no signing time (needed for 'use-bundle-signing-time')");
		return FALSE;
	}
	value = X509_ATTRIBUTE_get0_type(attr, 0);
	if (!value || (ASN1_TYPE_get(value) != V_ASN1_UTCTIME && ASN1_TYPE_get(value) != V_ASN1_GENERALIZEDTIME)) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "Signing time attribute is neither UTCTime nor GeneralizedTime");
		return FALSE;
	}
	/* both union members are ASN1_STRINGs that ASN1_TIME functions accept */
	return time_to_unix(ASN1_TYPE_get(value) == V_ASN1_UTCTIME ? value->value.utctime
								    : value->value.generalizedtime,
			    out, error);
}

/* The signer's chain built again from the store, leaf first (spec §2.2
 * step 7); CMS_verify does not hand out the chain it built. */
static GPtrArray *signer_chain(CMS_ContentInfo *ci, X509_STORE *store, GError **error)
{
	g_autoptr(RotaX509List) signers = CMS_get0_signers(ci);
	g_autoptr(RotaX509Stack) untrusted = CMS_get1_certs(ci);
	g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
	int count = signers ? sk_X509_num(signers) : 0;

	ERR_clear_error();
	if (count != 1) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Unsupported number of signers: %d", count);
		return NULL;
	}
	if (!ctx || !X509_STORE_CTX_init(ctx, store, sk_X509_value(signers, 0), untrusted)) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to set up chain verification: %s", reason);
		return NULL;
	}
	if (X509_verify_cert(ctx) != 1) {
		ERR_clear_error();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to verify X509 cert: %s",
			    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		return NULL;
	}
	return cert_infos_new(X509_STORE_CTX_get0_chain(ctx));
}

static gboolean check_content_expectation(gboolean detached, const void *detached_content, GError **error)
{
	if (detached && !detached_content) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "no content provided for detached signature");
		return FALSE;
	}
	if (!detached && detached_content) {
		g_set_error_literal(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "unexpected content provided for inline signature");
		return FALSE;
	}
	return TRUE;
}

gboolean rota_cms_verify(GBytes *cms, const void *detached_content, gsize len, const RotaKeyring *keyring,
			 GBytes **out_content, GPtrArray **out_chain, GError **error)
{
	g_autoptr(X509_STORE) store = NULL;
	g_autoptr(CMS_ContentInfo) ci = NULL;
	g_autoptr(BIO) in = NULL;
	g_autoptr(BIO) out = NULL;
	g_autoptr(GPtrArray) chain = NULL;
	gboolean detached;
	unsigned int flags = CMS_BINARY;

	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	ERR_clear_error();
	store = keyring_store_new(keyring, error);
	if (!store)
		return FALSE;
	ci = cms_parse(cms, error);
	if (!ci || !require_signed_data(ci, error))
		return FALSE;
	detached = CMS_is_detached(ci) == 1;
	if (!check_content_expectation(detached, detached_content, error))
		return FALSE;

	if (keyring->use_bundle_signing_time) {
		gint64 signing_time = 0;

		if (!cms_signing_time(ci, &signing_time, error))
			return FALSE;
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)signing_time);
	}

	if (detached) {
		in = mem_source_new(detached_content, len);
		flags |= CMS_DETACHED;
	} else {
		out = BIO_new(BIO_s_mem());
	}
	if (CMS_verify(ci, NULL, store, in, out, flags) != 1) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "signature verification failed: %s", reason);
		return FALSE;
	}

	chain = signer_chain(ci, store, error);
	if (!chain)
		return FALSE;

	if (out_content)
		*out_content = out ? mem_bio_to_bytes(out) : NULL;
	if (out_chain)
		*out_chain = g_steal_pointer(&chain);
	ERR_clear_error();
	return TRUE;
}

/* ---- envelopes ------------------------------------------------------------ */

GBytes *rota_cms_encrypt(GBytes *signed_cms, gchar **recipient_files, guint *out_count, GError **error)
{
	g_autoptr(RotaX509Stack) recipients = sk_X509_new_null();
	g_autoptr(CMS_ContentInfo) inner = cms_parse(signed_cms, error);
	g_autoptr(CMS_ContentInfo) env = NULL;
	g_autoptr(BIO) in = NULL;
	gsize len = 0;
	const void *data;

	if (!inner || !require_signed_data(inner, error))
		return NULL;
	for (gchar **f = recipient_files; f && *f; f++) {
		if (!load_certs_file(*f, recipients, error))
			return NULL;
	}
	if (sk_X509_num(recipients) == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "One or multiple recipient certificates must be provided (via --to)");
		return NULL;
	}
	data = g_bytes_get_data(signed_cms, &len);
	in = mem_source_new(data, len);
	env = CMS_encrypt(recipients, in, EVP_aes_256_cbc(), CMS_BINARY);
	if (!env) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Failed to encrypt for %d recipients: %s",
			    sk_X509_num(recipients), reason);
		return NULL;
	}
	if (out_count)
		*out_count = (guint)sk_X509_num(recipients);
	return cms_to_der(env, error);
}

/* TRUE when one of the RecipientInfos names cert (issuer and serial or
 * key identifier), for RSA key transport and EC key agreement alike. */
static gboolean cms_has_recipient(CMS_ContentInfo *ci, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(ci);

	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		int type = CMS_RecipientInfo_type(ri);
		if (type == CMS_RECIPINFO_TRANS && CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
			return TRUE;
		if (type == CMS_RECIPINFO_AGREE) {
			STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (int k = 0; k < sk_CMS_RecipientEncryptedKey_num(reks); k++) {
				if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, k), cert) == 0)
					return TRUE;
			}
		}
	}
	return FALSE;
}

GBytes *rota_cms_decrypt(GBytes *enveloped, const gchar *key, const gchar *cert, GError **error)
{
	g_autoptr(CMS_ContentInfo) ci = cms_parse(enveloped, error);
	g_autoptr(EVP_PKEY) pkey = NULL;
	g_autoptr(X509) x509 = NULL;
	g_autoptr(BIO) out = BIO_new(BIO_s_mem());

	if (!ci)
		return NULL;
	if (!key) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Encrypted bundle detected, but no decryption key given. Use --key=<PEMFILE|PKCS11-URL> "
			    "or [encryption] key= to provide one.");
		return NULL;
	}
	pkey = load_signer_key(key, error);
	if (!pkey)
		return NULL;
	if (cert) {
		x509 = load_signer_cert(cert, error);
		if (!x509)
			return NULL;
		if (!cms_has_recipient(ci, x509)) {
			g_autofree gchar *subject = name_to_string(X509_get_subject_name(x509));
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "This device is not a recipient of the encrypted bundle (certificate '%s': %s)", cert,
				    subject);
			return NULL;
		}
		if (X509_check_private_key(x509, pkey) != 1) {
			ERR_clear_error();
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "Key '%s' does not match certificate '%s'", key,
				    cert);
			return NULL;
		}
	}
	/* Without a certificate OpenSSL tries every recipient with the key. */
	if (CMS_decrypt(ci, pkey, x509, NULL, out, CMS_BINARY) != 1) {
		g_autofree gchar *reason = openssl_errors();
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
			    "Failed to decrypt CMS EnvelopedData: %s (is this device one of its recipients?)", reason);
		return NULL;
	}
	return mem_bio_to_bytes(out);
}
