/* fetch_client.c — starting rota-fetch and talking to it. Once a reply
 * could not be read as a well-formed frame the stream is out of step, so
 * the client stays broken and every later call fails with that error. */
#include "fetch_client.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/fetch_protocol.h"

#ifndef ROTA_LIBEXECDIR
#define ROTA_LIBEXECDIR "/usr/libexec"
#endif
#define HELPER_NAME "rota-fetch"

struct _RotaFetchClient {
	GSubprocess *process;
	GThread *stderr_relay;
	int fd;
	RotaFetchCounters counters;
	GError *broken;
};

static gchar *find_helper(void)
{
	const gchar *env = g_getenv("ROTA_FETCH_HELPER");
	g_autofree gchar *exe = NULL;

	if (env && *env)
		return g_strdup(env);
	/* A build tree: the helper sits next to rota. */
	exe = g_file_read_link("/proc/self/exe", NULL);
	if (exe) {
		g_autofree gchar *dir = g_path_get_dirname(exe);
		gchar *candidate = g_build_filename(dir, HELPER_NAME, NULL);
		if (g_file_test(candidate, G_FILE_TEST_IS_EXECUTABLE))
			return candidate;
		g_free(candidate);
	}
	return g_build_filename(ROTA_LIBEXECDIR, HELPER_NAME, NULL);
}

/* Prints one line of the helper's stderr, sanitized and attributed. */
static void relay_line(const guint8 *line, gsize len)
{
	static const gchar prefix[] = "rota-fetch: ";
	g_autofree gchar *clean = NULL;

	if (len >= sizeof prefix - 1 && memcmp(line, prefix, sizeof prefix - 1) == 0) {
		line += sizeof prefix - 1;
		len -= sizeof prefix - 1;
	}
	clean = rota_fetch_sanitize(line, len);
	g_printerr("%s%s\n", prefix, clean);
}

/* The helper is not trusted with rota's stdout or stderr: its stderr comes
 * through here, line by line (at most RELAY_LINE bytes each), until it
 * exits. */
#define RELAY_LINE 1024
static gpointer relay_stderr(gpointer data)
{
	GInputStream *in = data;
	guint8 buf[RELAY_LINE];
	gsize have = 0;

	for (;;) {
		gssize n = g_input_stream_read(in, buf + have, sizeof buf - have, NULL, NULL);
		guint8 *nl;
		if (n <= 0)
			break;
		have += (gsize)n;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			relay_line(buf, (gsize)(nl - buf));
			have -= (gsize)(nl - buf) + 1;
			memmove(buf, nl + 1, have);
		}
		if (have == sizeof buf) {
			relay_line(buf, have);
			have = 0;
		}
	}
	if (have)
		relay_line(buf, have);
	g_object_unref(in);
	return NULL;
}

static guint64 saturating_add(guint64 a, guint64 b)
{
	return a > G_MAXUINT64 - b ? G_MAXUINT64 : a + b;
}

RotaFetchClient *rota_fetch_client_new(const gchar *sandbox_user, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autofree gchar *helper = find_helper();
	g_autofree gchar *user_arg = g_strdup_printf("--sandbox-user=%s", sandbox_user ? sandbox_user : "nobody");
	g_autoptr(GError) local = NULL;
	RotaFetchClient *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create a socket pair for the fetch helper: %s",
			    g_strerror(err));
		return NULL;
	}
	/* The launcher owns and closes the child's end after spawning. */
	g_subprocess_launcher_take_fd(launcher, sv[1], ROTA_FETCH_FD);
	c = g_new0(RotaFetchClient, 1);
	c->fd = sv[0];
	c->process = g_subprocess_launcher_spawn(launcher, &local, helper, user_arg, NULL);
	if (!c->process) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot start the fetch helper %s: %s", helper, local->message);
		rota_fetch_client_free(c);
		return NULL;
	}
	c->stderr_relay = g_thread_new("rota-fetch-stderr", relay_stderr,
				       g_object_ref(g_subprocess_get_stderr_pipe(c->process)));
	return c;
}

void rota_fetch_client_free(RotaFetchClient *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->process) {
		/* It may be stuck in a transfer; it holds no state worth saving. */
		g_subprocess_force_exit(c->process);
		g_subprocess_wait(c->process, NULL, NULL);
		if (c->stderr_relay)
			g_thread_join(c->stderr_relay); /* the pipe is at its end now */
		g_object_unref(c->process);
	}
	g_clear_error(&c->broken);
	g_free(c);
}

