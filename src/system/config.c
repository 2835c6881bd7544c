/* config.c — loads system.conf with GKeyFile. Every key is taken out of the
 * key file as it is read; what is left afterwards is unknown and warned
 * about, so typos do not pass silently. */
#include "config.h"

#include <string.h>

#include "bundle/bundle.h"
#include "common/error.h"
#include "common/semver.h"

const gchar *rota_slot_state_name(RotaSlotState state)
{
	switch (state) {
	case ROTA_SLOT_BOOTED:
		return "booted";
	case ROTA_SLOT_ACTIVE:
		return "active";
	default:
		return "inactive";
	}
}

static void slot_free(RotaSlot *s)
{
	g_free(s->name);
	g_free(s->sclass);
	g_free(s->device);
	g_free(s->type);
	g_free(s->bootname);
	g_free(s->description);
	g_free(s->parent_name);
	g_free(s->extra_mount_opts);
	g_free(s->extra_mkfs_opts);
	g_free(s->mount_point);
	g_free(s);
}

static void polling_free(RotaPollingConfig *p)
{
	if (!p)
		return;
	g_free(p->url);
	g_strfreev(p->inhibit_files);
	g_free(p->reboot_cmd);
	g_free(p);
}

static void logger_free(RotaEventLogger *l)
{
	g_free(l->name);
	g_free(l->filename);
	g_strfreev(l->events);
	g_free(l);
}

static void artifact_repo_free(RotaArtifactRepo *a)
{
	g_free(a->name);
	g_free(a->path);
	g_free(a->type);
	g_free(a->description);
	g_free(a);
}

void rota_config_free(RotaConfig *c)
{
	if (!c)
		return;
	g_free(c->path);
	g_free(c->compatible);
	g_free(c->bootloader);
	g_free(c->mountprefix);
	g_free(c->data_directory);
	g_free(c->statusfile);
	g_free(c->min_bundle_version);
	g_free(c->grubenv);
	g_free(c->barebox_statename);
	g_free(c->barebox_dtbpath);
	g_free(c->variant);
	g_free(c->variant_source);
	rota_keyring_clear(&c->keyring);
	g_free(c->streaming_sandbox_user);
	g_free(c->streaming_tls_cert);
	g_free(c->streaming_tls_key);
	g_free(c->streaming_tls_ca);
	g_strfreev(c->streaming_send_headers);
	g_free(c->encryption_key);
	g_free(c->encryption_cert);
	g_free(c->autoinstall_path);
	g_free(c->handler_system_info);
	g_free(c->handler_pre_install);
	g_free(c->handler_post_install);
	g_free(c->custom_bootloader_backend);
	if (c->slots)
		g_ptr_array_unref(c->slots);
	if (c->artifact_repos)
		g_ptr_array_unref(c->artifact_repos);
	if (c->loggers)
		g_ptr_array_unref(c->loggers);
	polling_free(c->polling);
	g_free(c);
}

RotaSlot *rota_config_find_slot(const RotaConfig *c, const gchar *name)
{
	for (guint i = 0; i < c->slots->len; i++) {
		RotaSlot *s = c->slots->pdata[i];
		if (g_strcmp0(s->name, name) == 0)
			return s;
	}
	return NULL;
}

RotaArtifactRepo *rota_config_find_artifact_repo(const RotaConfig *c, const gchar *name)
{
	for (guint i = 0; i < c->artifact_repos->len; i++) {
		RotaArtifactRepo *a = c->artifact_repos->pdata[i];
		if (g_strcmp0(a->name, name) == 0)
			return a;
	}
	return NULL;
}

/* ---- a reader that consumes keys ---- */

typedef struct {
	GKeyFile *kf;
	const gchar *path;   /* for messages */
	gchar *dir;          /* for relative paths */
} Reader;

static void invalid(GError **error, const Reader *r, const gchar *group, const gchar *key, const gchar *what)
{
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: [%s] %s: %s", r->path, group, key, what);
}

/* Optional string; empty is unset. */
static gchar *take_str(Reader *r, const gchar *group, const gchar *key)
{
	gchar *v = g_key_file_get_string(r->kf, group, key, NULL);

	g_key_file_remove_key(r->kf, group, key, NULL);
	if (v && !*v)
		g_clear_pointer(&v, g_free);
	return v;
}

/* Optional string that RAUC refuses when present but empty ("Missing value
 * for key"), where other keys take an empty value for unset. */
static gboolean take_str_nonempty(Reader *r, const gchar *group, const gchar *key, gchar **out, GError **error)
{
	gboolean present = g_key_file_has_key(r->kf, group, key, NULL);
	g_autofree gchar *what = NULL;

	*out = take_str(r, group, key);
	if (*out || !present)
		return TRUE;
	what = g_strdup_printf("Missing value for key '%s'", key);
	invalid(error, r, group, key, what);
	return FALSE;
}

