/* bundle.c — bundle files: open/verify, create, extract and the signature
 * operations. The byte layout is in bundle-format.md; every region read from
 * the file is bounds-checked before use, and nothing in the payload is used
 * before the signature (plain) or the verity root hash (verity, crypt)
 * covers it. */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle_private.h"
#include "bundle/verity.h"
#include "common/util.h"

void rota_bundle_free(RotaBundle *b)
{
	if (!b)
		return;
	g_free(b->path);
	if (b->sqfs)
		rota_squashfs_free(b->sqfs);
	if (b->payload)
		rota_view_unref(b->payload);
	if (b->file)
		rota_view_unref(b->file);
	if (b->cms)
		g_bytes_unref(b->cms);
	if (b->signed_cms)
		g_bytes_unref(b->signed_cms);
	if (b->manifest_data)
		g_bytes_unref(b->manifest_data);
	rota_manifest_free(b->manifest);
	g_free(b->manifest_hash);
	if (b->chain)
		g_ptr_array_unref(b->chain);
	g_free(b);
}

static gchar *sha256_hex(const void *data, gsize len)
{
	guint8 digest[32];
	EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL);
	return rota_hex_encode(digest, sizeof(digest));
}

/* A read-only mapping of [0, len) of a view's file, for hashing a plain
 * payload in one call. */
typedef struct {
	void *addr;
	gsize len;
} Mapping;

static void mapping_clear(Mapping *m)
{
	if (m->addr && m->addr != MAP_FAILED)
		munmap(m->addr, m->len);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Mapping, mapping_clear)

static gboolean map_fd(int fd, gsize len, const gchar *name, Mapping *out, GError **error)
{
	out->len = len;
	out->addr = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	if (out->addr == MAP_FAILED) {
		int err = errno;
		out->addr = NULL;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot map payload: %s", name, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* ---- opening ---- */

/* Reads the trailer and the CMS blob (§1.1). */
static gboolean read_signature_region(RotaBundle *b, guint64 max_sig, GError **error)
{
	guint8 trailer[8];
	guint64 sig_size = 0;
	g_autofree guint8 *cms = NULL;

	if (b->size < 8) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Invalid bundle format: file of %" G_GUINT64_FORMAT " bytes is too small for a bundle", b->path,
			    b->size);
		return FALSE;
	}
	if (!rota_view_read_at(b->file, b->size - 8, trailer, 8, error))
		return FALSE;
	for (int i = 0; i < 8; i++)
		sig_size = sig_size << 8 | trailer[i];
	if (sig_size == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Invalid bundle format: Signature size is 0 (trailer at offset %" G_GUINT64_FORMAT ")", b->path,
			    b->size - 8);
		return FALSE;
	}
	if (sig_size > b->size - 8) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Invalid bundle format: Signature size (%" G_GUINT64_FORMAT ") exceeds bundle size (trailer at offset %" G_GUINT64_FORMAT ")",
			    b->path, sig_size, b->size - 8);
		return FALSE;
	}
	if (sig_size > max_sig) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT,
			    "%s: Invalid bundle format: Signature size (%" G_GUINT64_FORMAT ") exceeds max-bundle-signature-size (%" G_GUINT64_FORMAT ")",
			    b->path, sig_size, max_sig);
		return FALSE;
	}
	b->payload_size = b->size - 8 - sig_size;
	if (b->payload_size % 4096 != 0)
		g_message("%s: payload size %" G_GUINT64_FORMAT " is not a multiple of 4096", b->path, b->payload_size);
	cms = g_malloc(sig_size);
	if (!rota_view_read_at(b->file, b->payload_size, cms, sig_size, error))
		return FALSE;
	b->cms = g_bytes_new_take(g_steal_pointer(&cms), sig_size);
	return TRUE;
}

