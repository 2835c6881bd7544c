/* test_squashfs.c — the squashfs writer, reader and extractor against each
 * other and against squashfs-tools' unsquashfs, for every compressor the
 * installed libsquashfs supports. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/squashfs.h"
#include "common/util.h"

static const gchar *const compressors[] = {"gzip", "xz", "zstd", "lz4"};

typedef struct {
	gchar *tmp;  /* scratch dir, removed at teardown */
	gchar *src;  /* source tree */
} Fixture;

static void write_random_file(const gchar *path, gsize size, GRand *rand)
{
	g_autofree guint8 *data = g_malloc(MAX(size, 1));
	g_autoptr(GError) error = NULL;

	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)g_rand_int_range(rand, 0, 256);
	g_assert_true(g_file_set_contents(path, (const gchar *)data, size, &error));
	g_assert_no_error(error);
}

static gchar *sub(const gchar *dir, const gchar *name)
{
	return g_build_filename(dir, name, NULL);
}

/* A tree covering the layouts that matter: empty, exactly one block, a tail
 * fragment, many blocks, all-zero (sparse) blocks, nesting, a relative
 * symlink, an empty directory and a read-only file. */
static void make_tree(const gchar *src)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(42);
	g_autofree gchar *deep = sub(src, "a/b/c");
	g_autofree gchar *empty_dir = sub(src, "empty-dir");
	g_autofree gchar *p = NULL;
	g_autofree guint8 *zeros = g_malloc0(1024 * 1024);

	g_assert_cmpint(g_mkdir_with_parents(deep, 0755), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(empty_dir, 0755), ==, 0);

	p = sub(src, "empty.bin");
	write_random_file(p, 0, rand);
	g_free(p), p = sub(src, "block.bin");
	write_random_file(p, 131072, rand);
	g_free(p), p = sub(src, "tail.bin");
	write_random_file(p, 200000, rand);
	g_free(p), p = sub(src, "big.bin");
	write_random_file(p, 5 * 1024 * 1024 + 123, rand);
	g_free(p), p = sub(src, "a/b/c/deep.txt");
	g_assert_true(g_file_set_contents(p, "deep file\n", -1, NULL));
	g_free(p), p = sub(src, "a/small.txt");
	g_assert_true(g_file_set_contents(p, "hello squashfs\n", -1, NULL));
	g_free(p), p = sub(src, "a/zeros.bin");
	g_assert_true(g_file_set_contents(p, (const gchar *)zeros, 1024 * 1024, NULL));
	g_free(p), p = sub(src, "readonly.txt");
	g_assert_true(g_file_set_contents(p, "read only\n", -1, NULL));
	g_assert_cmpint(chmod(p, 0444), ==, 0);
	g_free(p), p = sub(src, "link");
	g_assert_cmpint(symlink("a/b/c/deep.txt", p), ==, 0);
	g_free(p), p = sub(src, "a/b/uplink");
	g_assert_cmpint(symlink("../small.txt", p), ==, 0);
}

static void fixture_setup(Fixture *fx, gconstpointer data)
{
	(void)data;
	fx->tmp = g_dir_make_tmp("rota-sqfs-XXXXXX", NULL);
	g_assert_nonnull(fx->tmp);
	fx->src = sub(fx->tmp, "src");
	g_assert_cmpint(mkdir(fx->src, 0755), ==, 0);
	make_tree(fx->src);
}

