/* http_view.h — a source view over a bundle on an HTTP(S) server.
 *
 * Bytes come from Range requests made by the unprivileged fetch helper
 * (src/net); this view only caches and schedules them: the bundle's tail is
 * fetched with the first request and kept, sequential reads get a
 * read-ahead window that doubles while they stay sequential (64 KiB up to
 * 1 MiB) and is requested one window ahead, and a small LRU of recent
 * chunks serves re-reads. Nothing here interprets the bytes: the verity
 * view above checks them. Thread-safe. */
#pragma once

#include <glib.h>

#include "view/view.h"

typedef struct {
	const gchar *tls_cert;            /* client certificate: PEM file or pkcs11: URI; NULL: none */
	const gchar *tls_key;             /* client key: PEM file or pkcs11: URI */
	const gchar *tls_ca;              /* PEM file replacing the system trust store */
	gboolean tls_no_verify;           /* do not verify the server's certificate */
	const gchar *const *headers;      /* "Name: value", sent with every request */
	const gchar *const *info_headers; /* "Name: value", sent with the first request only */
	const gchar *sandbox_user;        /* user the helper runs as when rota is root; NULL: nobody */
	guint max_redirects;              /* 0: 8 */
	guint connect_timeout;            /* seconds; 0: 20 */
	guint low_speed_time;             /* seconds without progress before a transfer is retried; 0: 60 */
	guint retries;                    /* retries per request; 0: 5 */
	guint retry_delay_ms;             /* first backoff, doubling per retry; 0: 500 */
	guint64 max_download_size;        /* refuse to download more in total; 0: no limit */
} RotaHttpOptions;

typedef struct {
	guint64 downloaded; /* body bytes received, incl. failed attempts */
	guint64 needed;     /* distinct bytes read through the view, in 4 KiB blocks */
	guint64 requests;   /* HTTP requests */
	guint64 retries;    /* of which retries */
	gdouble seconds;    /* since the view was created */
} RotaHttpStats;

/* TRUE when path is an http:// or https:// URL. */
gboolean rota_is_http_url(const gchar *path);
/* url without user:password, for messages. */
gchar *rota_http_url_for_display(const gchar *url);

/* Starts the helper, fetches the tail of the bundle at url and returns a
 * view of its whole size. opts may be NULL. */
RotaView *rota_http_view_new(const gchar *url, const RotaHttpOptions *opts, GError **error);

/* FALSE when view is not an HTTP view. */
gboolean rota_http_view_get_stats(RotaView *view, RotaHttpStats *out);

/* The fetch helper's process id, or 0 (tests check its privileges). */
GPid rota_http_view_get_helper_pid(RotaView *view);
