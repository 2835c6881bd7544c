/* semver.h — RAUC's SemVer-like version comparison (install-and-runtime.md
 * §14), used for min-bundle-version. */
#pragma once

#include <glib.h>

/* <0, 0, >0 into *out; FALSE if either version does not parse. */
gboolean rota_version_compare(const gchar *a, const gchar *b, gint *out);
