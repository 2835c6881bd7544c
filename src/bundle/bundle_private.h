/* bundle_private.h — pieces of bundle.c that bundle_create.c shares. */
#pragma once

#include "bundle.h"

/* Detached CMS over [0, payload_size) of fd (plain; at most 2 GiB). */
GBytes *rota_bundle_sign_plain_payload(int fd, guint64 payload_size, const gchar *path, const RotaSigner *signer,
				       GError **error);
/* Inline CMS over the serialized manifest with its verity keys. */
GBytes *rota_bundle_sign_manifest(const RotaManifest *m, const RotaSigner *signer, GError **error);
/* Appends the CMS and its big-endian size at fd's position, then fsyncs. */
gboolean rota_bundle_append_signature(int fd, GBytes *cms, const gchar *path, GError **error);
/* Opens the written bundle with keyring; warns about soon-expiring certs. */
gboolean rota_bundle_verify_written(const gchar *path, const RotaKeyring *keyring, GError **error);