static void fixture_teardown(Fixture *fx, gconstpointer data)
{
	const gchar *argv[] = {"chmod", "-R", "u+rwX", fx->tmp, NULL};
	const gchar *rm[] = {"rm", "-rf", fx->tmp, NULL};

	(void)data;
	g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	g_spawn_sync(NULL, (gchar **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	g_free(fx->src);
	g_free(fx->tmp);
}

/* Writes src into image_path and returns its size. */
static guint64 build_image(const gchar *src, const gchar *image_path, const gchar *comp, const gchar *args)
{
	RotaSquashfsOptions opts;
	g_autoptr(GError) error = NULL;
	guint64 size = 0;
	int fd;
	gboolean ok;

	rota_squashfs_options_init(&opts);
	g_free(opts.compressor);
	opts.compressor = g_strdup(comp);
	g_assert_true(rota_squashfs_options_parse_args(&opts, args, &error));
	g_assert_no_error(error);
	fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	g_assert_cmpint(fd, >=, 0);
	ok = rota_squashfs_write_dir(src, fd, &opts, &size, &error);
	g_assert_no_error(error);
	g_assert_true(ok);
	close(fd);
	rota_squashfs_options_clear(&opts);
	return size;
}

static RotaSquashfs *open_image(const gchar *image_path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) view = rota_file_view_new(image_path, &error);
	RotaSquashfs *sqfs;

	g_assert_no_error(error);
	sqfs = rota_squashfs_open(view, &error);
	g_assert_no_error(error);
	g_assert_nonnull(sqfs);
	return sqfs;
}

/* Asserts that the tree at b is identical to a: types, modes (permission
 * bits), file contents, symlink targets, and no extra entries. */
static void assert_trees_equal(const gchar *a, const gchar *b)
{
	g_autoptr(GDir) da = g_dir_open(a, 0, NULL);
	g_autoptr(GDir) db = g_dir_open(b, 0, NULL);
	guint na = 0, nb = 0;
	const gchar *name;

	g_assert_nonnull(da);
	g_assert_nonnull(db);
	while (g_dir_read_name(db) != NULL)
		nb++;
	while ((name = g_dir_read_name(da)) != NULL) {
		g_autofree gchar *pa = sub(a, name);
		g_autofree gchar *pb = sub(b, name);
		struct stat sa, sb;

		na++;
		g_assert_cmpint(lstat(pa, &sa), ==, 0);
		if (lstat(pb, &sb) != 0)
			g_error("'%s' missing from extracted tree", pb);
		g_assert_cmpint(sa.st_mode & S_IFMT, ==, sb.st_mode & S_IFMT);
		if (S_ISDIR(sa.st_mode)) {
			g_assert_cmpint(sa.st_mode & 0777, ==, sb.st_mode & 0777);
			assert_trees_equal(pa, pb);
		} else if (S_ISLNK(sa.st_mode)) {
			g_autofree gchar *ta = g_file_read_link(pa, NULL);
			g_autofree gchar *tb = g_file_read_link(pb, NULL);
			g_assert_cmpstr(ta, ==, tb);
		} else {
			g_autofree gchar *ca = NULL, *cb = NULL;
			gsize la = 0, lb = 0;

			g_assert_cmpint(sa.st_mode & 0777, ==, sb.st_mode & 0777);
			g_assert_true(g_file_get_contents(pa, &ca, &la, NULL));
			g_assert_true(g_file_get_contents(pb, &cb, &lb, NULL));
			g_assert_cmpmem(ca, la, cb, lb);
		}
	}
	g_assert_cmpuint(na, ==, nb);
}

/* Reads every regular file below src through the reader, whole and at
 * random offsets, and compares with the source. */
static void check_reader_tree(RotaSquashfs *sqfs, const gchar *src, const gchar *rel, GRand *rand)
{
	g_autofree gchar *dir = rel ? sub(src, rel) : g_strdup(src);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const gchar *name;

	g_assert_nonnull(d);
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *child_rel = rel ? g_strconcat(rel, "/", name, NULL) : g_strdup(name);
		g_autofree gchar *path = sub(src, child_rel);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *contents = NULL;
		g_autoptr(GBytes) loaded = NULL;
		gsize len = 0;
		guint64 size = 0;

		if (g_file_test(path, G_FILE_TEST_IS_SYMLINK))
			continue;
		if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
			check_reader_tree(sqfs, src, child_rel, rand);
			continue;
		}
		g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
		g_assert_true(rota_squashfs_file_size(sqfs, child_rel, &size, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(size, ==, len);

		loaded = rota_squashfs_load_file(sqfs, child_rel, 64 * 1024 * 1024, &error);
		g_assert_no_error(error);
		g_assert_cmpmem(g_bytes_get_data(loaded, NULL), g_bytes_get_size(loaded), contents, len);

		for (int i = 0; i < 20 && len > 0; i++) {
			gsize off = (gsize)g_rand_int_range(rand, 0, (gint32)len);
			gsize want = (gsize)g_rand_int_range(rand, 1, 400000);
			gsize n = MIN(len - off, want);
			g_autofree guint8 *buf = g_malloc(n);

			g_assert_true(rota_squashfs_read_file(sqfs, child_rel, off, buf, n, &error));
			g_assert_no_error(error);
			g_assert_cmpmem(buf, n, contents + off, n);
		}
	}
}

static void test_roundtrip(Fixture *fx, gconstpointer data)
{
	(void)data;
	for (gsize c = 0; c < G_N_ELEMENTS(compressors); c++) {
		g_autofree gchar *image = g_strdup_printf("%s/%s.sqfs", fx->tmp, compressors[c]);
		g_autoptr(GRand) rand = g_rand_new_with_seed(7);
		g_autoptr(RotaSquashfs) sqfs = NULL;
		g_autoptr(GError) error = NULL;
		guint64 size = build_image(fx->src, image, compressors[c], "-all-root -no-xattrs");
		struct stat st;
		guint8 byte;

		g_test_message("compressor %s: %" G_GUINT64_FORMAT " bytes", compressors[c], size);
		g_assert_cmpint(stat(image, &st), ==, 0);
		g_assert_cmpuint(size, ==, (guint64)st.st_size);
		g_assert_cmpuint(size % 4096, ==, 0);

		sqfs = open_image(image);
		check_reader_tree(sqfs, fx->src, NULL, rand);

		/* Reads past the end, '..', missing files and directories fail. */
		g_assert_false(rota_squashfs_read_file(sqfs, "tail.bin", 200000, &byte, 1, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		g_clear_error(&error);
		g_assert_false(rota_squashfs_read_file(sqfs, "a/../tail.bin", 0, &byte, 1, &error));
		g_assert_nonnull(strstr(error->message, ".."));
		g_clear_error(&error);
		g_assert_false(rota_squashfs_read_file(sqfs, "nope", 0, &byte, 1, &error));
		g_assert_nonnull(error);
		g_clear_error(&error);
		g_assert_false(rota_squashfs_read_file(sqfs, "tail.bin/x", 0, &byte, 1, &error));
		g_assert_nonnull(error);
		g_clear_error(&error);
		g_assert_false(rota_squashfs_read_file(sqfs, "a/b", 0, &byte, 1, &error));
		g_assert_nonnull(strstr(error->message, "not a regular file"));
		g_clear_error(&error);
		g_assert_null(rota_squashfs_load_file(sqfs, "big.bin", 1024, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT);
	}
}

static void test_block_sizes(Fixture *fx, gconstpointer data)
{
	static const gchar *const args[] = {"-b 4K", "-b 1M", "-b 65536"};

	(void)data;
	for (gsize i = 0; i < G_N_ELEMENTS(args); i++) {
		g_autofree gchar *image = g_strdup_printf("%s/bs%zu.sqfs", fx->tmp, i);
		g_autofree gchar *out = g_strdup_printf("%s/bs%zu-out", fx->tmp, i);
		g_autoptr(GRand) rand = g_rand_new_with_seed(9);
		g_autoptr(RotaSquashfs) sqfs = NULL;
		g_autoptr(GError) error = NULL;

		build_image(fx->src, image, "zstd", args[i]);
		sqfs = open_image(image);
		check_reader_tree(sqfs, fx->src, NULL, rand);
		g_assert_true(rota_squashfs_extract(sqfs, out, 2, &error));
		g_assert_no_error(error);
		assert_trees_equal(fx->src, out);
	}
}

static void run_unsquashfs(const gchar *const *argv, gchar **out_stdout)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *err_out = NULL;
	g_autofree gchar *ignored_out = NULL;
	gint status = 0;

	/* Capture stdout even when unused so unsquashfs' chatter stays out of
	 * the TAP stream. */
	if (out_stdout == NULL)
		out_stdout = &ignored_out;
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out_stdout, &err_out,
			  &status, &error))
		g_error("cannot run unsquashfs (squashfs-tools must be installed): %s", error->message);
	if (!g_spawn_check_wait_status(status, &error))
		g_error("unsquashfs failed: %s\n%s", error->message, err_out);
}

static void test_unsquashfs_compat(Fixture *fx, gconstpointer data)
{
	(void)data;
	for (gsize c = 0; c < G_N_ELEMENTS(compressors); c++) {
		g_autofree gchar *image = g_strdup_printf("%s/%s.sqfs", fx->tmp, compressors[c]);
		g_autofree gchar *out = g_strdup_printf("%s/%s-unsquashfs", fx->tmp, compressors[c]);
		g_autofree gchar *listing = NULL;
		const gchar *list_argv[] = {"unsquashfs", "-l", "-no-progress", image, NULL};
		const gchar *extract_argv[] = {"unsquashfs", "-no-progress", "-d", out, image, NULL};

		build_image(fx->src, image, compressors[c], NULL);
		run_unsquashfs(list_argv, &listing);
		g_assert_nonnull(strstr(listing, "squashfs-root/a/b/c/deep.txt"));
		g_assert_nonnull(strstr(listing, "squashfs-root/empty-dir"));
		run_unsquashfs(extract_argv, NULL);
		assert_trees_equal(fx->src, out);
	}
}

static void test_extract(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *image = sub(fx->tmp, "img.sqfs");
	g_autoptr(RotaSquashfs) sqfs = NULL;

	(void)data;
	build_image(fx->src, image, "gzip", NULL);
	sqfs = open_image(image);
	for (guint threads = 0; threads <= 2; threads++) {
		g_autofree gchar *out = g_strdup_printf("%s/out-%u", fx->tmp, threads);
		g_autoptr(GError) error = NULL;

		g_assert_true(rota_squashfs_extract(sqfs, out, threads, &error));
		g_assert_no_error(error);
		assert_trees_equal(fx->src, out);

		/* A second extraction to the same place must refuse. */
		g_assert_false(rota_squashfs_extract(sqfs, out, threads, &error));
		g_assert_nonnull(strstr(error->message, "exists already"));
	}
}

/* A view over a file that fails every read touching one byte, like a
 * verity view hitting a corrupted block. */
typedef struct {
	RotaView base;
	RotaView *inner;
	guint64 bad_offset;
} FailingView;

static gboolean failing_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	FailingView *self = (FailingView *)view;

	if (off <= self->bad_offset && self->bad_offset < off + len) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT, "test view: bad block at offset %" G_GUINT64_FORMAT,
			    self->bad_offset);
		return FALSE;
	}
	return rota_view_read_at(self->inner, off, buf, len, error);
}

