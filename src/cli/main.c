/* main.c — the `rota` command: option parsing and one small function per
 * command, each a thin front end over librota. Options may come before or
 * after the command, as with rauc. Errors are one line on stderr, exit 1. */
#include <glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "bundle/bundle_info.h"
#include "common/util.h"
#include "cli/client.h"
#include "hawkbit/hawkbit.h"
#include "cli/progress_bar.h"
#include "install/install.h"
#include "install/slot_writer.h"
#include "service/service.h"
#include "service/variants.h"
#include "system/config.h"
#include "system/context.h"
#include "system/info_headers.h"
#include "system/status_info.h"

#ifndef ROTA_VERSION
#define ROTA_VERSION "0.1"
#endif

typedef struct {
	gchar *conf;
	gboolean debug;
	gboolean version;
	gchar *keyring;
	gchar *keyring_dir;
	gchar *signing_keyring;
	gchar *cert;
	gchar *key;
	gchar **intermediates;
	gchar **recipients;
	gchar *mksquashfs_args;
	gchar *output_format;
	gboolean dump_cert;
	gboolean dump_recipients;
	gboolean no_verify;
	gboolean no_check_time;
	gboolean trust_environment;
	gchar *mount;
	gchar *override_boot_slot;
	gboolean ignore_compatible;
	gboolean ignore_version_limit;
	gchar *transaction_id;
	gchar *require_manifest_hash;
	gchar *handler_args;
	gboolean detailed;
	gchar *image_type;
	gboolean progress;
	gchar *bus_name;
	gchar *tls_cert;
	gchar *tls_key;
	gchar *tls_ca;
	gboolean tls_no_verify;
	gchar **http_headers;
	gboolean run_once;
} Options;

static Options opt;

