/* status_info.c — renders the system's slot states, bootloader view and
 * (with --detailed) each slot's recorded status. */
#include "status_info.h"

#include <json-glib/json-glib.h>

#include "common/json.h"
#include "common/util.h"

typedef struct {
	RotaSlot *slot;
	const gchar *boot_status; /* "good", "bad", "unknown" or NULL without bootname */
	RotaSlotStatus status;
} SlotRow;

typedef struct {
	RotaContext *ctx;
	RotaSlot *primary;
	GArray *rows; /* SlotRow */
} StatusData;

static void collect(RotaContext *ctx, StatusData *d)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *primary = rota_bootloader_get_primary(ctx->bootloader, &error);

	d->ctx = ctx;
	if (!primary && error)
		g_message("Failed getting primary slot: %s", error->message);
	d->rows = g_array_new(FALSE, TRUE, sizeof(SlotRow));
	for (guint i = 0; i < ctx->config->slots->len; i++) {
		SlotRow row = {.slot = ctx->config->slots->pdata[i]};
		if (row.slot->bootname) {
			gboolean good = FALSE;
			g_autoptr(GError) local = NULL;
			row.boot_status = rota_bootloader_get_state(ctx->bootloader, row.slot->bootname, &good, &local)
						  ? (good ? "good" : "bad")
						  : "unknown";
			if (g_strcmp0(primary, row.slot->bootname) == 0)
				d->primary = row.slot;
		}
		rota_status_load(ctx->status, row.slot, &row.status);
		g_array_append_val(d->rows, row);
	}
}

static void clear(StatusData *d)
{
	for (guint i = 0; i < d->rows->len; i++)
		rota_slot_status_clear(&g_array_index(d->rows, SlotRow, i).status);
	g_array_unref(d->rows);
}

/* ---- readable ---- */

static void readable_detail(GString *out, const RotaSlotStatus *s, const gchar *indent)
{
	g_string_append_printf(out, "%s      slot status:\n%s          bundle:\n", indent, indent);
	g_string_append_printf(out, "%s              compatible=%s\n", indent, s->bundle_compatible ? s->bundle_compatible : "");
	if (s->bundle_version)
		g_string_append_printf(out, "%s              version=%s\n", indent, s->bundle_version);
	if (s->bundle_description)
		g_string_append_printf(out, "%s              description=%s\n", indent, s->bundle_description);
	if (s->bundle_build)
		g_string_append_printf(out, "%s              build=%s\n", indent, s->bundle_build);
	if (s->bundle_hash)
		g_string_append_printf(out, "%s              hash=%s\n", indent, s->bundle_hash);
	if (s->sha256) {
		g_autofree gchar *size = rota_format_size(s->size);
		g_string_append_printf(out, "%s          checksum:\n%s              sha256=%s\n%s              size=%s\n", indent, indent,
				       s->sha256, indent, size);
	}
	if (s->installed_timestamp)
		g_string_append_printf(out, "%s          installed:\n%s              timestamp=%s\n%s              count=%u\n", indent,
				       indent, s->installed_timestamp, indent, s->installed_count);
	if (s->installed_transaction)
		g_string_append_printf(out, "%s              transaction=%s\n", indent, s->installed_transaction);
	if (s->activated_timestamp)
		g_string_append_printf(out, "%s          activated:\n%s              timestamp=%s\n%s              count=%u\n", indent,
				       indent, s->activated_timestamp, indent, s->activated_count);
	if (s->status)
		g_string_append_printf(out, "%s          status=%s\n", indent, s->status);
}

static void readable_slot(GString *out, StatusData *d, const SlotRow *row, gboolean child, gboolean detailed)
{
	const RotaSlot *s = row->slot;
	const gchar *indent = child ? "   " : "";
	const gchar *marker = !s->bootname ? " " : (s == d->primary ? "x" : "o");

	if (g_get_charset(NULL))
		marker = !s->bootname ? " " : (s == d->primary ? "\u23fa" : "\u25cb");
	g_string_append_printf(out, "%s%s [%s] (%s, %s, %s)\n", indent, marker, s->name, s->device, s->type,
			       rota_slot_state_name(s->state));
	if (s->bootname)
		g_string_append_printf(out, "%s      bootname: %s\n", indent, s->bootname);
	if (s->description)
		g_string_append_printf(out, "%s      description: %s\n", indent, s->description);
	if (s->mount_point)
		g_string_append_printf(out, "%s      mounted: %s\n", indent, s->mount_point);
	if (row->boot_status)
		g_string_append_printf(out, "%s      boot status: %s\n", indent, row->boot_status);
	if (detailed)
		readable_detail(out, &row->status, indent);
}

