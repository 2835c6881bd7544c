/* spawn.h — running external tools (mkfs, mount, resize2fs, hooks, the
 * mtd-utils writers) with errors that name the tool, its exit status and
 * what it said on stderr. */
#pragma once

#include <glib.h>

#include "common/error.h"

/* Runs argv (PATH lookup) with envp (NULL = inherit); captures stdout into
 * *out_stdout when not NULL. Non-zero exit is an error. */
gboolean rota_spawn_sync(const gchar *const *argv, const gchar *const *envp, gchar **out_stdout, GError **error);

/* A tool that runs while rota feeds it: the image writers stream data into
 * a tool's stdin instead of staging a file for it. */
typedef struct _RotaTool RotaTool;

/* Starts argv (PATH lookup, rota's environment). Its stdin is stdin_fd
 * (dup'ed; the caller keeps its own), or with stdin_fd -1 a pipe that
 * rota_tool_feed() writes. stdout is discarded; stderr is collected for the
 * error message. */
RotaTool *rota_tool_start(const gchar *const *argv, int stdin_fd, GError **error);
/* Writes len bytes to the tool's stdin pipe. A tool that exits (or closes
 * stdin) early makes this fail with ROTA_ERROR_IO, never with SIGPIPE. */
gboolean rota_tool_feed(RotaTool *tool, const void *buf, gsize len, GError **error);
/* Closes stdin, waits for the tool and frees it. A non-zero exit or a
 * signal is "<tool> failed (<status>): <stderr tail>", on one line. */
gboolean rota_tool_finish(RotaTool *tool, GError **error);
/* Kills the tool (SIGTERM), waits for it and frees it: the caller decided
 * that what it was given must not be completed. */
void rota_tool_abort(RotaTool *tool);
/* rota_tool_start() with stdin from /dev/null, then rota_tool_finish(). */
gboolean rota_tool_run(const gchar *const *argv, GError **error);

/* The last max_len characters of a tool's stderr as one line: line breaks
 * and runs of blanks become single spaces. For error messages. */
gchar *rota_stderr_tail(const gchar *text, gsize max_len);