static gboolean load_plain(RotaBundle *b, const RotaKeyring *keyring, GError **error)
{
	g_autoptr(RotaView) payload = NULL;
	g_autoptr(RotaSquashfs) sqfs = NULL;
	g_autofree gchar *name = NULL;

	if (b->payload_size > ROTA_MAX_PLAIN_PAYLOAD) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT,
			    "%s: Bundle payload size %" G_GUINT64_FORMAT " exceeds maximum for bundles using plain format (2 GiB)",
			    b->path, b->payload_size);
		return FALSE;
	}
	if (keyring) {
		g_auto(Mapping) map = {0};
		/* The signature covers the payload as hashed now; it is read again
		 * later, so nobody else may be able to change the file (RAUC's
		 * "exclusive access" rule for plain bundles). */
		if (!rota_file_view_check_private(b->file, error) || !rota_file_view_check_no_writers(b->file, error))
			return FALSE;
		if (!map_fd(rota_file_view_get_fd(b->file), b->payload_size, b->path, &map, error))
			return FALSE;
		if (!rota_cms_verify(b->signed_cms, map.addr, map.len, keyring, NULL, &b->chain, error)) {
			g_prefix_error(error, "%s: ", b->path);
			return FALSE;
		}
		b->verified = TRUE;
	}
	payload = rota_sub_view_new(b->file, 0, b->payload_size, error);
	if (!payload)
		return FALSE;
	b->payload = rota_view_ref(payload);
	sqfs = rota_bundle_get_squashfs(b, error);
	if (!sqfs)
		return FALSE;
	b->manifest_data = rota_squashfs_load_file(b->sqfs, "manifest.raucm", 1024 * 1024, error);
	g_steal_pointer(&sqfs); /* owned by b */
	if (!b->manifest_data) {
		g_prefix_error(error, "%s: ", b->path);
		return FALSE;
	}
	name = g_strdup_printf("%s (manifest.raucm)", b->path);
	b->manifest = rota_manifest_parse(g_bytes_get_data(b->manifest_data, NULL), g_bytes_get_size(b->manifest_data),
					  name, error);
	return b->manifest && rota_manifest_check_internal(b->manifest, name, error);
}

static gboolean load_verity(RotaBundle *b, const RotaKeyring *keyring, GError **error)
{
	g_autofree gchar *name = g_strdup_printf("%s (signed manifest)", b->path);
	g_autoptr(RotaView) region = NULL;
	guint8 salt[32], root[32];
	guint64 data_size;

	if (keyring) {
		if (!rota_cms_verify(b->signed_cms, NULL, 0, keyring, &b->manifest_data, &b->chain, error)) {
			g_prefix_error(error, "%s: ", b->path);
			return FALSE;
		}
		b->verified = TRUE;
	} else {
		b->manifest_data = rota_cms_get_content(b->signed_cms, error);
		if (!b->manifest_data) {
			g_prefix_error(error, "%s: ", b->path);
			return FALSE;
		}
	}
	b->manifest = rota_manifest_parse(g_bytes_get_data(b->manifest_data, NULL), g_bytes_get_size(b->manifest_data),
					  name, error);
	if (!b->manifest || !rota_manifest_check_external(b->manifest, name, error))
		return FALSE;
	if (b->manifest->verity_size >= b->payload_size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: verity-size %" G_GUINT64_FORMAT " does not fit in the payload of %" G_GUINT64_FORMAT " bytes",
			    name, b->manifest->verity_size, b->payload_size);
		return FALSE;
	}
	data_size = b->payload_size - b->manifest->verity_size;
	if (data_size % 4096 != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: data area of %" G_GUINT64_FORMAT " bytes (payload minus verity-size) is not a multiple of 4096",
			    name, data_size);
		return FALSE;
	}
	rota_hex_decode(b->manifest->verity_salt, salt, 32);
	rota_hex_decode(b->manifest->verity_hash, root, 32);
	region = rota_sub_view_new(b->file, 0, b->payload_size, error);
	if (!region)
		return FALSE;
	if (b->manifest->format == ROTA_FORMAT_CRYPT) {
		/* Verified and decrypted in one pass per block (the key was
		 * checked to be 64 hex digits with the manifest). */
		guint8 key[32];
		rota_hex_decode(b->manifest->crypt_key, key, sizeof(key));
		b->payload = rota_verity_view_new_decrypting(region, data_size, b->manifest->verity_size, salt, root, key,
							     error);
		OPENSSL_cleanse(key, sizeof(key));
	} else {
		b->payload = rota_verity_view_new(region, data_size, b->manifest->verity_size, salt, root, error);
	}
	return b->payload != NULL;
}