static void failing_view_finalize(RotaView *view)
{
	rota_view_unref(((FailingView *)view)->inner);
}

static const RotaViewOps failing_view_ops = {.read_at = failing_view_read_at, .finalize = failing_view_finalize};

static void test_view_error_propagates(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *image = sub(fx->tmp, "img.sqfs");
	g_autofree gchar *out = sub(fx->tmp, "out");
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) inner = NULL;
	g_autoptr(RotaView) view = NULL;
	g_autoptr(RotaSquashfs) sqfs = NULL;
	FailingView *fv;

	(void)data;
	build_image(fx->src, image, "gzip", NULL);
	inner = rota_file_view_new(image, &error);
	g_assert_no_error(error);
	fv = rota_view_alloc(sizeof(FailingView), &failing_view_ops, rota_view_get_size(inner), "failing");
	fv->inner = rota_view_ref(inner);
	/* Data blocks start right after the superblock and total over 6 MiB,
	 * so offset 1 MiB lies inside some file's data. */
	fv->bad_offset = 1024 * 1024;
	view = (RotaView *)fv;

	sqfs = rota_squashfs_open(view, &error);
	g_assert_no_error(error);
	g_assert_false(rota_squashfs_extract(sqfs, out, 2, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "bad block at offset 1048576"));
	g_assert_null(strchr(error->message, '\n'));
}

