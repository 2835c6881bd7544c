/* error.c — the ROTA_ERROR quark. */
#include "error.h"

G_DEFINE_QUARK(rota-error-quark, rota_error)
