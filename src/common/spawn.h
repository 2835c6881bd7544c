/* spawn.h — running external tools (mkfs, mount, resize2fs, hooks) with
 * errors that name the tool, its exit status and its first line of stderr. */
#pragma once

#include <glib.h>

#include "common/error.h"

/* Runs argv (PATH lookup) with envp (NULL = inherit); captures stdout into
 * *out_stdout when not NULL. Non-zero exit is an error. */
gboolean rota_spawn_sync(const gchar *const *argv, const gchar *const *envp, gchar **out_stdout, GError **error);
