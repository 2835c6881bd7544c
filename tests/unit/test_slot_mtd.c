/* test_slot_mtd.c — slots written by mtd-utils tools: which image types go
 * to which slot types, the exact tool calls, and that an image whose bytes
 * do not hash to the manifest digest is never handed over whole (stand-in
 * tools on PATH; the real ones need MTD/UBI devices). */
#include <glib/gstdio.h>
#include <string.h>

#include "install/slot_mtd.h"

static void test_accepts_table(void)
{
	/* system-conf.md §9.2, the nand, nor, ubivol and ubifs columns */
	static const struct {
		const gchar *itype, *stype;
		gboolean ok;
	} table[] = {
		{"raw", "nand", TRUE},        {"raw", "nor", TRUE},         {"raw", "ubivol", TRUE},
		{"raw", "ubifs", TRUE},       {"squashfs", "ubivol", TRUE}, {"ubifs", "ubivol", TRUE},
		{"ubifs", "ubifs", TRUE},     {"squashfs", "ubifs", FALSE}, {"squashfs", "nand", FALSE},
		{"ext4", "nand", FALSE},      {"ext4", "ubivol", FALSE},    {"vfat", "nor", FALSE},
		{"ubifs", "nand", FALSE},     {"tar", "ubivol", FALSE},     {"raw", "raw", FALSE},
		{"raw", "ext4", FALSE},       {"squashfs", "raw", FALSE},   {"emptyfs", "nor", FALSE},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
		if (rota_mtd_accepts(table[i].itype, table[i].stype) != table[i].ok)
			g_error("%s on %s: expected %s", table[i].itype, table[i].stype, table[i].ok ? "accepted" : "refused");
	}
}

static void assert_argv(GStrv argv, const gchar *expected)
{
	g_autofree gchar *joined = argv ? g_strjoinv(" ", argv) : g_strdup("(none)");
	g_assert_cmpstr(joined, ==, expected);
}

static void test_tool_calls(void)
{
	RotaSlot nand = {.name = "rootfs.1", .type = "nand", .device = "/dev/mtd3"};
	RotaSlot nor = {.name = "boot.1", .type = "nor", .device = "/dev/mtd5"};
	RotaSlot ubivol = {.name = "rootfs.1", .type = "ubivol", .device = "/dev/ubi0_1"};
	RotaSlot ubifs = {.name = "data.1", .type = "ubifs", .device = "/dev/ubi0_4"};
	g_auto(GStrv) e1 = rota_mtd_erase_argv(&nand), w1 = rota_mtd_write_argv(&nand, 4096, "-");
	g_auto(GStrv) e2 = rota_mtd_erase_argv(&nor), w2 = rota_mtd_write_argv(&nor, 4096, "/dev/stdin");
	g_auto(GStrv) e3 = rota_mtd_erase_argv(&ubivol), w3 = rota_mtd_write_argv(&ubivol, 123456789012ULL, "-");
	g_auto(GStrv) e4 = rota_mtd_erase_argv(&ubifs), w4 = rota_mtd_write_argv(&ubifs, 0, "-");

	assert_argv(e1, "flash_erase --quiet /dev/mtd3 0 0");
	assert_argv(w1, "nandwrite --pad --quiet /dev/mtd3 -");
	assert_argv(e2, "(none)"); /* flashcp --erase-all erases it (system-conf.md §9.3) */
	assert_argv(w2, "flashcp --erase-all /dev/stdin /dev/mtd5");
	/* UBI volumes are not erased: the volume update replaces them whole */
	assert_argv(e3, "(none)");
	assert_argv(w3, "ubiupdatevol --size=123456789012 /dev/ubi0_1 -");
	assert_argv(e4, "(none)");
	assert_argv(w4, "ubiupdatevol --size=0 /dev/ubi0_4 -");
}

/* ---- writes through stand-in tools ---- */

typedef struct {
	gchar *dir;
	gchar *image;
	gchar *device;
	GBytes *data;
	gchar *sha256;
} Fixture;