GPid rota_fetch_client_get_pid(RotaFetchClient *c)
{
	const gchar *id = c->process ? g_subprocess_get_identifier(c->process) : NULL;
	return id ? (GPid)g_ascii_strtoll(id, NULL, 10) : 0;
}

static gboolean check_usable(RotaFetchClient *c, GError **error)
{
	if (c->broken) {
		g_propagate_error(error, g_error_copy(c->broken));
		return FALSE;
	}
	return TRUE;
}

static gboolean fail_broken(RotaFetchClient *c, GError *local, GError **error)
{
	g_prefix_error(&local, "fetch helper: ");
	c->broken = g_error_copy(local);
	g_propagate_error(error, local);
	return FALSE;
}

/* Reads one reply header; on success its data follows. */
static gboolean recv_reply(RotaFetchClient *c, RotaFetchRequestType type, gsize asked, RotaFetchReply *r,
			   GError **error)
{
	g_autofree gchar *msg = NULL;
	GError *local = NULL;

	if (!rota_fetch_recv_reply_header(c->fd, type, asked, r, &msg, &local))
		return fail_broken(c, local, error);
	/* Saturating: the figures come from the untrusted helper. */
	c->counters.requests = saturating_add(c->counters.requests, r->requests);
	c->counters.retries = saturating_add(c->counters.retries, r->retries);
	c->counters.downloaded = saturating_add(c->counters.downloaded, r->downloaded);
	if (r->status == ROTA_FETCH_OK)
		return TRUE;
	g_set_error(error, ROTA_ERROR, r->status == ROTA_FETCH_INVALID ? ROTA_ERROR_INVALID : ROTA_ERROR_IO, "%s",
		    msg ? msg : "fetch helper failed without a message");
	return FALSE;
}

static gboolean recv_data(RotaFetchClient *c, void *buf, gsize len, GError **error)
{
	GError *local = NULL;

	if (!rota_fetch_read_all(c->fd, buf, len, NULL, "the fetch helper", &local))
		return fail_broken(c, local, error);
	return TRUE;
}

gboolean rota_fetch_client_configure(RotaFetchClient *c, GVariant *config, gsize tail_len, guint64 *out_total,
				     GBytes **out_tail, GError **error)
{
	g_autoptr(GBytes) body = rota_fetch_config_serialize(config);
	RotaFetchRequest req = {.type = ROTA_FETCH_CONFIGURE, .length = (guint32)tail_len};
	RotaFetchReply r;
	g_autofree guint8 *tail = NULL;
	GError *local = NULL;
	gsize len;
	const void *data = g_bytes_get_data(body, &len);

	g_return_val_if_fail(tail_len > 0 && tail_len <= ROTA_FETCH_MAX_READ, FALSE);
	if (!check_usable(c, error))
		return FALSE;
	if (len == 0 || len > ROTA_FETCH_MAX_CONFIG) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT, "streaming options of %" G_GSIZE_FORMAT " bytes exceed %u bytes",
			    len, ROTA_FETCH_MAX_CONFIG);
		return FALSE;
	}
	req.body_len = (guint32)len;
	if (!rota_fetch_send_request(c->fd, &req, data, &local))
		return fail_broken(c, local, error);
	if (!recv_reply(c, ROTA_FETCH_CONFIGURE, tail_len, &r, error))
		return FALSE;
	tail = g_malloc(r.data_len);
	if (!recv_data(c, tail, r.data_len, error))
		return FALSE;
	*out_total = r.total;
	*out_tail = g_bytes_new_take(g_steal_pointer(&tail), r.data_len);
	return TRUE;
}

gboolean rota_fetch_client_send_read(RotaFetchClient *c, guint64 off, gsize len, GError **error)
{
	RotaFetchRequest req = {.type = ROTA_FETCH_READ, .offset = off, .length = (guint32)len};
	GError *local = NULL;

	g_return_val_if_fail(len > 0 && len <= ROTA_FETCH_MAX_READ, FALSE);
	if (!check_usable(c, error))
		return FALSE;
	if (!rota_fetch_send_request(c->fd, &req, NULL, &local))
		return fail_broken(c, local, error);
	return TRUE;
}

gboolean rota_fetch_client_recv_read(RotaFetchClient *c, void *buf, gsize len, GError **error)
{
	RotaFetchReply r;

	return check_usable(c, error) && recv_reply(c, ROTA_FETCH_READ, len, &r, error) && recv_data(c, buf, len, error);
}

void rota_fetch_client_get_counters(RotaFetchClient *c, RotaFetchCounters *out)
{
	*out = c->counters;
}
