/* status_info.h — what `rota status` shows (install-and-runtime.md §15) in
 * readable, shell and json forms; shared by the CLI and the service. */
#pragma once

#include "bundle/bundle_info.h"
#include "system/context.h"

gchar *rota_status_info_format(RotaContext *ctx, RotaOutputFormat format, gboolean detailed);