static GOptionEntry entries[] = {
	{"conf", 'c', 0, G_OPTION_ARG_FILENAME, &opt.conf, "system config file", "FILENAME"},
	{"debug", 'd', 0, G_OPTION_ARG_NONE, &opt.debug, "enable debug output", NULL},
	{"version", 0, 0, G_OPTION_ARG_NONE, &opt.version, "display version", NULL},
	{"keyring", 0, 0, G_OPTION_ARG_FILENAME, &opt.keyring, "keyring file", "PEMFILE"},
	{"keyring-directory", 0, 0, G_OPTION_ARG_FILENAME, &opt.keyring_dir, "keyring directory (hashed)", "DIR"},
	{"signing-keyring", 0, 0, G_OPTION_ARG_FILENAME, &opt.signing_keyring,
	 "verify a new signature with this keyring", "PEMFILE"},
	{"cert", 0, 0, G_OPTION_ARG_STRING, &opt.cert, "signing certificate", "PEMFILE|PKCS11-URL"},
	{"key", 0, 0, G_OPTION_ARG_STRING, &opt.key, "signing key", "PEMFILE|PKCS11-URL"},
	{"intermediate", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt.intermediates, "intermediate CA certificate (repeatable)",
	 "PEMFILE"},
	{"to", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt.recipients, "encrypt: recipient certificates (PEM, repeatable)",
	 "PEMFILE"},
	{"mksquashfs-args", 0, 0, G_OPTION_ARG_STRING, &opt.mksquashfs_args,
	 "squashfs options as mksquashfs takes them (-comp, -b)", "ARGS"},
	{"output-format", 0, 0, G_OPTION_ARG_STRING, &opt.output_format, "readable, shell, json or json-pretty", "FORMAT"},
	{"dump-cert", 0, 0, G_OPTION_ARG_NONE, &opt.dump_cert, "info: print the bundle's first certificate", NULL},
	{"dump-recipients", 0, 0, G_OPTION_ARG_NONE, &opt.dump_recipients, "info: print the recipients of an encrypted bundle",
	 NULL},
	{"no-verify", 0, 0, G_OPTION_ARG_NONE, &opt.no_verify, "do not verify the signature", NULL},
	{"no-check-time", 0, 0, G_OPTION_ARG_NONE, &opt.no_check_time,
	 "do not check certificate validity periods against the current time", NULL},
	{"trust-environment", 0, 0, G_OPTION_ARG_NONE, &opt.trust_environment, "accepted for compatibility", NULL},
	{"mount", 0, 0, G_OPTION_ARG_FILENAME, &opt.mount, "mount prefix", "PATH"},
	{"override-boot-slot", 0, 0, G_OPTION_ARG_STRING, &opt.override_boot_slot, "use this as the booted slot", "BOOTNAME"},
	{"ignore-compatible", 0, 0, G_OPTION_ARG_NONE, &opt.ignore_compatible, "install: skip the compatible check", NULL},
	{"ignore-version-limit", 0, 0, G_OPTION_ARG_NONE, &opt.ignore_version_limit, "install: skip min-bundle-version", NULL},
	{"transaction-id", 0, 0, G_OPTION_ARG_STRING, &opt.transaction_id, "install: transaction UUID", "UUID"},
	{"require-manifest-hash", 0, 0, G_OPTION_ARG_STRING, &opt.require_manifest_hash,
	 "install: only this manifest hash", "HASH"},
	{"handler-args", 0, 0, G_OPTION_ARG_STRING, &opt.handler_args, "install: extra full custom handler arguments", "ARGS"},
	{"progress", 0, 0, G_OPTION_ARG_NONE, &opt.progress, "install: show progress", NULL},
	{"bus-name", 0, 0, G_OPTION_ARG_STRING, &opt.bus_name,
	 "service and its clients: D-Bus name (default $ROTA_BUS_NAME or de.pengutronix.rauc)", "NAME"},
	{"tls-cert", 0, 0, G_OPTION_ARG_STRING, &opt.tls_cert, "streaming: TLS client certificate", "PEMFILE|PKCS11-URL"},
	{"tls-key", 0, 0, G_OPTION_ARG_STRING, &opt.tls_key, "streaming: TLS client key", "PEMFILE|PKCS11-URL"},
	{"tls-ca", 0, 0, G_OPTION_ARG_FILENAME, &opt.tls_ca, "streaming: CA file replacing the system store", "PEMFILE"},
	{"tls-no-verify", 0, 0, G_OPTION_ARG_NONE, &opt.tls_no_verify, "streaming: do not verify the server", NULL},
	{"http-header", 'H', 0, G_OPTION_ARG_STRING_ARRAY, &opt.http_headers,
	 "streaming: extra HTTP header (repeatable)", "'NAME: VALUE'"},
	{"detailed", 0, 0, G_OPTION_ARG_NONE, &opt.detailed, "status: show each slot's recorded status", NULL},
	{"image-type", 't', 0, G_OPTION_ARG_STRING, &opt.image_type, "write-slot: image type", "TYPE"},
	{"run-once", 0, 0, G_OPTION_ARG_NONE, &opt.run_once, "hawkbit: poll once, then exit", NULL},
	{NULL},
};

static const gchar *commands_help =
	"Commands:\n"
	"  help                                   show this help\n"
	"  bundle INPUTDIR BUNDLE                 create a signed bundle\n"
	"  info BUNDLE                            verify and show a bundle\n"
	"  extract BUNDLE OUTPUTDIR               check the payload and write the bundle's files\n"
	"  extract-signature BUNDLE OUTPUTSIG     write the bundle's CMS signature\n"
	"  resign INBUNDLE OUTBUNDLE              sign the same payload anew\n"
	"  replace-signature INBUNDLE SIG OUTBUNDLE\n"
	"  encrypt --to=CERT... INBUNDLE OUTBUNDLE wrap a crypt bundle's key for recipients\n"
	"  install BUNDLE                         install into the slots that are not booted\n"
	"  status [mark-good|mark-bad|mark-active [booted|other|SLOT]]\n"
	"  write-slot SLOT IMAGE                  write an image into a slot, nothing else\n"
	"  service                                serve the RAUC-compatible D-Bus API\n"
	"  hawkbit HAWKBIT.CONF                   install what a hawkBit server deploys (--run-once)\n";

/* ---- shared option handling ---- */

