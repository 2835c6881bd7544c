/* info_headers.h — the automatic HTTP headers of a streaming session
 * (system-conf.md §5 send-headers, install-and-runtime.md §10.3): sent with
 * the first request only. */
#pragma once

#include <glib.h>

#include "system/config.h"
#include "system/context.h"

/* "Name: value" lines for config's [streaming] send-headers (RAUC-Boot-ID,
 * RAUC-Transaction-ID, RAUC-Machine-ID, RAUC-System-Version, RAUC-Serial,
 * RAUC-Variant, RAUC-Uptime), then one `RAUC-<NAME with _ → ->` per
 * RAUC_HTTP_<NAME>=value line of the system-info handler. A header whose
 * value is unknown (no ctx, no transaction, unreadable file) or would not
 * fit on one header line is left out. ctx and transaction may be NULL
 * (`info` without a system). NULL-terminated; never NULL. */
gchar **rota_info_headers_build(const RotaConfig *config, const RotaContext *ctx, const gchar *transaction);

/* This boot's ID (the kernel's random boot_id), or NULL if unreadable. */
gchar *rota_info_boot_id(void);
