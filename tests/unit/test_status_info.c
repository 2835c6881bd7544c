/* test_status_info.c — `status` output (install-and-runtime.md §15) rendered
 * from a hand-built report: readable with markers, children and details,
 * shell variables, json with nulls and omitted keys, and a primary or
 * booted slot that is unknown. Runs in the C locale: ASCII markers. */
#include <string.h>

#include "system/status_info.h"

static RotaStatusSlot *add_slot(RotaStatusReport *r, const gchar *name, const gchar *sclass, const gchar *bootname,
				const gchar *state, const gchar *parent)
{
	RotaStatusSlot *s = rota_status_report_add_slot(r, name);

	s->sclass = g_strdup(sclass);
	s->device = g_strdup_printf("/dev/%s", name);
	s->type = g_strdup("raw");
	s->bootname = g_strdup(bootname);
	s->state = g_strdup(state);
	s->parent = g_strdup(parent);
	return s;
}

/* Booted from rootfs.0 (A) with its child appfs.0, rootfs.1 (B) primary
 * with a full slot status, and a slot without bootname or parent. */
static RotaStatusReport *sample_report(void)
{
	RotaStatusReport *r = rota_status_report_new();
	RotaStatusSlot *s;

	r->compatible = g_strdup("dev");
	r->system_version = g_strdup("1.4");
	r->bootname = g_strdup("A");
	r->primary = g_strdup("rootfs.1");
	s = add_slot(r, "rootfs.0", "rootfs", "A", "booted", NULL);
	s->description = g_strdup("first");
	s->mountpoint = g_strdup("/");
	s->boot_status = g_strdup("good");
	s->status.bundle_compatible = g_strdup("dev");
	add_slot(r, "appfs.0", "appfs", NULL, "active", "rootfs.0");
	s = add_slot(r, "rootfs.1", "rootfs", "B", "inactive", NULL);
	s->boot_status = g_strdup("bad");
	s->status.bundle_compatible = g_strdup("dev");
	s->status.bundle_version = g_strdup("2.0");
	s->status.sha256 = g_strdup("ab12");
	s->status.size = 65536;
	s->status.installed_transaction = g_strdup("t-1");
	s->status.installed_timestamp = g_strdup("2024-01-02T03:04:05Z");
	s->status.installed_count = 2;
	s->status.status = g_strdup("ok");
	add_slot(r, "data.0", "data", NULL, "inactive", NULL);
	return r;
}

static void test_readable(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *out = rota_status_report_format(r, ROTA_OUTPUT_READABLE, FALSE);

	g_assert_cmpstr(out, ==,
			"=== System Info ===\n"
			"Compatible:     dev\n"
			"Variant:        \n"
			"System Version: 1.4\n"
			"Booted from:    rootfs.0 (A)\n"
			"\n"
			"=== Bootloader ===\n"
			"Activated: rootfs.1 (B)\n"
			"\n"
			"=== Slot States ===\n"
			"o [rootfs.0] (/dev/rootfs.0, raw, booted)\n"
			"      bootname: A\n"
			"      description: first\n"
			"      mounted: /\n"
			"      boot status: good\n"
			"    [appfs.0] (/dev/appfs.0, raw, active)\n"
			"\n"
			"x [rootfs.1] (/dev/rootfs.1, raw, inactive)\n"
			"      bootname: B\n"
			"      boot status: bad\n"
			"\n"
			"  [data.0] (/dev/data.0, raw, inactive)\n"
			"\n");
}