static RotaConfig *config;
/* The exit status when a command fails: 1, except for `install` as a
 * service client (2 D-Bus error, 3 interrupted). */
static gint failure_status = 1;

static const gchar *config_path(void)
{
	static const gchar *const defaults[] = {"/etc/rota/system.conf", "/etc/rauc/system.conf", "/run/rauc/system.conf",
						"/usr/lib/rauc/system.conf", NULL};

	if (opt.conf)
		return opt.conf;
	for (const gchar *const *p = defaults; *p; p++) {
		if (g_file_test(*p, G_FILE_TEST_EXISTS))
			return *p;
	}
	return NULL;
}

/* Commands that can do without a config use it when there is one. */
static gboolean load_config(GError **error)
{
	const gchar *path = config_path();

	if (!path)
		return TRUE;
	config = rota_config_load(path, error);
	return config != NULL;
}

/* Commands that act on the system need one. */
static RotaContext *open_context(GError **error)
{
	RotaContext *ctx;

	if (!config) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "no system config found (use --conf or create /etc/rota/system.conf)");
		return NULL;
	}
	if (opt.mount) {
		g_free(config->mountprefix);
		config->mountprefix = g_strdup(opt.mount);
	}
	if (opt.keyring) {
		g_free(config->keyring.path);
		config->keyring.path = g_strdup(opt.keyring);
	}
	/* The context owns the config from here on, also when it fails. */
	ctx = rota_context_new(g_steal_pointer(&config), opt.override_boot_slot, error);
	return ctx;
}

/* The keyring from --keyring/--keyring-directory over system.conf's. NULL
 * (and no error) when none is given and verification is off. */
static gboolean build_keyring(RotaKeyring *k, gboolean required, GError **error)
{
	if (config) {
		k->directory = g_strdup(config->keyring.directory);
		k->path = g_strdup(config->keyring.path);
		k->check_crl = config->keyring.check_crl;
		k->check_purpose = g_strdup(config->keyring.check_purpose);
		k->allow_partial_chain = config->keyring.allow_partial_chain;
		k->use_bundle_signing_time = config->keyring.use_bundle_signing_time;
	}
	if (opt.keyring) {
		g_free(k->path);
		k->path = g_strdup(opt.keyring);
	}
	if (opt.keyring_dir) {
		g_free(k->directory);
		k->directory = g_strdup(opt.keyring_dir);
	}
	k->no_check_time = opt.no_check_time;
	if (required && !k->path && !k->directory) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No keyring file or directory provided (use --keyring)");
		return FALSE;
	}
	return TRUE;
}

static guint env_uint(const gchar *name)
{
	const gchar *v = g_getenv(name);
	guint64 n = 0;

	if (v)
		g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT, &n, NULL);
	return (guint)n;
}

/* Streaming access options: the command line over [streaming]. The
 * environment can shorten timeouts (tests, slow links). */
static void fill_http_options(RotaHttpOptions *o, const RotaConfig *c)
{
	o->tls_cert = opt.tls_cert ? opt.tls_cert : c ? c->streaming_tls_cert : NULL;
	o->tls_key = opt.tls_key ? opt.tls_key : c ? c->streaming_tls_key : NULL;
	o->tls_ca = opt.tls_ca ? opt.tls_ca : c ? c->streaming_tls_ca : NULL;
	o->tls_no_verify = opt.tls_no_verify;
	o->headers = (const gchar *const *)opt.http_headers;
	o->sandbox_user = c ? c->streaming_sandbox_user : NULL;
	o->low_speed_time = env_uint("ROTA_HTTP_LOW_SPEED_TIME");
	o->retry_delay_ms = env_uint("ROTA_HTTP_RETRY_DELAY_MS");
}

