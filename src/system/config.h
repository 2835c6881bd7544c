/* config.h — system.conf (system-conf.md): [system], [keyring],
 * [streaming], [encryption], [handlers], [slot.<class>.<n>],
 * [artifacts.<repo>], [log.<name>], [polling]. Loading
 * validates every value; unknown keys and sections only warn, so a config
 * written for a newer RAUC still loads. */
#pragma once

#include <glib.h>

#include "bundle/manifest.h"
#include "bundle/signature.h"

typedef enum {
	ROTA_SLOT_INACTIVE = 0,
	ROTA_SLOT_ACTIVE,
	ROTA_SLOT_BOOTED,
} RotaSlotState;

typedef struct _RotaSlot RotaSlot;
struct _RotaSlot {
	gchar *name;          /* "<class>.<index>" */
	gchar *sclass;
	gchar *device;        /* resolved against the config's directory */
	gchar *type;          /* raw, ext4, vfat, ... */
	gchar *bootname;
	gchar *description;
	gchar *parent_name;
	RotaSlot *parent;     /* the root parent, or NULL for root slots */
	gboolean readonly;
	gboolean allow_mounted;
	gboolean install_same;
	gboolean resize;
	gchar *extra_mount_opts;
	gchar *extra_mkfs_opts;
	guint64 region_start; /* boot-*-switch, boot-raw-fallback: byte offset on device */
	guint64 region_size;  /* the region's two halves together, bytes */
	/* runtime */
	RotaSlotState state;
	gchar *mount_point;   /* where it is mounted outside rota, or NULL */
};

const gchar *rota_slot_state_name(RotaSlotState state);

/* [log.<name>] (system-conf.md §7): a file that receives event records
 * (system/event_log.c). */
typedef enum {
	ROTA_LOG_READABLE,
	ROTA_LOG_SHORT,
	ROTA_LOG_JSON,
	ROTA_LOG_JSON_PRETTY,
} RotaLogFormat;

typedef struct {
	gchar *name;
	gchar *filename;   /* absolute */
	gchar **events;    /* event types, or NULL for all */
	RotaLogFormat format;
	guint64 max_size;  /* rotation threshold in bytes; 0: never */
	guint max_files;
} RotaEventLogger;

/* [polling] (system-conf.md §6): the service looks for updates at a URL
 * (service/poller.c). Criteria are bit sets of the flags below. */
enum {
	ROTA_POLL_HIGHER_SEMVER = 1 << 0,
	ROTA_POLL_DIFFERENT_VERSION = 1 << 1,
	ROTA_POLL_ALWAYS = 1 << 2,
	ROTA_REBOOT_UPDATED_SLOTS = 1 << 0,
	ROTA_REBOOT_UPDATED_ARTIFACTS = 1 << 1,
	ROTA_REBOOT_FAILED_UPDATE = 1 << 2,
};

typedef struct {
	gchar *url;
	guint64 interval_sec;
	guint64 max_interval_sec;
	gchar **inhibit_files;
	guint candidate_criteria;
	guint install_criteria;
	guint reboot_criteria;
	gchar *reboot_cmd;
} RotaPollingConfig;

/* [artifacts.<repo>] (system-conf.md §9a): a directory of file-based
 * artifacts, installed beside the slots (install/artifacts.c). */
typedef struct {
	gchar *name;
	gchar *path;        /* resolved against the config's directory */
	gchar *type;        /* files | trees */
	gchar *description;
} RotaArtifactRepo;

typedef struct {
	gchar *path;
	gchar *compatible;
	gchar *bootloader;
	gchar *mountprefix;
	gchar *data_directory;
	gchar *statusfile;          /* central status file path, or NULL for per-slot */
	guint bundle_formats;       /* bit (1 << RotaBundleFormat) per allowed format */
	gchar *min_bundle_version;
	gboolean activate_installed;
	gint boot_attempts;
	gint boot_attempts_primary;
	gchar *grubenv;
	gchar *barebox_statename;
	gchar *barebox_dtbpath;
	gboolean efi_use_bootnext;
	guint64 max_download_size;
	guint64 max_signature_size;
	gchar *variant;             /* variant-name, if given */
	gchar *variant_source;      /* variant-file, or the devicetree's compatible with variant-dtb:
	                             * read by rota_config_resolve_variant(), not at load */
	gboolean perform_pre_check;
	gboolean prevent_late_fallback;

	RotaKeyring keyring;

	gchar *streaming_sandbox_user;
	gchar *streaming_tls_cert;
	gchar *streaming_tls_key;
	gchar *streaming_tls_ca;
	gchar **streaming_send_headers;

	gchar *encryption_key;
	gchar *encryption_cert;
	gchar *autoinstall_path;   /* [autoinstall] path: installed when the service starts, if it exists */

	gchar *handler_system_info;
	gchar *handler_pre_install;
	gchar *handler_post_install;
	gchar *custom_bootloader_backend;

	GPtrArray *slots;           /* RotaSlot*, in config order */
	GPtrArray *artifact_repos;  /* RotaArtifactRepo*, in config order */
	GPtrArray *loggers;         /* RotaEventLogger*, in config order */
	RotaPollingConfig *polling; /* NULL without [polling] */
} RotaConfig;

void rota_config_free(RotaConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaConfig, rota_config_free)

/* Loads and validates path. Errors name file, section and key. */
RotaConfig *rota_config_load(const gchar *path, GError **error);

/* Built-in defaults (no file): for commands that work without a config. */
RotaConfig *rota_config_new_default(void);

RotaSlot *rota_config_find_slot(const RotaConfig *config, const gchar *name);
RotaArtifactRepo *rota_config_find_artifact_repo(const RotaConfig *config, const gchar *name);

/* The system's variant (system-conf.md [system] variant-*): variant-name,
 * or the content of variant-file / the devicetree compatible (trailing
 * newline removed), or NULL when none is configured. Read when a command
 * needs the target system (install, status, service...), not at load, so
 * that `rota info` works where the file is missing. FALSE with an error
 * naming the file and key when it cannot be read. */
gboolean rota_config_resolve_variant(const RotaConfig *config, gchar **out, GError **error);