/* Streaming reads only what it needs, and every byte through the verity
 * view (bundle-format.md §9): formats without one cannot be streamed. */
static gboolean check_streamable(const RotaBundle *b, GError **error)
{
	if (b->detached) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Bundle format 'plain' not supported in streaming mode: its signature covers the whole payload, "
			    "which would have to be downloaded first", b->path);
		return FALSE;
	}
	if (b->payload_size % 4096 != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: payload size %" G_GUINT64_FORMAT " is not a multiple of 4096, which streaming requires", b->path,
			    b->payload_size);
		return FALSE;
	}
	return TRUE;
}

gboolean rota_bundle_get_http_stats(RotaBundle *b, RotaHttpStats *out)
{
	return b->streamed && rota_http_view_get_stats(b->file, out);
}

RotaBundle *rota_bundle_open(const gchar *path, const RotaBundleOpenOptions *opts, GError **error)
{
	g_autoptr(RotaBundle) b = g_new0(RotaBundle, 1);
	guint64 max_sig = opts && opts->max_signature_size ? opts->max_signature_size : ROTA_MAX_SIGNATURE_SIZE;
	const RotaKeyring *keyring = opts ? opts->keyring : NULL;

	b->streamed = rota_is_http_url(path);
	b->file = b->streamed ? rota_http_view_new(path, opts ? opts->http : NULL, error) : rota_file_view_new(path, error);
	if (!b->file)
		return NULL;
	/* For URLs, the view's name: messages never show credentials. */
	b->path = g_strdup(rota_view_get_name(b->file));
	b->size = rota_view_get_size(b->file);
	if (!read_signature_region(b, max_sig, error))
		return NULL;
	/* Detached or not is decided on the blob as read: an envelope counts as
	 * inline, and what it holds must then verify as inline too. */
	if (!rota_cms_is_detached(b->cms, &b->detached, error)) {
		g_prefix_error(error, "%s: ", b->path);
		return NULL;
	}
	if (b->streamed && !check_streamable(b, error))
		return NULL;
	b->enveloped = rota_cms_is_enveloped(b->cms);
	b->signed_cms = b->enveloped ? rota_cms_decrypt(b->cms, opts ? opts->decrypt_key : NULL,
							 opts ? opts->decrypt_cert : NULL, error)
				     : g_bytes_ref(b->cms);
	if (!b->signed_cms) {
		g_prefix_error(error, "%s: ", b->path);
		return NULL;
	}
	if (b->detached) {
		b->format = ROTA_FORMAT_PLAIN;
		if (!load_plain(b, keyring, error))
			return NULL;
	} else {
		if (!load_verity(b, keyring, error))
			return NULL;
		b->format = b->manifest->format;
	}
	b->manifest_hash = sha256_hex(g_bytes_get_data(b->manifest_data, NULL), g_bytes_get_size(b->manifest_data));
	return g_steal_pointer(&b);
}

RotaSquashfs *rota_bundle_get_squashfs(RotaBundle *b, GError **error)
{
	if (!b->sqfs)
		b->sqfs = rota_squashfs_open(b->payload, error);
	return b->sqfs;
}

gboolean rota_bundle_check_payload(RotaBundle *b, GError **error)
{
	g_autoptr(RotaView) region = NULL;
	guint8 salt[32], root[32];

	if (b->streamed) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: Refused to verify remote bundle. Provide a local bundle instead.", b->path);
		return FALSE;
	}
	if (b->format == ROTA_FORMAT_PLAIN) {
		if (!b->verified) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE,
				    "%s: cannot check the payload of a plain bundle without verifying its signature", b->path);
			return FALSE;
		}
		return TRUE; /* the detached signature covered every payload byte */
	}
	rota_hex_decode(b->manifest->verity_salt, salt, 32);
	rota_hex_decode(b->manifest->verity_hash, root, 32);
	region = rota_sub_view_new(b->file, 0, b->payload_size, error);
	return region && rota_verity_check_all(region, b->payload_size - b->manifest->verity_size,
					       b->manifest->verity_size, salt, root, 0, error);
}