static RotaBundle *open_bundle(const gchar *path, gboolean verify, GError **error)
{
	g_auto(RotaKeyring) keyring = {0};
	RotaBundleOpenOptions o = {0};
	RotaHttpOptions http = {0};
	g_auto(GStrv) info_headers = rota_info_headers_build(config, NULL, NULL);

	fill_http_options(&http, config);
	http.info_headers = (const gchar *const *)info_headers;
	o.http = &http;
	if (!rota_is_http_url(path) && !g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "No such file: %s", path);
		return NULL;
	}
	if (verify && !build_keyring(&keyring, TRUE, error))
		return NULL;
	o.keyring = verify ? &keyring : NULL;
	/* --key is the decryption key for the commands that read bundles. */
	o.decrypt_key = opt.key ? opt.key : config ? config->encryption_key : NULL;
	o.decrypt_cert = opt.key ? opt.cert : config ? config->encryption_cert : NULL;
	o.max_signature_size = config ? config->max_signature_size : 0;
	return rota_bundle_open(path, &o, error);
}

static void fill_signer(RotaSigner *s)
{
	s->cert = opt.cert;
	s->key = opt.key;
	s->intermediates = g_ptr_array_new();
	for (gchar **i = opt.intermediates; i && *i; i++)
		g_ptr_array_add(s->intermediates, *i);
}

static gboolean want_args(gchar **args, guint n, const gchar *usage, GError **error)
{
	guint have = g_strv_length(args);

	if (have < n) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "missing arguments, usage: rota %s", usage);
		return FALSE;
	}
	if (have > n) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Excess argument: %s", args[n]);
		return FALSE;
	}
	return TRUE;
}

/* ---- commands ---- */

static gboolean cmd_bundle(gchar **args, GError **error)
{
	RotaBundleCreateOptions o = {0};
	g_auto(RotaKeyring) signing = {0};
	gboolean ok;

	if (!want_args(args, 2, "bundle INPUTDIR BUNDLE", error))
		return FALSE;
	rota_squashfs_options_init(&o.squashfs);
	if (opt.mksquashfs_args && !rota_squashfs_options_parse_args(&o.squashfs, opt.mksquashfs_args, error)) {
		rota_squashfs_options_clear(&o.squashfs);
		return FALSE;
	}
	fill_signer(&o.signer);
	if (opt.signing_keyring || opt.keyring) {
		signing.path = g_strdup(opt.signing_keyring ? opt.signing_keyring : opt.keyring);
		o.signing_keyring = &signing;
	}
	ok = rota_bundle_create(args[0], args[1], &o, error);
	g_ptr_array_unref(o.signer.intermediates);
	rota_squashfs_options_clear(&o.squashfs);
	if (!ok)
		g_prefix_error(error, "Failed to create bundle: ");
	return ok;
}

static gboolean cmd_info(gchar **args, GError **error)
{
	RotaOutputFormat format = ROTA_OUTPUT_READABLE;
	g_autoptr(RotaBundle) b = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *dump = NULL;

	if (!want_args(args, 1, "info BUNDLE", error))
		return FALSE;
	if (opt.output_format && !rota_output_format_parse(opt.output_format, &format, error))
		return FALSE;
	b = open_bundle(args[0], !opt.no_verify, error);
	if (!b)
		return FALSE;
	if ((opt.dump_cert || opt.dump_recipients) &&
	    !(dump = rota_bundle_info_dump(b, opt.dump_cert, opt.dump_recipients, error)))
		return FALSE;
	text = rota_bundle_info_format(b, format, dump);
	fputs(text, stdout);
	if (format == ROTA_OUTPUT_JSON || format == ROTA_OUTPUT_JSON_PRETTY)
		fputc('\n', stdout);
	if (format != ROTA_OUTPUT_READABLE && dump)
		fputs(dump, stdout);
	return TRUE;
}

static gboolean cmd_extract(gchar **args, GError **error)
{
	g_autoptr(RotaBundle) b = NULL;

	if (!want_args(args, 2, "extract BUNDLE OUTPUTDIR", error))
		return FALSE;
	b = open_bundle(args[0], TRUE, error);
	return b && rota_bundle_extract(b, args[1], error);
}

static gboolean cmd_extract_signature(gchar **args, GError **error)
{
	g_autoptr(RotaBundle) b = NULL;

	if (!want_args(args, 2, "extract-signature BUNDLE OUTPUTSIG", error))
		return FALSE;
	b = open_bundle(args[0], TRUE, error);
	return b && rota_bundle_extract_signature(b, args[1], error);
}

