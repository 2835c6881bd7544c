/* test_event_log.c — event record formats (install-and-runtime.md §11).
 * tests/cli/test_event_log.py checks the files an install writes. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "system/event_log.h"

static GDateTime *fixed_time(void)
{
	return g_date_time_new_utc(2026, 11, 26, 1, 2, 3);
}

static const RotaEvent event = {
	.type = "install",
	.message = "Installation 0123abcd succeeded",
	.message_id = "0163db5468ac4237b090d28490c301ed",
	.transaction_id = "0123abcd-0000-4000-8000-000000000000",
	.bundle_hash = "feed",
	.bundle_version = "1.2",
	.bundle_description = "nightly",
};

static void test_readable_and_short(void)
{
	g_autoptr(GDateTime) now = fixed_time();
	g_autofree gchar *readable = rota_event_format(&event, ROTA_LOG_READABLE, now);
	g_autofree gchar *brief = rota_event_format(&event, ROTA_LOG_SHORT, now);

	/* Fields in their fixed order, each indented by 22 spaces; the
	 * description has no readable label. */
	g_assert_cmpstr(readable, ==,
			"2026-11-26T01:02:03Z: Installation 0123abcd succeeded\n"
			"                      transaction ID: 0123abcd-0000-4000-8000-000000000000\n"
			"                      bundle hash: feed\n"
			"                      bundle version: 1.2\n");
	g_assert_cmpstr(brief, ==, "2026-11-26T01:02:03Z: Installation 0123abcd succeeded\n");
}

static void test_json(void)
{
	g_autoptr(GDateTime) now = fixed_time();
	g_autofree gchar *line = rota_event_format(&event, ROTA_LOG_JSON, now);
	g_autofree gchar *pretty = rota_event_format(&event, ROTA_LOG_JSON_PRETTY, now);
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *o;

	g_assert_true(g_str_has_suffix(line, "}\n"));
	g_assert_true(strchr(line, '\n') == line + strlen(line) - 1); /* one line */
	g_assert_nonnull(strstr(pretty, "\n  \"MESSAGE\""));
	g_assert_true(json_parser_load_from_data(parser, line, -1, NULL));
	o = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(o, "TS"), ==, "2026-11-26T01:02:03Z");
	g_assert_cmpstr(json_object_get_string_member(o, "RAUC_EVENT_TYPE"), ==, "install");
	g_assert_cmpstr(json_object_get_string_member(o, "MESSAGE_ID"), ==, event.message_id);
	g_assert_cmpstr(json_object_get_string_member(o, "BUNDLE_DESCRIPTION"), ==, "nightly");
	g_assert_cmpstr(json_object_get_string_member(o, "GLIB_DOMAIN"), ==, "rauc-event");
	g_assert_false(json_object_has_member(o, "SLOT_NAME")); /* unset fields are left out */
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/event-log/readable-and-short", test_readable_and_short);
	g_test_add_func("/event-log/json", test_json);
	return g_test_run();
}
