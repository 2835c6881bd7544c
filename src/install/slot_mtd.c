/* slot_mtd.c — see slot_mtd.h.
 *
 * NAND and UBI tools read the image from a pipe (nandwrite and ubiupdatevol
 * take "-"). flashcp cannot: it sizes its input with fstat() and reads it a
 * second time to compare the flash with it, so a pipe or fifo would make it
 * write nothing and report success. NOR images (small, like NOR flash) are
 * therefore handed to it as a sealed memfd, anonymous memory that is never
 * a file on disk, opened by flashcp as /dev/stdin.
 *
 * What is checked: the bytes given to the tool hash to the manifest's
 * sha256 before the last of them are given, so a mismatch leaves the write
 * unfinished (a UBI volume update that never gets its last bytes stays
 * marked incomplete by the kernel). rota does not read the slot back:
 * nandwrite and ubiupdatevol offer no verification, and reading MTD/UBI
 * devices back is left to the tools. flashcp verifies its own write by
 * reading the flash again and comparing with the image. */
#define _GNU_SOURCE /* memfd_create, F_ADD_SEALS */
#include "slot_mtd.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/util.h"
#include "system/config.h"

#define FEED_CHUNK (1u << 20)
/* Progress moves in steps of at least 0.25 % of the image. */
#define PROGRESS_MIN_STEP 0.0025

static gboolean is_ubi(const RotaSlot *slot)
{
	return g_str_equal(slot->type, "ubivol") || g_str_equal(slot->type, "ubifs");
}

gboolean rota_mtd_accepts(const gchar *itype, const gchar *stype)
{
	gboolean raw = g_str_equal(itype, "raw");

	if (g_str_equal(stype, "nand") || g_str_equal(stype, "nor"))
		return raw;
	if (g_str_equal(stype, "ubivol"))
		return raw || g_str_equal(itype, "squashfs") || g_str_equal(itype, "ubifs");
	if (g_str_equal(stype, "ubifs"))
		return raw || g_str_equal(itype, "ubifs");
	return FALSE;
}

static GStrv argv_from(GPtrArray *args)
{
	g_ptr_array_add(args, NULL);
	return (GStrv)g_ptr_array_free(args, FALSE);
}

GStrv rota_mtd_erase_argv(const RotaSlot *slot)
{
	GPtrArray *args;

	/* UBI volume updates replace the volume whole; flashcp --erase-all
	 * erases a NOR partition itself (the spec's single call). */
	if (is_ubi(slot) || g_str_equal(slot->type, "nor"))
		return NULL;
	/* The whole partition, not just the image's blocks: nothing of the
	 * old contents may remain behind the new image. */
	args = g_ptr_array_new();
	g_ptr_array_add(args, g_strdup("flash_erase"));
	g_ptr_array_add(args, g_strdup("--quiet"));
	g_ptr_array_add(args, g_strdup(slot->device));
	g_ptr_array_add(args, g_strdup("0"));
	g_ptr_array_add(args, g_strdup("0"));
	return argv_from(args);
}

GStrv rota_mtd_write_argv(const RotaSlot *slot, guint64 size, const gchar *input)
{
	GPtrArray *args = g_ptr_array_new();

	if (g_str_equal(slot->type, "nand")) {
		/* --pad: an image need not end on a page boundary. */
		g_ptr_array_add(args, g_strdup("nandwrite"));
		g_ptr_array_add(args, g_strdup("--pad"));
		g_ptr_array_add(args, g_strdup("--quiet"));
		g_ptr_array_add(args, g_strdup(slot->device));
		g_ptr_array_add(args, g_strdup(input));
	} else if (g_str_equal(slot->type, "nor")) {
		g_ptr_array_add(args, g_strdup("flashcp"));
		g_ptr_array_add(args, g_strdup("--erase-all"));
		g_ptr_array_add(args, g_strdup(input));
		g_ptr_array_add(args, g_strdup(slot->device));
	} else {
		/* From stdin ubiupdatevol needs the size up front: it starts the
		 * volume update for exactly that many bytes. */
		g_ptr_array_add(args, g_strdup("ubiupdatevol"));
		g_ptr_array_add(args, g_strdup_printf("--size=%" G_GUINT64_FORMAT, size));
		g_ptr_array_add(args, g_strdup(slot->device));
		g_ptr_array_add(args, g_strdup(input));
	}
	return argv_from(args);
}

/* ---- reading the image, hashing on the way ---- */

typedef gboolean (*ChunkSink)(const guint8 *buf, gsize len, gpointer data, GError **error);

static gboolean digest_matches(EVP_MD_CTX *md, const RotaSlot *slot, const gchar *expected, GError **error)
{
	guint8 digest[32];
	g_autofree gchar *hex = NULL;

	EVP_DigestFinal_ex(md, digest, NULL);
	if (!expected)
		return TRUE;
	hex = rota_hex_encode(digest, sizeof digest);
	if (g_str_equal(hex, expected))
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_CORRUPT,
		    "image for slot %s does not match its manifest (sha256 %s, expected %s); its write was not completed",
		    slot->name, hex, expected);
	return FALSE;
}

