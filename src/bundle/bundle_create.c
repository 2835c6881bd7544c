/* bundle_create.c — `rota bundle`: from an input directory to a signed
 * bundle (bundle-format.md §5).
 *
 * The input directory is mirrored into a work directory of hard links so
 * that the updated manifest can replace manifest.raucm without touching the
 * user's files; the squashfs is written from there with libsquashfs. */
#include "bundle_private.h"

#include <errno.h>
#include <gio/gio.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/verity.h"
#include "common/util.h"
#include "bundle/hash_index.h"
#include "view/crypt_view.h"

#define WORKDIR_NAME ".rota-workdir"

/* ---- input content ---- */

static gboolean check_symlink(const gchar *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree gchar *target = g_file_read_link(path, &local);

	if (!target) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: %s", path, local->message);
		return FALSE;
	}
	if (g_path_is_absolute(target)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: absolute symlinks are not supported as bundle contents (target '%s')", path, target);
		return FALSE;
	}
	if (strchr(target, '/')) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: symlinks containing slashes are not supported as bundle contents (target '%s')", path,
			    target);
		return FALSE;
	}
	return TRUE;
}

/* Mirrors src into dst (created) with hard links, checking the content
 * rules on the way; falls back to copying where linking is impossible. */
static gboolean mirror_tree(const gchar *src, const gchar *dst, gboolean top, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GDir) dir = g_dir_open(src, 0, &local);
	const gchar *name;

	if (!dir) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: %s", src, local->message);
		return FALSE;
	}
	if (mkdir(dst, 0755) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot create: %s", dst, g_strerror(err));
		return FALSE;
	}
	while ((name = g_dir_read_name(dir))) {
		g_autofree gchar *s = g_build_filename(src, name, NULL);
		g_autofree gchar *d = g_build_filename(dst, name, NULL);
		struct stat st;

		if (top && g_str_equal(name, WORKDIR_NAME))
			continue;
		if (lstat(s, &st) != 0) {
			int err = errno;
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: %s", s, g_strerror(err));
			return FALSE;
		}
		if (S_ISDIR(st.st_mode)) {
			if (top && name[0] == '.') {
				g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
					    "%s: top-level directories starting with '.' are reserved", s);
				return FALSE;
			}
			if (!mirror_tree(s, d, FALSE, error))
				return FALSE;
		} else if (S_ISLNK(st.st_mode)) {
			g_autofree gchar *target = NULL;
			if (!check_symlink(s, error))
				return FALSE;
			target = g_file_read_link(s, NULL);
			if (symlink(target, d) != 0) {
				int err = errno;
				g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot create symlink: %s", d, g_strerror(err));
				return FALSE;
			}
		} else if (S_ISREG(st.st_mode)) {
			if (link(s, d) != 0) {
				g_autoptr(GFile) fs = g_file_new_for_path(s);
				g_autoptr(GFile) fd = g_file_new_for_path(d);
				if (!g_file_copy(fs, fd, G_FILE_COPY_NOFOLLOW_SYMLINKS, NULL, NULL, NULL, &local)) {
					g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot copy: %s", s, local->message);
					return FALSE;
				}
			}
		} else {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "%s: only regular files, directories and symlinks are supported as bundle contents", s);
			return FALSE;
		}
	}
	return TRUE;
}

/* ---- images ---- */

static gboolean hash_file(const gchar *path, gchar **out_hex, guint64 *out_size, GError **error)
{
	g_autoptr(RotaView) view = rota_file_view_new(path, error);

	if (!view)
		return FALSE;
	*out_hex = rota_view_sha256(view, error);
	*out_size = rota_view_get_size(view);
	return *out_hex != NULL;
}

/* <filename>.block-hash-index next to the image: the SHA-256 of each 4 KiB
 * chunk, what adaptive installs compare against local slots. */
static gboolean write_block_hash_index(const gchar *workdir, const RotaImage *img, GError **error)
{
	g_autofree gchar *path = g_build_filename(workdir, img->filename, NULL);
	g_autofree gchar *out = g_strdup_printf("%s.block-hash-index", path);
	g_autoptr(RotaView) view = rota_file_view_new(path, error);
	g_autoptr(GBytes) index = NULL;

	if (!view)
		return FALSE;
	index = rota_hash_index_compute(view, rota_view_get_size(view), error);
	if (!index) {
		g_prefix_error(error, "adaptive image '%s': ", img->filename);
		return FALSE;
	}
	unlink(out); /* never write through a hard link into the input dir */
	return rota_write_file_atomic(out, g_bytes_get_data(index, NULL), g_bytes_get_size(index), 0644, error);
}