static gboolean cmd_resign(gchar **args, GError **error)
{
	g_autoptr(RotaBundle) b = NULL;
	g_auto(RotaKeyring) signing = {0};
	RotaSigner signer = {0};
	gboolean ok;

	if (!want_args(args, 2, "resign INBUNDLE OUTBUNDLE", error))
		return FALSE;
	if (!opt.cert || !opt.key) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Cert and key files must be provided");
		return FALSE;
	}
	b = open_bundle(args[0], !opt.no_verify, error);
	if (!b)
		return FALSE;
	g_print("Resigning '%s' format bundle\n", rota_bundle_format_name(b->format));
	if (opt.signing_keyring)
		signing.path = g_strdup(opt.signing_keyring);
	fill_signer(&signer);
	ok = rota_bundle_resign(b, args[1], &signer, opt.signing_keyring ? &signing : NULL, error);
	g_ptr_array_unref(signer.intermediates);
	if (!ok)
		g_prefix_error(error, "Failed to resign bundle: ");
	return ok;
}

static gboolean cmd_replace_signature(gchar **args, GError **error)
{
	g_auto(RotaKeyring) keyring = {0};
	gboolean verify;

	if (!want_args(args, 3, "replace-signature INBUNDLE INPUTSIG OUTBUNDLE", error))
		return FALSE;
	if (opt.signing_keyring) {
		keyring.path = g_strdup(opt.signing_keyring);
		keyring.no_check_time = opt.no_check_time;
		verify = TRUE;
	} else {
		if (!build_keyring(&keyring, FALSE, error))
			return FALSE;
		verify = !opt.no_verify && (keyring.path || keyring.directory);
		if (!verify)
			g_message("No keyring given, disabling signature verification");
	}
	if (!rota_bundle_replace_signature(args[0], args[1], args[2], verify ? &keyring : NULL, error)) {
		g_prefix_error(error, "Failed to replace signature: ");
		return FALSE;
	}
	return TRUE;
}

static void print_progress(gint percentage, const gchar *message, gint depth G_GNUC_UNUSED, gpointer data G_GNUC_UNUSED)
{
	g_print("%3d%% %s\n", percentage, message);
}

/* data: the progress bar (on a terminal) or NULL */
static void print_message(const gchar *message, gpointer data)
{
	if (data)
		rota_progress_bar_clear(data);
	g_print("%s\n", message);
}

/* Follows the installation in the service; its exit status becomes ours. */
static gboolean install_via_service(GDBusProxy *proxy, const gchar *source, gchar **http_headers, GError **error)
{
	RotaClientInstallOptions o = {
		.ignore_compatible = opt.ignore_compatible,
		.ignore_version_limit = opt.ignore_version_limit,
		.transaction_id = opt.transaction_id,
		.require_manifest_hash = opt.require_manifest_hash,
		.tls_cert = opt.tls_cert,
		.tls_key = opt.tls_key,
		.tls_ca = opt.tls_ca,
		.tls_no_verify = opt.tls_no_verify,
		.http_headers = http_headers,
		.progress_bar = isatty(STDOUT_FILENO),
	};

	if (opt.keyring) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "The '--keyring' argument is not supported when using the D-Bus service. Reconfigure the "
			    "service instead.");
		return FALSE;
	}
	failure_status = rota_client_install(proxy, source, &o, error);
	return failure_status == 0;
}

static void print_http_stats(const RotaHttpStats *st)
{
	g_autofree gchar *down = rota_format_size(st->downloaded);

	g_print("Streaming: downloaded %s in %" G_GUINT64_FORMAT " requests (%" G_GUINT64_FORMAT " retries) in %.2f s, "
		"%.4f bytes downloaded per byte needed\n",
		down, st->requests, st->retries, st->seconds,
		st->needed ? (gdouble)st->downloaded / (gdouble)st->needed : 0.0);
}

