/* status_info.h — what `rota status` shows (install-and-runtime.md §15) in
 * readable, shell and json forms. The output is rendered from a plain
 * report, so the CLI prints the same bytes whether it reads the system
 * itself or asks the service (which fills the report from D-Bus). */
#pragma once

#include "bundle/bundle_info.h"
#include "system/context.h"

/* One slot as status shows it. Strings are NULL when unset. */
typedef struct {
	gchar *name;
	gchar *sclass;
	gchar *device;
	gchar *type;
	gchar *bootname;
	gchar *state;        /* "booted", "active", "inactive" */
	gchar *description;
	gchar *parent;       /* the parent slot's name */
	gchar *mountpoint;
	gchar *boot_status;  /* "good", "bad", "unknown"; NULL without bootname */
	RotaSlotStatus status;
} RotaStatusSlot;

typedef struct {
	gchar *compatible;
	gchar *variant;
	gchar *system_version;
	gchar *bootname;     /* the detected boot name string */
	gchar *primary;      /* the primary slot's name; NULL if unknown */
	GPtrArray *slots;    /* RotaStatusSlot, in config order */
	GVariant *artifacts; /* GetArtifactStatus's aa{sv} (empty without repositories); NULL when
			     * unknown (a service without the method, such as RAUC 1.8) */
} RotaStatusReport;

RotaStatusReport *rota_status_report_new(void);
void rota_status_report_free(RotaStatusReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaStatusReport, rota_status_report_free)

/* Appends an empty slot named name; the caller fills in the rest. */
RotaStatusSlot *rota_status_report_add_slot(RotaStatusReport *report, const gchar *name);

/* Reads the system: compatible, variant, boot name, slot states and
 * mounts, boot states from the bootloader and each slot's recorded status.
 * primary stays NULL (GetSlotStatus does not report it); fill it with
 * rota_status_primary_slot_name(). */
RotaStatusReport *rota_status_report_from_context(RotaContext *ctx);

/* The name of the slot the bootloader will boot next. The error says why
 * there is none, without a prefix: callers print "Failed getting primary
 * slot: <message>" (install-and-runtime.md §15). */
gchar *rota_status_primary_slot_name(RotaContext *ctx, GError **error);

gchar *rota_status_report_format(const RotaStatusReport *report, RotaOutputFormat format, gboolean detailed);

/* The in-process status: the report from the context with its primary
 * (a failure to get it is only a message), formatted. */
gchar *rota_status_info_format(RotaContext *ctx, RotaOutputFormat format, gboolean detailed);