static void test_readable_detailed(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *out = rota_status_report_format(r, ROTA_OUTPUT_READABLE, TRUE);

	g_assert_nonnull(strstr(out, "      boot status: bad\n"
				     "      slot status:\n"
				     "          bundle:\n"
				     "              compatible=dev\n"
				     "              version=2.0\n"
				     "          checksum:\n"
				     "              sha256=ab12\n"));
	/* g_format_size() separates number and unit with a no-break space */
	g_assert_nonnull(strstr(out, "              size=65.5\u00a0kB (65536 bytes)\n"
				     "          installed:\n"
				     "              timestamp=2024-01-02T03:04:05Z\n"
				     "              count=2\n"
				     "              transaction=t-1\n"
				     "          status=ok\n"));
	/* a child's details are indented as its parent's (RAUC's layout);
	 * unset compatible is empty */
	g_assert_nonnull(strstr(out, "    [appfs.0] (/dev/appfs.0, raw, active)\n"
				     "      slot status:\n"
				     "          bundle:\n"
				     "              compatible=\n"));
}

static void test_shell(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *out = rota_status_report_format(r, ROTA_OUTPUT_SHELL, FALSE);
	g_autofree gchar *detailed = rota_status_report_format(r, ROTA_OUTPUT_SHELL, TRUE);

	g_assert_true(g_str_has_prefix(out, "RAUC_SYSTEM_COMPATIBLE='dev'\n"
					    "RAUC_SYSTEM_VARIANT=''\n"
					    "RAUC_SYSTEM_VERSION='1.4'\n"
					    "RAUC_SYSTEM_BOOTED_BOOTNAME='A'\n"
					    "RAUC_BOOT_PRIMARY='rootfs.1'\n"
					    "RAUC_SYSTEM_SLOTS='rootfs.0 appfs.0 rootfs.1 data.0'\n"
					    "RAUC_SLOTS='1 2 3 4'\n"
					    "RAUC_SLOT_STATE_1='booted'\n"
					    "RAUC_SLOT_CLASS_1='rootfs'\n"
					    "RAUC_SLOT_DEVICE_1='/dev/rootfs.0'\n"
					    "RAUC_SLOT_TYPE_1='raw'\n"
					    "RAUC_SLOT_BOOTNAME_1='A'\n"
					    "RAUC_SLOT_PARENT_1=''\n"
					    "RAUC_SLOT_MOUNTPOINT_1='/'\n"
					    "RAUC_SLOT_BOOT_STATUS_1='good'\n"
					    "RAUC_SLOT_STATE_2='active'\n"));
	g_assert_nonnull(strstr(out, "RAUC_SLOT_PARENT_2='rootfs.0'\nRAUC_SLOT_MOUNTPOINT_2=''\n"
				     "RAUC_SLOT_BOOT_STATUS_2=''\n"));
	g_assert_null(strstr(out, "RAUC_SLOT_STATUS_"));
	g_assert_nonnull(strstr(detailed, "RAUC_SLOT_STATUS_CHECKSUM_SHA256_3='ab12'\n"
					  "RAUC_SLOT_STATUS_CHECKSUM_SIZE_3='65536'\n"
					  "RAUC_SLOT_STATUS_INSTALLED_TIMESTAMP_3='2024-01-02T03:04:05Z'\n"
					  "RAUC_SLOT_STATUS_INSTALLED_COUNT_3='2'\n"
					  "RAUC_SLOT_STATUS_ACTIVATED_TIMESTAMP_3=''\n"
					  "RAUC_SLOT_STATUS_ACTIVATED_COUNT_3='0'\n"
					  "RAUC_SLOT_STATUS_STATUS_3='ok'\n"));
	/* the size is always a number, 0 without a checksum (as RAUC's) */
	g_assert_nonnull(strstr(detailed, "RAUC_SLOT_STATUS_CHECKSUM_SIZE_1='0'\n"));
}