/* Installs source (a path or URL) through the service when one runs, in
 * this process otherwise: `install` and `hawkbit` alike. */
static gboolean install_source(const gchar *source, gchar **http_headers, GError **error)
{
	g_autoptr(RotaContext) ctx = NULL;
	g_autoptr(GDBusProxy) proxy = NULL;
	g_autoptr(RotaProgressBar) bar = NULL;
	g_autofree gchar *path = NULL;
	RotaInstallArgs ia = {0};
	RotaHttpOptions http = {0};
	RotaHttpStats stats = {0};
	g_autofree gchar *shown = NULL;
	gboolean ok;

	if (rota_is_http_url(source))
		path = g_strdup(source);
	else if (g_str_has_prefix(source, "file://"))
		path = rota_dbus_source_to_path(source, error); /* as InstallBundle: no host, %-escapes decoded */
	else
		path = g_canonicalize_filename(source, NULL);
	if (!path)
		return FALSE;
	shown = rota_http_url_for_display(path);
	if (!rota_is_http_url(path) && !g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "No such file: %s", path);
		return FALSE;
	}
	proxy = rota_client_connect(opt.bus_name, error);
	if (proxy)
		return install_via_service(proxy, path, http_headers, error);
	if (*error)
		return FALSE;
	ctx = open_context(error);
	if (!ctx)
		return FALSE;
	if (isatty(STDOUT_FILENO))
		bar = rota_progress_bar_new(path);
	ia.ignore_compatible = opt.ignore_compatible;
	ia.ignore_version_limit = opt.ignore_version_limit;
	ia.transaction_id = opt.transaction_id;
	ia.require_manifest_hash = opt.require_manifest_hash;
	ia.handler_args = opt.handler_args;
	ia.progress = bar ? rota_progress_bar_callback : print_progress;
	ia.message = print_message;
	ia.user_data = bar;
	fill_http_options(&http, ctx->config);
	if (http_headers)
		http.headers = (const gchar *const *)http_headers;
	ia.http = &http;
	ia.http_stats = &stats;
	ok = rota_install(ctx, path, &ia, NULL, error);
	if (bar)
		rota_progress_bar_finish(bar);
	if (rota_is_http_url(path))
		print_http_stats(&stats);
	if (!ok) {
		g_printerr("Installing `%s` failed\n", shown);
		return FALSE;
	}
	g_print("Installing `%s` succeeded\n", shown);
	return TRUE;
}

static gboolean cmd_install(gchar **args, GError **error)
{
	return want_args(args, 1, "install BUNDLE", error) && install_source(args[0], opt.http_headers, error);
}

/* hawkBit's token goes with the configured headers (--http-header). An
 * in-process installation's context takes system.conf along (open_context):
 * each one loads it anew. */
static gboolean hawkbit_install(const gchar *source, gchar **http_headers, gpointer data G_GNUC_UNUSED,
				GError **error)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new();

	for (gchar **h = opt.http_headers; h && *h; h++)
		g_ptr_array_add(all, *h);
	for (gchar **h = http_headers; h && *h; h++)
		g_ptr_array_add(all, *h);
	g_ptr_array_add(all, NULL);
	failure_status = 1;
	if (!config && !load_config(error))
		return FALSE;
	return install_source(source, all->len > 1 ? (gchar **)all->pdata : NULL, error);
}

static gboolean cmd_hawkbit(gchar **args, GError **error)
{
	g_autoptr(RotaHawkbitConfig) hc = NULL;

	if (!want_args(args, 1, "hawkbit HAWKBIT.CONF", error))
		return FALSE;
	hc = rota_hawkbit_config_load(args[0], error);
	if (hc && rota_hawkbit_run(hc, hawkbit_install, NULL, opt.run_once, error))
		return TRUE;
	/* An installation through the service may have succeeded (status 0)
	 * before the poll failed (the server did not take the result). */
	failure_status = MAX(failure_status, 1);
	return FALSE;
}

