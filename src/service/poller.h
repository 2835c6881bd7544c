/* poller.h — the service's update polling (install-and-runtime.md §16,
 * cli-and-dbus.md §3 de.pengutronix.rauc.Poller): now and then it reads the
 * signed manifest of the bundle at [polling] url (streamed: signature and
 * manifest only), decides whether it is an update candidate, installs it
 * when the install criteria say so (pinned to that manifest's hash), and
 * reboots when the reboot criteria say so. Runs in the service's main
 * loop; the fetch runs in a thread. */
#pragma once

#include <glib.h>

#include "system/context.h"

typedef struct _RotaPoller RotaPoller;

typedef struct {
	/* Whether a poll may run now (no installation, booted slot marked
	 * good since the service started); *why when not. */
	gboolean (*may_poll)(gpointer data, const gchar **why);
	/* Starts installing url, requiring manifest_hash. */
	gboolean (*install)(gpointer data, const gchar *url, const gchar *manifest_hash, GError **error);
	/* NextPoll or Status changed. */
	void (*changed)(gpointer data);
	gpointer data;
} RotaPollerHooks;

/* NULL without [polling]; fails when the system-info handler gave no
 * system version (nothing to compare bundle versions with). */
RotaPoller *rota_poller_new(RotaContext *ctx, const RotaPollerHooks *hooks, GError **error);
/* Waits for a running fetch (it reads ctx's config): free the poller
 * before the context. Iterates the default main context meanwhile. */
void rota_poller_free(RotaPoller *poller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaPoller, rota_poller_free)

/* Poll(): a poll in about 30 s. */
void rota_poller_poll_soon(RotaPoller *poller);
/* The installation the poller started has finished; whether it wrote a
 * slot / changed an active artifact decides the reboot criteria. */
void rota_poller_install_finished(RotaPoller *poller, gboolean ok, gboolean updated_slots, gboolean updated_artifacts);

/* NextPoll: CLOCK_BOOTTIME µs of the next poll, 0 once a reboot was started. */
gint64 rota_poller_next_poll(RotaPoller *poller);
/* Status a{sv} (install-and-runtime.md §16). */
GVariant *rota_poller_status(RotaPoller *poller);