static void corrupt_byte(const gchar *path, guint64 off)
{
	int fd = open(path, O_RDWR);
	guint8 b = 0;

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, &b, 1, (off_t)off), ==, 1);
	b ^= 0xFF;
	g_assert_cmpint(pwrite(fd, &b, 1, (off_t)off), ==, 1);
	close(fd);
}

static void test_corrupt(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *image = sub(fx->tmp, "img.sqfs");
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) view = NULL;
	g_autoptr(RotaView) short_view = NULL;

	(void)data;
	build_image(fx->src, image, "gzip", NULL);

	/* bytes_used beyond the view. */
	view = rota_file_view_new(image, &error);
	g_assert_no_error(error);
	short_view = rota_sub_view_new(view, 0, 8192, &error);
	g_assert_no_error(error);
	g_assert_null(rota_squashfs_open(short_view, &error));
	g_assert_nonnull(strstr(error->message, "bytes_used"));
	g_clear_error(&error);

	/* Compressed data damaged in the middle: squashfs has no checksums,
	 * but gzip's does, so the reader and extractor must fail naming the
	 * file, never return wrong bytes silently. */
	{
		g_autofree gchar *src2 = sub(fx->tmp, "src2");
		g_autofree gchar *text_path = sub(src2, "text.txt");
		g_autofree gchar *image2 = sub(fx->tmp, "img2.sqfs");
		g_autofree gchar *out = sub(fx->tmp, "corrupt-out");
		g_autoptr(GString) text = g_string_new(NULL);
		g_autoptr(RotaSquashfs) sqfs = NULL;
		g_autofree guint8 *buf = NULL;
		guint64 size2;

		for (int i = 0; text->len < 2 * 1024 * 1024; i++)
			g_string_append_printf(text, "line %d of a compressible file\n", i);
		g_assert_cmpint(mkdir(src2, 0755), ==, 0);
		g_assert_true(g_file_set_contents(text_path, text->str, (gssize)text->len, NULL));
		size2 = build_image(src2, image2, "gzip", NULL);
		corrupt_byte(image2, size2 / 4);
		sqfs = open_image(image2);
		buf = g_malloc(text->len);
		g_assert_false(rota_squashfs_read_file(sqfs, "text.txt", 0, buf, text->len, &error));
		g_assert_nonnull(strstr(error->message, "text.txt"));
		g_clear_error(&error);
		g_assert_false(rota_squashfs_extract(sqfs, out, 2, &error));
		g_assert_nonnull(strstr(error->message, "text.txt"));
		g_assert_null(strchr(error->message, '\n'));
		g_test_message("corrupt extract: %s", error->message);
		g_clear_error(&error);
	}

	/* Bad magic. */
	corrupt_byte(image, 0);
	g_clear_pointer(&view, rota_view_unref);
	view = rota_file_view_new(image, &error);
	g_assert_no_error(error);
	g_assert_null(rota_squashfs_open(view, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "magic"));
	g_clear_error(&error);

	/* Wrong version. */
	corrupt_byte(image, 0);
	corrupt_byte(image, 28);
	g_clear_pointer(&view, rota_view_unref);
	view = rota_file_view_new(image, &error);
	g_assert_no_error(error);
	g_assert_null(rota_squashfs_open(view, &error));
	g_assert_nonnull(error);
}