static gboolean cmd_mark(const gchar *state, const gchar *identifier, GError **error)
{
	g_autoptr(GDBusProxy) proxy = rota_client_connect(opt.bus_name, error);
	g_autoptr(RotaContext) ctx = NULL;
	g_autofree gchar *message = NULL;

	if (proxy) {
		if (!rota_client_mark(proxy, state, identifier ? identifier : "booted", &message, error))
			return FALSE;
		g_print("rota status: %s\n", message);
		return TRUE;
	}
	if (*error)
		return FALSE;
	ctx = open_context(error);
	if (!ctx || !rota_context_mark(ctx, state, identifier, &message, error))
		return FALSE;
	g_print("rota status: %s\n", message);
	return TRUE;
}

/* The status from the service when it runs, else read in-process; both
 * render the same report, so the output is the same. The service cannot
 * honour --override-boot-slot, so that option means in-process. */
static gchar *status_text(RotaOutputFormat format, GError **error)
{
	g_autoptr(GDBusProxy) proxy = NULL;
	g_autoptr(RotaStatusReport) report = NULL;
	g_autoptr(RotaContext) ctx = NULL;

	if (opt.override_boot_slot)
		g_debug("--override-boot-slot given: working in-process");
	else
		proxy = rota_client_connect(opt.bus_name, error);
	if (proxy) {
		report = rota_client_status_report(proxy, error);
		return report ? rota_status_report_format(report, format, opt.detailed) : NULL;
	}
	if (*error)
		return NULL;
	ctx = open_context(error);
	return ctx ? rota_status_info_format(ctx, format, opt.detailed) : NULL;
}

static gboolean cmd_status(gchar **args, GError **error)
{
	RotaOutputFormat format = ROTA_OUTPUT_READABLE;
	g_autofree gchar *text = NULL;

	if (args[0]) {
		/* Checked here, as RAUC's CLI does, so the message is the same
		 * with the service (whose Mark names the bare state) and without. */
		if (!g_str_has_prefix(args[0], "mark-") || !rota_mark_state_is_valid(args[0] + strlen("mark-"))) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "unknown subcommand %s", args[0]);
			return FALSE;
		}
		if (args[1] && args[2]) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Too many arguments");
			return FALSE;
		}
		return cmd_mark(args[0] + strlen("mark-"), args[1], error);
	}
	if (opt.output_format && !rota_output_format_parse(opt.output_format, &format, error))
		return FALSE;
	text = status_text(format, error);
	if (!text)
		return FALSE;
	fputs(text, stdout);
	if (format == ROTA_OUTPUT_JSON || format == ROTA_OUTPUT_JSON_PRETTY)
		fputc('\n', stdout);
	return TRUE;
}

static gboolean cmd_mark_alias(const gchar *state, gchar **args, GError **error)
{
	if (args[0] && args[1]) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Too many arguments");
		return FALSE;
	}
	return cmd_mark(state, args[0], error);
}

static gboolean cmd_mark_good(gchar **args, GError **error)
{
	return cmd_mark_alias("good", args, error);
}

static gboolean cmd_mark_bad(gchar **args, GError **error)
{
	return cmd_mark_alias("bad", args, error);
}

static gboolean cmd_mark_active(gchar **args, GError **error)
{
	return cmd_mark_alias("active", args, error);
}

/* write-slot bypasses all update logic and, as RAUC's, needs only the
 * config: not the booted slot (it is what a rescue or factory system
 * without rauc.slot= on the kernel command line uses), nor the bootloader. */
static gboolean cmd_write_slot(gchar **args, GError **error)
{
	RotaSlot *slot;

	if (!want_args(args, 2, "write-slot SLOTNAME IMAGE", error))
		return FALSE;
	if (!config) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "no system config found (use --conf or create /etc/rota/system.conf)");
		return FALSE;
	}
	if (opt.mount) {
		g_free(config->mountprefix);
		config->mountprefix = g_strdup(opt.mount);
	}
	slot = rota_config_find_slot(config, args[0]);
	if (!slot) {
		GString *names = g_string_new(NULL);
		for (guint i = 0; i < config->slots->len; i++) {
			RotaSlot *s = config->slots->pdata[i];
			g_string_append_printf(names, "%s%s (%s)", i ? ", " : "", s->name, s->type);
		}
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "No slot named '%s'. Available slots: %s", args[0], names->str);
		g_string_free(names, TRUE);
		return FALSE;
	}
	if (slot->readonly) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "Reject writing to readonly slot %s", slot->name);
		return FALSE;
	}
	if (!rota_writer_write_file(config, slot, args[1], opt.image_type, error))
		return FALSE;
	g_print("Slot written successfully\n");
	return TRUE;
}