gboolean rota_bundle_extract(RotaBundle *b, const gchar *outdir, GError **error)
{
	g_autofree gchar *dir = g_strdup(outdir);
	RotaSquashfs *sqfs;
	gsize len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "output directory '%s' exists already", dir);
		return FALSE;
	}
	if (!rota_bundle_check_payload(b, error))
		return FALSE;
	sqfs = rota_bundle_get_squashfs(b, error);
	return sqfs && rota_squashfs_extract(sqfs, dir, 0, error);
}

static int create_exclusive(const gchar *path, mode_t mode, GError **error)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot create: %s", path,
			    err == EEXIST ? "file exists already" : g_strerror(err));
	}
	return fd;
}

gboolean rota_bundle_extract_signature(RotaBundle *b, const gchar *outpath, GError **error)
{
	gsize len;
	const void *data = g_bytes_get_data(b->signed_cms, &len);
	int fd = create_exclusive(outpath, 0600, error);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = rota_write_all(fd, data, len, outpath, error);
	close(fd);
	if (!ok)
		unlink(outpath);
	return ok;
}

/* ---- writing bundles ---- */

gboolean rota_bundle_append_signature(int fd, GBytes *cms, const gchar *path, GError **error)
{
	gsize len;
	const guint8 *data = g_bytes_get_data(cms, &len);
	guint8 trailer[8];

	for (int i = 0; i < 8; i++)
		trailer[i] = (guint8)((guint64)len >> (56 - 8 * i));
	if (!rota_write_all(fd, data, len, path, error) || !rota_write_all(fd, trailer, 8, path, error))
		return FALSE;
	if (fsync(fd) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot sync: %s", path, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* Detached CMS over [0, payload_size) of fd. */
GBytes *rota_bundle_sign_plain_payload(int fd, guint64 payload_size, const gchar *path, const RotaSigner *signer,
				       GError **error)
{
	g_auto(Mapping) map = {0};

	if (payload_size > ROTA_MAX_PLAIN_PAYLOAD) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT,
			    "Bundle payload size %" G_GUINT64_FORMAT " exceeds maximum for bundles using plain format (2 GiB)",
			    payload_size);
		return NULL;
	}
	if (!map_fd(fd, payload_size, path, &map, error))
		return NULL;
	return rota_cms_sign(map.addr, map.len, TRUE, signer, error);
}

GBytes *rota_bundle_sign_manifest(const RotaManifest *m, const RotaSigner *signer, GError **error)
{
	g_autoptr(GBytes) data = rota_manifest_serialize(m, TRUE);
	gsize len;
	const void *p = g_bytes_get_data(data, &len);
	return rota_cms_sign(p, len, FALSE, signer, error);
}

/* Verifies a freshly written bundle with the signing keyring and warns
 * about certificates that expire within 30 days, as RAUC does. */
gboolean rota_bundle_verify_written(const gchar *path, const RotaKeyring *keyring, GError **error)
{
	RotaBundleOpenOptions opts = {.keyring = keyring};
	g_autoptr(RotaBundle) b = rota_bundle_open(path, &opts, error);
	gint64 soon = g_get_real_time() / G_USEC_PER_SEC + 30 * 24 * 3600;

	if (!b)
		return FALSE;
	for (guint i = 0; b->chain && i < b->chain->len; i++) {
		RotaCertInfo *ci = b->chain->pdata[i];
		if (ci->not_after_unix < soon)
			g_warning("Certificate %u (%s) will expire in less than a month!", i, ci->subject);
	}
	return TRUE;
}

/* Copies the payload of src (file view) to a new file at outpath. */
static int copy_payload(RotaView *src, guint64 payload_size, const gchar *outpath, GError **error)
{
	g_autofree guint8 *buf = g_malloc(1 << 20);
	int fd = create_exclusive(outpath, 0644, error);

	if (fd < 0)
		return -1;
	for (guint64 off = 0; off < payload_size;) {
		gsize n = (gsize)MIN((guint64)(1 << 20), payload_size - off);
		if (!rota_view_read_at(src, off, buf, n, error) || !rota_write_all(fd, buf, n, outpath, error)) {
			close(fd);
			unlink(outpath);
			return -1;
		}
		off += n;
	}
	return fd;
}

