/* context.h — the running system as one object: its config, bootloader,
 * status store, booted slot and system-info values. Install, status, mark
 * and write-slot (and the D-Bus service) all start from a context. */
#pragma once

#include <glib.h>

#include "system/bootloader.h"
#include "system/config.h"
#include "system/slots.h"
#include "system/status.h"

typedef struct {
	RotaConfig *config;
	RotaBootloader *bootloader;
	RotaStatusStore *status;
	gchar *bootname;            /* the detected boot name string */
	gchar *variant;
	gchar *system_version;
	GPtrArray *system_info_env; /* "RAUC_X=value" lines from the system-info handler */
} RotaContext;

/* Takes ownership of config (freed on failure too); runs target setup
 * (system-conf.md §1.5). */
RotaContext *rota_context_new(RotaConfig *config, const gchar *override_boot_slot, GError **error);
void rota_context_free(RotaContext *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaContext, rota_context_free)

/* Whether state is one rota_context_mark() knows: good, bad, active. */
gboolean rota_mark_state_is_valid(const gchar *state);
/* Mark slots (install-and-runtime.md §13): state "good", "bad" or "active".
 * *out_message receives "marked slot(s) ... as ...". */
gboolean rota_context_mark(RotaContext *ctx, const gchar *state, const gchar *identifier, gchar **out_message,
			   GError **error);
/* Sets primary and records activated.* in the slot's status. */
gboolean rota_context_activate(RotaContext *ctx, RotaSlot *slot, GError **error);
