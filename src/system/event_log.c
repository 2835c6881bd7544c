/* event_log.c — formatting event records and appending them to the
 * [log.*] files, rotating by size (install-and-runtime.md §11). */
#include "event_log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"

/* ---- formats ---- */

typedef struct {
	const gchar *label; /* readable format; NULL: json only */
	const gchar *field; /* the structured field's name */
	gsize offset;
} Field;

/* In field order: formats list a record's fields in the order the record
 * carries them (§11 table: mark SLOT_NAME, SLOT_BOOTNAME, BUNDLE_HASH; boot
 * SLOT_NAME, SLOT_BOOTNAME, BOOT_ID, BUNDLE_HASH; install BUNDLE_HASH,
 * BUNDLE_DESCRIPTION, BUNDLE_VERSION, TRANSACTION_ID). This one order agrees
 * with all of them. */
static const Field fields[] = {
	{"slot", "SLOT_NAME", G_STRUCT_OFFSET(RotaEvent, slot)},
	{"bootname", "SLOT_BOOTNAME", G_STRUCT_OFFSET(RotaEvent, bootname)},
	{"boot ID", "BOOT_ID", G_STRUCT_OFFSET(RotaEvent, boot_id)},
	{"bundle hash", "BUNDLE_HASH", G_STRUCT_OFFSET(RotaEvent, bundle_hash)},
	{NULL, "BUNDLE_DESCRIPTION", G_STRUCT_OFFSET(RotaEvent, bundle_description)},
	{"bundle version", "BUNDLE_VERSION", G_STRUCT_OFFSET(RotaEvent, bundle_version)},
	{"transaction ID", "TRANSACTION_ID", G_STRUCT_OFFSET(RotaEvent, transaction_id)},
};

static const gchar *field_value(const RotaEvent *ev, const Field *f)
{
	return G_STRUCT_MEMBER(const gchar *, ev, f->offset);
}

static void json_member(JsonBuilder *jb, const gchar *name, const gchar *value)
{
	if (!value)
		return;
	json_builder_set_member_name(jb, name);
	json_builder_add_string_value(jb, value);
}

static gchar *format_json(const RotaEvent *ev, const gchar *ts, gboolean pretty)
{
	g_autoptr(JsonBuilder) jb = json_builder_new();
	g_autofree gchar *text = NULL;

	json_builder_begin_object(jb);
	json_member(jb, "TS", ts);
	json_member(jb, "MESSAGE", ev->message);
	json_member(jb, "MESSAGE_ID", ev->message_id);
	json_member(jb, "PRIORITY", "5");
	json_member(jb, "GLIB_DOMAIN", "rauc-event");
	json_member(jb, "RAUC_EVENT_TYPE", ev->type);
	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
		json_member(jb, fields[i].field, field_value(ev, &fields[i]));
	json_builder_end_object(jb);
	text = rota_json_to_string(jb, pretty);
	return g_strconcat(text, "\n", NULL);
}

gchar *rota_event_format(const RotaEvent *ev, RotaLogFormat format, GDateTime *now)
{
	g_autofree gchar *ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
	GString *out;

	if (format == ROTA_LOG_JSON || format == ROTA_LOG_JSON_PRETTY)
		return format_json(ev, ts, format == ROTA_LOG_JSON_PRETTY);
	out = g_string_new(NULL);
	g_string_append_printf(out, "%s: %s\n", ts, ev->message);
	for (gsize i = 0; format == ROTA_LOG_READABLE && i < G_N_ELEMENTS(fields); i++) {
		const gchar *v = field_value(ev, &fields[i]);
		if (fields[i].label && v)
			g_string_append_printf(out, "%22s%s: %s\n", "", fields[i].label, v);
	}
	return g_string_free(out, FALSE);
}

/* ---- files ---- */

static GMutex lock;              /* the service logs from its install thread too */
static GHashTable *failed_logs; /* file names disabled for the rest of the run */

static gboolean wants(const RotaEventLogger *l, const gchar *type)
{
	return !l->events || g_strv_contains((const gchar *const *)l->events, type);
}

static gboolean rename_for_rotation(const gchar *from, const gchar *to, gboolean may_be_missing, GError **error)
{
	int err;

	if (g_rename(from, to) == 0)
		return TRUE;
	err = errno;
	if (err == ENOENT && may_be_missing)
		return TRUE;
	g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot rotate %s to %s: %s", from, to, g_strerror(err));
	return FALSE;
}

/* f.(k-1) → f.k down to f → f.1; with max-files=1 the file starts anew.
 * A rotation that fails fails the log: appending regardless would let the
 * file grow past max-size for good. */
static gboolean rotate(const RotaEventLogger *l, GError **error)
{
	for (guint k = l->max_files - 1; k >= 2; k--) {
		g_autofree gchar *from = g_strdup_printf("%s.%u", l->filename, k - 1);
		g_autofree gchar *to = g_strdup_printf("%s.%u", l->filename, k);
		if (!rename_for_rotation(from, to, TRUE, error))
			return FALSE;
	}
	if (l->max_files > 1) {
		g_autofree gchar *first = g_strdup_printf("%s.1", l->filename);
		return rename_for_rotation(l->filename, first, FALSE, error);
	}
	if (g_unlink(l->filename) != 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot rotate %s: %s", l->filename, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

static int open_log(const RotaEventLogger *l, GError **error)
{
	int fd = open(l->filename, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open %s: %s", l->filename, g_strerror(err));
	}
	return fd;
}

/* Whether the open log must be rotated before len more bytes. Only a
 * regular file is: the size of anything else (a device, a FIFO) says
 * nothing, and renaming it away would move what is not ours. */
static gboolean needs_rotation(const RotaEventLogger *l, int fd, gsize len)
{
	struct stat st;

	return l->max_size && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	       (guint64)st.st_size + len > l->max_size;
}

static gboolean append(const RotaEventLogger *l, const gchar *record, GError **error)
{
	gsize len = strlen(record);
	gboolean ok;
	int fd = open_log(l, error);

	if (fd >= 0 && needs_rotation(l, fd, len)) {
		close(fd);
		fd = rotate(l, error) ? open_log(l, error) : -1;
	}
	if (fd < 0)
		return FALSE;
	ok = rota_write_all(fd, record, len, l->filename, error);
	close(fd);
	return ok;
}

void rota_event_log(const RotaConfig *config, const RotaEvent *ev)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();

	g_debug("event (%s): %s", ev->type, ev->message);
	if (!config || !config->loggers)
		return;
	g_mutex_lock(&lock);
	for (guint i = 0; i < config->loggers->len; i++) {
		const RotaEventLogger *l = config->loggers->pdata[i];
		g_autofree gchar *record = NULL;
		g_autoptr(GError) local = NULL;
		if (!wants(l, ev->type) || (failed_logs && g_hash_table_contains(failed_logs, l->filename)))
			continue;
		record = rota_event_format(ev, l->format, now);
		if (append(l, record, &local))
			continue;
		g_warning("event log [log.%s]: %s (disabled for this run)", l->name, local->message);
		if (!failed_logs)
			failed_logs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		g_hash_table_add(failed_logs, g_strdup(l->filename));
	}
	g_mutex_unlock(&lock);
}