/* gzip images are read through libdeflate (whole blocks): images made by
 * rota with several block sizes and one made by mksquashfs must read and
 * extract exactly as their source. */
static void test_gzip_libdeflate(Fixture *fx, gconstpointer data)
{
	static const gchar *const args[] = {"-b 4K", "-b 1M", NULL};

	(void)data;
	for (gsize i = 0; i <= G_N_ELEMENTS(args); i++) {
		g_autofree gchar *image = g_strdup_printf("%s/gz%zu.sqfs", fx->tmp, i);
		g_autofree gchar *out = g_strdup_printf("%s/gz%zu-out", fx->tmp, i);
		g_autoptr(GRand) rand = g_rand_new_with_seed(5);
		g_autoptr(RotaSquashfs) sqfs = NULL;
		g_autoptr(GError) error = NULL;

		if (i < G_N_ELEMENTS(args)) {
			build_image(fx->src, image, "gzip", args[i]);
		} else {
			const gchar *argv[] = {"mksquashfs", fx->src, image, "-comp", "gzip", "-noappend", "-no-progress",
					       "-quiet", NULL};
			run_unsquashfs(argv, NULL); /* runs any squashfs-tools command */
		}
		sqfs = open_image(image);
		check_reader_tree(sqfs, fx->src, NULL, rand);
		g_assert_true(rota_squashfs_extract(sqfs, out, 2, &error));
		g_assert_no_error(error);
		assert_trees_equal(fx->src, out);
	}
}

/* Damage anywhere in a gzip image: every read either fails with the error
 * libsquashfs' zlib path gives (libdeflate hands failures back to it) and
 * names the file, or returns the right bytes; extraction likewise. */
static void test_gzip_corrupt_blocks(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *src = sub(fx->tmp, "gzsrc");
	g_autofree gchar *text_path = sub(src, "text.txt");
	g_autofree gchar *image = sub(fx->tmp, "gz.sqfs");
	g_autofree gchar *damaged = sub(fx->tmp, "gz-damaged.sqfs");
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree gchar *clean = NULL;
	gsize clean_len = 0;
	guint64 size;
	guint failures = 0;

	(void)data;
	for (int i = 0; text->len < 3 * 1024 * 1024; i++)
		g_string_append_printf(text, "line %d of a compressible file, %d\n", i, i * 7919 % 1000);
	g_assert_cmpint(mkdir(src, 0755), ==, 0);
	g_assert_true(g_file_set_contents(text_path, text->str, (gssize)text->len, NULL));
	size = build_image(src, image, "gzip", NULL);
	g_assert_true(g_file_get_contents(image, &clean, &clean_len, NULL));
	for (guint k = 1; k <= 16; k++) {
		guint64 off = 96 + (size / 2) * k / 17; /* the data blocks, before the tables */
		g_autofree gchar *out = g_strdup_printf("%s/gz-out-%u", fx->tmp, k);
		g_autoptr(GError) error = NULL;
		g_autoptr(RotaView) view = NULL;
		g_autoptr(RotaSquashfs) sqfs = NULL;
		g_autofree guint8 *buf = g_malloc(text->len);

		g_assert_true(g_file_set_contents(damaged, clean, (gssize)clean_len, NULL));
		corrupt_byte(damaged, off);
		view = rota_file_view_new(damaged, &error);
		g_assert_no_error(error);
		sqfs = rota_squashfs_open(view, &error);
		if (!sqfs) {
			g_assert_nonnull(error);
			continue;
		}
		if (rota_squashfs_read_file(sqfs, "text.txt", 0, buf, text->len, &error)) {
			g_assert_cmpmem(buf, text->len, text->str, text->len);
		} else {
			g_test_message("byte %" G_GUINT64_FORMAT ": %s", off, error->message);
			g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
			g_assert_nonnull(strstr(error->message, "text.txt"));
			g_assert_true(strstr(error->message, "compressed data is corrupt") ||
				      strstr(error->message, "size overflow"));
			failures++;
		}
		g_clear_error(&error);
		if (!rota_squashfs_extract(sqfs, out, 2, &error)) {
			g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
			g_assert_nonnull(strstr(error->message, "text.txt"));
		}
	}
	g_assert_cmpuint(failures, >=, 8);
}

