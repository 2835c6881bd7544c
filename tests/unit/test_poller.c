/* test_poller.c — the poller's start: when it exists, its first poll time
 * and its initial Status. tests/cli/test_service.py runs whole polls
 * against a server. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "service/poller.h"

static gboolean never(gpointer data G_GNUC_UNUSED, const gchar **why)
{
	*why = "test";
	return FALSE;
}

static gboolean no_install(gpointer data G_GNUC_UNUSED, const gchar *url G_GNUC_UNUSED,
			   const gchar *hash G_GNUC_UNUSED, GError **error)
{
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "not here");
	return FALSE;
}

static void ignore(gpointer data G_GNUC_UNUSED)
{
}

static gboolean always(gpointer data G_GNUC_UNUSED, const gchar **why G_GNUC_UNUSED)
{
	return TRUE;
}

static const RotaPollerHooks hooks = {.may_poll = never, .install = no_install, .changed = ignore};

static RotaContext *context(gboolean polling, const gchar *system_version)
{
	RotaContext *ctx = g_new0(RotaContext, 1);

	ctx->config = rota_config_new_default();
	ctx->system_version = g_strdup(system_version);
	if (polling) {
		ctx->config->polling = g_new0(RotaPollingConfig, 1);
		ctx->config->polling->url = g_strdup("http://127.0.0.1:9/b.raucb");
		ctx->config->polling->interval_sec = 60;
		ctx->config->polling->max_interval_sec = 240;
	}
	return ctx;
}

static void free_context(RotaContext *ctx)
{
	rota_config_free(ctx->config);
	g_free(ctx->system_version);
	g_free(ctx);
}

static gint64 boottime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void test_needs_config_and_version(void)
{
	RotaContext *none = context(FALSE, "1.0"), *unversioned = context(TRUE, NULL);
	g_autoptr(GError) error = NULL;

	g_assert_null(rota_poller_new(none, &hooks, &error));
	g_assert_no_error(error); /* no [polling]: no poller, no error */
	g_assert_null(rota_poller_new(unversioned, &hooks, &error));
	g_assert_error(error, ROTA_ERROR, ROTA_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "system version not provided via system-info handler"));
	free_context(none);
	free_context(unversioned);
}

static void test_first_poll_and_status(void)
{
	RotaContext *ctx = context(TRUE, "1.0");
	g_autoptr(GError) error = NULL;
	gint64 now = boottime_us();
	RotaPoller *p = rota_poller_new(ctx, &hooks, &error);
	g_autoptr(GVariant) st = NULL;
	g_autoptr(GVariant) manifest = NULL;
	const gchar *summary;
	guint64 attempts = 1;
	gint64 next;

	g_assert_no_error(error);
	next = rota_poller_next_poll(p);
	/* 10–90 % of the 60 s interval from now */
	g_assert_cmpint(next, >=, now + 6 * G_USEC_PER_SEC);
	g_assert_cmpint(next, <=, boottime_us() + 54 * G_USEC_PER_SEC);
	st = g_variant_ref_sink(rota_poller_status(p));
	g_assert_true(g_variant_lookup(st, "attempt-count", "t", &attempts));
	g_assert_cmpuint(attempts, ==, 0);
	g_assert_true(g_variant_lookup(st, "summary", "&s", &summary));
	g_assert_cmpstr(summary, ==, "no update bundle available");
	manifest = g_variant_lookup_value(st, "manifest", NULL);
	g_assert_null(manifest); /* nothing fetched yet */
	rota_poller_poll_soon(p);
	g_assert_cmpint(rota_poller_next_poll(p), <=, boottime_us() + 30 * G_USEC_PER_SEC);
	rota_poller_free(p);
	free_context(ctx);
}

static void test_huge_interval_does_not_wrap(void)
{
	RotaContext *ctx = context(TRUE, "1.0");
	g_autoptr(GError) error = NULL;
	RotaPoller *p;

	/* interval × 10⁶ µs is just over 2⁶⁴: wrapped, about 0.45 s */
	ctx->config->polling->interval_sec = G_GUINT64_CONSTANT(18446744073710);
	ctx->config->polling->max_interval_sec = G_MAXUINT64;
	p = rota_poller_new(ctx, &hooks, &error);
	g_assert_no_error(error);
	/* at least 10 % of the capped delay (G_MAXINT64 / 2 µs) away */
	g_assert_cmpint(rota_poller_next_poll(p), >, G_MAXINT64 / 20);
	rota_poller_free(p);
	free_context(ctx);
}

/* A server that accepts one connection, answers it 404 after a pause and
 * then says it did. */
typedef struct {
	int fd;
	gint answered;
} SlowServer;

static gpointer slow_server(gpointer data)
{
	SlowServer *s = data;
	static const gchar reply[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	int c = accept(s->fd, NULL, NULL);

	g_assert_cmpint(c, >=, 0);
	g_usleep(300 * 1000);
	g_atomic_int_set(&s->answered, 1);
	g_assert_cmpint(write(c, reply, strlen(reply)), ==, (gssize)strlen(reply));
	g_usleep(100 * 1000); /* let the client read before the reset */
	close(c);
	return NULL;
}

static void test_free_waits_for_the_fetch(void)
{
	RotaContext *ctx = context(TRUE, "1.0");
	const RotaPollerHooks polling = {.may_poll = always, .install = no_install, .changed = ignore};
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	SlowServer server = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	g_autoptr(GError) error = NULL;
	g_autoptr(GThread) thread = NULL;
	guint64 attempts = 0;
	RotaPoller *p;

	g_assert_cmpint(bind(server.fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(listen(server.fd, 1), ==, 0);
	g_assert_cmpint(getsockname(server.fd, (struct sockaddr *)&addr, &len), ==, 0);
	g_free(ctx->config->polling->url);
	ctx->config->polling->url = g_strdup_printf("http://127.0.0.1:%u/b.raucb", ntohs(addr.sin_port));
	g_setenv("ROTA_POLL_TIME_SCALE", "1000", TRUE); /* first poll within 60 ms */
	p = rota_poller_new(ctx, &polling, &error);
	g_unsetenv("ROTA_POLL_TIME_SCALE");
	thread = g_thread_new("slow-server", slow_server, &server);
	g_assert_no_error(error);
	while (attempts == 0) {
		g_autoptr(GVariant) st = NULL;

		g_main_context_iteration(NULL, TRUE);
		st = g_variant_ref_sink(rota_poller_status(p));
		g_assert_true(g_variant_lookup(st, "attempt-count", "t", &attempts));
	}
	/* The fetch thread uses ctx->config: freeing the poller must not
	 * return while it runs, or freeing the context pulls it away. */
	rota_poller_free(p);
	g_assert_cmpint(g_atomic_int_get(&server.answered), ==, 1);
	free_context(ctx);
	g_thread_join(g_steal_pointer(&thread));
	close(server.fd);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/poller/needs-config-and-version", test_needs_config_and_version);
	g_test_add_func("/poller/first-poll-and-status", test_first_poll_and_status);
	g_test_add_func("/poller/huge-interval-does-not-wrap", test_huge_interval_does_not_wrap);
	g_test_add_func("/poller/free-waits-for-the-fetch", test_free_waits_for_the_fetch);
	return g_test_run();
}