/* Stand-ins for the mtd-utils tools, first on PATH (set once, before any
 * thread runs): each logs its call to <device>.calls and keeps what it was
 * given in <device>.fed. */
static gchar *tools_dir;

static void put_tool(const gchar *name, const gchar *device_arg, const gchar *body)
{
	g_autofree gchar *path = g_build_filename(tools_dir, name, NULL);
	g_autofree gchar *script =
		g_strdup_printf("#!/bin/sh\necho \"%s $*\" >> \"%s.calls\"\n%s\n", name, device_arg, body);
	g_assert_true(g_file_set_contents(path, script, -1, NULL));
	g_assert_cmpint(g_chmod(path, 0755), ==, 0);
}

static void install_tools(void)
{
	g_autofree gchar *path = NULL;

	tools_dir = g_dir_make_tmp("rota-mtd-tools-XXXXXX", NULL);
	put_tool("flash_erase", "$2", "exit 0");
	put_tool("nandwrite", "$3", "exec cat > \"$3.fed\"");
	put_tool("flashcp", "$3", "exec cat \"$2\" > \"$3.fed\"");
	put_tool("ubiupdatevol", "$2", "exec cat > \"$2.fed\"");
	path = g_strconcat(tools_dir, ":", g_getenv("PATH"), NULL);
	g_setenv("PATH", path, TRUE);
}

static void remove_dir(const gchar *dir)
{
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", dir);
	g_assert_cmpint(system(cmd), ==, 0);
}

static void fixture_setup(Fixture *f, gconstpointer size_p)
{
	gsize size = GPOINTER_TO_SIZE(size_p);
	guint8 *data = g_malloc(size);

	f->dir = g_dir_make_tmp("rota-mtd-XXXXXX", NULL);
	f->image = g_build_filename(f->dir, "image.img", NULL);
	f->device = g_build_filename(f->dir, "device", NULL);
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)g_random_int();
	f->data = g_bytes_new_take(data, size);
	g_assert_true(g_file_set_contents(f->image, (const gchar *)data, (gssize)size, NULL));
	g_assert_true(g_file_set_contents(f->device, "", 0, NULL));
	f->sha256 = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, f->data);
}

static void fixture_teardown(Fixture *f, gconstpointer unused)
{
	(void)unused;
	remove_dir(f->dir);
	g_free(f->dir);
	g_free(f->image);
	g_free(f->device);
	g_free(f->sha256);
	g_bytes_unref(f->data);
}

static gchar *fed(Fixture *f, gsize *len)
{
	g_autofree gchar *path = g_strconcat(f->device, ".fed", NULL);
	gchar *data = NULL;
	if (!g_file_get_contents(path, &data, len, NULL))
		return NULL;
	return data;
}

static gchar *calls(Fixture *f)
{
	g_autofree gchar *path = g_strconcat(f->device, ".calls", NULL);
	gchar *text = NULL;
	return g_file_get_contents(path, &text, NULL, NULL) ? text : g_strdup("");
}

static gboolean write_slot(Fixture *f, const gchar *type, const gchar *sha256, GError **error)
{
	RotaSlot slot = {.name = "rootfs.1", .type = (gchar *)type, .device = f->device};
	g_autoptr(RotaView) src = rota_file_view_new(f->image, error);
	return src && rota_mtd_write(src, &slot, g_bytes_get_size(f->data), sha256, NULL, error);
}

static void forget_writes(Fixture *f)
{
	g_autofree gchar *fed_path = g_strconcat(f->device, ".fed", NULL);
	g_autofree gchar *calls_path = g_strconcat(f->device, ".calls", NULL);
	g_unlink(fed_path);
	g_unlink(calls_path);
}

