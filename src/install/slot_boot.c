/* slot_boot.c — see slot_boot.h. This module owns the on-disk structures
 * it changes: MBR partition entry 1, both copies of the GPT, and the two
 * halves of the region. The image bytes themselves are copied and read
 * back by slot_writer.c (rota_writer_copy_range / _verify_range).
 *
 * Layouts and checks follow RAUC's mbr.c, gpt.c (libfdisk) and
 * update_handler.c, so that the same bundle leaves the same bytes on the
 * disk with either tool; where RAUC checks late, rota checks before the
 * first write. */
#include "slot_boot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/hdreg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/util.h"

#define MBR_SIZE 512
#define MBR_TABLE 446        /* four 16-byte entries */
#define HEADER_SIZE 512      /* boot-raw-fallback: the part written last */
#define GPT_GRAIN (1u << 20) /* libfdisk's alignment grain (at least 1 MiB) */
#define GPT_MIN_START (34 * 512)
#define GPT_MAX_ENTRIES_LEN (1u << 20)
#define ZERO_CHUNK (1u << 20)

gboolean rota_boot_is_region_type(const gchar *stype)
{
	return g_strcmp0(stype, "boot-mbr-switch") == 0 || g_strcmp0(stype, "boot-gpt-switch") == 0 ||
	       g_strcmp0(stype, "boot-raw-fallback") == 0;
}

gboolean rota_boot_accepts(const gchar *itype, const gchar *stype)
{
	if (g_str_equal(itype, "raw"))
		return rota_boot_is_region_type(stype);
	if (g_str_equal(itype, "vfat"))
		return g_str_equal(stype, "boot-mbr-switch") || g_str_equal(stype, "boot-gpt-switch");
	if (g_str_equal(itype, "ext4"))
		return g_str_equal(stype, "boot-gpt-switch");
	return FALSE;
}

/* ---- the device ---- */

typedef struct {
	int fd;
	const gchar *path;
	guint64 size;   /* bytes */
	guint sector;   /* logical sector size */
	guint io_opt;   /* optimal I/O size (block devices), 0 if unknown */
} Disk;

static void disk_close(Disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Disk, disk_close)

#define DISK_INIT {.fd = -1}

/* Opens the whole disk. Never O_EXCL: its other partitions (the running
 * root file system) are in use, and RAUC opens it shared too. */
static gboolean disk_open(const RotaSlot *slot, int flags, Disk *d, GError **error)
{
	struct stat st;
	int ssz = 512;
	guint io_opt = 0;

	d->path = slot->device;
	d->fd = open(slot->device, flags | O_CLOEXEC);
	if (d->fd < 0 || fstat(d->fd, &st) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open %s: %s", slot->device, g_strerror(err));
		return FALSE;
	}
	d->size = (guint64)st.st_size;
	if (S_ISBLK(st.st_mode) && (ioctl(d->fd, BLKGETSIZE64, &d->size) != 0 || ioctl(d->fd, BLKSSZGET, &ssz) != 0)) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot get the size of %s: %s", slot->device, g_strerror(err));
		return FALSE;
	}
	if (S_ISBLK(st.st_mode) && ioctl(d->fd, BLKIOOPT, &io_opt) == 0)
		d->io_opt = io_opt;
	d->sector = (guint)ssz;
	return TRUE;
}

static gboolean disk_sync(const Disk *d, GError **error)
{
	if (fsync(d->fd) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: fsync failed: %s", d->path, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* Zeroes [start, end) and flushes it to the device. */
static gboolean zero_range(const RotaSlot *slot, guint64 start, guint64 end, GError **error)
{
	g_auto(Disk) d = DISK_INIT;
	g_autofree guint8 *zeros = NULL;

	if (start >= end)
		return TRUE;
	if (!disk_open(slot, O_WRONLY, &d, error))
		return FALSE;
	zeros = g_malloc0(ZERO_CHUNK);
	for (guint64 off = start; off < end;) {
		gsize n = (gsize)MIN((guint64)ZERO_CHUNK, end - off);
		if (!rota_pwrite_exact(d.fd, zeros, n, off, d.path, error))
			return FALSE;
		off += n;
	}
	return disk_sync(&d, error);
}

static guint32 le32_at(const guint8 *p)
{
	guint32 v;
	memcpy(&v, p, sizeof v);
	return GUINT32_FROM_LE(v);
}

static guint64 le64_at(const guint8 *p)
{
	guint64 v;
	memcpy(&v, p, sizeof v);
	return GUINT64_FROM_LE(v);
}

static void put_le32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, sizeof v);
}

static void put_le64(guint8 *p, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(p, &v, sizeof v);
}

/* ---- the region ---- */

typedef struct {
	guint64 start;
	guint64 size;
	guint index;   /* 0: first half of the region, 1: second */
} Half;

/* Whether [start, start+size) ends at or before limit, without the sum
 * wrapping around (the keys come from system.conf). */
static gboolean region_within(guint64 start, guint64 size, guint64 limit)
{
	guint64 end;
	return rota_add_u64(start, size, &end) && end <= limit;
}

static Half region_half(const RotaSlot *slot, guint index)
{
	guint64 half = slot->region_size / 2;
	return (Half){.start = slot->region_start + index * half, .size = half, .index = index};
}

