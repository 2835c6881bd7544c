/* test_verity.c — hash trees bit-identical to veritysetup, full checks and
 * the verity view, including corruption in data, tree and padding; the
 * decrypting verity view of crypt payloads (one pass per block). */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/verity.h"
#include "common/util.h"
#include "view/crypt_view.h"

static const guint8 salt[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

typedef struct {
	gchar *dir;
	gchar *path;   /* data followed by the tree */
	guint64 data_size;
	guint64 tree_size;
	guint8 root[32];
} Fixture;

static void fill_random(guint8 *data, gsize len, guint32 seed)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(seed);

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)g_rand_int(rand);
}

/* A payload of the given data blocks followed by their tree. */
static void fixture_make_from(Fixture *f, const guint8 *data, guint64 blocks)
{
	g_autoptr(GError) error = NULL;
	int fd;

	f->dir = g_dir_make_tmp("rota-verity-XXXXXX", NULL);
	f->path = g_build_filename(f->dir, "payload", NULL);
	f->data_size = blocks * 4096;
	g_assert_true(g_file_set_contents(f->path, (gchar *)data, (gssize)f->data_size, NULL));
	fd = open(f->path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(rota_verity_append_tree(fd, f->data_size, salt, f->root, &error));
	g_assert_no_error(error);
	close(fd);
	f->tree_size = rota_verity_tree_size(f->data_size);
}

static void fixture_make(Fixture *f, guint64 blocks)
{
	g_autofree guint8 *data = g_malloc(blocks * 4096);

	fill_random(data, blocks * 4096, (guint32)blocks);
	fixture_make_from(f, data, blocks);
}

static void fixture_clear(Fixture *f)
{
	rota_remove_tree(f->dir);
	g_free(f->dir);
	g_free(f->path);
}

static void flip_byte(const gchar *path, guint64 off)
{
	int fd = open(path, O_RDWR);
	guint8 b;

	g_assert_cmpint(pread(fd, &b, 1, (off_t)off), ==, 1);
	b ^= 0x40;
	g_assert_cmpint(pwrite(fd, &b, 1, (off_t)off), ==, 1);
	close(fd);
}

/* The tree and root must equal what veritysetup (the kernel's format) makes. */
static void compare_with_veritysetup(gconstpointer data)
{
	guint64 blocks = GPOINTER_TO_SIZE(data);
	Fixture f;
	g_autofree gchar *data_only = NULL, *hash = NULL, *cmd = NULL, *out = NULL, *salt_hex = rota_hex_encode(salt, 32);
	g_autofree gchar *ours = NULL, *theirs = NULL, *root_hex = NULL;
	gsize ours_len, theirs_len;
	gint status;

	fixture_make(&f, blocks);
	data_only = g_build_filename(f.dir, "data", NULL);
	hash = g_build_filename(f.dir, "hash", NULL);
	cmd = g_strdup_printf("sh -c \"head -c %" G_GUINT64_FORMAT " '%s' > '%s' && veritysetup format --no-superblock "
			      "--hash=sha256 --data-block-size=4096 --hash-block-size=4096 --salt=%s '%s' '%s'\"",
			      f.data_size, f.path, data_only, salt_hex, data_only, hash);
	g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
	root_hex = rota_hex_encode(f.root, 32);
	g_assert_nonnull(strstr(out, root_hex));

	g_assert_true(g_file_get_contents(f.path, &ours, &ours_len, NULL));
	g_assert_true(g_file_get_contents(hash, &theirs, &theirs_len, NULL));
	g_assert_cmpuint(ours_len - f.data_size, ==, f.tree_size);
	g_assert_cmpuint(theirs_len, >=, f.tree_size);
	g_assert_cmpmem(ours + f.data_size, f.tree_size, theirs, f.tree_size);
	fixture_clear(&f);
}

static void test_tree_sizes(void)
{
	g_assert_cmpuint(rota_verity_tree_size(4096), ==, 0);
	g_assert_cmpuint(rota_verity_tree_size(5 * 4096), ==, 4096);
	g_assert_cmpuint(rota_verity_tree_size(128 * 4096), ==, 4096);
	g_assert_cmpuint(rota_verity_tree_size(257 * 4096), ==, 4 * 4096); /* 3 + 1, §11.2 */
	g_assert_cmpuint(rota_verity_tree_size(128 * 128 * 4096 + 4096), ==, (129 + 2 + 1) * 4096);
}

static void test_check_all(void)
{
	Fixture f;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = NULL;

	fixture_make(&f, 300);
	v = rota_file_view_new(f.path, &error);
	g_assert_true(rota_verity_check_all(v, f.data_size, f.tree_size, salt, f.root, 2, &error));
	g_assert_no_error(error);
	g_clear_pointer(&v, rota_view_unref);

	/* A flipped data byte: the error names the block's offset. */
	flip_byte(f.path, 200 * 4096 + 17);
	v = rota_file_view_new(f.path, &error);
	g_assert_false(rota_verity_check_all(v, f.data_size, f.tree_size, salt, f.root, 2, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "data block at offset 819200"));
	g_clear_error(&error);
	flip_byte(f.path, 200 * 4096 + 17);
	g_clear_pointer(&v, rota_view_unref);

	/* A flipped byte in the tree. */
	flip_byte(f.path, f.data_size + 4096 + 5);
	v = rota_file_view_new(f.path, &error);
	g_assert_false(rota_verity_check_all(v, f.data_size, f.tree_size, salt, f.root, 1, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "hash tree block"));
	g_clear_error(&error);
	flip_byte(f.path, f.data_size + 4096 + 5);
	g_clear_pointer(&v, rota_view_unref);

	/* Wrong tree size for the data. */
	v = rota_file_view_new(f.path, &error);
	g_assert_false(rota_verity_check_all(v, f.data_size, f.tree_size + 4096, salt, f.root, 1, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	fixture_clear(&f);
}

static void test_view_reads(void)
{
	Fixture f;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL, v = NULL;
	g_autofree gchar *raw = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(7);
	guint8 buf[20000];

	fixture_make(&f, 300);
	g_assert_true(g_file_get_contents(f.path, &raw, NULL, NULL));
	file = rota_file_view_new(f.path, &error);
	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	g_assert_nonnull(v);
	g_assert_cmpuint(rota_view_get_size(v), ==, f.data_size);
	for (int i = 0; i < 200; i++) {
		gsize len = (gsize)g_rand_int_range(rand, 1, sizeof(buf));
		guint64 off = (guint64)g_rand_int_range(rand, 0, (gint32)(f.data_size - len));
		g_assert_true(rota_view_read_at(v, off, buf, len, &error));
		g_assert_cmpmem(buf, len, raw + off, len);
	}
	g_clear_pointer(&v, rota_view_unref);
	g_clear_pointer(&file, rota_view_unref);

	/* Corrupt block 42: reads touching it fail naming its offset, others work. */
	flip_byte(f.path, 42 * 4096 + 4095);
	file = rota_file_view_new(f.path, &error);
	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	g_assert_true(rota_view_read_at(v, 41 * 4096, buf, 4096, &error));
	g_assert_false(rota_view_read_at(v, 42 * 4096 + 100, buf, 10, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "offset 172032"));
	g_clear_error(&error);
	g_clear_pointer(&v, rota_view_unref);
	g_clear_pointer(&file, rota_view_unref);
	flip_byte(f.path, 42 * 4096 + 4095);

	/* Non-zero padding in the last level-0 hash block is refused. */
	flip_byte(f.path, f.data_size + f.tree_size - 1);
	file = rota_file_view_new(f.path, &error);
	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	g_assert_false(rota_view_read_at(v, f.data_size - 4096, buf, 4096, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	fixture_clear(&f);
}

/* A tree whose padding is not zero but whose root hash covers it (as a
 * signer could make one): the hashes all match, only the padding rule
 * refuses it, in the full check and in the view alike. */
static void test_signed_nonzero_padding(void)
{
	Fixture f;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL, v = NULL;
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree gchar *raw = NULL;
	guint8 root[32], buf[4096];
	gsize root_len = sizeof(root), len = 0;

	fixture_make(&f, 100); /* 100 digests: one level-0 block, the root hashes it */
	g_assert_cmpuint(f.tree_size, ==, 4096);
	flip_byte(f.path, f.data_size + 4095); /* past the 100 * 32 bytes of digests */
	g_assert_true(g_file_get_contents(f.path, &raw, &len, NULL));
	g_assert_cmpuint(len, ==, f.data_size + 4096);
	g_checksum_update(sum, salt, 32);
	g_checksum_update(sum, (const guchar *)raw + f.data_size, 4096);
	g_checksum_get_digest(sum, root, &root_len);

	file = rota_file_view_new(f.path, &error);
	g_assert_no_error(error);
	g_assert_false(rota_verity_check_all(file, f.data_size, f.tree_size, salt, root, 1, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "non-zero padding"));
	g_clear_error(&error);

	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, root, &error);
	g_assert_nonnull(v);
	g_assert_false(rota_view_read_at(v, 0, buf, sizeof(buf), &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "non-zero padding"));
	fixture_clear(&f);
}

static void test_single_block(void)
{
	Fixture f;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL, v = NULL;
	guint8 buf[4096];

	fixture_make(&f, 1);
	g_assert_cmpuint(f.tree_size, ==, 0);
	file = rota_file_view_new(f.path, &error);
	v = rota_verity_view_new(file, f.data_size, 0, salt, f.root, &error);
	g_assert_true(rota_view_read_at(v, 0, buf, 4096, &error));
	g_assert_true(rota_verity_check_all(file, f.data_size, 0, salt, f.root, 1, &error));
	fixture_clear(&f);
}

/* Both ways of reading data blocks: from a mapping (a file only its owner
 * can write) and by pread (group-writable: never mapped). The results and
 * errors must be the same. */
static void test_map_and_pread(gconstpointer data)
{
	gboolean mapped = GPOINTER_TO_INT(data);
	Fixture f;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL, v = NULL;
	g_autofree gchar *raw = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(11);
	g_autofree guint8 *buf = g_malloc(700 * 4096);

	fixture_make(&f, 700); /* more than one 1 MiB chunk per thread on 2 threads */
	g_assert_true(g_file_get_contents(f.path, &raw, NULL, NULL));
	g_assert_cmpint(chmod(f.path, mapped ? 0644 : 0664), ==, 0);
	file = rota_file_view_new(f.path, &error);
	g_assert_no_error(error);
	g_assert_true((rota_view_map(file, 0, 4096) != NULL) == mapped);
	g_assert_true(rota_verity_check_all(file, f.data_size, f.tree_size, salt, f.root, 2, &error));
	g_assert_no_error(error);
	g_assert_true(rota_verity_check_all(file, f.data_size, f.tree_size, salt, f.root, 1, &error));
	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	g_assert_nonnull(v);
	/* Aligned, unaligned, within one block, across many chunks. */
	rota_view_read_at(v, 0, buf, f.data_size, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(buf, f.data_size, raw, f.data_size);
	for (int i = 0; i < 300; i++) {
		gsize len = (gsize)g_rand_int_range(rand, 1, i % 10 == 0 ? 1200 * 1024 : 70000);
		guint64 off = (guint64)g_rand_int_range(rand, 0, (gint32)(f.data_size - len));
		if (i % 3 == 0)
			off &= ~(guint64)4095;
		g_assert_true(rota_view_read_at(v, off, buf, len, &error));
		g_assert_cmpmem(buf, len, raw + off, len);
	}
	g_clear_pointer(&v, rota_view_unref);
	g_clear_pointer(&file, rota_view_unref);

	/* A bad block deep inside the second thread's range. */
	flip_byte(f.path, 650 * 4096 + 1);
	file = rota_file_view_new(f.path, &error);
	g_assert_true((rota_view_map(file, 0, 4096) != NULL) == mapped);
	g_assert_false(rota_verity_check_all(file, f.data_size, f.tree_size, salt, f.root, 2, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "data block at offset 2662400"));
	g_clear_error(&error);
	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	g_assert_true(rota_view_read_at(v, 0, buf, 650 * 4096, &error));
	g_assert_false(rota_view_read_at(v, 600 * 4096 + 3, buf, 60 * 4096, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "offset 2662400"));
	g_clear_error(&error);
	g_clear_pointer(&v, rota_view_unref);
	g_clear_pointer(&file, rota_view_unref);

	/* The tree is checked while the data is hashed: with both damaged, the
	 * tree is what gets reported, on any number of threads. */
	flip_byte(f.path, f.data_size + 4096 + 9);
	file = rota_file_view_new(f.path, &error);
	for (guint threads = 1; threads <= 2; threads++) {
		g_assert_false(rota_verity_check_all(file, f.data_size, f.tree_size, salt, f.root, threads, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
		g_assert_nonnull(strstr(error->message, "hash tree block"));
		g_clear_error(&error);
	}
	fixture_clear(&f);
}

/* A payload file that shrank after it was opened: never mapped (the size is
 * checked before mapping), so the check and the view fail naming the offset
 * instead of dying of SIGBUS. */
static void test_truncated(void)
{
	Fixture f;
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL, v = NULL;
	guint8 buf[8192];

	fixture_make(&f, 700);
	g_assert_cmpint(chmod(f.path, 0644), ==, 0);
	file = rota_file_view_new(f.path, &error);
	v = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	g_assert_cmpint(truncate(f.path, 500 * 4096), ==, 0);
	g_assert_false(rota_verity_check_all(file, f.data_size, f.tree_size, salt, f.root, 2, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "offset"));
	g_test_message("truncated: %s", error->message);
	g_clear_error(&error);
	/* The tree (after the data) is gone too: reads fail on it. */
	g_assert_false(rota_view_read_at(v, 100 * 4096 + 5, buf, sizeof(buf), &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "end of file at offset"));
	fixture_clear(&f);
}

/* ---- the decrypting view (crypt payloads) ---- */

static const guint8 KEY[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
			       0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
			       0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};

/* A crypt payload as bundles have it: the tree is over the ciphertext.
 * Returns the known plaintext (the cipher itself is checked against the
 * openssl CLI in test_crypt_view). */
static guint8 *fixture_make_crypt(Fixture *f, guint64 blocks)
{
	guint8 *plain = g_malloc(blocks * 4096);
	g_autofree guint8 *cipher = NULL;
	g_autoptr(GError) error = NULL;

	fill_random(plain, blocks * 4096, 77);
	cipher = g_memdup2(plain, blocks * 4096);
	g_assert_true(rota_crypt_blocks(KEY, 0, cipher, blocks, TRUE, &error));
	g_assert_no_error(error);
	fixture_make_from(f, cipher, blocks);
	return plain;
}

static RotaView *decrypting_view(const Fixture *f, RotaView *file)
{
	g_autoptr(GError) error = NULL;
	RotaView *v = rota_verity_view_new_decrypting(file, f->data_size, f->tree_size, salt, f->root, KEY, &error);

	g_assert_no_error(error);
	g_assert_nonnull(v);
	return v;
}

static void assert_read(RotaView *v, const guint8 *plain, guint64 off, gsize len)
{
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buf = g_malloc(len);

	g_assert_true(rota_view_read_at(v, off, buf, len, &error));
	g_assert_no_error(error);
	if (memcmp(buf, plain + off, len) != 0)
		g_error("plaintext mismatch at offset %" G_GUINT64_FORMAT " length %" G_GSIZE_FORMAT, off, len);
}

/* The payload file as a view: mapped, or (group-writable: the file view
 * then refuses to map it) read with pread. */
static RotaView *open_payload(const Fixture *f, gboolean mapped)
{
	g_autoptr(GError) error = NULL;
	RotaView *file;

	g_assert_cmpint(chmod(f->path, mapped ? 0644 : 0664), ==, 0);
	file = rota_file_view_new(f->path, &error);
	g_assert_no_error(error);
	g_assert_true((rota_view_map(file, 0, 4096) != NULL) == mapped);
	return file;
}

/* A read that must fail as corrupt, naming `names`, with every byte of the
 * request zeroed and nothing written past it. */
static void assert_read_corrupt(RotaView *v, guint64 off, gsize len, const gchar *names)
{
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buf = g_malloc(len + 1);

	memset(buf, 0xa5, len + 1);
	g_assert_false(rota_view_read_at(v, off, buf, len, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	if (!strstr(error->message, names))
		g_error("read at %" G_GUINT64_FORMAT ": \"%s\" does not name %s", off, error->message, names);
	for (gsize k = 0; k < len; k++) {
		if (buf[k] != 0)
			g_error("read at %" G_GUINT64_FORMAT ": byte %" G_GSIZE_FORMAT " of a failed read is not zero", off, k);
	}
	g_assert_cmpuint(buf[len], ==, 0xa5);
}

/* Whole payload, single bytes, block and chunk edges and random ranges
 * give the known plaintext, the same as the former two-pass stack (crypt
 * view over verity view), from a mapping and by pread. */
static void test_decrypting_reads(gconstpointer data)
{
	gboolean mapped = GPOINTER_TO_INT(data);
	const guint64 blocks = 700; /* several 128 KiB pread pieces and 1 MiB chunks */
	Fixture f;
	g_autofree guint8 *plain = fixture_make_crypt(&f, blocks);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = NULL, v = NULL, verity = NULL, stacked = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(3);
	static const struct {
		guint64 off;
		gsize len;
	} edges[] = {
		{0, 1}, {4095, 1}, {4096, 1}, {4095, 2}, {4090, 20}, {0, 4096}, {1, 4096}, {4096, 8192},
		{4097, 8190}, {1048576 - 3, 10}, {1048576 - 4096, 8192}, {131072 - 1, 131072 + 2},
		{700 * 4096 - 1, 1}, {700 * 4096 - 5000, 5000},
	};

	file = open_payload(&f, mapped);
	v = decrypting_view(&f, file);
	g_assert_cmpuint(rota_view_get_size(v), ==, f.data_size);
	verity = rota_verity_view_new(file, f.data_size, f.tree_size, salt, f.root, &error);
	stacked = rota_crypt_view_new(verity, KEY, &error);
	g_assert_no_error(error);

	assert_read(v, plain, 0, f.data_size);
	for (gsize i = 0; i < G_N_ELEMENTS(edges); i++)
		assert_read(v, plain, edges[i].off, edges[i].len);
	for (int i = 0; i < 300; i++) {
		gsize len = (gsize)g_rand_int_range(rand, 1, i % 10 == 0 ? 1200 * 1024 : 70000);
		guint64 off = (guint64)g_rand_int_range(rand, 0, (gint32)(f.data_size - len + 1));
		g_autofree guint8 *a = g_malloc(len);
		g_autofree guint8 *b = g_malloc(len);

		if (i % 3 == 0)
			off &= ~(guint64)4095;
		g_assert_true(rota_view_read_at(v, off, a, len, &error));
		g_assert_true(rota_view_read_at(stacked, off, b, len, &error));
		g_assert_no_error(error);
		g_assert_cmpmem(a, len, plain + off, len);
		g_assert_cmpmem(a, len, b, len);
	}
	fixture_clear(&f);
}

/* A flipped ciphertext byte: every read touching its block fails naming
 * the block's offset and leaves the buffer zeroed (no plaintext of it or of
 * its neighbours in the same read); reads of other blocks still work. */
static void test_decrypting_corrupt(gconstpointer data)
{
	gboolean mapped = GPOINTER_TO_INT(data);
	Fixture f;
	g_autofree guint8 *plain = fixture_make_crypt(&f, 300);
	g_autoptr(RotaView) file = NULL, v = NULL;
	static const struct {
		guint64 off;
		gsize len;
	} reads[] = {
		{42 * 4096, 4096},          /* the block alone */
		{40 * 4096, 5 * 4096},      /* whole blocks around it */
		{42 * 4096 + 100, 10},      /* inside it */
		{42 * 4096 + 4095, 1},      /* its last byte */
		{41 * 4096 + 7, 2 * 4096},  /* unaligned, across both its edges */
	};

	flip_byte(f.path, 42 * 4096 + 1000);
	file = open_payload(&f, mapped);
	v = decrypting_view(&f, file);
	for (gsize i = 0; i < G_N_ELEMENTS(reads); i++)
		assert_read_corrupt(v, reads[i].off, reads[i].len, "data block at offset 172032");
	assert_read(v, plain, 41 * 4096, 4096);
	assert_read(v, plain, 43 * 4096, 4096);
	assert_read(v, plain, 0, 42 * 4096);
	fixture_clear(&f);
}

/* Reads hash blocks two at a time: a bad block is caught in either place of
 * a pair, the first bad block is the one named even when the pair spans two
 * hash blocks and the second of those is bad too, and nothing of a failed
 * read is left in the buffer. */
static void test_decrypting_pairs(gconstpointer data)
{
	gboolean mapped = GPOINTER_TO_INT(data);
	Fixture f;
	g_autofree guint8 *plain = fixture_make_crypt(&f, 300);
	g_autoptr(RotaView) file = NULL, v = NULL;
	static const struct {
		guint64 off;
		gsize len;
		const gchar *names;
	} reads[] = {
		{127 * 4096, 2 * 4096, "data block at offset 520192"},   /* 127 first in its pair */
		{126 * 4096, 2 * 4096, "data block at offset 520192"},   /* 127 second */
		{128 * 4096, 4096, "hash tree block at offset 1236992"}, /* 128's hash block */
		{129 * 4096, 3 * 4096, "hash tree block at offset 1236992"},
	};

	/* Data block 127 (the last one level-0 hash block 0 covers) and
	 * level-0 hash block 1 (300 blocks: the top block, then 3 level-0
	 * blocks; block 1 is the tree's third block). */
	flip_byte(f.path, 127 * 4096 + 5);
	flip_byte(f.path, f.data_size + 2 * 4096 + 7);
	file = open_payload(&f, mapped);
	v = decrypting_view(&f, file);
	for (gsize i = 0; i < G_N_ELEMENTS(reads); i++)
		assert_read_corrupt(v, reads[i].off, reads[i].len, reads[i].names);
	assert_read(v, plain, 125 * 4096, 2 * 4096); /* a good pair next to the bad one */
	assert_read(v, plain, 0, 127 * 4096);
	fixture_clear(&f);
}

typedef struct {
	RotaView *view;
	const guint8 *plain;
	guint64 size;
	guint32 seed;
} ReaderJob;

static gpointer reader_run(gpointer data)
{
	ReaderJob *job = data;
	g_autoptr(GRand) rand = g_rand_new_with_seed(job->seed);

	for (int i = 0; i < 200; i++) {
		gsize len = (gsize)g_rand_int_range(rand, 1, 300000);
		guint64 off = (guint64)g_rand_int_range(rand, 0, (gint32)(job->size - len + 1));
		assert_read(job->view, job->plain, off, len);
	}
	return NULL;
}

/* Concurrent reads on one view (installs decode on two threads): each
 * borrows its own cipher context. */
static void test_decrypting_threads(void)
{
	Fixture f;
	g_autofree guint8 *plain = fixture_make_crypt(&f, 500);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) file = rota_file_view_new(f.path, &error);
	g_autoptr(RotaView) v = decrypting_view(&f, file);
	ReaderJob jobs[4];
	GThread *threads[4];

	for (int i = 0; i < 4; i++) {
		jobs[i] = (ReaderJob){v, plain, f.data_size, (guint32)(100 + i)};
		threads[i] = g_thread_new("reader", reader_run, &jobs[i]);
	}
	for (int i = 0; i < 4; i++)
		g_thread_join(threads[i]);
	fixture_clear(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/verity/tree-sizes", test_tree_sizes);
	g_test_add_data_func("/verity/veritysetup/5", GSIZE_TO_POINTER(5), compare_with_veritysetup);
	g_test_add_data_func("/verity/veritysetup/128", GSIZE_TO_POINTER(128), compare_with_veritysetup);
	g_test_add_data_func("/verity/veritysetup/257", GSIZE_TO_POINTER(257), compare_with_veritysetup);
	g_test_add_data_func("/verity/veritysetup/16513", GSIZE_TO_POINTER(16513), compare_with_veritysetup);
	g_test_add_func("/verity/check-all", test_check_all);
	g_test_add_func("/verity/view", test_view_reads);
	g_test_add_func("/verity/signed-nonzero-padding", test_signed_nonzero_padding);
	g_test_add_func("/verity/single-block", test_single_block);
	g_test_add_data_func("/verity/mapped", GINT_TO_POINTER(TRUE), test_map_and_pread);
	g_test_add_data_func("/verity/pread", GINT_TO_POINTER(FALSE), test_map_and_pread);
	g_test_add_func("/verity/truncated", test_truncated);
	g_test_add_data_func("/verity/decrypting/mapped", GINT_TO_POINTER(TRUE), test_decrypting_reads);
	g_test_add_data_func("/verity/decrypting/pread", GINT_TO_POINTER(FALSE), test_decrypting_reads);
	g_test_add_data_func("/verity/decrypting/corrupt-mapped", GINT_TO_POINTER(TRUE), test_decrypting_corrupt);
	g_test_add_data_func("/verity/decrypting/corrupt-pread", GINT_TO_POINTER(FALSE), test_decrypting_corrupt);
	g_test_add_func("/verity/decrypting/threads", test_decrypting_threads);
	g_test_add_data_func("/verity/decrypting/pairs-mapped", GINT_TO_POINTER(TRUE), test_decrypting_pairs);
	g_test_add_data_func("/verity/decrypting/pairs-pread", GINT_TO_POINTER(FALSE), test_decrypting_pairs);
	return g_test_run();
}
