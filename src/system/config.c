/* config.c — reads system.conf with GKeyFile (see config.h). */
#include "config.h"

#include "bundle/bundle.h"
#include "common/error.h"

void rota_config_free(RotaConfig *config)
{
	if (!config)
		return;
	g_free(config->path);
	g_free(config->compatible);
	rota_keyring_clear(&config->keyring);
	g_free(config);
}

static gchar *path_relative_to(const gchar *conf, gchar *value)
{
	g_autofree gchar *dir = NULL;

	if (!value || g_path_is_absolute(value))
		return value;
	dir = g_path_get_dirname(conf);
	gchar *abs = g_build_filename(dir, value, NULL);
	g_free(value);
	return abs;
}

static gboolean get_bool(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key, gboolean *out,
			 GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	*out = g_key_file_get_boolean(kf, group, key, &local);
	if (local) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: [%s] %s: not a boolean", path, group, key);
		return FALSE;
	}
	return TRUE;
}

RotaConfig *rota_config_load(const gchar *path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(RotaConfig) c = g_new0(RotaConfig, 1);
	g_autoptr(GError) local = NULL;
	RotaKeyring *k = &c->keyring;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: cannot load system config: %s", path, local->message);
		return NULL;
	}
	c->path = g_strdup(path);
	c->compatible = g_key_file_get_string(kf, "system", "compatible", NULL);
	c->max_signature_size = ROTA_MAX_SIGNATURE_SIZE;
	if (g_key_file_has_key(kf, "system", "max-bundle-signature-size", NULL)) {
		g_autofree gchar *v = g_key_file_get_string(kf, "system", "max-bundle-signature-size", NULL);
		if (!v || !g_ascii_string_to_unsigned(v, 10, 1, G_MAXUINT64, &c->max_signature_size, NULL)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "%s: [system] max-bundle-signature-size: '%s' is not a positive integer", path, v ? v : "");
			return NULL;
		}
	}
	k->path = path_relative_to(path, g_key_file_get_string(kf, "keyring", "path", NULL));
	k->directory = path_relative_to(path, g_key_file_get_string(kf, "keyring", "directory", NULL));
	k->check_purpose = g_key_file_get_string(kf, "keyring", "check-purpose", NULL);
	if (!get_bool(kf, path, "keyring", "check-crl", &k->check_crl, error) ||
	    !get_bool(kf, path, "keyring", "allow-partial-chain", &k->allow_partial_chain, error) ||
	    !get_bool(kf, path, "keyring", "use-bundle-signing-time", &k->use_bundle_signing_time, error))
		return NULL;
	return g_steal_pointer(&c);
}