static void test_streams_exactly_the_image(Fixture *f, gconstpointer unused)
{
	static const struct {
		const gchar *type;
		const gchar *calls; /* %1$s = device, %2$s = size */
	} cases[] = {
		{"nand", "flash_erase --quiet %1$s 0 0\nnandwrite --pad --quiet %1$s -\n"},
		{"nor", "flashcp --erase-all /dev/stdin %1$s\n"},
		{"ubivol", "ubiupdatevol --size=%2$s %1$s -\n"},
		{"ubifs", "ubiupdatevol --size=%2$s %1$s -\n"},
	};
	g_autofree gchar *size = g_strdup_printf("%" G_GSIZE_FORMAT, g_bytes_get_size(f->data));
	(void)unused;

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *got = NULL, *log = NULL, *expected = NULL;
		gsize len = 0;

		forget_writes(f);
		g_assert_true(write_slot(f, cases[i].type, f->sha256, &error));
		g_assert_no_error(error);
		got = fed(f, &len);
		g_assert_nonnull(got);
		g_assert_cmpmem(got, len, g_bytes_get_data(f->data, NULL), g_bytes_get_size(f->data));
		log = calls(f);
		expected = g_strdup_printf(cases[i].calls, f->device, size);
		g_assert_cmpstr(log, ==, expected);
	}
}

/* 2.5 MiB: fed in 1 MiB chunks, the last withheld on a mismatch. */
#define MISMATCH_SIZE (5u << 19)

static void test_mismatch_is_never_handed_over_whole(Fixture *f, gconstpointer unused)
{
	static const gchar *const types[] = {"nand", "ubivol", "ubifs"};
	const gchar *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
	(void)unused;

	for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *got = NULL;
		gsize len = 0;

		forget_writes(f);
		g_assert_false(write_slot(f, types[i], wrong, &error));
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
		g_assert_nonnull(strstr(error->message, "image for slot rootfs.1 does not match its manifest"));
		g_assert_nonnull(strstr(error->message, f->sha256)); /* what the bytes really hash to */
		/* the tool ran, and was stopped before it got the last chunk */
		got = fed(f, &len);
		g_assert_nonnull(got);
		g_assert_cmpuint(len, <=, MISMATCH_SIZE - (1u << 19));
	}
}

static void test_nor_mismatch_leaves_flash_alone(Fixture *f, gconstpointer unused)
{
	const gchar *wrong = "1111111111111111111111111111111111111111111111111111111111111111";
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log = NULL;
	(void)unused;

	g_assert_false(write_slot(f, "nor", wrong, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT);
	log = calls(f);
	g_assert_cmpstr(log, ==, ""); /* neither erased nor written */
}

static void test_size_mismatch(Fixture *f, gconstpointer unused)
{
	RotaSlot slot = {.name = "rootfs.1", .type = "nand", .device = f->device};
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaView) src = rota_file_view_new(f->image, &error);
	g_autofree gchar *log = NULL;
	(void)unused;

	g_assert_false(rota_mtd_write(src, &slot, g_bytes_get_size(f->data) + 1, NULL, NULL, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "!= image size"));
	log = calls(f);
	g_assert_cmpstr(log, ==, "");
}

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	install_tools();
	g_test_add_func("/slot-mtd/accepts-table", test_accepts_table);
	g_test_add_func("/slot-mtd/tool-calls", test_tool_calls);
	g_test_add("/slot-mtd/streams-exactly-the-image", Fixture, GSIZE_TO_POINTER((gsize)(3u << 20) + 4097),
		   fixture_setup, test_streams_exactly_the_image, fixture_teardown);
	g_test_add("/slot-mtd/empty-image", Fixture, GSIZE_TO_POINTER(0), fixture_setup, test_streams_exactly_the_image,
		   fixture_teardown);
	g_test_add("/slot-mtd/mismatch-never-handed-over-whole", Fixture, GSIZE_TO_POINTER(MISMATCH_SIZE), fixture_setup,
		   test_mismatch_is_never_handed_over_whole, fixture_teardown);
	g_test_add("/slot-mtd/nor-mismatch-leaves-flash-alone", Fixture, GSIZE_TO_POINTER(4096), fixture_setup,
		   test_nor_mismatch_leaves_flash_alone, fixture_teardown);
	g_test_add("/slot-mtd/size-mismatch", Fixture, GSIZE_TO_POINTER(4096), fixture_setup, test_size_mismatch,
		   fixture_teardown);
	rc = g_test_run();
	remove_dir(tools_dir);
	g_free(tools_dir);
	return rc;
}
