/* config.h — system.conf (system-conf.md). So far the parts that bundle
 * commands need: [keyring] and the signature size limit. */
#pragma once

#include <glib.h>

#include "bundle/signature.h"

typedef struct {
	gchar *path;
	gchar *compatible;
	guint64 max_signature_size;
	RotaKeyring keyring;
} RotaConfig;

void rota_config_free(RotaConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaConfig, rota_config_free)

/* Loads path; relative keyring paths are taken relative to its directory.
 * Invalid values are errors naming file, section and key. */
RotaConfig *rota_config_load(const gchar *path, GError **error);
