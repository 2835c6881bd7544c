/* verity.h — the dm-verity hash tree of verity/crypt bundles.
 *
 * Format (bundle-format.md §4.1): version 1, SHA-256, salt prepended to
 * every hashed block, 4096-byte data and hash blocks, no superblock, the
 * tree right after the data with its top level first. This module builds
 * the tree, checks a whole payload on all cores, and provides the verity
 * view: a RotaView that returns only data blocks verified against the
 * signed root hash (for crypt payloads: only the plaintext of verified
 * blocks). */
#pragma once

#include <glib.h>

#include "view/view.h"

#define ROTA_VERITY_BLOCK 4096u
#define ROTA_VERITY_DIGEST 32u

/* Size in bytes of the hash tree for data_size bytes of data (a multiple of
 * 4096). 0 when data_size is one block (the root covers it directly). */
guint64 rota_verity_tree_size(guint64 data_size);

/* Computes the tree over the first data_size bytes of fd (data_size a
 * multiple of 4096, > 0) and writes it at offset data_size. Hashing runs on
 * all cores. out_root receives the root digest. */
gboolean rota_verity_append_tree(int fd, guint64 data_size, const guint8 salt[32], guint8 out_root[32],
				 GError **error);

/* Checks every data and hash block of a payload (data_size bytes of data,
 * then tree_size bytes of tree) read through source, including the zero
 * padding of hash blocks, against root. Runs on n_threads (0 = all cores).
 * A mismatch names the first bad offset. */
gboolean rota_verity_check_all(RotaView *source, guint64 data_size, guint64 tree_size, const guint8 salt[32],
			       const guint8 root[32], guint n_threads, GError **error);

/* A view of the data_size bytes of data in source whose every read is
 * checked block by block against root before it is returned. Verified hash
 * blocks are cached; data blocks are hashed on every read. */
RotaView *rota_verity_view_new(RotaView *source, guint64 data_size, guint64 tree_size, const guint8 salt[32],
			       const guint8 root[32], GError **error);

/* The same over a crypt payload (bundle-format.md §6.1: AES-256-CBC of
 * each 4 KiB block, hash tree over the ciphertext): the view returns the
 * plaintext. Each block is hashed, checked and then decrypted in one pass
 * while it is in L1; a block that fails its check is never decrypted, and
 * the read fails naming its offset. */
RotaView *rota_verity_view_new_decrypting(RotaView *source, guint64 data_size, guint64 tree_size,
					  const guint8 salt[32], const guint8 root[32], const guint8 key[32],
					  GError **error);