static void test_json(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *out = NULL;

	/* one slot keeps the expected text short */
	g_ptr_array_remove_range(r->slots, 0, 2);
	g_ptr_array_set_size(r->slots, 1);
	out = rota_status_report_format(r, ROTA_OUTPUT_JSON, TRUE);
	g_assert_cmpstr(out, ==,
			"{\"compatible\":\"dev\",\"variant\":\"\",\"system_version\":\"1.4\",\"booted\":\"A\","
			"\"boot_primary\":\"rootfs.1\",\"slots\":[{\"rootfs.1\":{\"class\":\"rootfs\","
			"\"device\":\"/dev/rootfs.1\",\"type\":\"raw\",\"bootname\":\"B\",\"state\":\"inactive\","
			"\"parent\":null,\"mountpoint\":null,\"boot_status\":\"bad\",\"slot_status\":{\"bundle\":"
			"{\"compatible\":\"dev\",\"version\":\"2.0\"},\"checksum\":{\"sha256\":\"ab12\",\"size\":65536},"
			"\"installed\":{\"timestamp\":\"2024-01-02T03:04:05Z\",\"count\":2},\"status\":\"ok\"}}}]}");
}

static void test_json_pretty_without_details(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *out = rota_status_report_format(r, ROTA_OUTPUT_JSON_PRETTY, FALSE);

	g_assert_true(g_str_has_prefix(out, "{\n  \"compatible\" : \"dev\",\n"));
	g_assert_null(strstr(out, "slot_status"));
	g_assert_nonnull(strstr(out, "\"parent\" : \"rootfs.0\""));
}

/* GetPrimary failed (NULL) or named no slot of the report; no slot booted. */
static void test_unknown_primary_and_booted(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *readable = NULL, *shell = NULL, *json = NULL;

	g_free(r->primary);
	r->primary = g_strdup("nonexistent.0");
	g_free(((RotaStatusSlot *)r->slots->pdata[0])->state);
	((RotaStatusSlot *)r->slots->pdata[0])->state = g_strdup("active");
	readable = rota_status_report_format(r, ROTA_OUTPUT_READABLE, FALSE);
	shell = rota_status_report_format(r, ROTA_OUTPUT_SHELL, FALSE);
	json = rota_status_report_format(r, ROTA_OUTPUT_JSON, FALSE);
	g_assert_nonnull(strstr(readable, "Booted from:    (none) (A)\n"));
	g_assert_nonnull(strstr(readable, "Activated: none\n"));
	g_assert_nonnull(strstr(readable, "o [rootfs.1]"));
	g_assert_nonnull(strstr(shell, "RAUC_BOOT_PRIMARY=''\n"));
	g_assert_nonnull(strstr(json, "\"boot_primary\":null"));
}

/* Two repositories as GetArtifactStatus gives them: "apps" with an
 * artifact in an active and an inactive instance, "trees" empty. */
static GVariant *sample_repos(void)
{
	return g_variant_ref_sink(g_variant_new_parsed(
		"[{'name': <'apps'>, 'path': <'/data/apps'>, 'type': <'files'>,"
		"  'artifacts': <[{'name': <'hello'>, 'instances': <["
		"     {'checksum': <'aa11'>, 'references': <@as ['']>},"
		"     {'checksum': <'bb22'>, 'references': <@as []>}]>}]>},"
		" {'name': <'trees'>, 'path': <'/data/trees'>, 'type': <'trees'>,"
		"  'artifacts': <@aa{sv} []>}]"));
}

/* RAUC's layout: a blank line after every repository. */
static void test_readable_artifacts(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *out = NULL;
	const gchar *section;

	r->artifacts = sample_repos();
	out = rota_status_report_format(r, ROTA_OUTPUT_READABLE, FALSE);
	section = strstr(out, "=== Artifact Repo States ===\n");
	g_assert_nonnull(section);
	g_assert_cmpstr(section, ==,
			"=== Artifact Repo States ===\n"
			"[apps] (/data/apps)\n"
			"  type: files\n"
			"  artifacts:\n"
			"    [hello]\n"
			"      checksum: aa11\n"
			"        active\n"
			"      checksum: bb22\n"
			"        inactive\n"
			"\n"
			"[trees] (/data/trees)\n"
			"  type: trees\n"
			"  artifacts: (none)\n"
			"\n");
}

