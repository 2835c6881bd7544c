/* test_view.c — file and sub views: exact reads and range errors. */
#include <glib/gstdio.h>
#include <string.h>
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

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/view/file", test_file_view);
	g_test_add_func("/view/sub", test_sub_view);
	g_test_add_func("/view/missing", test_missing_file);
	return g_test_run();
}
