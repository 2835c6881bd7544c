/* fetch_protocol.h — the frames between rota and its unprivileged fetch
 * helper (rota-fetch), over a SOCK_STREAM socketpair (fd 3 in the helper).
 *
 * Every frame is a fixed-size big-endian header, then at most one bounded
 * body. The privileged side parses nothing from the network but these
 * headers; bundle bytes travel as opaque data that only the verity view
 * interprets. Requests: CONFIGURE (a GVariant a{sv} with the URL and
 * access options; answered with the bundle's total size and its tail) and
 * READ (offset, length). Replies: status, counters, an error message (one
 * line) and the data. Closing the socket stops the helper. */
#pragma once

#include <glib.h>

#include "common/error.h"

#define ROTA_FETCH_FD 3
#define ROTA_FETCH_MAX_READ (16u << 20)    /* largest READ length and CONFIGURE tail */
#define ROTA_FETCH_MAX_CONFIG (1u << 20)   /* CONFIGURE body: options incl. PEM blobs */
#define ROTA_FETCH_MAX_MESSAGE 1024u       /* error message in a reply */

/* Keys of the CONFIGURE dictionary (a{sv}). Blobs are file contents read
 * by the privileged side, so the helper needs no access to key files. */
#define ROTA_FETCH_KEY_URL "url"                   /* s */
#define ROTA_FETCH_KEY_TLS_CERT "tls-cert"         /* ay (PEM) */
#define ROTA_FETCH_KEY_TLS_KEY "tls-key"           /* ay (PEM) */
#define ROTA_FETCH_KEY_TLS_CA "tls-ca"             /* ay (PEM) */
#define ROTA_FETCH_KEY_TLS_CERT_URI "tls-cert-uri" /* s: pkcs11: URI */
#define ROTA_FETCH_KEY_TLS_KEY_URI "tls-key-uri"   /* s: pkcs11: URI */
#define ROTA_FETCH_KEY_NO_VERIFY "tls-no-verify"   /* b */
#define ROTA_FETCH_KEY_HEADERS "headers"           /* as: every request */
#define ROTA_FETCH_KEY_INFO_HEADERS "info-headers" /* as: first request only */
#define ROTA_FETCH_KEY_MAX_REDIRECTS "max-redirects"     /* u */
#define ROTA_FETCH_KEY_CONNECT_TIMEOUT "connect-timeout" /* u, seconds */
#define ROTA_FETCH_KEY_LOW_SPEED_TIME "low-speed-time"   /* u, seconds below 1 byte/s */
#define ROTA_FETCH_KEY_RETRIES "retries"                 /* u */
#define ROTA_FETCH_KEY_RETRY_DELAY "retry-delay-ms"      /* u, first backoff */

typedef enum {
	ROTA_FETCH_CONFIGURE = 1,
	ROTA_FETCH_READ = 2,
} RotaFetchRequestType;

typedef enum {
	ROTA_FETCH_OK = 0,
	ROTA_FETCH_FAILED = 1,  /* HTTP or transport failure after the retry budget */
	ROTA_FETCH_CHANGED = 2, /* the bundle on the server changed during the session */
	ROTA_FETCH_INVALID = 3, /* request or configuration the helper cannot serve */
	ROTA_FETCH_STATUS_MAX = ROTA_FETCH_INVALID,
} RotaFetchStatus;

typedef struct {
	guint32 type;     /* RotaFetchRequestType */
	guint64 offset;   /* READ */
	guint32 length;   /* READ: bytes; CONFIGURE: tail bytes to return */
	guint32 body_len; /* CONFIGURE: size of the serialized options */
} RotaFetchRequest;

typedef struct {
	guint32 status;     /* RotaFetchStatus */
	guint32 msg_len;    /* bytes of error message that follow */
	guint32 data_len;   /* bytes of data that follow (after the message) */
	guint32 requests;   /* HTTP requests made for this reply */
	guint32 retries;    /* of which retries */
	guint64 downloaded; /* body bytes received for this reply, incl. failed attempts */
	guint64 total;      /* CONFIGURE: bundle size */
} RotaFetchReply;

/* Writes/reads exactly len bytes on a socket; never raises SIGPIPE. `peer`
 * names the other side in errors. Reading at a clean EOF before the first
 * byte sets *eof (may be NULL) and fails. */
gboolean rota_fetch_write_all(int fd, const void *buf, gsize len, const gchar *peer, GError **error);
gboolean rota_fetch_read_all(int fd, void *buf, gsize len, gboolean *eof, const gchar *peer, GError **error);

gboolean rota_fetch_send_request(int fd, const RotaFetchRequest *req, const void *body, GError **error);
/* Reads and checks a request; *out_body is set for CONFIGURE. */
gboolean rota_fetch_recv_request(int fd, RotaFetchRequest *req, GBytes **out_body, gboolean *eof, GError **error);

gboolean rota_fetch_send_reply(int fd, const RotaFetchReply *reply, const gchar *msg, const void *data,
			       GError **error);
/* Reads the reply header to a request of type with length asked, and its
 * message. The header must be well-formed: a known status, msg_len within
 * bounds, data_len 0 on failure, and on success data_len == asked (READ) or
 * min(asked, total) with total > 0 (CONFIGURE). *out_msg gets the message
 * made one printable line (NULL when empty). The caller then reads
 * data_len bytes itself. */
gboolean rota_fetch_recv_reply_header(int fd, RotaFetchRequestType type, gsize asked, RotaFetchReply *reply,
				      gchar **out_msg, GError **error);

/* CONFIGURE bodies: the a{sv} dictionary serialized, and checked back. */
GBytes *rota_fetch_config_serialize(GVariant *dict);
GVariant *rota_fetch_config_parse(GBytes *body, GError **error);

/* TRUE for http:// and https:// URLs (the schemes rota streams from). */
gboolean rota_fetch_is_url(const gchar *path);
/* One printable line (valid UTF-8, no controls, line separators or bidi
 * marks) from len bytes of whatever the helper sent: it cannot forge extra
 * output lines or terminal escapes. */
gchar *rota_fetch_sanitize(const guint8 *raw, gsize len);
/* The URL without user:password, for messages and view names. */
gchar *rota_fetch_redact_url(const gchar *url);