static void test_write_errors(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *image = sub(fx->tmp, "x.sqfs");
	g_autofree gchar *fifo = sub(fx->src, "fifo");
	RotaSquashfsOptions opts;
	g_autoptr(GError) error = NULL;
	guint64 size = 0;
	int fd;

	(void)data;
	rota_squashfs_options_init(&opts);
	fd = open(image, O_RDWR | O_CREAT | O_TRUNC, 0644);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "x", 1), ==, 1);
	/* Not empty. */
	g_assert_false(rota_squashfs_write_dir(fx->src, fd, &opts, &size, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_cmpint(ftruncate(fd, 0), ==, 0);
	/* Unsupported file types are refused by name. */
	g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
	g_assert_false(rota_squashfs_write_dir(fx->src, fd, &opts, &size, &error));
	g_assert_nonnull(strstr(error->message, "fifo"));
	g_clear_error(&error);
	close(fd);
	rota_squashfs_options_clear(&opts);
}

static void test_options(void)
{
	RotaSquashfsOptions opts;
	g_autoptr(GError) error = NULL;
	static const gchar *const bad[] = {
		"-nopad", "-comp", "-comp bogus", "-b", "-b 3000", "-b 2M", "-b 2K", "-b 12x", "-b -4096",
		"-frobnicate", "-comp gzip -Xcompression-level 1", "'unterminated",
	};

	rota_squashfs_options_init(&opts);
	g_assert_cmpstr(opts.compressor, ==, "gzip");
	g_assert_cmpuint(opts.block_size, ==, 131072);
	g_assert_true(opts.pad_4k);

	g_assert_true(rota_squashfs_options_parse_args(&opts, "", &error));
	g_assert_true(rota_squashfs_options_parse_args(&opts, NULL, &error));
	g_assert_true(rota_squashfs_options_parse_args(
		&opts, "-all-root -no-xattrs -noappend -no-progress -quiet -comp xz -b 64K", &error));
	g_assert_no_error(error);
	g_assert_cmpstr(opts.compressor, ==, "xz");
	g_assert_cmpuint(opts.block_size, ==, 65536);
	g_assert_true(rota_squashfs_options_parse_args(&opts, "-b 1M -comp zstd", &error));
	g_assert_cmpuint(opts.block_size, ==, 1048576);
	g_assert_cmpstr(opts.compressor, ==, "zstd");
	g_assert_true(rota_squashfs_options_parse_args(&opts, "-b 4096", &error));
	g_assert_cmpuint(opts.block_size, ==, 4096);

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_false(rota_squashfs_options_parse_args(&opts, bad[i], &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		g_clear_error(&error);
	}
	g_assert_false(rota_squashfs_options_parse_args(&opts, "-quiet -frobnicate", &error));
	g_assert_nonnull(strstr(error->message, "-frobnicate"));
	g_clear_error(&error);
	g_assert_false(rota_squashfs_options_parse_args(&opts, "-nopad", &error));
	g_assert_nonnull(strstr(error->message, "-nopad"));
	rota_squashfs_options_clear(&opts);
	g_assert_null(opts.compressor);
}

/* Counts the bytes read through it and remembers the last announcement. */
typedef struct {
	RotaView base;
	RotaView *inner;
	guint64 bytes_read;
	guint64 announced_off, announced_len;
} CountingView;

static gboolean counting_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	CountingView *self = (CountingView *)view;

	self->bytes_read += len;
	return rota_view_read_at(self->inner, off, buf, len, error);
}

static void counting_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	CountingView *self = (CountingView *)view;

	self->announced_off = off;
	self->announced_len = len;
}

static void counting_view_finalize(RotaView *view)
{
	rota_view_unref(((CountingView *)view)->inner);
}