static const gchar *half_name(const Half *h)
{
	return h->index == 0 ? "first" : "second";
}

static gboolean check_fits(const Half *h, guint64 image_size, GError **error)
{
	if (image_size <= h->size)
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
		    "Size of image (%" G_GUINT64_FORMAT " bytes) does not fit into half of the boot region (%" G_GUINT64_FORMAT
		    " bytes)",
		    image_size, h->size);
	return FALSE;
}

/* The half that entry 1 does not point at, from the sector entry 1 starts at
 * and its length in sectors. */
static gboolean inactive_half(const RotaSlot *slot, const gchar *table, guint64 entry_start, guint64 entry_sectors,
			      guint sector, Half *out, GError **error)
{
	Half first = region_half(slot, 0), second = region_half(slot, 1);
	const Half *active;

	if (entry_start == first.start / sector) {
		*out = second;
		active = &first;
	} else if (entry_start == second.start / sector) {
		*out = first;
		active = &second;
	} else {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Boot partition's start address does not match region configuration: %s partition 1 starts at "
			    "sector %" G_GUINT64_FORMAT ", the region's halves at sectors %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT,
			    table, entry_start, first.start / sector, second.start / sector);
		return FALSE;
	}
	/* A booting partition that reaches into the other half would be
	 * overwritten by the image written there, before the switch. */
	if (entry_sectors > active->size / sector) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Boot partition is larger than half of the boot region: %s partition 1 has %" G_GUINT64_FORMAT
			    " sectors, the %s half %" G_GUINT64_FORMAT "; writing the other half would overwrite it",
			    table, entry_sectors, half_name(active), active->size / sector);
		return FALSE;
	}
	return TRUE;
}

/* ---- boot-mbr-switch ---- */

/* Entry i's start sector and sector count (entry 0 is "partition 1"). */
static guint32 mbr_start(const guint8 *mbr, guint i)
{
	return le32_at(mbr + MBR_TABLE + 16 * i + 8);
}

static guint32 mbr_count(const guint8 *mbr, guint i)
{
	return le32_at(mbr + MBR_TABLE + 16 * i + 12);
}

static gboolean mbr_read(const Disk *d, guint8 *mbr, GError **error)
{
	if (!rota_pread_exact(d->fd, mbr, MBR_SIZE, 0, d->path, error))
		return FALSE;
	if (mbr[510] != 0x55 || mbr[511] != 0xAA) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No valid master boot record found on %s (no 55 AA in sector 0)",
			    d->path);
		return FALSE;
	}
	return TRUE;
}

static gboolean mbr_check_region(const RotaSlot *slot, const Disk *d, GError **error)
{
	guint64 start = slot->region_start, size = slot->region_size;

	if (start < MBR_SIZE || size == 0)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "no valid configuration for region (region-start %" G_GUINT64_FORMAT ", region-size %" G_GUINT64_FORMAT ")",
			    start, size);
	else if (start % d->sector)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region start %" G_GUINT64_FORMAT " is not aligned to the sector size %u", start, d->sector);
	else if (size % (2 * d->sector))
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region size %" G_GUINT64_FORMAT " is not aligned to the double sector size %u", size, 2 * d->sector);
	else if (d->size == 0 || !region_within(start, size, d->size - 1))
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region configuration is bigger than device: %" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT
			    " bytes on %s (%" G_GUINT64_FORMAT " bytes)",
			    start, size, d->path, d->size);
	else if ((start + size) / d->sector > G_MAXUINT32)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region ends at sector %" G_GUINT64_FORMAT ", beyond what an MBR can address",
			    (start + size) / d->sector);
	else
		return TRUE;
	return FALSE;
}

/* Partitions 2–4 must stay clear of the region: only entry 1 may point into it. */
static gboolean mbr_check_others(const RotaSlot *slot, const Disk *d, const guint8 *mbr, GError **error)
{
	guint64 r_first = slot->region_start, r_last = slot->region_start + slot->region_size - 1;

	for (guint i = 1; i < 4; i++) {
		guint64 p_first = (guint64)mbr_start(mbr, i) * d->sector;
		guint64 p_last = p_first + (guint64)mbr_count(mbr, i) * d->sector - 1;
		if (mbr_count(mbr, i) == 0 || p_first > r_last || p_last < r_first)
			continue;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x overlaps MBR partition %u (0x%" G_GINT64_MODIFIER
			    "x-0x%" G_GINT64_MODIFIER "x)",
			    r_first, r_last, i + 1, p_first, p_last);
		return FALSE;
	}
	return TRUE;
}

static gboolean mbr_is_extended(guint8 type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

static gboolean mbr_find_inactive(const RotaSlot *slot, Half *out, GError **error)
{
	g_auto(Disk) d = DISK_INIT;
	guint8 mbr[MBR_SIZE];

	if (!disk_open(slot, O_RDONLY, &d, error) || !mbr_check_region(slot, &d, error) || !mbr_read(&d, mbr, error) ||
	    !mbr_check_others(slot, &d, mbr, error))
		return FALSE;
	if (mbr_start(mbr, 0) == 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No boot partition found in MBR entry 1 of %s", d.path);
		return FALSE;
	}
	if (mbr_is_extended(mbr[MBR_TABLE + 4])) {
		/* Pointed at the image, the kernel would walk an EBR chain in it. */
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "MBR entry 1 of %s is an extended partition (type 0x%02x); the boot partition must be a primary one",
			    d.path, mbr[MBR_TABLE + 4]);
		return FALSE;
	}
	return inactive_half(slot, "MBR", mbr_start(mbr, 0), mbr_count(mbr, 0), d.sector, out, error);
}