static gchar *format_readable(StatusData *d, gboolean detailed)
{
	RotaContext *ctx = d->ctx;
	GString *out = g_string_new(NULL);
	RotaSlot *booted = rota_slots_get_booted(ctx->config);

	g_string_append_printf(out, "=== System Info ===\nCompatible:     %s\nVariant:        %s\nSystem Version: %s\n",
			       ctx->config->compatible, ctx->variant ? ctx->variant : "",
			       ctx->system_version ? ctx->system_version : "");
	g_string_append_printf(out, "Booted from:    %s (%s)\n\n", booted ? booted->name : "(none)", ctx->bootname);
	if (d->primary)
		g_string_append_printf(out, "=== Bootloader ===\nActivated: %s (%s)\n\n", d->primary->name, d->primary->bootname);
	else
		g_string_append(out, "=== Bootloader ===\nActivated: none\n\n");
	g_string_append(out, "=== Slot States ===\n");
	for (guint i = 0; i < d->rows->len; i++) {
		SlotRow *root = &g_array_index(d->rows, SlotRow, i);
		if (root->slot->parent)
			continue;
		readable_slot(out, d, root, FALSE, detailed);
		for (guint j = 0; j < d->rows->len; j++) {
			SlotRow *child = &g_array_index(d->rows, SlotRow, j);
			if (child->slot->parent == root->slot)
				readable_slot(out, d, child, TRUE, detailed);
		}
		g_string_append(out, "\n");
	}
	return g_string_free(out, FALSE);
}

/* ---- shell ---- */

static void shell_var(GString *out, const gchar *name, guint n, const gchar *value)
{
	g_autofree gchar *q = g_shell_quote(value ? value : "");
	if (n)
		g_string_append_printf(out, "%s_%u=%s\n", name, n, q);
	else
		g_string_append_printf(out, "%s=%s\n", name, q);
}

static gchar *format_shell(StatusData *d, gboolean detailed)
{
	RotaContext *ctx = d->ctx;
	GString *out = g_string_new(NULL);
	GString *names = g_string_new(NULL), *numbers = g_string_new(NULL);

	for (guint i = 0; i < d->rows->len; i++) {
		g_string_append_printf(names, "%s%s", i ? " " : "", g_array_index(d->rows, SlotRow, i).slot->name);
		g_string_append_printf(numbers, "%s%u", i ? " " : "", i + 1);
	}
	shell_var(out, "RAUC_SYSTEM_COMPATIBLE", 0, ctx->config->compatible);
	shell_var(out, "RAUC_SYSTEM_VARIANT", 0, ctx->variant);
	shell_var(out, "RAUC_SYSTEM_VERSION", 0, ctx->system_version);
	shell_var(out, "RAUC_SYSTEM_BOOTED_BOOTNAME", 0, ctx->bootname);
	shell_var(out, "RAUC_BOOT_PRIMARY", 0, d->primary ? d->primary->name : NULL);
	shell_var(out, "RAUC_SYSTEM_SLOTS", 0, names->str);
	shell_var(out, "RAUC_SLOTS", 0, numbers->str);
	for (guint i = 0; i < d->rows->len; i++) {
		SlotRow *row = &g_array_index(d->rows, SlotRow, i);
		RotaSlot *s = row->slot;
		g_autofree gchar *size = g_strdup_printf("%" G_GUINT64_FORMAT, row->status.size);
		g_autofree gchar *icount = g_strdup_printf("%u", row->status.installed_count);
		g_autofree gchar *acount = g_strdup_printf("%u", row->status.activated_count);
		guint n = i + 1;
		shell_var(out, "RAUC_SLOT_STATE", n, rota_slot_state_name(s->state));
		shell_var(out, "RAUC_SLOT_CLASS", n, s->sclass);
		shell_var(out, "RAUC_SLOT_DEVICE", n, s->device);
		shell_var(out, "RAUC_SLOT_TYPE", n, s->type);
		shell_var(out, "RAUC_SLOT_BOOTNAME", n, s->bootname);
		shell_var(out, "RAUC_SLOT_PARENT", n, s->parent ? s->parent->name : NULL);
		shell_var(out, "RAUC_SLOT_MOUNTPOINT", n, s->mount_point);
		shell_var(out, "RAUC_SLOT_BOOT_STATUS", n, row->boot_status);
		if (!detailed)
			continue;
		shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_COMPATIBLE", n, row->status.bundle_compatible);
		shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_VERSION", n, row->status.bundle_version);
		shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_DESCRIPTION", n, row->status.bundle_description);
		shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_BUILD", n, row->status.bundle_build);
		shell_var(out, "RAUC_SLOT_STATUS_BUNDLE_HASH", n, row->status.bundle_hash);
		shell_var(out, "RAUC_SLOT_STATUS_CHECKSUM_SHA256", n, row->status.sha256);
		shell_var(out, "RAUC_SLOT_STATUS_CHECKSUM_SIZE", n, row->status.sha256 ? size : NULL);
		shell_var(out, "RAUC_SLOT_STATUS_INSTALLED_TIMESTAMP", n, row->status.installed_timestamp);
		shell_var(out, "RAUC_SLOT_STATUS_INSTALLED_COUNT", n, icount);
		shell_var(out, "RAUC_SLOT_STATUS_ACTIVATED_TIMESTAMP", n, row->status.activated_timestamp);
		shell_var(out, "RAUC_SLOT_STATUS_ACTIVATED_COUNT", n, acount);
		shell_var(out, "RAUC_SLOT_STATUS_STATUS", n, row->status.status);
	}
	g_string_free(names, TRUE);
	g_string_free(numbers, TRUE);
	return g_string_free(out, FALSE);
}