static const RotaViewOps counting_view_ops = {
	.read_at = counting_view_read_at, .finalize = counting_view_finalize, .will_read = counting_view_will_read};

/* Bytes of the image read to get [off, off+len) of text.txt from a fresh
 * reader (no block cached); *announced: what will_read() announced first. */
static guint64 image_bytes_for(const gchar *image, guint64 off, gsize len, guint64 *announced)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) inner = rota_file_view_new(image, &error);
	g_autoptr(RotaSquashfs) sqfs = NULL;
	g_autoptr(RotaView) file = NULL;
	g_autofree guint8 *buf = g_malloc(len);
	CountingView *cv;
	guint64 before;

	g_assert_no_error(error);
	cv = rota_view_alloc(sizeof(CountingView), &counting_view_ops, rota_view_get_size(inner), "counting");
	cv->inner = rota_view_ref(inner);
	sqfs = rota_squashfs_open(&cv->base, &error);
	g_assert_no_error(error);
	file = rota_squashfs_file_view_new(sqfs, "text.txt", &error);
	g_assert_no_error(error);
	g_assert_true(rota_view_read_at(file, 0, buf, 1, &error)); /* sets up the reader (fragment table) */
	rota_view_will_read(file, off, len);
	*announced = cv->announced_len;
	before = cv->bytes_read;
	g_assert_true(rota_view_read_at(file, off, buf, len, &error));
	g_assert_no_error(error);
	rota_view_unref(&cv->base);
	return cv->bytes_read - before;
}

/* Reading whole blocks reads exactly their compressed bytes (libsquashfs'
 * own reader also loads the block before a block-aligned offset), and
 * will_read() announces exactly those bytes. */
static void test_block_reads_exact(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *src = sub(fx->tmp, "text-src");
	g_autofree gchar *text_path = sub(src, "text.txt");
	g_autofree gchar *image = sub(fx->tmp, "text.sqfs");
	g_autoptr(GString) text = g_string_new(NULL);
	guint64 one, two, announced_one, announced_two;

	(void)data;
	for (int i = 0; text->len < 1024 * 1024; i++)
		g_string_append_printf(text, "entry %d: %d\n", i, i * 7919 % 100003);
	g_assert_cmpint(mkdir(src, 0755), ==, 0);
	g_assert_true(g_file_set_contents(text_path, text->str, (gssize)text->len, NULL));
	build_image(src, image, "gzip", "-b 65536");
	one = image_bytes_for(image, 3 * 65536, 65536, &announced_one);
	two = image_bytes_for(image, 2 * 65536, 2 * 65536, &announced_two);
	g_assert_cmpuint(one, >, 0);
	g_assert_cmpuint(one, <, 65536 / 2); /* compressed */
	g_assert_cmpuint(two, >, one);
	g_assert_cmpuint(announced_one, ==, one);
	g_assert_cmpuint(announced_two, ==, two);
}

/* Two files share their blocks (mksquashfs stores identical files once);
 * the inode of one is then patched to claim a longer last block than the
 * one stored. Reading part of the short block of the first file must not
 * let the second file's partial read of the same block be served from the
 * decoded-block cache, beyond the bytes actually decoded: the block does
 * not decode to the second file's length, so that read must fail. */