/* CHS address of lba (head byte; sector bits 0–5 and cylinder bits 8–9;
 * cylinder bits 0–7), as RAUC's mbr.c computes it. */
static void chs_of(guint8 *chs, guint32 lba, guint heads, guint sectors)
{
	guint32 cylinder = lba / sectors / heads;

	chs[0] = (guint8)((lba / sectors) % heads);
	chs[1] = (guint8)((lba % sectors + 1) | ((cylinder >> 2) & 0xC0));
	chs[2] = (guint8)(cylinder & 0xFF);
}

/* Points entry 1 at h: one 512-byte write of sector 0, then fsync. */
static gboolean mbr_activate(const RotaSlot *slot, const Half *h, GError **error)
{
	g_auto(Disk) d = DISK_INIT;
	struct hd_geometry geo = {0};
	guint8 mbr[MBR_SIZE];
	guint8 *entry = mbr + MBR_TABLE;
	guint32 first, count;
	guint heads = 255, sectors = 63; /* LBA-style geometry when the device has none */

	if (!disk_open(slot, O_RDWR, &d, error) || !mbr_read(&d, mbr, error))
		return FALSE;
	if (ioctl(d.fd, HDIO_GETGEO, &geo) == 0 && geo.heads && geo.sectors) {
		heads = geo.heads;
		sectors = geo.sectors;
	}
	first = (guint32)(h->start / d.sector);
	count = (guint32)(h->size / d.sector);
	chs_of(entry + 1, first, heads, sectors);
	chs_of(entry + 5, first + count - 1, heads, sectors);
	put_le32(entry + 8, first);
	put_le32(entry + 12, count);
	return rota_pwrite_exact(d.fd, mbr, MBR_SIZE, 0, d.path, error) && disk_sync(&d, error);
}

/* ---- boot-gpt-switch ---- */

/* Header fields (UEFI 2.x, 5.3.2). */
#define GPT_HDR_SIZE 12
#define GPT_HDR_CRC 16
#define GPT_MY_LBA 24
#define GPT_ALT_LBA 32
#define GPT_FIRST_USABLE 40
#define GPT_LAST_USABLE 48
#define GPT_ENTRIES_LBA 72
#define GPT_NUM_ENTRIES 80
#define GPT_ENTRY_SIZE 84
#define GPT_ENTRIES_CRC 88
/* Entry fields. */
#define GPT_E_FIRST 32
#define GPT_E_LAST 40

typedef struct {
	guint8 *header;   /* one sector */
	guint8 *entries;  /* the entries array */
	guint64 lba;      /* where the header was looked for */
	const gchar *why; /* why it is not valid, NULL when it is */
} GptCopy;

typedef struct {
	Disk disk;
	guint64 sectors;
	GptCopy primary, backup;
	GptCopy *good;    /* the copy the partitions are read from */
	gsize entries_len;
} Gpt;

static void gpt_clear(Gpt *g)
{
	disk_close(&g->disk);
	g_free(g->primary.header);
	g_free(g->primary.entries);
	g_free(g->backup.header);
	g_free(g->backup.entries);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Gpt, gpt_clear)

#define GPT_INIT {.disk = DISK_INIT}

static guint32 gpt_header_crc(const guint8 *header)
{
	g_autofree guint8 *copy = g_memdup2(header, le32_at(header + GPT_HDR_SIZE));

	put_le32(copy + GPT_HDR_CRC, 0);
	return (guint32)crc32(0, copy, le32_at(header + GPT_HDR_SIZE));
}

/* In 64 bits: two 32-bit fields from the disk would wrap a 32-bit gsize. */
static guint64 gpt_entries_len(const guint8 *header)
{
	return (guint64)le32_at(header + GPT_NUM_ENTRIES) * le32_at(header + GPT_ENTRY_SIZE);
}

/* The layout a valid header at lba describes: a non-empty usable range;
 * the primary (at LBA 1) with its entries before the usable sectors and its
 * backup after them; the backup after the usable sectors with its entries
 * between them and itself, pointing back at LBA 1. CRCs alone would let a
 * copy place its twin or its entries anywhere, and a repair would write
 * there (say, over a SoC boot loader stored before the first partition). */
static gboolean gpt_layout_ok(const guint8 *h, guint64 lba, guint64 entries_end)
{
	guint64 first = le64_at(h + GPT_FIRST_USABLE), last = le64_at(h + GPT_LAST_USABLE);
	guint64 alt = le64_at(h + GPT_ALT_LBA), entries = le64_at(h + GPT_ENTRIES_LBA);

	if (first > last)
		return FALSE;
	if (lba == 1)
		return alt > last && entries >= 2 && entries_end <= first;
	return lba > last && alt == 1 && entries > last && entries_end <= lba;
}

/* Reads the header at lba and its entries; c->why says what is wrong with
 * them. FALSE only when the device cannot be read. */
