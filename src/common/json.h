/* json.h — small json-glib helpers shared by the output formatters. */
#pragma once

#include <json-glib/json-glib.h>

/* Serializes the builder's root, compact or pretty (json-glib's 2-space). */
gchar *rota_json_to_string(JsonBuilder *builder, gboolean pretty);
