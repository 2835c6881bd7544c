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

	/* Fields in the record's order (§11: BUNDLE_HASH, BUNDLE_DESCRIPTION,
	 * BUNDLE_VERSION, TRANSACTION_ID), each indented by 22 spaces; the
	 * description has no readable label. */
	g_assert_cmpstr(readable, ==,
			"2026-11-26T01:02:03Z: Installation 0123abcd succeeded\n"
			"                      bundle hash: feed\n"
			"                      bundle version: 1.2\n"
			"                      transaction ID: 0123abcd-0000-4000-8000-000000000000\n");
	g_assert_cmpstr(brief, ==, "2026-11-26T01:02:03Z: Installation 0123abcd succeeded\n");
}

/* A boot record lists SLOT_NAME, SLOT_BOOTNAME, BOOT_ID, BUNDLE_HASH in
 * that order (§11), in both the readable and the json form. */
static void test_boot_field_order(void)
{
	static const RotaEvent boot = {
		.type = "boot",
		.message = "Booted into rootfs.0 (A)",
		.message_id = "e60e0addd3454cb8b796eae0d497af96",
		.slot = "rootfs.0",
		.bootname = "A",
		.boot_id = "16655d2c-c5ca-48d3-bea8-7b95c803b4b2",
		.bundle_hash = "unknown",
	};
	g_autoptr(GDateTime) now = fixed_time();
	g_autofree gchar *readable = rota_event_format(&boot, ROTA_LOG_READABLE, now);
	g_autofree gchar *json = rota_event_format(&boot, ROTA_LOG_JSON, now);
	const gchar *slot = strstr(json, "\"SLOT_NAME\""), *bootname = strstr(json, "\"SLOT_BOOTNAME\"");
	const gchar *boot_id = strstr(json, "\"BOOT_ID\""), *hash = strstr(json, "\"BUNDLE_HASH\"");

	g_assert_cmpstr(readable, ==,
			"2026-11-26T01:02:03Z: Booted into rootfs.0 (A)\n"
			"                      slot: rootfs.0\n"
			"                      bootname: A\n"
			"                      boot ID: 16655d2c-c5ca-48d3-bea8-7b95c803b4b2\n"
			"                      bundle hash: unknown\n");
	g_assert_true(slot && bootname && boot_id && hash);
	g_assert_true(slot < bootname && bootname < boot_id && boot_id < hash);
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
	g_test_add_func("/event-log/boot-field-order", test_boot_field_order);
	return g_test_run();
}