static gboolean gpt_read_copy(Gpt *g, GptCopy *c, guint64 lba, GError **error)
{
	const Disk *d = &g->disk;
	guint8 *h;
	guint32 hsize, esize;
	guint64 entries_end = 0;

	c->lba = lba;
	c->header = g_malloc0(d->sector);
	h = c->header;
	if (lba >= g->sectors) {
		c->why = "header beyond the end of the disk";
		return TRUE;
	}
	if (!rota_pread_exact(d->fd, h, d->sector, lba * d->sector, d->path, error))
		return FALSE;
	hsize = le32_at(h + GPT_HDR_SIZE);
	esize = le32_at(h + GPT_ENTRY_SIZE);
	if (memcmp(h, "EFI PART", 8) != 0)
		c->why = "no GPT signature";
	else if (hsize < 92 || hsize > d->sector)
		c->why = "invalid header size";
	else if (gpt_header_crc(h) != le32_at(h + GPT_HDR_CRC))
		c->why = "header CRC32 mismatch";
	else if (le64_at(h + GPT_MY_LBA) != lba)
		c->why = "header at the wrong place (MyLBA)";
	else if (esize < 128 || esize % 8 || gpt_entries_len(h) == 0 || gpt_entries_len(h) > GPT_MAX_ENTRIES_LEN ||
		 !rota_add_u64(le64_at(h + GPT_ENTRIES_LBA), (gpt_entries_len(h) + d->sector - 1) / d->sector,
			       &entries_end) ||
		 entries_end > g->sectors)
		c->why = "invalid partition entries array";
	else if (!gpt_layout_ok(h, lba, entries_end))
		c->why = "usable sectors, other copy or entries misplaced";
	if (c->why)
		return TRUE;
	c->entries = g_malloc((gsize)gpt_entries_len(h));
	if (!rota_pread_exact(d->fd, c->entries, (gsize)gpt_entries_len(h), le64_at(h + GPT_ENTRIES_LBA) * d->sector, d->path,
			      error))
		return FALSE;
	if ((guint32)crc32(0, c->entries, (uInt)gpt_entries_len(h)) != le32_at(h + GPT_ENTRIES_CRC))
		c->why = "partition entries CRC32 mismatch";
	return TRUE;
}

/* A protective MBR must be there (else this is no GPT disk), and alone
 * (a hybrid MBR would need its own entries switched too). */
static gboolean gpt_check_pmbr(const Disk *d, GError **error)
{
	guint8 mbr[MBR_SIZE];
	gint protective = -1;

	if (!rota_pread_exact(d->fd, mbr, MBR_SIZE, 0, d->path, error))
		return FALSE;
	for (guint i = 0; i < 4 && mbr[510] == 0x55 && mbr[511] == 0xAA; i++) {
		if (mbr[MBR_TABLE + 16 * i + 4] == 0xEE)
			protective = (gint)i;
	}
	if (protective < 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GPT not found on %s (no protective MBR)", d->path);
		return FALSE;
	}
	for (guint i = 0; i < 4; i++) {
		if ((gint)i != protective && (mbr[MBR_TABLE + 16 * i + 4] != 0 || mbr_count(mbr, i) != 0)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "Hybrid GPT is not supported, use a protective MBR instead (%s has MBR partition %u)", d->path,
				    i + 1);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean gpt_needs_repair(const Gpt *g, const GptCopy *c);

/* Whether sectors [first, first + count) lie on the disk, after the
 * protective MBR, and outside the usable sectors (where partitions live). */
static gboolean gpt_outside_usable(const Gpt *g, guint64 first, guint64 count)
{
	guint64 lo = le64_at(g->good->header + GPT_FIRST_USABLE), hi = le64_at(g->good->header + GPT_LAST_USABLE);
	guint64 end;

	return first >= 1 && rota_add_u64(first, count, &end) && end <= g->sectors && (end <= lo || first > hi);
}

/* Where gpt_activate() will write each copy (rewritten in place or rebuilt)
 * must be metadata space: CRCs that match say nothing about where a header
 * puts its entries or its other copy, and a rebuilt copy there would land
 * in a partition, possibly the running one. Checked before the first write. */
static gboolean gpt_check_placement(const Gpt *g, GError **error)
{
	guint64 es = (g->entries_len + g->disk.sector - 1) / g->disk.sector;
	guint64 primary_entries = g->primary.why ? 2 : le64_at(g->primary.header + GPT_ENTRIES_LBA);
	guint64 backup_lba, backup_entries;

	if (gpt_needs_repair(g, &g->backup)) {
		backup_lba = le64_at(g->good->header + GPT_ALT_LBA);
		backup_entries = backup_lba >= es ? backup_lba - es : 0;
	} else {
		backup_lba = g->backup.lba;
		backup_entries = le64_at(g->backup.header + GPT_ENTRIES_LBA);
	}
	if (gpt_outside_usable(g, 1, 1) && gpt_outside_usable(g, primary_entries, es) &&
	    gpt_outside_usable(g, backup_lba, 1) && gpt_outside_usable(g, backup_entries, es))
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
		    "GPT of %s places its copies inside its usable sectors %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
		    " (primary entries at sector %" G_GUINT64_FORMAT ", backup header at %" G_GUINT64_FORMAT
		    ", backup entries at %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " sectors of entries); repair it first",
		    g->disk.path, le64_at(g->good->header + GPT_FIRST_USABLE), le64_at(g->good->header + GPT_LAST_USABLE),
		    primary_entries, backup_lba, backup_entries, es);
	return FALSE;
}

