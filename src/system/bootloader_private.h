/* bootloader_private.h — what the bootloader backends share with the
 * dispatcher (bootloader.c): the backend table, the running of external
 * tools and the small parsers every backend needs (KEY=value listings,
 * boot orders, numbers). Not part of librota's API. */
#pragma once

#include "bootloader.h"

/* One backend: the five operations of bootloader.h. bootname has already
 * been checked to be one of config.bootnames. get_current may be NULL: the
 * backend cannot tell which slot was booted. */
typedef struct {
	const gchar *name;
	gboolean (*get_state)(RotaBootloader *bl, const gchar *bootname, gboolean *good, GError **error);
	gboolean (*set_state)(RotaBootloader *bl, const gchar *bootname, gboolean good, GError **error);
	gchar *(*get_primary)(RotaBootloader *bl, GError **error);
	gboolean (*set_primary)(RotaBootloader *bl, const gchar *bootname, GError **error);
	gchar *(*get_current)(RotaBootloader *bl, GError **error);
} RotaBootloaderBackend;

struct _RotaBootloader {
	RotaBootloaderConfig config; /* owned copy */
	const RotaBootloaderBackend *backend;
};

extern const RotaBootloaderBackend rota_bootloader_backend_barebox;
extern const RotaBootloaderBackend rota_bootloader_backend_uboot;
extern const RotaBootloaderBackend rota_bootloader_backend_grub;
extern const RotaBootloaderBackend rota_bootloader_backend_efi;
extern const RotaBootloaderBackend rota_bootloader_backend_custom;
extern const RotaBootloaderBackend rota_bootloader_backend_noop;

/* Runs argv (argv[0] looked up in PATH unless it contains a '/') without a
 * shell and returns its stdout. `doing` describes the operation for the
 * error ("marking 'A' bad"); a missing tool, a non-zero exit or a signal
 * become one-line errors "<doing>: <tool> …" with the exit status and the
 * first line of the tool's stderr. */
gchar *rota_bootloader_run_tool(const gchar *const *argv, const gchar *doing, GError **error);

/* Parses "KEY=value" lines (value up to the end of the line, '\r' dropped;
 * lines without '=' ignored) into a KEY -> value table. Later lines win. */
GHashTable *rota_bootloader_parse_vars(const gchar *text);

/* Splits a boot order at any of the characters in separators, dropping
 * empty tokens (so "A  B " and "A,B" work). NULL order gives an empty list. */
gchar **rota_bootloader_split_order(const gchar *order, const gchar *separators);
/* order without any token equal to name (case-insensitive when nocase). */
gchar **rota_bootloader_order_without(const gchar *const *order, const gchar *name, gboolean nocase);
/* name followed by order without name. */
gchar **rota_bootloader_order_with_first(const gchar *const *order, const gchar *name, gboolean nocase);

/* Parses an unsigned number in base (0: auto-detect 0x/0 prefixes). The
 * whole string (surrounding whitespace allowed) must be the number. On
 * failure the error names `what` (a variable) and the text. */
gboolean rota_bootloader_parse_uint(const gchar *text, guint base, const gchar *what, guint64 *out, GError **error);

/* TRUE when name is one of the configured bootnames. */
gboolean rota_bootloader_is_bootname(RotaBootloader *bl, const gchar *name);

/* The attempts to write when marking good / primary (config value or 3). */
gint rota_bootloader_attempts(RotaBootloader *bl);
gint rota_bootloader_attempts_primary(RotaBootloader *bl);