/* ---- json ---- */

static void json_str(JsonBuilder *jb, const gchar *name, const gchar *value, gboolean omit_null)
{
	if (!value && omit_null)
		return;
	json_builder_set_member_name(jb, name);
	if (value)
		json_builder_add_string_value(jb, value);
	else
		json_builder_add_null_value(jb);
}

static void json_stamp(JsonBuilder *jb, const gchar *name, const gchar *ts, guint32 count)
{
	if (!ts)
		return;
	json_builder_set_member_name(jb, name);
	json_builder_begin_object(jb);
	json_str(jb, "timestamp", ts, FALSE);
	json_builder_set_member_name(jb, "count");
	json_builder_add_int_value(jb, count);
	json_builder_end_object(jb);
}

static void json_slot_status(JsonBuilder *jb, const RotaSlotStatus *s)
{
	json_builder_set_member_name(jb, "slot_status");
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "bundle");
	json_builder_begin_object(jb);
	json_str(jb, "compatible", s->bundle_compatible, FALSE);
	json_str(jb, "version", s->bundle_version, TRUE);
	json_str(jb, "description", s->bundle_description, TRUE);
	json_str(jb, "build", s->bundle_build, TRUE);
	json_str(jb, "hash", s->bundle_hash, TRUE);
	json_builder_end_object(jb);
	if (s->sha256) {
		json_builder_set_member_name(jb, "checksum");
		json_builder_begin_object(jb);
		json_str(jb, "sha256", s->sha256, FALSE);
		json_builder_set_member_name(jb, "size");
		json_builder_add_int_value(jb, (gint64)s->size);
		json_builder_end_object(jb);
	}
	json_stamp(jb, "installed", s->installed_timestamp, s->installed_count);
	json_stamp(jb, "activated", s->activated_timestamp, s->activated_count);
	json_str(jb, "status", s->status, TRUE);
	json_builder_end_object(jb);
}

static gchar *format_json(StatusData *d, gboolean pretty, gboolean detailed)
{
	RotaContext *ctx = d->ctx;
	g_autoptr(JsonBuilder) jb = json_builder_new();

	json_builder_begin_object(jb);
	json_str(jb, "compatible", ctx->config->compatible, FALSE);
	json_str(jb, "variant", ctx->variant ? ctx->variant : "", FALSE);
	json_str(jb, "system_version", ctx->system_version ? ctx->system_version : "", FALSE);
	json_str(jb, "booted", ctx->bootname, FALSE);
	json_str(jb, "boot_primary", d->primary ? d->primary->name : NULL, FALSE);
	json_builder_set_member_name(jb, "slots");
	json_builder_begin_array(jb);
	for (guint i = 0; i < d->rows->len; i++) {
		SlotRow *row = &g_array_index(d->rows, SlotRow, i);
		RotaSlot *s = row->slot;
		json_builder_begin_object(jb);
		json_builder_set_member_name(jb, s->name);
		json_builder_begin_object(jb);
		json_str(jb, "class", s->sclass, FALSE);
		json_str(jb, "device", s->device, FALSE);
		json_str(jb, "type", s->type, FALSE);
		json_str(jb, "bootname", s->bootname, FALSE);
		json_str(jb, "state", rota_slot_state_name(s->state), FALSE);
		json_str(jb, "parent", s->parent ? s->parent->name : NULL, FALSE);
		json_str(jb, "mountpoint", s->mount_point, FALSE);
		json_str(jb, "boot_status", row->boot_status, FALSE);
		if (detailed)
			json_slot_status(jb, &row->status);
		json_builder_end_object(jb);
		json_builder_end_object(jb);
	}
	json_builder_end_array(jb);
	json_builder_end_object(jb);
	return rota_json_to_string(jb, pretty);
}

gchar *rota_status_info_format(RotaContext *ctx, RotaOutputFormat format, gboolean detailed)
{
	StatusData d = {0};
	gchar *out;

	collect(ctx, &d);
	switch (format) {
	case ROTA_OUTPUT_SHELL:
		out = format_shell(&d, detailed);
		break;
	case ROTA_OUTPUT_JSON:
	case ROTA_OUTPUT_JSON_PRETTY:
		out = format_json(&d, format == ROTA_OUTPUT_JSON_PRETTY, detailed);
		break;
	default:
		out = format_readable(&d, detailed);
	}
	clear(&d);
	return out;
}