/* Every image file must be a regular file inside the work dir (a symlink in
 * the input that escapes it was already refused by mirror_tree). */
static gboolean fill_image_checksums(RotaManifest *m, const gchar *workdir, const gchar *inputdir, GError **error)
{
	for (guint i = 0; i < m->images->len; i++) {
		RotaImage *img = m->images->pdata[i];
		g_autofree gchar *path = NULL;
		struct stat st;

		if (!img->filename)
			continue;
		path = g_build_filename(workdir, img->filename, NULL);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "image file '%s' for slot '%s' does not exist in bundle content dir (%s)", img->filename,
				    img->slotclass, inputdir);
			return FALSE;
		}
		if (!hash_file(path, &img->sha256, &img->size, error))
			return FALSE;
		img->has_size = TRUE;
		if (g_strv_contains((const gchar *const *)img->adaptive, "block-hash-index") &&
		    !write_block_hash_index(workdir, img, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean check_hook_files(const RotaManifest *m, const gchar *workdir, GError **error)
{
	const gchar *files[] = {m->hook_name, m->handler_name};

	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree gchar *path = files[i] ? g_build_filename(workdir, files[i], NULL) : NULL;
		if (path && !g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "hook file '%s' does not exist in bundle content dir",
				    files[i]);
			return FALSE;
		}
	}
	return TRUE;
}

/* ---- the steps ---- */

static gboolean check_paths(const gchar *inputdir, const gchar *bundle_path, GError **error)
{
	g_autofree gchar *in = NULL, *out_dir = NULL, *out_parent = NULL;

	if (!g_file_test(inputdir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Input path must point to a directory! ('%s')", inputdir);
		return FALSE;
	}
	if (g_file_test(bundle_path, G_FILE_TEST_EXISTS) || g_file_test(bundle_path, G_FILE_TEST_IS_SYMLINK)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "bundle %s already exists", bundle_path);
		return FALSE;
	}
	in = realpath(inputdir, NULL);
	out_parent = g_path_get_dirname(bundle_path);
	out_dir = realpath(out_parent, NULL);
	if (!out_dir) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: output directory does not exist", out_parent);
		return FALSE;
	}
	if (in && (g_str_equal(in, out_dir) || (g_str_has_prefix(out_dir, in) && out_dir[strlen(in)] == '/'))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Bundle path must be located outside input directory!");
		return FALSE;
	}
	return TRUE;
}

static RotaManifest *load_input_manifest(const gchar *workdir, const gchar *inputdir, GError **error)
{
	g_autofree gchar *path = g_build_filename(workdir, "manifest.raucm", NULL);
	g_autofree gchar *name = g_build_filename(inputdir, "manifest.raucm", NULL);
	g_autofree gchar *data = NULL;
	gsize len = 0;
	g_autoptr(RotaManifest) m = NULL;

	if (!g_file_get_contents(path, &data, &len, NULL)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: manifest file is missing", name);
		return NULL;
	}
	m = rota_manifest_parse(data, len, name, error);
	if (!m || !rota_manifest_check_input(m, name, error))
		return NULL;
	return g_steal_pointer(&m);
}

static gboolean write_internal_manifest(const RotaManifest *m, const gchar *workdir, GError **error)
{
	g_autofree gchar *path = g_build_filename(workdir, "manifest.raucm", NULL);
	g_autoptr(GBytes) data = rota_manifest_serialize(m, FALSE);

	unlink(path); /* it is a hard link to the user's file */
	return rota_write_file_atomic(path, g_bytes_get_data(data, NULL), g_bytes_get_size(data), 0644, error);
}

static gboolean append_verity(int fd, guint64 sqfs_size, RotaManifest *m, GError **error)
{
	guint8 salt[32], root[32];

	if (sqfs_size <= 4096) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "squashfs size (%" G_GUINT64_FORMAT ") must be larger than 4096 bytes",
			    sqfs_size);
		return FALSE;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot generate verity salt");
		return FALSE;
	}
	if (!rota_verity_append_tree(fd, sqfs_size, salt, root, error))
		return FALSE;
	m->verity_salt = rota_hex_encode(salt, 32);
	m->verity_hash = rota_hex_encode(root, 32);
	m->verity_size = rota_verity_tree_size(sqfs_size);
	return TRUE;
}

