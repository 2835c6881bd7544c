/* event_log.h — the event log (install-and-runtime.md §11): records of
 * installations, marks, slot and artifact updates and service starts,
 * appended to every [log.<name>] file whose `events` take them, in its
 * format, with size-based rotation. A log that cannot be written is warned
 * about once and left alone for the rest of the run: logging never fails
 * what it logs. */
#pragma once

#include <glib.h>

#include "system/config.h"

typedef struct {
	const gchar *type;       /* install, boot, mark, service, writeslot */
	const gchar *message;
	const gchar *message_id; /* RAUC's MESSAGE_ID (32 hex digits), or NULL */
	/* Optional fields, NULL when not known. */
	const gchar *transaction_id;
	const gchar *boot_id;
	const gchar *bundle_hash;
	const gchar *bundle_version;
	const gchar *bundle_description;
	const gchar *slot;
	const gchar *bootname;
} RotaEvent;

void rota_event_log(const RotaConfig *config, const RotaEvent *event);

/* One record as the format writes it (with its trailing newline); now is
 * the record's time. For tests. */
gchar *rota_event_format(const RotaEvent *event, RotaLogFormat format, GDateTime *now);
