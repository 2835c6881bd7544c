/* test_verity.c — hash trees bit-identical to veritysetup, full checks and
 * the verity view, including corruption in data, tree and padding. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/verity.h"
#include "common/util.h"

static const guint8 salt[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

typedef struct {
	gchar *dir;
	gchar *path;   /* data followed by the tree */
	guint64 data_size;
	guint64 tree_size;
	guint8 root[32];
} Fixture;

static void fixture_make(Fixture *f, guint64 blocks)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)blocks);
	g_autofree guint8 *data = g_malloc(blocks * 4096);
	g_autoptr(GError) error = NULL;
	int fd;

	for (guint64 i = 0; i < blocks * 4096; i++)
		data[i] = (guint8)g_rand_int(rand);
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
	g_test_add_func("/verity/single-block", test_single_block);
	g_test_add_data_func("/verity/mapped", GINT_TO_POINTER(TRUE), test_map_and_pread);
	g_test_add_data_func("/verity/pread", GINT_TO_POINTER(FALSE), test_map_and_pread);
	g_test_add_func("/verity/truncated", test_truncated);
	return g_test_run();
}