/* Loads both copies. The primary is the truth when valid, else the backup;
 * one valid copy is enough (the other is rebuilt when writing). */
static gboolean gpt_load(const RotaSlot *slot, int flags, Gpt *g, GError **error)
{
	if (!disk_open(slot, flags, &g->disk, error))
		return FALSE;
	g->sectors = g->disk.size / g->disk.sector;
	if (!gpt_check_pmbr(&g->disk, error) || !gpt_read_copy(g, &g->primary, 1, error))
		return FALSE;
	/* The backup is where the primary says, or at the last sector. */
	if (!gpt_read_copy(g, &g->backup, g->primary.why ? g->sectors - 1 : le64_at(g->primary.header + GPT_ALT_LBA), error))
		return FALSE;
	if (g->primary.why && g->backup.why) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "GPT not found on %s (primary: %s; backup: %s)", g->disk.path,
			    g->primary.why, g->backup.why);
		return FALSE;
	}
	g->good = g->primary.why ? &g->backup : &g->primary;
	g->entries_len = (gsize)gpt_entries_len(g->good->header);
	/* Where a rebuilt backup would go must be on the disk (a GPT made for
	 * a larger disk is not repaired by writing past the end). */
	if (le64_at(g->good->header + GPT_ALT_LBA) >= g->sectors && g->good == &g->primary) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "GPT of %s places its backup at sector %" G_GUINT64_FORMAT ", beyond the end of the disk (%" G_GUINT64_FORMAT
			    " sectors)",
			    g->disk.path, le64_at(g->good->header + GPT_ALT_LBA), g->sectors);
		return FALSE;
	}
	return gpt_check_placement(g, error);
}

static guint8 *gpt_entry(const Gpt *g, guint i)
{
	return g->good->entries + (gsize)i * le32_at(g->good->header + GPT_ENTRY_SIZE);
}

static guint gpt_entry_count(const Gpt *g)
{
	return le32_at(g->good->header + GPT_NUM_ENTRIES);
}

static gboolean gpt_entry_used(const guint8 *e)
{
	static const guint8 unused[16] = {0};
	return memcmp(e, unused, 16) != 0; /* type GUID */
}

static gboolean gpt_check_region(const RotaSlot *slot, const Gpt *g, GError **error)
{
	const Disk *d = &g->disk;
	guint64 grain = MAX((guint64)GPT_GRAIN, MAX(d->io_opt, d->sector));
	guint64 start = slot->region_start, size = slot->region_size;

	if (start < GPT_MIN_START || size == 0)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region configuration is invalid (region-start %" G_GUINT64_FORMAT ", region-size %" G_GUINT64_FORMAT ")",
			    start, size);
	else if (start % grain)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region start %" G_GUINT64_FORMAT " is not aligned to grain-size %" G_GUINT64_FORMAT, start, grain);
	else if (size % (2 * grain))
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region size %" G_GUINT64_FORMAT " is not aligned to the double grain-size %" G_GUINT64_FORMAT, size,
			    2 * grain);
	else if (!region_within(start, size, (g->sectors - 1) * d->sector))
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region ends beyond end of block device (%" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT
			    " bytes, %s has %" G_GUINT64_FORMAT ")",
			    start, size, d->path, d->size);
	else
		return TRUE;
	return FALSE;
}

/* Only entry 1 may point into the region. */
static gboolean gpt_check_others(const RotaSlot *slot, const Gpt *g, GError **error)
{
	guint64 r_first = slot->region_start / g->disk.sector;
	guint64 r_last = r_first + slot->region_size / g->disk.sector - 1;

	for (guint i = 1; i < gpt_entry_count(g); i++) {
		const guint8 *e = gpt_entry(g, i);
		guint64 first = le64_at(e + GPT_E_FIRST), last = le64_at(e + GPT_E_LAST);
		if (!gpt_entry_used(e) || first > r_last || last < r_first)
			continue;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region (sectors 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x) overlaps with GPT partition %u "
			    "(sectors 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x)",
			    r_first, r_last, i + 1, first, last);
		return FALSE;
	}
	return TRUE;
}

/* The new place of entry 1 must lie in the GPT's usable sectors. */
static gboolean gpt_check_usable(const Gpt *g, const Half *h, GError **error)
{
	guint64 first = h->start / g->disk.sector, last = first + h->size / g->disk.sector - 1;
	guint64 lo = le64_at(g->good->header + GPT_FIRST_USABLE), hi = le64_at(g->good->header + GPT_LAST_USABLE);

	if (first >= lo && last <= hi)
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
		    "The %s half of the region (sectors %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
		    ") is outside the GPT's usable sectors (%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT ")",
		    half_name(h), first, last, lo, hi);
	return FALSE;
}