/* Optional path: relative to the config's directory; pkcs11: URIs as is. */
static gchar *take_path(Reader *r, const gchar *group, const gchar *key)
{
	g_autofree gchar *v = take_str(r, group, key);

	if (!v || g_path_is_absolute(v) || g_str_has_prefix(v, "pkcs11:"))
		return g_steal_pointer(&v);
	return g_build_filename(r->dir, v, NULL);
}

/* Read with GKeyFile itself, as RAUC does: trailing whitespace is fine
 * ("true "), an empty value is an error, not the default. */
static gboolean take_bool(Reader *r, const gchar *group, const gchar *key, gboolean def, gboolean *out, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree gchar *raw = g_key_file_get_value(r->kf, group, key, NULL);

	*out = def;
	if (!raw)
		return TRUE;
	*out = g_key_file_get_boolean(r->kf, group, key, &local);
	g_key_file_remove_key(r->kf, group, key, NULL);
	if (local) {
		g_autofree gchar *what = g_strdup_printf("'%s' is not a boolean (true or false)", raw);
		invalid(error, r, group, key, what);
		return FALSE;
	}
	return TRUE;
}

static gboolean take_u64(Reader *r, const gchar *group, const gchar *key, guint64 def, guint64 min, guint64 *out,
			 GError **error)
{
	g_autofree gchar *v = take_str(r, group, key);

	*out = def;
	if (!v)
		return TRUE;
	if (!g_ascii_string_to_unsigned(v, 10, min, G_MAXUINT64, out, NULL)) {
		g_autofree gchar *what = g_strdup_printf("'%s' is not an integer >= %" G_GUINT64_FORMAT, v, min);
		invalid(error, r, group, key, what);
		return FALSE;
	}
	return TRUE;
}

static gboolean take_int(Reader *r, const gchar *group, const gchar *key, gint *out, GError **error)
{
	guint64 v;

	if (!take_u64(r, group, key, 0, 0, &v, error))
		return FALSE;
	if (v > G_MAXINT) {
		invalid(error, r, group, key, "value too large");
		return FALSE;
	}
	*out = (gint)v;
	return TRUE;
}

/* A size: decimal digits, optionally followed by K, M, G or T (powers of
 * 1024; either case). Parsed as RAUC does: anything after the suffix is
 * ignored and a value without leading digits is 0, so a config RAUC loads
 * loads here too; the boot region checks refuse a 0 at install time. */
static gboolean parse_size(const gchar *text, guint64 *out)
{
	static const gchar suffixes[] = "kmgt";
	gchar *end = NULL;
	guint64 v = g_ascii_strtoull(text, &end, 10);
	const gchar *s = end && *end ? strchr(suffixes, g_ascii_tolower(*end)) : NULL;

	for (gsize i = 0; s && i <= (gsize)(s - suffixes); i++) {
		if (v > G_MAXUINT64 / 1024)
			return FALSE;
		v *= 1024;
	}
	*out = v;
	return TRUE;
}

/* A size key that must be present: `required_for` names the slot type
 * that needs it ("mandatory for boot-mbr-switch: ..."). */
static gboolean take_required_size(Reader *r, const gchar *group, const gchar *key, const gchar *required_for,
				   guint64 *out, GError **error)
{
	g_autofree gchar *v = take_str(r, group, key);
	g_autofree gchar *what = NULL;

	if (v && parse_size(v, out))
		return TRUE;
	what = v ? g_strdup_printf("mandatory for %s: '%s' is too large", required_for, v)
		 : g_strdup_printf("mandatory for %s: missing", required_for);
	invalid(error, r, group, key, what);
	return FALSE;
}

static void warn_leftovers(Reader *r, const gchar *group)
{
	g_auto(GStrv) keys = g_key_file_get_keys(r->kf, group, NULL, NULL);

	for (gchar **k = keys; k && *k; k++)
		g_warning("%s: unknown key '%s' in section [%s] ignored", r->path, *k, group);
	g_key_file_remove_group(r->kf, group, NULL);
}

/* A value that is not UTF-8 cannot be read as a string; take_str() would
 * take it for unset and silently drop e.g. a bootname, where RAUC refuses
 * the file. Checked for every key before anything is read. */
static gboolean check_values_readable(Reader *r, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(r->kf, NULL);

	for (gchar **g = groups; *g; g++) {
		g_auto(GStrv) keys = g_key_file_get_keys(r->kf, *g, NULL, NULL);
		for (gchar **k = keys; k && *k; k++) {
			g_autofree gchar *v = g_key_file_get_string(r->kf, *g, *k, NULL);
			if (!v) {
				invalid(error, r, *g, *k, "value is not valid UTF-8");
				return FALSE;
			}
		}
	}
	return TRUE;
}