/* Reads all of src in order and hands it to sink. The digest is compared
 * before the last chunk is handed over, so a tool never receives the whole
 * of an image that does not match the manifest. */
static gboolean stream_image(RotaView *src, const RotaSlot *slot, const gchar *sha256, ChunkSink sink, gpointer data,
			     RotaProgress *progress, GError **error)
{
	guint64 size = rota_view_get_size(src);
	g_autofree guint8 *buf = g_malloc(FEED_CHUNK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	gboolean ok = TRUE;
	guint64 off = 0;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	rota_view_will_read(src, 0, size); /* a streamed bundle fetches ahead */
	while (ok && off < size) {
		gsize n = (gsize)MIN((guint64)FEED_CHUNK, size - off);
		ok = rota_view_read_at(src, off, buf, n, error);
		if (!ok)
			break;
		EVP_DigestUpdate(md, buf, n);
		off += n;
		ok = (off < size || digest_matches(md, slot, sha256, error)) && sink(buf, n, data, error);
		rota_progress_set_fraction_fine(progress, off, size, PROGRESS_MIN_STEP);
	}
	if (ok && size == 0)
		ok = digest_matches(md, slot, sha256, error);
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- NAND and UBI: the image on the tool's stdin ---- */

typedef struct {
	RotaTool *tool;
	gboolean tool_gone; /* the tool stopped reading: its exit status tells why */
} Feed;

static gboolean feed_sink(const guint8 *buf, gsize len, gpointer data, GError **error)
{
	Feed *feed = data;

	if (rota_tool_feed(feed->tool, buf, len, error))
		return TRUE;
	feed->tool_gone = TRUE;
	return FALSE;
}

static gboolean stream_into_tool(RotaView *src, const RotaSlot *slot, const gchar *sha256, RotaProgress *progress,
				 GError **error)
{
	g_auto(GStrv) argv = rota_mtd_write_argv(slot, rota_view_get_size(src), "-");
	g_autoptr(GError) local = NULL;
	Feed feed = {.tool = rota_tool_start((const gchar *const *)argv, -1, error)};

	if (!feed.tool)
		return FALSE;
	if (stream_image(src, slot, sha256, feed_sink, &feed, progress, &local))
		return rota_tool_finish(feed.tool, error);
	if (!feed.tool_gone) {
		/* A read error or a digest mismatch: the tool must not complete
		 * the write with what it got so far. */
		rota_tool_abort(feed.tool);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	/* The tool quit early; its own error says more than the broken pipe. */
	if (!rota_tool_finish(feed.tool, error))
		return FALSE;
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

/* ---- NOR: flashcp reads a sealed in-memory copy ---- */

static gboolean memfd_sink(const guint8 *buf, gsize len, gpointer data, GError **error)
{
	return rota_write_all(GPOINTER_TO_INT(data), buf, len, "the in-memory image", error);
}

/* The image as a sealed memfd positioned at its start, or -1. Sealed, so
 * the bytes flashcp reads (twice) are the ones that were hashed. */
static int image_in_memory(RotaView *src, const RotaSlot *slot, const gchar *sha256, RotaProgress *progress,
			   GError **error)
{
	int fd = memfd_create("rota-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int err;

	if (fd < 0) {
		err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create an in-memory image: %s", g_strerror(err));
		return -1;
	}
	if (!stream_image(src, slot, sha256, memfd_sink, GINT_TO_POINTER(fd), progress, error)) {
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0 ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot seal the in-memory image: %s", g_strerror(err));
		close(fd);
		return -1;
	}
	return fd;
}

static gboolean write_nor(RotaView *src, const RotaSlot *slot, const gchar *sha256, RotaProgress *progress,
			  GError **error)
{
	g_auto(GStrv) write = rota_mtd_write_argv(slot, rota_view_get_size(src), "/dev/stdin");
	RotaTool *tool = NULL;
	gboolean ok;
	/* Hashed before the flash is touched: a mismatch leaves it as it was. */
	int fd = image_in_memory(src, slot, sha256, progress, error);

	if (fd < 0)
		return FALSE;
	ok = (tool = rota_tool_start((const gchar *const *)write, fd, error)) != NULL && rota_tool_finish(tool, error);
	close(fd);
	return ok;
}

gboolean rota_mtd_write(RotaView *src, const RotaSlot *slot, guint64 expected_size, const gchar *sha256,
			RotaProgress *progress, GError **error)
{
	g_auto(GStrv) erase = rota_mtd_erase_argv(slot);

	if (rota_view_get_size(src) != expected_size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Written size (%" G_GUINT64_FORMAT ") != image size (%" G_GUINT64_FORMAT ")",
			    rota_view_get_size(src), expected_size);
		return FALSE;
	}
	if (g_str_equal(slot->type, "nor"))
		return write_nor(src, slot, sha256, progress, error);
	if (erase && !rota_tool_run((const gchar *const *)erase, error))
		return FALSE;
	return stream_into_tool(src, slot, sha256, progress, error);
}
