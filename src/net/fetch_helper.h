/* fetch_helper.h — the unprivileged side of streaming: the rota-fetch
 * process. It drops privileges before it touches the network, then serves
 * CONFIGURE/READ frames (fetch_protocol.h) on fd 3 with libcurl Range
 * requests, checking every reply is a 206 with exactly the asked range of
 * the same, unchanged bundle. */
#pragma once

#include <glib.h>

#include "common/error.h"

/* As root: setgroups(all groups of user), setgid, setuid to user, and
 * check root cannot be regained. Always: PR_SET_NO_NEW_PRIVS and a parent
 * death signal. */
gboolean rota_fetch_drop_privileges(const gchar *user, GError **error);

/* Serves requests on fd until rota closes it. Returns the exit status. */
int rota_fetch_helper_serve(int fd);