/* ---- sections ---- */

static gboolean parse_bundle_formats(Reader *r, RotaConfig *c, GError **error)
{
	g_autofree gchar *v = NULL;
	g_auto(GStrv) items = NULL;
	gboolean relative = FALSE, fixed = FALSE;
	guint mask = 0;

	c->bundle_formats = (1 << ROTA_FORMAT_PLAIN) | (1 << ROTA_FORMAT_VERITY) | (1 << ROTA_FORMAT_CRYPT);
	if (!take_str_nonempty(r, "system", "bundle-formats", &v, error))
		return FALSE;
	if (!v)
		return TRUE;
	items = g_strsplit_set(v, " \t", -1);
	mask = c->bundle_formats;
	for (gchar **it = items; *it; it++) {
		const gchar *name = *it;
		gint sign = 0, bit = -1;
		if (!*name)
			continue;
		if (name[0] == '+' || name[0] == '-') {
			sign = name[0] == '+' ? 1 : -1;
			name++;
			relative = TRUE;
		} else {
			if (!fixed)
				mask = 0;
			fixed = TRUE;
		}
		for (gint f = ROTA_FORMAT_PLAIN; f <= ROTA_FORMAT_CRYPT; f++)
			if (g_str_equal(name, rota_bundle_format_name(f)))
				bit = f;
		if (bit < 0) {
			g_autofree gchar *what = g_strdup_printf("Invalid bundle format '%s'", name);
			invalid(error, r, "system", "bundle-formats", what);
			return FALSE;
		}
		if (sign < 0)
			mask &= ~(1u << bit);
		else
			mask |= 1u << bit;
	}
	if (relative && fixed) {
		invalid(error, r, "system", "bundle-formats", "mixing a fixed list with +/- modifiers is not allowed");
		return FALSE;
	}
	if (!mask) {
		invalid(error, r, "system", "bundle-formats", "no remaining formats");
		return FALSE;
	}
	c->bundle_formats = mask;
	return TRUE;
}

#define DEVICETREE_COMPATIBLE "/sys/firmware/devicetree/base/compatible"

static gboolean parse_variant(Reader *r, RotaConfig *c, GError **error)
{
	g_autofree gchar *name = take_str(r, "system", "variant-name");
	g_autofree gchar *file = take_str(r, "system", "variant-file");
	gboolean dtb = FALSE;

	if (!take_bool(r, "system", "variant-dtb", FALSE, &dtb, error))
		return FALSE;
	if ((name != NULL) + (file != NULL) + (dtb != FALSE) > 1) {
		invalid(error, r, "system", "variant-*", "Only one of the keys 'variant-file', 'variant-dtb', 'variant-name' is allowed");
		return FALSE;
	}
	c->variant = g_steal_pointer(&name);
	if (file)
		c->variant_source = g_steal_pointer(&file);
	else if (dtb)
		c->variant_source = g_strdup(DEVICETREE_COMPATIBLE);
	return TRUE;
}

gboolean rota_config_resolve_variant(const RotaConfig *config, gchar **out, GError **error)
{
	g_autofree gchar *content = NULL;
	g_autoptr(GError) local = NULL;

	*out = NULL;
	if (!config->variant_source) {
		*out = g_strdup(config->variant);
		return TRUE;
	}
	if (!g_file_get_contents(config->variant_source, &content, NULL, &local)) {
		gboolean dtb = g_strcmp0(config->variant_source, DEVICETREE_COMPATIBLE) == 0;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: [system] %s: cannot read variant from %s: %s",
			    config->path ? config->path : "system.conf", dtb ? "variant-dtb" : "variant-file",
			    config->variant_source, local->message);
		return FALSE;
	}
	*out = g_strdup(g_strchomp(content));
	return TRUE;
}