static gboolean gpt_find_inactive(const RotaSlot *slot, Half *out, GError **error)
{
	g_auto(Gpt) g = GPT_INIT;
	guint64 first, last;

	if (!gpt_load(slot, O_RDONLY, &g, error) || !gpt_check_region(slot, &g, error) || !gpt_check_others(slot, &g, error))
		return FALSE;
	if (!gpt_entry_used(gpt_entry(&g, 0))) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No boot partition found in GPT entry 1 of %s", g.disk.path);
		return FALSE;
	}
	first = le64_at(gpt_entry(&g, 0) + GPT_E_FIRST);
	last = le64_at(gpt_entry(&g, 0) + GPT_E_LAST);
	/* last < first is no partition at all: refused like an oversized one. */
	return inactive_half(slot, "GPT", first, last >= first ? last - first + 1 : G_MAXUINT64, g.disk.sector, out,
			     error) &&
	       gpt_check_usable(&g, out, error);
}

/* The header of copy `c` made from the good copy: MyLBA/AlternateLBA
 * swapped and the entries placed as UEFI places them (primary right
 * after its header, backup right before its header). */
static void gpt_rebuild_header(const Gpt *g, GptCopy *c, gboolean primary)
{
	const guint8 *src = g->good->header;
	guint64 entry_sectors = (g->entries_len + g->disk.sector - 1) / g->disk.sector;
	guint64 mine = primary ? 1 : le64_at(src + GPT_ALT_LBA);
	guint64 other = primary ? le64_at(src + GPT_MY_LBA) : 1;

	memcpy(c->header, src, g->disk.sector);
	put_le64(c->header + GPT_MY_LBA, mine);
	put_le64(c->header + GPT_ALT_LBA, other);
	put_le64(c->header + GPT_ENTRIES_LBA, primary ? 2 : mine - entry_sectors);
	c->lba = mine;
}

/* Sets both CRCs of a header for the good copy's entries. */
static void gpt_seal(const Gpt *g, guint8 *header)
{
	put_le32(header + GPT_ENTRIES_CRC, (guint32)crc32(0, g->good->entries, (uInt)g->entries_len));
	put_le32(header + GPT_HDR_CRC, gpt_header_crc(header));
}

/* Writes one copy as libfdisk does: its entries, fsync, its header, fsync.
 * Until the header lands, that copy's CRC fails and firmware uses the other. */
static gboolean gpt_write_copy(const Gpt *g, const GptCopy *c, GError **error)
{
	const Disk *d = &g->disk;

	return rota_pwrite_exact(d->fd, g->good->entries, g->entries_len, le64_at(c->header + GPT_ENTRIES_LBA) * d->sector,
				 d->path, error) &&
	       disk_sync(d, error) &&
	       rota_pwrite_exact(d->fd, c->header, d->sector, le64_at(c->header + GPT_MY_LBA) * d->sector, d->path, error) &&
	       disk_sync(d, error);
}

/* Rebuilds a copy from the good one (same partitions) when it is broken or
 * disagrees with it. */
static gboolean gpt_needs_repair(const Gpt *g, const GptCopy *c)
{
	return c->why || gpt_entries_len(c->header) != g->entries_len ||
	       memcmp(c->entries, g->good->entries, g->entries_len) != 0;
}

static gboolean gpt_verify_entry(const RotaSlot *slot, const Half *h, GError **error)
{
	g_auto(Gpt) g = GPT_INIT;

	if (!gpt_load(slot, O_RDONLY, &g, error))
		return FALSE;
	if (g.primary.why || g.backup.why || le64_at(gpt_entry(&g, 0) + GPT_E_FIRST) != h->start / g.disk.sector) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "New GPT failed to verify on %s (primary: %s; backup: %s)",
			    g.disk.path, g.primary.why ? g.primary.why : "ok", g.backup.why ? g.backup.why : "ok");
		return FALSE;
	}
	return TRUE;
}

/* Moves entry 1 to h in both copies. Order (libfdisk's, which RAUC uses):
 * backup entries, backup header, primary entries, primary header, each
 * synced; at every moment one copy is whole. A broken primary is repaired
 * first, so that rewriting the backup never leaves no valid copy. */
static gboolean gpt_activate(const RotaSlot *slot, const Half *h, GError **error)
{
	g_auto(Gpt) g = GPT_INIT;
	guint8 *entry;

	if (!gpt_load(slot, O_RDWR, &g, error))
		return FALSE;
	if (g.primary.why) {
		gpt_rebuild_header(&g, &g.primary, TRUE);
		gpt_seal(&g, g.primary.header);
		if (!gpt_write_copy(&g, &g.primary, error))
			return FALSE;
	}
	if (gpt_needs_repair(&g, &g.backup))
		gpt_rebuild_header(&g, &g.backup, FALSE);
	entry = gpt_entry(&g, 0);
	put_le64(entry + GPT_E_FIRST, h->start / g.disk.sector);
	put_le64(entry + GPT_E_LAST, (h->start + h->size) / g.disk.sector - 1);
	gpt_seal(&g, g.backup.header);
	gpt_seal(&g, g.primary.header);
	if (!gpt_write_copy(&g, &g.backup, error) || !gpt_write_copy(&g, &g.primary, error))
		return FALSE;
	disk_close(&g.disk);
	return gpt_verify_entry(slot, h, error);
}

/* ---- one write ---- */

typedef struct {
	RotaWriteJob *job;
	RotaView *src;
	guint64 size;          /* image bytes */
	const gchar *sha256;   /* what the written copy must hash to */
	gchar *own_sha256;     /* computed from src when the image has none */
} Boot;

