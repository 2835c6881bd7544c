/* test_hawkbit.c — the hawkBit client's configuration (rauc-hawkbit-
 * updater's keys). tests/cli/test_hawkbit.py runs the client against a DDI
 * server. */
#include <glib/gstdio.h>

#include "common/error.h"
#include "common/util.h"
#include "hawkbit/hawkbit.h"

static RotaHawkbitConfig *load(const gchar *text, GError **error)
{
	g_autofree gchar *dir = g_dir_make_tmp("rota-hawkbit-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "hawkbit.conf", NULL);
	RotaHawkbitConfig *c;

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	c = rota_hawkbit_config_load(path, error);
	rota_remove_tree(dir);
	return c;
}

#define BASE "[client]\nhawkbit_server=h:8080\ntenant_id=DEFAULT\ntarget_name=dev\n"

static void test_defaults_and_attributes(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaHawkbitConfig) c =
		load(BASE "auth_token = abc \nbundle_download_location=/tmp/b.raucb\n[device]\nmodel=T1\nhw=2\n", &error);

	g_assert_no_error(error);
	g_assert_cmpstr(c->server, ==, "h:8080");
	g_assert_true(c->ssl);        /* HTTPS unless told otherwise */
	g_assert_true(c->ssl_verify);
	g_assert_false(c->stream_bundle);
	g_assert_cmpuint(c->retry_wait, ==, 60);
	g_assert_cmpuint(c->timeout, ==, 60);
	g_assert_cmpstr(c->auth_header, ==, "Authorization: TargetToken abc"); /* value trimmed */
	g_assert_cmpuint(c->attributes->len, ==, 4);
	g_assert_cmpstr(c->attributes->pdata[0], ==, "model");
	g_assert_cmpstr(c->attributes->pdata[1], ==, "T1");
	g_assert_cmpstr(c->attributes->pdata[3], ==, "2");
	g_assert_cmpstr(c->base, ==, "https://h:8080/DEFAULT/controller/v1/dev");
	g_assert_true(c->send_download_auth);
}

/* As rauc-hawkbit-updater: tenant_id defaults to DEFAULT. */
static void test_tenant_default(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaHawkbitConfig) c = load("[client]\nhawkbit_server=h\ntarget_name=t\nssl=false\nstream_bundle=true\n"
					      "send_download_authentication=false\n",
					      &error);

	g_assert_no_error(error);
	g_assert_cmpstr(c->tenant, ==, "DEFAULT");
	g_assert_cmpstr(c->base, ==, "http://h/DEFAULT/controller/v1/t");
	g_assert_false(c->send_download_auth);
}

/* rauc-hawkbit-updater's keys rota does not implement are not silently
 * dropped. */
static void test_unsupported_keys(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaHawkbitConfig) c = NULL;

	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*: [client] post_update_reboot: not supported by rota, ignored");
	g_test_expect_message("rota", G_LOG_LEVEL_WARNING, "*: unknown key 'colour' in section [client] ignored");
	c = load(BASE "stream_bundle=true\npost_update_reboot=true\ncolour=blue\n", &error);
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	g_assert_nonnull(c);
}

static void test_gateway_token_and_streaming(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(RotaHawkbitConfig) c = load(BASE "gateway_token=gw\nstream_bundle=true\nssl=false\nretry_wait=5\n", &error);

	g_assert_no_error(error);
	g_assert_cmpstr(c->auth_header, ==, "Authorization: GatewayToken gw");
	g_assert_true(c->stream_bundle);
	g_assert_null(c->download_location);
	g_assert_false(c->ssl);
	g_assert_cmpuint(c->retry_wait, ==, 5);
}

static void test_rejections(void)
{
	static const struct {
		const gchar *text, *fragment;
	} cases[] = {
		{"[device]\nx=1\n", "missing section [client]"},
		{"[client]\ntenant_id=D\ntarget_name=t\nstream_bundle=true\n", "[client] hawkbit_server: missing (required)"},
		{BASE "stream_bundle=true\nauth_token=a\ngateway_token=b\n", "not both"},
		{BASE "stream_bundle=true\nconnect_timeout=-1\n", "[client] connect_timeout: must be a number"},
		{BASE "stream_bundle=yes please\n", "[client] stream_bundle: must be true or false"},
		{"[client]\nhawkbit_server=h/x\ntenant_id=D\ntarget_name=t\nstream_bundle=true\n",
		 "[client] hawkbit_server: may not contain"},
		{"[client]\nhawkbit_server=h\ntenant_id=D\ntarget_name=t?x\nstream_bundle=true\n",
		 "[client] target_name: may not contain"},
		{"[client]\nhawkbit_server=u@h\ntarget_name=t\nstream_bundle=true\n",
		 "[client] hawkbit_server: must be host[:port]"},
		{BASE "stream_bundle=true\nssl_key=/k.pem\nssl_cert=/c.pem\n",
		 "[client] ssl_key: client certificate authentication is not supported"},
		{BASE "stream_bundle=true\nsend_download_authentication=no way\n",
		 "[client] send_download_authentication: must be true or false"},
		{BASE "\n", "bundle_download_location: required unless stream_bundle=true"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(RotaHawkbitConfig) c = load(cases[i].text, &error);
		g_assert_null(c);
		g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
		if (!g_strrstr(error->message, cases[i].fragment))
			g_error("case %" G_GSIZE_FORMAT ": '%s' lacks '%s'", i, error->message, cases[i].fragment);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hawkbit/config/defaults-and-attributes", test_defaults_and_attributes);
	g_test_add_func("/hawkbit/config/gateway-token-and-streaming", test_gateway_token_and_streaming);
	g_test_add_func("/hawkbit/config/rejections", test_rejections);
	g_test_add_func("/hawkbit/config/tenant-default", test_tenant_default);
	g_test_add_func("/hawkbit/config/unsupported-keys", test_unsupported_keys);
	return g_test_run();
}