static gboolean parse_system(Reader *r, RotaConfig *c, GError **error)
{
	static const gchar *const loaders[] = {"barebox", "grub", "uboot", "efi", "custom", "noop", NULL};
	g_autofree gchar *statusfile = NULL;
	gint cmp;

	if (!g_key_file_has_group(r->kf, "system")) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: missing section [system]", r->path);
		return FALSE;
	}
	c->compatible = take_str(r, "system", "compatible");
	if (!c->compatible) {
		invalid(error, r, "system", "compatible", "System compatible string is not set");
		return FALSE;
	}
	c->bootloader = take_str(r, "system", "bootloader");
	if (!c->bootloader || !g_strv_contains(loaders, c->bootloader)) {
		g_autofree gchar *what = c->bootloader ? g_strdup_printf("Unsupported bootloader '%s' selected in system config", c->bootloader)
						       : g_strdup("No bootloader selected in system config");
		invalid(error, r, "system", "bootloader", what);
		return FALSE;
	}
	c->mountprefix = take_str(r, "system", "mountprefix");
	if (!c->mountprefix)
		c->mountprefix = g_strdup("/mnt/rauc/");
	c->data_directory = take_path(r, "system", "data-directory");
	if (!take_str_nonempty(r, "system", "statusfile", &statusfile, error))
		return FALSE;
	if (g_strcmp0(statusfile, "per-slot") == 0) {
		if (c->data_directory) {
			invalid(error, r, "system", "statusfile", "Using data-directory= with statusfile=per-slot is not supported.");
			return FALSE;
		}
	} else if (statusfile) {
		c->statusfile = g_path_is_absolute(statusfile) ? g_steal_pointer(&statusfile)
							       : g_build_filename(r->dir, statusfile, NULL);
	} else if (c->data_directory) {
		c->statusfile = g_build_filename(c->data_directory, "central.raucs", NULL);
	}
	c->min_bundle_version = take_str(r, "system", "min-bundle-version");
	if (c->min_bundle_version && !rota_version_compare(c->min_bundle_version, "0", &cmp)) {
		invalid(error, r, "system", "min-bundle-version", "Min version format invalid, expected: Major[.Minor[.Patch]][-pre_release]");
		return FALSE;
	}
	if (!parse_bundle_formats(r, c, error) || !parse_variant(r, c, error) ||
	    !take_bool(r, "system", "activate-installed", TRUE, &c->activate_installed, error) ||
	    !take_int(r, "system", "boot-attempts", &c->boot_attempts, error) ||
	    !take_int(r, "system", "boot-attempts-primary", &c->boot_attempts_primary, error) ||
	    !take_u64(r, "system", "max-bundle-download-size", 8388608, 1, &c->max_download_size, error) ||
	    !take_u64(r, "system", "max-bundle-signature-size", ROTA_MAX_SIGNATURE_SIZE, 1, &c->max_signature_size, error) ||
	    !take_bool(r, "system", "perform-pre-check", FALSE, &c->perform_pre_check, error) ||
	    !take_bool(r, "system", "prevent-late-fallback", FALSE, &c->prevent_late_fallback, error))
		return FALSE;
	if ((c->boot_attempts || c->boot_attempts_primary) && !g_str_equal(c->bootloader, "uboot") &&
	    !g_str_equal(c->bootloader, "barebox")) {
		g_autofree gchar *what = g_strdup_printf("Configuring boot attempts is valid for uboot or barebox only (not for %s)",
							 c->bootloader);
		invalid(error, r, "system", "boot-attempts", what);
		return FALSE;
	}
	/* Keys of one bootloader are unknown for the others. */
	if (g_str_equal(c->bootloader, "grub")) {
		c->grubenv = take_path(r, "system", "grubenv");
		if (!c->grubenv)
			c->grubenv = g_strdup("/boot/grub/grubenv");
	} else if (g_str_equal(c->bootloader, "barebox")) {
		c->barebox_statename = take_str(r, "system", "barebox-statename");
		c->barebox_dtbpath = take_str(r, "system", "barebox-dtbpath");
	} else if (g_str_equal(c->bootloader, "efi")) {
		if (!take_bool(r, "system", "efi-use-bootnext", TRUE, &c->efi_use_bootnext, error))
			return FALSE;
	} else if (g_str_equal(c->bootloader, "custom")) {
		c->custom_bootloader_backend = take_path(r, "handlers", "bootloader-custom-backend");
		if (!c->custom_bootloader_backend) {
			invalid(error, r, "handlers", "bootloader-custom-backend", "No custom bootloader backend defined");
			return FALSE;
		}
	}
	warn_leftovers(r, "system");
	return TRUE;
}

static gboolean parse_keyring(Reader *r, RotaConfig *c, GError **error)
{
	RotaKeyring *k = &c->keyring;

	if (!g_key_file_has_group(r->kf, "keyring"))
		return TRUE;
	k->path = take_path(r, "keyring", "path");
	k->directory = take_path(r, "keyring", "directory");
	k->check_purpose = take_str(r, "keyring", "check-purpose");
	if (!take_bool(r, "keyring", "check-crl", FALSE, &k->check_crl, error) ||
	    !take_bool(r, "keyring", "allow-partial-chain", FALSE, &k->allow_partial_chain, error) ||
	    !take_bool(r, "keyring", "use-bundle-signing-time", FALSE, &k->use_bundle_signing_time, error))
		return FALSE;
	warn_leftovers(r, "keyring");
	return TRUE;
}

