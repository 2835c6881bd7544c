/* bundle_info.h — what `rota info` shows about a bundle, in RAUC's output
 * formats (readable, shell, json, json-pretty). Lives in the library so the
 * CLI and the D-Bus service print the same facts. */
#pragma once

#include "bundle/bundle.h"

typedef enum {
	ROTA_OUTPUT_READABLE,
	ROTA_OUTPUT_SHELL,
	ROTA_OUTPUT_JSON,
	ROTA_OUTPUT_JSON_PRETTY,
} RotaOutputFormat;

/* Parses "readable", "shell", "json", "json-pretty". */
gboolean rota_output_format_parse(const gchar *name, RotaOutputFormat *out, GError **error);

/* dump: what --dump-cert/--dump-recipients add (rota_bundle_info_dump()),
 * placed before the certificate chain in readable output; NULL for none.
 * Other formats leave it to the caller to print after the text. */
gchar *rota_bundle_info_format(const RotaBundle *bundle, RotaOutputFormat format, const gchar *dump);

/* The text of `info --dump-cert` (first certificate of the CMS) and
 * `--dump-recipients`, each followed by a blank line as RAUC prints them. */
gchar *rota_bundle_info_dump(const RotaBundle *bundle, gboolean cert, gboolean recipients, GError **error);
