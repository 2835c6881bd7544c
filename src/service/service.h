/* service.h — `rota service`: the installer on D-Bus, compatible with
 * RAUC's de.pengutronix.rauc.Installer (cli-and-dbus.md §2). A thin front
 * end over librota: installations run rota_install() in a worker thread;
 * everything that touches D-Bus happens in the main loop. */
#pragma once

#include <gio/gio.h>

#include "system/context.h"

#define ROTA_SERVICE_DEFAULT_NAME "de.pengutronix.rauc"
#define ROTA_SERVICE_OBJECT_PATH "/"
#define ROTA_SERVICE_INTERFACE "de.pengutronix.rauc.Installer"
#define ROTA_STATISTICS_INTERFACE "io.github.rota.Statistics"
#define ROTA_POLLER_INTERFACE "de.pengutronix.rauc.Poller"

/* The bus name: override, else $ROTA_BUS_NAME, else de.pengutronix.rauc.
 * Shared by the service and its clients so both agree. */
const gchar *rota_service_bus_name(const gchar *override);
/* The session bus when DBUS_STARTER_BUS_TYPE=session (as RAUC), else the
 * system bus. */
GBusType rota_service_bus_type(void);
const gchar *rota_service_bus_type_name(GBusType type);

/* The installer's interface description (compiled into rota). */
GDBusInterfaceInfo *rota_service_interface_info(void);

typedef struct {
	const gchar *bus_name;      /* NULL: rota_service_bus_name(NULL) */
	const gchar *handler_args;  /* extra args for full custom handlers */
} RotaServiceOptions;

/* Owns the bus name and serves until SIGTERM or SIGINT. Fails when the
 * name cannot be obtained or the bus connection is lost. */
gboolean rota_service_run(RotaContext *ctx, const RotaServiceOptions *opts, GError **error);