static void say(const Boot *b, const gchar *format, ...) G_GNUC_PRINTF(2, 3);
static void say(const Boot *b, const gchar *format, ...)
{
	g_autofree gchar *msg = NULL;
	va_list ap;

	va_start(ap, format);
	msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	if (b->job->hooks && b->job->hooks->message)
		b->job->hooks->message(msg, b->job->hooks->message_data);
	else
		g_message("%s", msg);
}

static gboolean run_hook(const Boot *b, const gchar *name, const gchar *arg, gchar **env, GError **error)
{
	RotaWriteJob *job = b->job;
	g_autofree gchar *image_path = NULL;

	if (!job->hooks || !job->image->hooks || !g_strv_contains((const gchar *const *)job->image->hooks, name))
		return TRUE;
	if (job->image->filename)
		image_path = g_build_filename(job->hooks->bundle_dir, job->image->filename, NULL);
	return rota_hooks_run_slot_hook_env(job->hooks, arg, job->slot, job->image, image_path, NULL,
					    (const gchar *const *)env, error);
}

typedef struct {
	const gchar *table;
	gboolean (*find_inactive)(const RotaSlot *slot, Half *out, GError **error);
	gboolean (*activate)(const RotaSlot *slot, const Half *h, GError **error);
} SwitchOps;

static const SwitchOps mbr_ops = {"MBR", mbr_find_inactive, mbr_activate};
static const SwitchOps gpt_ops = {"GPT", gpt_find_inactive, gpt_activate};

/* The partition table a switch type moves, NULL for boot-raw-fallback. */
static const SwitchOps *switch_ops(const RotaSlot *slot)
{
	if (g_str_equal(slot->type, "boot-mbr-switch"))
		return &mbr_ops;
	if (g_str_equal(slot->type, "boot-gpt-switch"))
		return &gpt_ops;
	return NULL;
}

static gchar **switch_env(const Half *h)
{
	gchar **env = g_new0(gchar *, 4);

	env[0] = g_strdup_printf("RAUC_BOOT_PARTITION_ACTIVATING=%u", h->index);
	env[1] = g_strdup_printf("RAUC_BOOT_PARTITION_START=%" G_GUINT64_FORMAT, h->start);
	env[2] = g_strdup_printf("RAUC_BOOT_PARTITION_SIZE=%" G_GUINT64_FORMAT, h->size);
	return env;
}

/* The inactive half gets the image (and zeros after it, as RAUC clears the
 * half first), is read back, and only then does entry 1 move to it. */
static gboolean write_switch(Boot *b, const SwitchOps *ops, GError **error)
{
	RotaSlot *slot = b->job->slot;
	g_auto(GStrv) env = NULL;
	Half h;

	if (!ops->find_inactive(slot, &h, error) || !check_fits(&h, b->size, error))
		return FALSE;
	say(b, "Found inactive (%s) half of boot partition region (pos. %" G_GUINT64_FORMAT "B, size %" G_GUINT64_FORMAT "B)",
	    half_name(&h), h.start, h.size);
	env = switch_env(&h);
	if (!run_hook(b, "pre-install", "slot-pre-install", env, error))
		return FALSE;
	say(b, "Writing image to inactive (%s) half of boot partition region on %s", half_name(&h), slot->device);
	if (!zero_range(slot, h.start + b->size, h.start + h.size, error) ||
	    !rota_writer_copy_range(b->src, slot, h.start, b->sha256, b->job->progress, error))
		return FALSE;
	if (!run_hook(b, "post-install", "slot-post-install", env, error))
		return FALSE;
	say(b, "Setting %s half of boot partition region active in %s", half_name(&h), ops->table);
	return ops->activate(slot, &h, error);
}

/* ---- boot-raw-fallback ---- */

static gboolean fallback_check(const RotaSlot *slot, guint64 image_size, GError **error)
{
	g_auto(Disk) d = DISK_INIT;
	Half primary = region_half(slot, 0);

	if (!disk_open(slot, O_RDONLY, &d, error))
		return FALSE;
	if (slot->region_start % HEADER_SIZE)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region start %" G_GUINT64_FORMAT " is not aligned to the header size %u", slot->region_start,
			    HEADER_SIZE);
	else if (primary.size < HEADER_SIZE)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Half region size %" G_GUINT64_FORMAT " is smaller than the header size %u", primary.size,
			    HEADER_SIZE);
	else if (primary.size % HEADER_SIZE)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Half region size %" G_GUINT64_FORMAT " is not aligned to the header size %u", primary.size,
			    HEADER_SIZE);
	else if (d.sector != HEADER_SIZE)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Specified header length (%u) does not match sector size (%u) of %s", HEADER_SIZE, d.sector, d.path);
	else if (!region_within(slot->region_start, slot->region_size, d.size))
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Region configuration is bigger than device: %" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT
			    " bytes on %s (%" G_GUINT64_FORMAT " bytes)",
			    slot->region_start, slot->region_size, d.path, d.size);
	else
		return check_fits(&primary, image_size, error);
	return FALSE;
}