static gboolean parse_streaming_and_more(Reader *r, RotaConfig *c, GError **error)
{
	static const gchar *const headers[] = {"boot-id", "transaction-id", "machine-id", "system-version",
					       "serial", "variant", "uptime", NULL};

	if (g_key_file_has_group(r->kf, "streaming")) {
		c->streaming_sandbox_user = take_str(r, "streaming", "sandbox-user");
		c->streaming_tls_cert = take_path(r, "streaming", "tls-cert");
		c->streaming_tls_key = take_path(r, "streaming", "tls-key");
		c->streaming_tls_ca = take_path(r, "streaming", "tls-ca");
		c->streaming_send_headers = g_key_file_get_string_list(r->kf, "streaming", "send-headers", NULL, NULL);
		g_key_file_remove_key(r->kf, "streaming", "send-headers", NULL);
		for (gchar **h = c->streaming_send_headers; h && *h; h++) {
			if (!g_strv_contains(headers, *h)) {
				g_autofree gchar *what = g_strdup_printf("Automatic HTTP header '%s' not supported", *h);
				invalid(error, r, "streaming", "send-headers", what);
				return FALSE;
			}
		}
		warn_leftovers(r, "streaming");
	}
	if (g_key_file_has_group(r->kf, "encryption")) {
		c->encryption_key = take_path(r, "encryption", "key");
		c->encryption_cert = take_path(r, "encryption", "cert");
		warn_leftovers(r, "encryption");
	}
	if (g_key_file_has_group(r->kf, "autoinstall")) {
		c->autoinstall_path = take_path(r, "autoinstall", "path");
		warn_leftovers(r, "autoinstall");
	}
	if (g_key_file_has_group(r->kf, "handlers")) {
		c->handler_system_info = take_path(r, "handlers", "system-info");
		c->handler_pre_install = take_path(r, "handlers", "pre-install");
		c->handler_post_install = take_path(r, "handlers", "post-install");
		warn_leftovers(r, "handlers");
	}
	return TRUE;
}

/* install-same, or when it is absent RAUC's deprecated spellings
 * force-install-same, then ignore-checksum (same meaning, same polarity).
 * All three are known keys; the ones not used are not read at all. */
static gboolean take_install_same(Reader *r, const gchar *group, gboolean *out, GError **error)
{
	static const gchar *const keys[] = {"install-same", "force-install-same", "ignore-checksum"};
	gboolean found = FALSE;

	*out = TRUE;
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (!found && g_key_file_has_key(r->kf, group, keys[i], NULL)) {
			found = TRUE;
			if (!take_bool(r, group, keys[i], TRUE, out, error))
				return FALSE;
		}
		g_key_file_remove_key(r->kf, group, keys[i], NULL);
	}
	return TRUE;
}

static gboolean parse_slot(Reader *r, RotaConfig *c, const gchar *group, GError **error)
{
	static const gchar *const types[] = {"raw",       "ext4",           "vfat",           "ubifs",
					     "ubivol",    "nand",           "nor",            "boot-emmc",
					     "boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback", NULL};
	static const gchar *const region_types[] = {"boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback", NULL};
	g_auto(GStrv) parts = g_strsplit(group, ".", -1);
	RotaSlot *s;

	if (g_strv_length(parts) != 3 || !*parts[1] || !*parts[2]) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Invalid slot name format: [%s]", r->path, group);
		return FALSE;
	}
	s = g_new0(RotaSlot, 1);
	g_ptr_array_add(c->slots, s);
	s->name = g_strdup_printf("%s.%s", parts[1], parts[2]);
	s->sclass = g_strdup(parts[1]);
	s->device = take_path(r, group, "device");
	if (!s->device) {
		invalid(error, r, group, "device", "missing (required)");
		return FALSE;
	}
	s->type = take_str(r, group, "type");
	if (!s->type)
		s->type = g_strdup("raw");
	if (!g_strv_contains(types, s->type)) {
		g_autofree gchar *what = g_strdup_printf("Unsupported slot type '%s'", s->type);
		invalid(error, r, group, "type", what);
		return FALSE;
	}
	s->bootname = take_str(r, group, "bootname");
	if (s->bootname && strpbrk(s->bootname, " \t\n")) {
		invalid(error, r, group, "bootname", "must not contain whitespace");
		return FALSE;
	}
	s->description = take_str(r, group, "description");
	s->parent_name = take_str(r, group, "parent");
	s->extra_mount_opts = take_str(r, group, "extra-mount-opts");
	s->extra_mkfs_opts = take_str(r, group, "extra-mkfs-opts");
	if (!take_bool(r, group, "readonly", FALSE, &s->readonly, error) ||
	    !take_bool(r, group, "allow-mounted", FALSE, &s->allow_mounted, error) ||
	    !take_install_same(r, group, &s->install_same, error) ||
	    !take_bool(r, group, "resize", FALSE, &s->resize, error))
		return FALSE;
	/* Only the boot region types know the region keys; for the others they
	 * stay behind and are warned about as unknown. */
	if (g_strv_contains(region_types, s->type) &&
	    (!take_required_size(r, group, "region-start", s->type, &s->region_start, error) ||
	     !take_required_size(r, group, "region-size", s->type, &s->region_size, error)))
		return FALSE;
	if (s->region_start > G_MAXUINT64 - s->region_size) {
		invalid(error, r, group, "region-size", "region-start + region-size is beyond any device");
		return FALSE;
	}
	warn_leftovers(r, group);
	return TRUE;
}