/* RAUC_REPOS is always printed, empty without repositories; without a
 * parent class there is no RAUC_REPO_PARENT_CLASS_r. */
static void test_shell_artifacts(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *none = NULL, *unknown = NULL, *out = NULL;

	r->artifacts = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE_VARDICT, NULL, 0));
	none = rota_status_report_format(r, ROTA_OUTPUT_SHELL, FALSE);
	g_assert_true(g_str_has_suffix(none, "RAUC_SLOT_BOOT_STATUS_4=''\nRAUC_REPOS=''\n"));
	g_clear_pointer(&r->artifacts, g_variant_unref);
	unknown = rota_status_report_format(r, ROTA_OUTPUT_SHELL, FALSE);
	g_assert_cmpstr(unknown, ==, none);
	r->artifacts = sample_repos();
	out = rota_status_report_format(r, ROTA_OUTPUT_SHELL, FALSE);
	g_assert_true(g_str_has_suffix(out, "RAUC_SLOT_BOOT_STATUS_4=''\n"
					    "RAUC_REPO_NAME_1='apps'\n"
					    "RAUC_REPO_PATH_1='/data/apps'\n"
					    "RAUC_REPO_TYPE_1='files'\n"
					    "RAUC_REPO_ARTIFACT_NAME_1_1='hello'\n"
					    "RAUC_REPO_ARTIFACT_INSTANCE_CHECKSUM_1_1_1='aa11'\n"
					    "RAUC_REPO_ARTIFACT_INSTANCE_ACTIVE_1_1_1='1'\n"
					    "RAUC_REPO_ARTIFACT_INSTANCE_CHECKSUM_1_1_2='bb22'\n"
					    "RAUC_REPO_ARTIFACT_INSTANCE_ACTIVE_1_1_2='0'\n"
					    "RAUC_REPO_ARTIFACT_INSTANCES_1_1='1 2'\n"
					    "RAUC_REPO_ARTIFACTS_1='1'\n"
					    "RAUC_REPO_NAME_2='trees'\n"
					    "RAUC_REPO_PATH_2='/data/trees'\n"
					    "RAUC_REPO_TYPE_2='trees'\n"
					    "RAUC_REPO_ARTIFACTS_2=''\n"
					    "RAUC_REPOS='1 2'\n"));
}

/* "artifact-repositories" whenever the list is known, even empty (HEAD);
 * left out only when the service could not say (RAUC 1.8). */
static void test_json_artifacts(void)
{
	g_autoptr(RotaStatusReport) r = sample_report();
	g_autofree gchar *none = NULL, *unknown = NULL;

	g_ptr_array_set_size(r->slots, 0);
	r->artifacts = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE_VARDICT, NULL, 0));
	none = rota_status_report_format(r, ROTA_OUTPUT_JSON, FALSE);
	g_assert_true(g_str_has_suffix(none, "\"slots\":[],\"artifact-repositories\":[]}"));
	g_clear_pointer(&r->artifacts, g_variant_unref);
	unknown = rota_status_report_format(r, ROTA_OUTPUT_JSON, FALSE);
	g_assert_true(g_str_has_suffix(unknown, "\"slots\":[]}"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/status-info/readable", test_readable);
	g_test_add_func("/status-info/readable-detailed", test_readable_detailed);
	g_test_add_func("/status-info/shell", test_shell);
	g_test_add_func("/status-info/json", test_json);
	g_test_add_func("/status-info/json-pretty", test_json_pretty_without_details);
	g_test_add_func("/status-info/unknown-primary-and-booted", test_unknown_primary_and_booted);
	g_test_add_func("/status-info/readable-artifacts", test_readable_artifacts);
	g_test_add_func("/status-info/shell-artifacts", test_shell_artifacts);
	g_test_add_func("/status-info/json-artifacts", test_json_artifacts);
	return g_test_run();
}