/* A half whose header sector is all 0x00/0xFF was never (fully) written. */
static gboolean header_is_clear(const RotaSlot *slot, const Half *h, gboolean *clear, GError **error)
{
	g_auto(Disk) d = DISK_INIT;
	guint8 header[HEADER_SIZE];

	if (!disk_open(slot, O_RDONLY, &d, error) ||
	    !rota_pread_exact(d.fd, header, HEADER_SIZE, h->start, d.path, error))
		return FALSE;
	*clear = TRUE;
	for (gsize i = 0; i < HEADER_SIZE; i++)
		*clear = *clear && (header[i] == 0x00 || header[i] == 0xFF);
	return TRUE;
}

static gboolean write_header(const Boot *b, const Half *h, gsize len, GError **error)
{
	g_auto(Disk) d = DISK_INIT;
	guint8 header[HEADER_SIZE];

	return rota_view_read_at(b->src, 0, header, len, error) && disk_open(b->job->slot, O_WRONLY, &d, error) &&
	       rota_pwrite_exact(d.fd, header, len, h->start, d.path, error) && disk_sync(&d, error);
}

/* One copy, header last: the header is cleared (and synced) first, so an
 * interrupted copy never carries a valid header; then the rest of the
 * image, synced; then the header; then the whole copy is read back. */
static gboolean write_copy_header_last(const Boot *b, const Half *h, GError **error)
{
	RotaSlot *slot = b->job->slot;
	gsize hlen = (gsize)MIN((guint64)HEADER_SIZE, b->size);
	g_autoptr(RotaView) body = NULL;

	if (!zero_range(slot, h->start, h->start + HEADER_SIZE, error) ||
	    !zero_range(slot, h->start + MAX(b->size, HEADER_SIZE), h->start + h->size, error))
		return FALSE;
	if (b->size > hlen) {
		body = rota_sub_view_new(b->src, hlen, b->size - hlen, error);
		if (!body || !rota_writer_copy_range(body, slot, h->start + hlen, NULL, b->job->progress, error))
			return FALSE;
	}
	return write_header(b, h, hlen, error) && rota_writer_verify_range(slot, h->start, b->size, b->sha256, error);
}

/* Both halves are rewritten. If the primary's header is clear, the device
 * probably booted the fallback, so the primary is made whole first;
 * otherwise the fallback goes first (RAUC's order). */
static gboolean write_fallback(Boot *b, GError **error)
{
	RotaSlot *slot = b->job->slot;
	RotaProgress *progress = b->job->progress;
	Half halves[2] = {region_half(slot, 1), region_half(slot, 0)};
	const gchar *names[2] = {"fallback", "primary"};
	g_auto(GStrv) env = g_new0(gchar *, 3);
	gboolean primary_clear = FALSE;
	guint first;
	gboolean ok = TRUE;

	if (!fallback_check(slot, b->size, error))
		return FALSE;
	env[0] = g_strdup_printf("RAUC_BOOT_REGION_START=%" G_GUINT64_FORMAT, slot->region_start);
	env[1] = g_strdup_printf("RAUC_BOOT_REGION_SIZE=%" G_GUINT64_FORMAT, slot->region_size);
	if (!run_hook(b, "pre-install", "slot-pre-install", env, error) ||
	    !header_is_clear(slot, &halves[1], &primary_clear, error))
		return FALSE;
	first = primary_clear ? 1 : 0;
	rota_progress_begin(progress, "Writing both copies", 1, 2);
	for (guint i = 0; i < 2 && ok; i++) {
		const Half *h = &halves[(first + i) % 2];
		g_autofree gchar *step = g_strdup_printf("Updating %s copy", names[(first + i) % 2]);
		say(b, "Updating %s partition at %" G_GUINT64_FORMAT " on %s", names[(first + i) % 2], h->start, slot->device);
		rota_progress_begin(progress, step, 1, 1);
		ok = write_copy_header_last(b, h, error);
		rota_progress_end(progress, ok);
	}
	rota_progress_end(progress, ok);
	return ok && run_hook(b, "post-install", "slot-post-install", env, error);
}

/* ---- entry ---- */

gboolean rota_boot_check(const RotaSlot *slot, guint64 image_size, GError **error)
{
	const SwitchOps *ops = switch_ops(slot);
	Half h;

	if (ops)
		return ops->find_inactive(slot, &h, error) && check_fits(&h, image_size, error);
	return fallback_check(slot, image_size, error);
}

gboolean rota_boot_write(RotaWriteJob *job, RotaView *src, GError **error)
{
	Boot b = {.job = job, .src = src, .size = job->image->size, .sha256 = job->image->sha256};
	gboolean ok;

	if (rota_view_get_size(src) != b.size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "Written size (%" G_GUINT64_FORMAT ") != image size (%" G_GUINT64_FORMAT ")", rota_view_get_size(src),
			    b.size);
		return FALSE;
	}
	if (!b.sha256) {
		b.own_sha256 = rota_view_sha256(src, error); /* write-slot: no manifest */
		if (!b.own_sha256)
			return FALSE;
		b.sha256 = b.own_sha256;
	}
	if (!rota_boot_is_region_type(job->slot->type)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "slot type '%s' has no boot region", job->slot->type);
		ok = FALSE;
	} else if (switch_ops(job->slot)) {
		ok = write_switch(&b, switch_ops(job->slot), error);
	} else {
		ok = write_fallback(&b, error);
	}
	g_free(b.own_sha256);
	return ok;
}
