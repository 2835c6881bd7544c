/* test_view.c — file and sub views: exact reads, range errors and the
 * zero-copy map operation. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "view/view.h"

static gchar *make_file(gsize size)
{
	g_autofree guint8 *data = g_malloc(size);
	gchar *path = NULL;
	int fd = g_file_open_tmp("rota-view-XXXXXX", &path, NULL);

	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)(i * 7);
	g_assert_true(g_file_set_contents(path, (gchar *)data, (gssize)size, NULL));
	close(fd);
	return path;
}

static void test_file_view(void)
{
	g_autofree gchar *path = make_file(10000);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = rota_file_view_new(path, &error);
	guint8 buf[16];

	g_assert_no_error(error);
	g_assert_cmpuint(rota_view_get_size(v), ==, 10000);
	g_assert_true(rota_view_read_at(v, 9990, buf, 10, &error));
	for (int i = 0; i < 10; i++)
		g_assert_cmpuint(buf[i], ==, (guint8)((9990 + i) * 7));
	g_assert_false(rota_view_read_at(v, 9995, buf, 10, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "offset 9995"));
	g_unlink(path);
}

static void test_sub_view(void)
{
	g_autofree gchar *path = make_file(4096);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = rota_file_view_new(path, &error);
	g_autoptr(RotaView) sub = rota_sub_view_new(v, 100, 200, &error);
	g_autoptr(RotaView) bad = NULL;
	guint8 b;

	g_assert_nonnull(sub);
	g_assert_cmpuint(rota_view_get_size(sub), ==, 200);
	g_assert_true(rota_view_read_at(sub, 0, &b, 1, &error));
	g_assert_cmpuint(b, ==, (guint8)(100 * 7));
	g_assert_false(rota_view_read_at(sub, 200, &b, 1, &error));
	g_clear_error(&error);
	bad = rota_sub_view_new(v, 4000, 200, &error);
	g_assert_null(bad);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_unlink(path);
}

static void test_missing_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = rota_file_view_new("/nonexistent/bundle.raucb", &error);

	g_assert_null(v);
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "/nonexistent/bundle.raucb"));
}

/* A file only its owner can write is mapped: whole, in part, through a sub
 * view; ranges beyond the view (or empty) give NULL. */
static void test_map_file(void)
{
	g_autofree gchar *path = make_file(10000);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = NULL;
	g_autoptr(RotaView) sub = NULL;
	const guint8 *all, *part, *s;

	g_assert_cmpint(chmod(path, 0644), ==, 0);
	v = rota_file_view_new(path, &error);
	g_assert_no_error(error);
	all = rota_view_map(v, 0, 10000);
	g_assert_nonnull(all);
	for (gsize i = 0; i < 10000; i++)
		g_assert_cmpuint(all[i], ==, (guint8)(i * 7));
	part = rota_view_map(v, 9990, 10);
	g_assert_true(part == all + 9990);
	g_assert_null(rota_view_map(v, 9995, 10));
	g_assert_null(rota_view_map(v, 10000, 1));
	g_assert_null(rota_view_map(v, G_MAXUINT64 - 2, 10));
	g_assert_null(rota_view_map(v, 0, 0));

	sub = rota_sub_view_new(v, 100, 200, &error);
	g_assert_no_error(error);
	s = rota_view_map(sub, 0, 200);
	g_assert_true(s == all + 100);
	g_assert_cmpuint(s[0], ==, (guint8)(100 * 7));
	g_assert_true(rota_view_map(sub, 150, 50) == all + 250);
	g_assert_null(rota_view_map(sub, 150, 51));
	g_assert_null(rota_view_map(sub, 200, 1));
	g_unlink(path);
}

typedef struct {
	RotaView *view;
	const guint8 *got;
} MapThread;

static gpointer map_thread(gpointer data)
{
	MapThread *mt = data;
	mt->got = rota_view_map(mt->view, 4096, 4096);
	return NULL;
}

/* The first map is lazy and may race: every thread gets the same mapping. */
static void test_map_threads(void)
{
	g_autofree gchar *path = make_file(1 << 20);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = NULL;
	MapThread mt[8];
	GThread *threads[8];

	g_assert_cmpint(chmod(path, 0600), ==, 0);
	v = rota_file_view_new(path, &error);
	g_assert_no_error(error);
	for (int i = 0; i < 8; i++) {
		mt[i] = (MapThread){v, NULL};
		threads[i] = g_thread_new("map", map_thread, &mt[i]);
	}
	for (int i = 0; i < 8; i++) {
		g_thread_join(threads[i]);
		g_assert_nonnull(mt[i].got);
		g_assert_true(mt[i].got == mt[0].got);
	}
	g_assert_true(rota_view_map(v, 0, 1) + 4096 == mt[0].got);
	g_unlink(path);
}

/* Files rota does not map: writable by group or others (someone else could
 * truncate them under the mapping: SIGBUS), and files already shorter than
 * the view. Reads then go through pread, which names the offset. */
static void test_map_refused(void)
{
	g_autofree gchar *path = make_file(10000);
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) v = NULL;
	guint8 buf[16];

	g_assert_cmpint(chmod(path, 0664), ==, 0);
	v = rota_file_view_new(path, &error);
	g_assert_no_error(error);
	g_assert_null(rota_view_map(v, 0, 100));
	g_assert_true(rota_view_read_at(v, 9990, buf, 10, &error));
	g_assert_cmpuint(buf[0], ==, (guint8)(9990 * 7));
	g_clear_pointer(&v, rota_view_unref);

	g_assert_cmpint(chmod(path, 0646), ==, 0);
	v = rota_file_view_new(path, &error);
	g_assert_null(rota_view_map(v, 0, 100));
	g_clear_pointer(&v, rota_view_unref);

	/* Truncated after the view was opened, before the first map. */
	g_assert_cmpint(chmod(path, 0644), ==, 0);
	v = rota_file_view_new(path, &error);
	g_assert_cmpint(truncate(path, 5000), ==, 0);
	g_assert_null(rota_view_map(v, 0, 100));
	g_assert_true(rota_view_read_at(v, 0, buf, 16, &error));
	g_assert_false(rota_view_read_at(v, 6000, buf, 16, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "6000"));
	g_unlink(path);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/view/file", test_file_view);
	g_test_add_func("/view/sub", test_sub_view);
	g_test_add_func("/view/missing", test_missing_file);
	g_test_add_func("/view/map-file", test_map_file);
	g_test_add_func("/view/map-threads", test_map_threads);
	g_test_add_func("/view/map-refused", test_map_refused);
	return g_test_run();
}
