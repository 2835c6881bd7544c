/* bootloader_efi.c — the EFI backend (system-conf.md §11.4): slots are EFI
 * boot entries whose label is the bootname; state is membership in
 * BootOrder, primary is BootNext (or the head of BootOrder). Everything is
 * read from the listing of a plain `efibootmgr` and written with its
 * --bootorder / --bootnext options. */
#include "bootloader_private.h"

#include <string.h>

#define EFI_TOOL "efibootmgr"

typedef struct {
	gchar *number; /* "0001" */
	gchar *label;
} EfiEntry;

typedef struct {
	GPtrArray *entries;  /* EfiEntry, in listing order */
	gchar **boot_order;  /* entry numbers */
	gchar *boot_next;    /* entry number or NULL */
	gchar *boot_current; /* entry number or NULL */
} EfiListing;

static void efi_entry_free(gpointer data)
{
	EfiEntry *entry = data;

	g_free(entry->number);
	g_free(entry->label);
	g_free(entry);
}

static void efi_listing_free(EfiListing *listing)
{
	if (!listing)
		return;
	g_ptr_array_unref(listing->entries);
	g_strfreev(listing->boot_order);
	g_free(listing->boot_next);
	g_free(listing->boot_current);
	g_free(listing);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EfiListing, efi_listing_free)

static gboolean is_entry_number(const gchar *text, gsize len)
{
	if (len != 4)
		return FALSE;
	for (gsize i = 0; i < 4; i++) {
		if (!g_ascii_isxdigit(text[i]))
			return FALSE;
	}
	return TRUE;
}

/* "KEY: XXXX" → the entry number, or NULL when the line is something else. */
static gchar *parse_number_line(const gchar *line, const gchar *prefix)
{
	const gchar *value;

	if (!g_str_has_prefix(line, prefix))
		return NULL;
	value = line + strlen(prefix);
	return is_entry_number(value, strlen(value)) ? g_strdup(value) : NULL;
}

/* "Boot0001* label\tdevice path" (or "Boot0001  label" when inactive). The
 * label ends at the first TAB. */
static EfiEntry *parse_entry_line(const gchar *line)
{
	EfiEntry *entry;
	const gchar *label;

	if (!g_str_has_prefix(line, "Boot") || strlen(line) < 10 || !is_entry_number(line + 4, 4) ||
	    (line[8] != '*' && line[8] != ' ') || line[9] != ' ' || line[10] == '\0')
		return NULL;
	label = line + 10;
	entry = g_new0(EfiEntry, 1);
	entry->number = g_strndup(line + 4, 4);
	entry->label = g_strndup(label, strcspn(label, "\t"));
	return entry;
}

static void parse_listing_line(EfiListing *listing, const gchar *line)
{
	EfiEntry *entry;
	gchar *number;

	if ((number = parse_number_line(line, "BootCurrent: "))) {
		g_free(listing->boot_current);
		listing->boot_current = number;
	} else if ((number = parse_number_line(line, "BootNext: "))) {
		g_free(listing->boot_next);
		listing->boot_next = number;
	} else if (g_str_has_prefix(line, "BootOrder: ")) {
		const gchar *value = line + strlen("BootOrder: ");
		g_autofree gchar *word = g_strndup(value, strcspn(value, " \t"));

		g_strfreev(listing->boot_order);
		listing->boot_order = rota_bootloader_split_order(word, ",");
	} else if ((entry = parse_entry_line(line))) {
		g_ptr_array_add(listing->entries, entry);
	}
}

static EfiListing *efi_read(const gchar *doing, GError **error)
{
	const gchar *argv[] = {EFI_TOOL, NULL};
	g_autofree gchar *out = rota_bootloader_run_tool(argv, doing, error);
	g_autoptr(EfiListing) listing = NULL;
	g_auto(GStrv) lines = NULL;

	if (!out)
		return NULL;
	listing = g_new0(EfiListing, 1);
	listing->entries = g_ptr_array_new_with_free_func(efi_entry_free);
	lines = g_strsplit(out, "\n", -1);
	for (gchar **l = lines; *l; l++) {
		g_strchomp(*l);
		parse_listing_line(listing, *l);
	}
	if (!listing->boot_order) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "efibootmgr printed no BootOrder (%s)", doing);
		return NULL;
	}
	return g_steal_pointer(&listing);
}

static EfiEntry *efi_find_by_number(EfiListing *listing, const gchar *number)
{
	for (guint i = 0; number && i < listing->entries->len; i++) {
		EfiEntry *entry = listing->entries->pdata[i];
		if (g_ascii_strcasecmp(entry->number, number) == 0)
			return entry;
	}
	return NULL;
}

/* Creating a missing entry (HEAD 1.16) needs the slot's efi-loader and
 * efi-cmdline, which this backend is not given; so a missing entry is an
 * error. */
static EfiEntry *efi_find_by_bootname(EfiListing *listing, const gchar *bootname, const gchar *doing,
				      GError **error)
{
	for (guint i = 0; i < listing->entries->len; i++) {
		EfiEntry *entry = listing->entries->pdata[i];
		if (g_str_equal(entry->label, bootname))
			return entry;
	}
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "Did not find efi entry for bootname '%s'! (%s)", bootname,
		    doing);
	return NULL;
}