static gboolean cmd_encrypt(gchar **args, GError **error)
{
	g_autoptr(RotaBundle) b = NULL;
	guint count = 0;

	if (!want_args(args, 2, "encrypt --to=CERT INBUNDLE OUTBUNDLE", error))
		return FALSE;
	if (!opt.recipients) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "One or multiple recipient certificates must be provided (via --to)");
		return FALSE;
	}
	b = open_bundle(args[0], TRUE, error);
	if (!b || !rota_bundle_encrypt(b, args[1], opt.recipients, &count, error)) {
		g_prefix_error(error, "Failed to encrypt bundle: ");
		return FALSE;
	}
	g_print("Encrypted bundle for %u recipient%s written to %s\n", count, count == 1 ? "" : "s", args[1]);
	return TRUE;
}

static gboolean cmd_service(gchar **args, GError **error)
{
	RotaServiceOptions o = {.bus_name = opt.bus_name, .handler_args = opt.handler_args};
	g_autoptr(RotaContext) ctx = NULL;

	if (!want_args(args, 0, "service", error))
		return FALSE;
	ctx = open_context(error);
	return ctx && rota_service_run(ctx, &o, error);
}

static const struct {
	const gchar *name;
	gboolean (*run)(gchar **args, GError **error);
} commands[] = {
	{"bundle", cmd_bundle},
	{"info", cmd_info},
	{"extract", cmd_extract},
	{"extract-signature", cmd_extract_signature},
	{"resign", cmd_resign},
	{"replace-signature", cmd_replace_signature},
	{"install", cmd_install},
	{"status", cmd_status},
	{"mark-good", cmd_mark_good},
	{"mark-bad", cmd_mark_bad},
	{"mark-active", cmd_mark_active},
	{"write-slot", cmd_write_slot},
	{"service", cmd_service},
	{"encrypt", cmd_encrypt},
	{"hawkbit", cmd_hawkbit},
};

static void print_error(const GError *error)
{
	g_autofree gchar *msg = g_strdup(error->message);
	/* One line, whatever OpenSSL or GLib put into the message. */
	g_strdelimit(msg, "\n", ' ');
	g_printerr("rota: %s\n", msg);
}

int main(int argc G_GNUC_UNUSED, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS...]");
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) args = NULL;

	setlocale(LC_ALL, "");
	g_set_prgname("rota");
	g_log_writer_default_set_use_stderr(TRUE);
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx, commands_help);
	args = g_strdupv(argv);
	if (!g_option_context_parse_strv(ctx, &args, &error)) {
		g_printerr("rota: %s\n", error->message);
		return 1;
	}
	if (opt.debug)
		g_setenv("G_MESSAGES_DEBUG", "all", TRUE);
	if (opt.version) {
		g_print("rota %s\n", ROTA_VERSION);
		return 0;
	}
	if (!args[1]) {
		g_autofree gchar *help = g_option_context_get_help(ctx, TRUE, NULL);
		g_printerr("%s", help);
		return 1;
	}
	/* RAUC has a `help` command that succeeds */
	if (g_str_equal(args[1], "help")) {
		g_autofree gchar *help = g_option_context_get_help(ctx, TRUE, NULL);
		g_print("%s", help);
		return 0;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (!g_str_equal(args[1], commands[i].name))
			continue;
		if (!load_config(&error) || !commands[i].run(args + 2, &error)) {
			print_error(error);
			rota_config_free(config);
			return failure_status;
		}
		rota_config_free(config);
		return 0;
	}
	g_printerr("rota: Invalid command '%s' given\n", args[1]);
	return 1;
}
