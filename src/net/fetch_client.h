/* fetch_client.h — the privileged end of the fetch helper: starts
 * rota-fetch (fork+exec, socketpair end as fd 3), sends CONFIGURE and READ
 * frames and receives their replies. Requests may be pipelined: replies
 * come back in request order. Not thread-safe; the HTTP view serializes. */
#pragma once

#include <glib.h>

#include "common/error.h"

typedef struct _RotaFetchClient RotaFetchClient;

typedef struct {
	guint64 requests;   /* HTTP requests made by the helper */
	guint64 retries;    /* of which retries */
	guint64 downloaded; /* body bytes received, incl. failed attempts */
} RotaFetchCounters;

/* Finds the helper (env ROTA_FETCH_HELPER, else next to the running
 * executable, else libexecdir) and starts it as sandbox_user. */
RotaFetchClient *rota_fetch_client_new(const gchar *sandbox_user, GError **error);
void rota_fetch_client_free(RotaFetchClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaFetchClient, rota_fetch_client_free)

/* The helper's process id (for tests and diagnostics). */
GPid rota_fetch_client_get_pid(RotaFetchClient *client);

/* Sends the options (a{sv}, fetch_protocol.h keys) and fetches the bundle's
 * last tail_len bytes (fewer when it is smaller), learning its size. */
gboolean rota_fetch_client_configure(RotaFetchClient *client, GVariant *config, gsize tail_len, guint64 *out_total,
				     GBytes **out_tail, GError **error);

/* Sends READ [off, off+len) without waiting for the data. */
gboolean rota_fetch_client_send_read(RotaFetchClient *client, guint64 off, gsize len, GError **error);
/* Receives the reply to the oldest READ sent; buf gets exactly len bytes. */
gboolean rota_fetch_client_recv_read(RotaFetchClient *client, void *buf, gsize len, GError **error);

void rota_fetch_client_get_counters(RotaFetchClient *client, RotaFetchCounters *out);