/* The current listing and the entry labelled bootname (*entry), or NULL. */
static EfiListing *efi_read_entry(const gchar *bootname, const gchar *doing, EfiEntry **entry, GError **error)
{
	g_autoptr(EfiListing) listing = efi_read(doing, error);

	if (!listing)
		return NULL;
	*entry = efi_find_by_bootname(listing, bootname, doing, error);
	return *entry ? g_steal_pointer(&listing) : NULL;
}

static gboolean efi_run_set(const gchar *option, const gchar *value, const gchar *doing, GError **error)
{
	const gchar *argv[] = {EFI_TOOL, option, value, NULL};
	g_autofree gchar *out = rota_bootloader_run_tool(argv, doing, error);

	return out != NULL;
}

static gboolean efi_write_order(gchar **order, const gchar *doing, GError **error)
{
	g_autofree gchar *joined = g_strjoinv(",", order);

	return efi_run_set("--bootorder", joined, doing, error);
}

/* Puts the slot's entry first in BootOrder. */
static gboolean efi_mark_good(EfiListing *listing, EfiEntry *entry, const gchar *doing, GError **error)
{
	g_auto(GStrv) order =
		rota_bootloader_order_with_first((const gchar *const *)listing->boot_order, entry->number, TRUE);

	return efi_write_order(order, doing, error);
}

/* TRUE when number is the entry of a boot option labelled bootname. */
static gboolean efi_number_has_label(EfiListing *listing, const gchar *number, const gchar *bootname)
{
	EfiEntry *entry = efi_find_by_number(listing, number);

	return entry && g_str_equal(entry->label, bootname);
}

static gboolean efi_get_state(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("getting the state of '%s'", bootname);
	EfiEntry *entry = NULL;
	g_autoptr(EfiListing) listing = efi_read_entry(bootname, doing, &entry, error);

	(void)bl;
	if (!listing)
		return FALSE;
	/* Any entry labelled bootname in BootOrder (as RAUC): with several
	 * entries of that label the first listed need not be the one in use. */
	*good = FALSE;
	for (gchar **n = listing->boot_order; *n; n++) {
		if (efi_number_has_label(listing, *n, bootname))
			*good = TRUE;
	}
	return TRUE;
}

static gboolean efi_set_state(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' %s", bootname, good ? "good" : "bad");
	EfiEntry *entry = NULL;
	g_autoptr(EfiListing) listing = efi_read_entry(bootname, doing, &entry, error);
	g_autoptr(GPtrArray) rest = NULL;

	(void)bl;
	if (!listing)
		return FALSE;
	if (good)
		return efi_mark_good(listing, entry, doing, error);
	/* Every entry labelled bootname leaves BootOrder: one left behind
	 * (e.g. a re-created entry) would still boot the slot. */
	rest = g_ptr_array_new();
	for (gchar **n = listing->boot_order; *n; n++) {
		if (!efi_number_has_label(listing, *n, bootname))
			g_ptr_array_add(rest, *n);
	}
	g_ptr_array_add(rest, NULL);
	return efi_write_order((gchar **)rest->pdata, doing, error);
}

/* The label of the entry numbered `number` when it is a slot, else NULL. */
static const gchar *efi_slot_label(RotaBootloader *bl, EfiListing *listing, const gchar *number)
{
	EfiEntry *entry = efi_find_by_number(listing, number);

	return entry && rota_bootloader_is_bootname(bl, entry->label) ? entry->label : NULL;
}

static gchar *efi_get_primary(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the primary slot";
	g_autoptr(EfiListing) listing = efi_read(doing, error);
	const gchar *label = NULL;

	if (!listing)
		return NULL;
	/* BootNext wins over BootOrder for the next boot. */
	if (listing->boot_next)
		label = efi_slot_label(bl, listing, listing->boot_next);
	for (gchar **n = listing->boot_order; !label && *n; n++)
		label = efi_slot_label(bl, listing, *n);
	if (!label) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "No slot entry in efi BootNext or BootOrder (%s)",
			    doing);
		return NULL;
	}
	return g_strdup(label);
}

static gboolean efi_set_primary(RotaBootloader *bl, const gchar *bootname, GError **error)
{
	g_autofree gchar *doing = g_strdup_printf("marking '%s' primary", bootname);
	EfiEntry *entry = NULL;
	g_autoptr(EfiListing) listing = efi_read_entry(bootname, doing, &entry, error);

	if (!listing)
		return FALSE;
	/* BootNext is one-shot: if the new slot fails to boot, the firmware
	 * falls back to the unchanged BootOrder. */
	if (bl->config.efi_use_bootnext)
		return efi_run_set("--bootnext", entry->number, doing, error);
	return efi_mark_good(listing, entry, doing, error);
}

static gchar *efi_get_current(RotaBootloader *bl, GError **error)
{
	const gchar *doing = "getting the booted slot";
	g_autoptr(EfiListing) listing = efi_read(doing, error);
	const gchar *label;

	if (!listing)
		return NULL;
	if (!listing->boot_current) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "efibootmgr printed no BootCurrent (%s)", doing);
		return NULL;
	}
	label = efi_slot_label(bl, listing, listing->boot_current);
	if (!label) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "efi BootCurrent %s is not the entry of any slot (%s)",
			    listing->boot_current, doing);
		return NULL;
	}
	return g_strdup(label);
}

const RotaBootloaderBackend rota_bootloader_backend_efi = {
	.name = "efi",
	.get_state = efi_get_state,
	.set_state = efi_set_state,
	.get_primary = efi_get_primary,
	.set_primary = efi_set_primary,
	.get_current = efi_get_current,
};
