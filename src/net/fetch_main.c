/* fetch_main.c — rota-fetch, the streaming helper executable. rota starts
 * it with one end of a socketpair as fd 3; see fetch_helper.h. */
#include <curl/curl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "net/fetch_helper.h"
#include "net/fetch_protocol.h"

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	const gchar *user = "nobody";

	g_set_prgname("rota-fetch");
	g_log_writer_default_set_use_stderr(TRUE);
	for (int i = 1; i < argc; i++) {
		if (g_str_has_prefix(argv[i], "--sandbox-user=")) {
			user = argv[i] + strlen("--sandbox-user=");
		} else {
			fprintf(stderr, "rota-fetch: unknown argument '%s' (this helper is started by rota)\n", argv[i]);
			return 2;
		}
	}
	/* Privileges go before anything reads from the socket or the network. */
	if (!rota_fetch_drop_privileges(user, &error)) {
		fprintf(stderr, "rota-fetch: %s\n", error->message);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rota-fetch: cannot initialize libcurl\n");
		return 2;
	}
	return rota_fetch_helper_serve(ROTA_FETCH_FD);
}