static gboolean parse_artifact_repo(Reader *r, RotaConfig *c, const gchar *group, GError **error)
{
	static const gchar *const types[] = {"files", "trees", NULL};
	g_auto(GStrv) parts = g_strsplit(group, ".", -1);
	g_autofree gchar *parent = NULL;
	RotaArtifactRepo *a;

	if (g_strv_length(parts) != 2 || !*parts[1]) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Invalid artifacts repo format: [%s]", r->path, group);
		return FALSE;
	}
	a = g_new0(RotaArtifactRepo, 1);
	g_ptr_array_add(c->artifact_repos, a);
	a->name = g_strdup(parts[1]);
	a->path = take_path(r, group, "path");
	if (!a->path) {
		invalid(error, r, group, "path", "missing (required)");
		return FALSE;
	}
	a->type = take_str(r, group, "type");
	if (!a->type) {
		invalid(error, r, group, "type", "missing (required)");
		return FALSE;
	}
	if (!g_strv_contains(types, a->type)) {
		/* composefs repos need RAUC's composefs build; rota has none. */
		g_autofree gchar *what = g_strdup_printf("Unsupported artifacts repo type '%s' for repo %s selected in system config",
							 a->type, a->name);
		invalid(error, r, group, "type", what);
		return FALSE;
	}
	a->description = take_str(r, group, "description");
	parent = take_str(r, group, "parent-class");
	if (parent) {
		invalid(error, r, group, "parent-class", "Parent slot classes are not yet supported for artifact repos");
		return FALSE;
	}
	warn_leftovers(r, group);
	return TRUE;
}

static gboolean take_log_events(Reader *r, const gchar *group, gchar ***out, GError **error)
{
	static const gchar *const types[] = {"install", "boot", "mark", "service", "writeslot", NULL};
	g_auto(GStrv) events = g_key_file_get_string_list(r->kf, group, "events", NULL, NULL);

	g_key_file_remove_key(r->kf, group, "events", NULL);
	*out = NULL;
	if (!events || !events[0])
		return TRUE;
	if (g_strv_contains((const gchar *const *)events, "all")) {
		if (g_strv_length(events) > 1) {
			invalid(error, r, group, "events", "'all' cannot be combined with other event types");
			return FALSE;
		}
		return TRUE;
	}
	for (gchar **e = events; *e; e++) {
		if (!g_strv_contains(types, *e)) {
			g_autofree gchar *what = g_strdup_printf("Unsupported event log type '%s'", *e);
			invalid(error, r, group, "events", what);
			return FALSE;
		}
	}
	*out = g_steal_pointer(&events);
	return TRUE;
}

static gboolean take_log_format(Reader *r, const gchar *group, RotaLogFormat *out, GError **error)
{
	static const gchar *const names[] = {"readable", "short", "json", "json-pretty", NULL};
	g_autofree gchar *v = take_str(r, group, "format");
	g_autofree gchar *what = NULL;

	*out = ROTA_LOG_READABLE;
	for (guint i = 0; v && names[i]; i++) {
		if (g_str_equal(v, names[i])) {
			*out = (RotaLogFormat)i;
			return TRUE;
		}
	}
	if (!v)
		return TRUE;
	what = g_strdup_printf("Unsupported event log format '%s'", v);
	invalid(error, r, group, "format", what);
	return FALSE;
}

/* Digits with at most one K/M/G/T suffix. parse_size() stops at the first
 * character it does not know, so "10MB", "-1" or "ten" would otherwise pass
 * as 10, 2^64-1 or 0 (never rotate) without a word. */
static gboolean is_size_text(const gchar *text)
{
	gsize digits = strspn(text, "0123456789");

	if (digits == 0)
		return FALSE;
	return text[digits] == '\0' || (strchr("KMGTkmgt", text[digits]) && text[digits + 1] == '\0');
}