static void test_shared_block_cache(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *src = sub(fx->tmp, "dup-src");
	g_autofree gchar *a_path = sub(src, "a.bin");
	g_autofree gchar *b_path = sub(src, "b.bin");
	g_autofree gchar *image = sub(fx->tmp, "dup.sqfs");
	g_autofree gchar *contents = g_strnfill(4096 + 100, 'x');
	const gchar *argv[] = {"mksquashfs", src, image, "-noappend", "-quiet", "-no-progress", "-noI", "-no-fragments",
			       "-no-xattrs", "-all-root", "-b", "4096", "-comp", "gzip", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaSquashfs) sqfs = NULL;
	g_autofree guint8 *img = NULL;
	guint8 pattern[12], buf[100];
	const gchar *patched, *other;
	guint64 size_a = 0;
	gsize img_len = 0, hits = 0, at = 0;
	gint status = 0;

	(void)data;
	g_assert_cmpint(mkdir(src, 0755), ==, 0);
	g_assert_true(g_file_set_contents(a_path, contents, 4096 + 100, NULL));
	g_assert_true(g_file_set_contents(b_path, contents, 4096 + 100, NULL));
	g_assert_true(g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
				   NULL, NULL, NULL, &status, &error));
	g_assert_no_error(error);
	g_assert_cmpint(status, ==, 0);
	/* Basic file inodes: ..., fragment 0xFFFFFFFF, offset 0, size 4196: the
	 * first one found gets size 8192 (the same two blocks, no fragment). */
	g_assert_true(g_file_get_contents(image, (gchar **)&img, &img_len, NULL));
	memset(pattern, 0xFF, 4);
	memset(pattern + 4, 0, 4);
	pattern[8] = (4096 + 100) & 0xFF, pattern[9] = (4096 + 100) >> 8, pattern[10] = 0, pattern[11] = 0;
	for (gsize i = 0; i + sizeof pattern <= img_len; i++) {
		if (memcmp(img + i, pattern, sizeof pattern) == 0 && hits++ == 0)
			at = i;
	}
	g_assert_cmpuint(hits, ==, 2);
	img[at + 8] = 0, img[at + 9] = 0x20; /* 8192 */
	g_assert_true(g_file_set_contents(image, (const gchar *)img, (gssize)img_len, NULL));

	sqfs = open_image(image);
	g_assert_true(rota_squashfs_file_size(sqfs, "a.bin", &size_a, &error));
	patched = size_a == 8192 ? "a.bin" : "b.bin";
	other = size_a == 8192 ? "b.bin" : "a.bin";
	/* The short block, decoded for the file it belongs to. */
	g_assert_true(rota_squashfs_read_file(sqfs, other, 4096 + 10, buf, 50, &error));
	g_assert_no_error(error);
	g_assert_cmpmem(buf, 50, contents, 50);
	/* The patched file's read beyond the 100 decoded bytes. */
	g_assert_false(rota_squashfs_read_file(sqfs, patched, 4096 + 200, buf, 100, &error));
	g_assert_nonnull(error);
}

static void test_threaded_reads(Fixture *fx, gconstpointer data);

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define FX_TEST(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	FX_TEST("/squashfs/roundtrip", test_roundtrip);
	FX_TEST("/squashfs/block-sizes", test_block_sizes);
	FX_TEST("/squashfs/unsquashfs-compat", test_unsquashfs_compat);
	FX_TEST("/squashfs/extract", test_extract);
	FX_TEST("/squashfs/view-error", test_view_error_propagates);
	FX_TEST("/squashfs/corrupt", test_corrupt);
	FX_TEST("/squashfs/gzip-libdeflate", test_gzip_libdeflate);
	FX_TEST("/squashfs/gzip-corrupt-blocks", test_gzip_corrupt_blocks);
	FX_TEST("/squashfs/write-errors", test_write_errors);
	FX_TEST("/squashfs/threaded-reads", test_threaded_reads);
	FX_TEST("/squashfs/block-reads-exact", test_block_reads_exact);
	FX_TEST("/squashfs/shared-block-cache", test_shared_block_cache);
	g_test_add_func("/squashfs/options", test_options);
	return g_test_run();
}

typedef struct {
	RotaSquashfs *sqfs;
	gchar *contents;
	gsize len;
	guint32 seed;
} ReaderThread;

static gpointer reader_thread(gpointer data)
{
	ReaderThread *rt = data;
	g_autoptr(GRand) rand = g_rand_new_with_seed(rt->seed);

	for (int i = 0; i < 200; i++) {
		gsize off = (gsize)g_rand_int_range(rand, 0, (gint32)rt->len);
		gsize want = (gsize)g_rand_int_range(rand, 1, 300000);
		gsize n = MIN(rt->len - off, want);
		g_autofree guint8 *buf = g_malloc(n);
		g_autoptr(GError) error = NULL;

		if (!rota_squashfs_read_file(rt->sqfs, "big.bin", off, buf, n, &error) ||
		    memcmp(buf, rt->contents + off, n) != 0)
			return GINT_TO_POINTER(1);
	}
	return NULL;
}

/* read_file is documented thread-safe: hammer it from several threads. */
static void test_threaded_reads(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *image = sub(fx->tmp, "img.sqfs");
	g_autofree gchar *big = sub(fx->src, "big.bin");
	g_autoptr(RotaSquashfs) sqfs = NULL;
	ReaderThread rt[4];
	GThread *threads[4];
	gchar *contents = NULL;
	gsize len = 0;

	(void)data;
	build_image(fx->src, image, "lz4", NULL);
	sqfs = open_image(image);
	g_assert_true(g_file_get_contents(big, &contents, &len, NULL));
	for (int i = 0; i < 4; i++) {
		rt[i] = (ReaderThread){sqfs, contents, len, (guint32)i};
		threads[i] = g_thread_new("reader", reader_thread, &rt[i]);
	}
	for (int i = 0; i < 4; i++)
		g_assert_null(g_thread_join(threads[i]));
	g_free(contents);
}