/* A new bundle at outpath: src's payload followed by cms. Nothing is left
 * at outpath on failure. */
static gboolean write_payload_with_cms(RotaView *src, guint64 payload_size, GBytes *cms, const gchar *outpath,
				       GError **error)
{
	int fd = copy_payload(src, payload_size, outpath, error);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = rota_bundle_append_signature(fd, cms, outpath, error);
	close(fd);
	if (!ok)
		unlink(outpath);
	return ok;
}

gboolean rota_bundle_resign(RotaBundle *b, const gchar *outpath, const RotaSigner *signer,
			    const RotaKeyring *signing_keyring, GError **error)
{
	g_autoptr(GBytes) cms = NULL;
	int fd;

	/* An unverified plain bundle (--no-verify) has nothing to check its
	 * payload against: its signature was the only reference. */
	if ((b->verified || b->format != ROTA_FORMAT_PLAIN) && !rota_bundle_check_payload(b, error))
		return FALSE;
	fd = copy_payload(b->file, b->payload_size, outpath, error);
	if (fd < 0)
		return FALSE;
	if (b->format == ROTA_FORMAT_PLAIN)
		cms = rota_bundle_sign_plain_payload(fd, b->payload_size, outpath, signer, error);
	else
		cms = rota_bundle_sign_manifest(b->manifest, signer, error);
	if (!cms || !rota_bundle_append_signature(fd, cms, outpath, error)) {
		close(fd);
		unlink(outpath);
		return FALSE;
	}
	/* Closed first: a plain bundle is checked for writers before verifying. */
	close(fd);
	if (signing_keyring && !rota_bundle_verify_written(outpath, signing_keyring, error)) {
		unlink(outpath);
		return FALSE;
	}
	return TRUE;
}

gboolean rota_bundle_encrypt(RotaBundle *b, const gchar *outpath, gchar **recipient_files, guint *out_count,
			     GError **error)
{
	g_autoptr(GBytes) cms = NULL;

	if (b->format != ROTA_FORMAT_CRYPT || b->enveloped) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Refused to encrypt input bundle that is not in 'crypt' format%s",
			    b->path, b->enveloped ? " or is encrypted already" : "");
		return FALSE;
	}
	if (!b->verified) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_SIGNATURE, "%s: refusing to encrypt a bundle whose signature was not verified",
			    b->path);
		return FALSE;
	}
	cms = rota_cms_encrypt(b->signed_cms, recipient_files, out_count, error);
	if (!cms)
		return FALSE;
	return write_payload_with_cms(b->file, b->payload_size, cms, outpath, error);
}

gboolean rota_bundle_replace_signature(const gchar *inpath, const gchar *sigpath, const gchar *outpath,
				       const RotaKeyring *keyring, GError **error)
{
	g_autoptr(RotaBundle) in = rota_bundle_open(inpath, NULL, error);
	g_autoptr(GMappedFile) sig = NULL;
	g_autoptr(GBytes) cms = NULL;
	g_autoptr(GError) local = NULL;

	if (!in)
		return FALSE;
	sig = g_mapped_file_new(sigpath, FALSE, &local);
	if (!sig) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot read signature: %s", sigpath, local->message);
		return FALSE;
	}
	cms = g_mapped_file_get_bytes(sig);
	if (g_bytes_get_size(cms) == 0 || g_bytes_get_size(cms) > ROTA_MAX_SIGNATURE_SIZE) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: signature size %" G_GSIZE_FORMAT " is not in 1..%u",
			    sigpath, g_bytes_get_size(cms), ROTA_MAX_SIGNATURE_SIZE);
		return FALSE;
	}
	if (!write_payload_with_cms(in->file, in->payload_size, cms, outpath, error))
		return FALSE;
	{
		RotaBundleOpenOptions opts = {.keyring = keyring};
		g_autoptr(RotaBundle) out = rota_bundle_open(outpath, &opts, error);
		if (!out || (keyring && !rota_bundle_check_payload(out, error))) {
			unlink(outpath);
			return FALSE;
		}
	}
	return TRUE;
}