static gboolean parse_logger(Reader *r, RotaConfig *c, const gchar *group, GError **error)
{
	g_autofree gchar *filename = NULL, *max_size = NULL;
	RotaEventLogger *l = g_new0(RotaEventLogger, 1);
	guint64 files;

	g_ptr_array_add(c->loggers, l);
	l->name = g_strdup(group + strlen("log."));
	filename = take_str(r, group, "filename");
	if (!filename) {
		invalid(error, r, group, "filename", "missing (required)");
		return FALSE;
	}
	if (!g_path_is_absolute(filename) && !c->data_directory) {
		invalid(error, r, group, "filename", "a relative file name needs [system] data-directory");
		return FALSE;
	}
	l->filename = g_path_is_absolute(filename) ? g_steal_pointer(&filename)
						   : g_build_filename(c->data_directory, filename, NULL);
	max_size = take_str(r, group, "max-size");
	if (max_size && !is_size_text(max_size)) {
		g_autofree gchar *what = g_strdup_printf("'%s' is not a size (digits with an optional K, M, G or T)", max_size);
		invalid(error, r, group, "max-size", what);
		return FALSE;
	}
	if (max_size && !parse_size(max_size, &l->max_size)) {
		invalid(error, r, group, "max-size", "too large");
		return FALSE;
	}
	if (!take_log_events(r, group, &l->events, error) || !take_log_format(r, group, &l->format, error) ||
	    !take_u64(r, group, "max-files", 10, 1, &files, error))
		return FALSE;
	if (files > 1000) {
		invalid(error, r, group, "max-files", "must be between 1 and 1000");
		return FALSE;
	}
	l->max_files = (guint)files;
	warn_leftovers(r, group);
	return TRUE;
}

/* A list of names from allowed, as bits (allowed[i] is bit i); an empty
 * or missing key gives def. */
static gboolean take_flag_list(Reader *r, const gchar *key, const gchar *const *allowed, guint def, guint *out,
			       GError **error)
{
	g_auto(GStrv) items = g_key_file_get_string_list(r->kf, "polling", key, NULL, NULL);

	g_key_file_remove_key(r->kf, "polling", key, NULL);
	*out = items && items[0] ? 0 : def;
	for (gchar **i = items; i && *i; i++) {
		guint bit = 0;
		while (allowed[bit] && !g_str_equal(allowed[bit], *i))
			bit++;
		if (!allowed[bit]) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: Unsupported list item '%s' for key '%s' in [polling]",
				    r->path, *i, key);
			return FALSE;
		}
		*out |= 1u << bit;
	}
	return TRUE;
}

static gboolean parse_polling(Reader *r, RotaConfig *c, GError **error)
{
	static const gchar *const criteria[] = {"higher-semver", "different-version", "always", NULL};
	static const gchar *const candidates[] = {"higher-semver", "different-version", NULL};
	static const gchar *const reboots[] = {"updated-slots", "updated-artifacts", "failed-update", NULL};
	RotaPollingConfig *p;

	if (!g_key_file_has_group(r->kf, "polling"))
		return TRUE;
	p = c->polling = g_new0(RotaPollingConfig, 1);
	p->url = take_str(r, "polling", "url");
	if (!p->url) {
		invalid(error, r, "polling", "url", "Polling URL must be set");
		return FALSE;
	}
	if (!g_str_has_prefix(p->url, "http://") && !g_str_has_prefix(p->url, "https://")) {
		invalid(error, r, "polling", "url", "Polling URL must use HTTP(S)");
		return FALSE;
	}
	if (!take_u64(r, "polling", "interval-sec", 86400, 60, &p->interval_sec, error) ||
	    !take_u64(r, "polling", "max-interval-sec", MIN(p->interval_sec, G_MAXUINT64 / 4) * 4, 0, &p->max_interval_sec, error))
		return FALSE;
	if (p->max_interval_sec <= p->interval_sec) {
		invalid(error, r, "polling", "max-interval-sec", "must be larger than interval-sec");
		return FALSE;
	}
	p->inhibit_files = g_key_file_get_string_list(r->kf, "polling", "inhibit-files", NULL, NULL);
	g_key_file_remove_key(r->kf, "polling", "inhibit-files", NULL);
	p->reboot_cmd = take_str(r, "polling", "reboot-cmd");
	if (!p->reboot_cmd)
		p->reboot_cmd = g_strdup("reboot");
	if (!take_flag_list(r, "candidate-criteria", candidates, ROTA_POLL_HIGHER_SEMVER, &p->candidate_criteria, error) ||
	    !take_flag_list(r, "install-criteria", criteria, 0, &p->install_criteria, error) ||
	    !take_flag_list(r, "reboot-criteria", reboots, 0, &p->reboot_criteria, error))
		return FALSE;
	warn_leftovers(r, "polling");
	return TRUE;
}

/* A repo shares the image namespace ([image.<name>/<artifact>]) with the
 * slot classes ([image.<class>]): one name cannot be both. */
