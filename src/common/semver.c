/* semver.c — see semver.h. */
#include "semver.h"

#include <string.h>

typedef struct {
	guint64 core[3];
	gchar *pre;
} Version;

static gboolean version_parse(const gchar *s, Version *v)
{
	g_autofree gchar *copy = g_strdup(s);
	gchar *plus = strchr(copy, '+');
	gchar *dash;
	g_auto(GStrv) parts = NULL;
	guint n;

	memset(v, 0, sizeof(*v));
	if (plus)
		*plus = '\0';
	dash = strchr(copy, '-');
	if (dash) {
		*dash = '\0';
		v->pre = g_strdup(dash + 1);
	}
	parts = g_strsplit(copy, ".", -1);
	n = g_strv_length(parts);
	if (n == 0 || n > 3)
		return FALSE;
	for (guint i = 0; i < n; i++) {
		if (!g_ascii_string_to_unsigned(parts[i], 10, 0, G_MAXUINT64, &v->core[i], NULL))
			return FALSE;
	}
	return TRUE;
}

static gint compare_pre(const gchar *a, const gchar *b)
{
	g_auto(GStrv) pa = g_strsplit(a, ".", -1);
	g_auto(GStrv) pb = g_strsplit(b, ".", -1);
	guint i;

	for (i = 0; pa[i] && pb[i]; i++) {
		guint64 na, nb;
		gboolean ia = g_ascii_string_to_unsigned(pa[i], 10, 0, G_MAXUINT64, &na, NULL);
		gboolean ib = g_ascii_string_to_unsigned(pb[i], 10, 0, G_MAXUINT64, &nb, NULL);
		gint c;
		if (ia && ib)
			c = na < nb ? -1 : na > nb;
		else if (ia != ib)
			c = ia ? -1 : 1;
		else
			c = strcmp(pa[i], pb[i]);
		if (c)
			return c;
	}
	return pa[i] ? 1 : pb[i] ? -1 : 0;
}

gboolean rota_version_compare(const gchar *a, const gchar *b, gint *out)
{
	Version va = {0}, vb = {0}; /* vb stays untouched when a does not parse */
	gboolean ok = version_parse(a, &va) && version_parse(b, &vb);

	if (ok) {
		*out = 0;
		for (int i = 0; i < 3 && !*out; i++)
			*out = va.core[i] < vb.core[i] ? -1 : va.core[i] > vb.core[i];
		if (!*out && (va.pre || vb.pre))
			*out = !va.pre ? 1 : !vb.pre ? -1 : compare_pre(va.pre, vb.pre);
	}
	g_free(va.pre);
	g_free(vb.pre);
	return ok;
}

