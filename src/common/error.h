/* error.h — rota's one GError domain and its codes.
 *
 * Every fallible call in librota reports through GError with this domain, so
 * callers (CLI, tests) can tell a corrupted bundle from a bad signature from
 * bad user input without parsing messages. */
#pragma once

#include <glib.h>

#define ROTA_ERROR (rota_error_quark())
GQuark rota_error_quark(void);

typedef enum {
	ROTA_ERROR_FAILED,      /* anything without a better code */
	ROTA_ERROR_IO,          /* read/write/open failed */
	ROTA_ERROR_INVALID,     /* malformed input: manifest, options, file layout */
	ROTA_ERROR_CORRUPT,     /* payload or hash tree does not match the signed root hash */
	ROTA_ERROR_SIGNATURE,   /* CMS parse/verify/chain failures */
	ROTA_ERROR_LIMIT,       /* a size beyond what the format allows */
} RotaErrorCode;