static gboolean check_artifact_repo_names(Reader *r, RotaConfig *c, GError **error)
{
	for (guint i = 0; i < c->artifact_repos->len; i++) {
		RotaArtifactRepo *a = c->artifact_repos->pdata[i];
		for (guint j = 0; j < c->slots->len; j++) {
			RotaSlot *s = c->slots->pdata[j];
			if (g_str_equal(s->sclass, a->name)) {
				/* RAUC's message (system-conf.md §1.4) */
				g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
					    "%s: Existing slot class '%s' cannot be used as artifact repo name!", r->path,
					    s->sclass);
				return FALSE;
			}
		}
	}
	return TRUE;
}

/* Parents are flattened to the root parent; bootnames unique, not on children. */
static gboolean link_slots(Reader *r, RotaConfig *c, GError **error)
{
	for (guint i = 0; i < c->slots->len; i++) {
		RotaSlot *s = c->slots->pdata[i];
		RotaSlot *p = s;
		guint depth = 0;
		g_autofree gchar *group = g_strdup_printf("slot.%s", s->name);

		while (p->parent_name) {
			RotaSlot *next = rota_config_find_slot(c, p->parent_name);
			if (!next) {
				g_autofree gchar *what = g_strdup_printf("Parent slot '%s' not found!", p->parent_name);
				invalid(error, r, group, "parent", what);
				return FALSE;
			}
			if (++depth > 100) {
				invalid(error, r, group, "parent", "has a parent loop");
				return FALSE;
			}
			p = next;
		}
		s->parent = p == s ? NULL : p;
		if (s->parent && s->bootname) {
			g_autofree gchar *what = g_strdup_printf("Child slot '%s' has bootname set", s->name);
			invalid(error, r, group, "bootname", what);
			return FALSE;
		}
		for (guint j = 0; j < i && s->bootname; j++) {
			RotaSlot *o = c->slots->pdata[j];
			if (g_strcmp0(o->bootname, s->bootname) == 0) {
				g_autofree gchar *what = g_strdup_printf("Bootname '%s' is set on more than one slot", s->bootname);
				invalid(error, r, group, "bootname", what);
				return FALSE;
			}
		}
	}
	return TRUE;
}

static RotaConfig *config_new(void)
{
	RotaConfig *c = g_new0(RotaConfig, 1);
	c->slots = g_ptr_array_new_with_free_func((GDestroyNotify)slot_free);
	c->artifact_repos = g_ptr_array_new_with_free_func((GDestroyNotify)artifact_repo_free);
	c->loggers = g_ptr_array_new_with_free_func((GDestroyNotify)logger_free);
	return c;
}

RotaConfig *rota_config_new_default(void)
{
	RotaConfig *c = config_new();
	c->mountprefix = g_strdup("/mnt/rauc/");
	c->bundle_formats = (1 << ROTA_FORMAT_PLAIN) | (1 << ROTA_FORMAT_VERITY) | (1 << ROTA_FORMAT_CRYPT);
	c->max_signature_size = ROTA_MAX_SIGNATURE_SIZE;
	c->max_download_size = 8388608;
	c->activate_installed = TRUE;
	return c;
}

RotaConfig *rota_config_load(const gchar *path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(RotaConfig) c = config_new();
	g_autoptr(GError) local = NULL;
	g_autofree gchar *abs = g_canonicalize_filename(path, NULL);
	g_autofree gchar *dir = g_path_get_dirname(abs);
	g_auto(GStrv) groups = NULL;
	Reader r = {.kf = kf, .path = path, .dir = dir};

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: cannot load system config: %s", path, local->message);
		return NULL;
	}
	c->path = g_strdup(path);
	if (!check_values_readable(&r, error) || !parse_system(&r, c, error) || !parse_keyring(&r, c, error) ||
	    !parse_streaming_and_more(&r, c, error) || !parse_polling(&r, c, error))
		return NULL;
	groups = g_key_file_get_groups(kf, NULL);
	for (gchar **g = groups; *g; g++) {
		if (g_str_has_prefix(*g, "slot.")) {
			if (!parse_slot(&r, c, *g, error))
				return NULL;
		} else if (g_str_has_prefix(*g, "artifacts.")) {
			if (!parse_artifact_repo(&r, c, *g, error))
				return NULL;
		} else if (g_str_has_prefix(*g, "log.")) {
			if (!parse_logger(&r, c, *g, error))
				return NULL;
		} else {
			g_warning("%s: unknown section [%s] ignored", path, *g);
		}
	}
	if (!link_slots(&r, c, error) || !check_artifact_repo_names(&r, c, error))
		return NULL;
	return g_steal_pointer(&c);
}