/* crypt: a fresh key, the squashfs encrypted in place; the verity tree is
 * then computed over the ciphertext (bundle-format.md §6.1). */
static gboolean encrypt_payload(int fd, guint64 sqfs_size, RotaManifest *m, GError **error)
{
	guint8 key[32];
	gboolean ok;

	if (sqfs_size <= 4096) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "squashfs size (%" G_GUINT64_FORMAT ") must be larger than 4096 bytes",
			    sqfs_size);
		return FALSE;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot generate the payload key");
		return FALSE;
	}
	ok = rota_crypt_encrypt_fd(fd, sqfs_size, key, error);
	if (ok)
		m->crypt_key = rota_hex_encode(key, sizeof(key));
	memset(key, 0, sizeof(key));
	return ok;
}

/* The squashfs payload. With adaptive images (and no block size asked
 * for) the squashfs blocks are 4 KiB, one per chunk: a device missing a
 * chunk then reads (or downloads) one small compressed block instead of a
 * whole 128 KiB one. RAUC reads such bundles like any other. */
static gboolean write_payload(const gchar *workdir, int fd, const RotaManifest *m, const RotaSquashfsOptions *base,
			      guint64 *out_size, GError **error)
{
	RotaSquashfsOptions opts = *base;

	for (guint i = 0; i < m->images->len && !base->block_size_given; i++) {
		RotaImage *img = m->images->pdata[i];
		if (g_strv_contains((const gchar *const *)img->adaptive, "block-hash-index"))
			opts.block_size = ROTA_CHUNK;
	}
	return rota_squashfs_write_dir(workdir, fd, &opts, out_size, error);
}

static gboolean write_bundle(const gchar *workdir, const gchar *inputdir, const gchar *bundle_path,
			     const RotaBundleCreateOptions *opts, GError **error)
{
	g_autoptr(RotaManifest) m = load_input_manifest(workdir, inputdir, error);
	g_autoptr(GBytes) cms = NULL;
	guint64 sqfs_size = 0;
	gboolean ok;
	int fd;

	if (!m || !fill_image_checksums(m, workdir, inputdir, error) || !check_hook_files(m, workdir, error))
		return FALSE;
	if (!m->format_explicit)
		g_message("Warning: no [bundle] format given in manifest, using 'plain'. "
			  "The 'verity' format is recommended for new bundles.");
	if (!write_internal_manifest(m, workdir, error))
		return FALSE;
	g_print("Creating '%s' format bundle\n", rota_bundle_format_name(m->format));

	fd = open(bundle_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot create: %s", bundle_path, g_strerror(err));
		return FALSE;
	}
	ok = write_payload(workdir, fd, m, &opts->squashfs, &sqfs_size, error);
	if (ok && m->format == ROTA_FORMAT_PLAIN) {
		cms = rota_bundle_sign_plain_payload(fd, sqfs_size, bundle_path, &opts->signer, error);
	} else if (ok) {
		ok = (m->format != ROTA_FORMAT_CRYPT || encrypt_payload(fd, sqfs_size, m, error)) &&
		     append_verity(fd, sqfs_size, m, error) && lseek(fd, 0, SEEK_END) >= 0;
		if (ok)
			cms = rota_bundle_sign_manifest(m, &opts->signer, error);
	}
	ok = ok && cms && lseek(fd, 0, SEEK_END) >= 0 && rota_bundle_append_signature(fd, cms, bundle_path, error);
	close(fd);
	if (ok && opts->signing_keyring)
		ok = rota_bundle_verify_written(bundle_path, opts->signing_keyring, error);
	if (!ok)
		unlink(bundle_path);
	return ok;
}

gboolean rota_bundle_create(const gchar *inputdir, const gchar *bundle_path, const RotaBundleCreateOptions *opts,
			    GError **error)
{
	g_autofree gchar *workdir = g_build_filename(inputdir, WORKDIR_NAME, NULL);
	gboolean ok;

	if (!opts->signer.cert || !opts->signer.key) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Cert and key files must be provided");
		return FALSE;
	}
	if (!check_paths(inputdir, bundle_path, error))
		return FALSE;
	rota_remove_tree(workdir); /* left over from an interrupted run */
	ok = mirror_tree(inputdir, workdir, TRUE, error) && write_bundle(workdir, inputdir, bundle_path, opts, error);
	rota_remove_tree(workdir);
	return ok;
}
