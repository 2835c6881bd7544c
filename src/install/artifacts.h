/* artifacts.h — artifact repositories (install-and-runtime.md §9): the
 * directory of an [artifacts.<repo>] holds immutable instances
 * `.artifact-<name>-<sha256>` (a file for `files` repos, a directory for
 * `trees`) and one relative symlink `<name>` per active artifact.
 * Installing writes new instances beside the old ones and swaps the links
 * only when every instance is complete, so a failed install leaves the
 * active set as it was; unreferenced instances are pruned afterwards. */
#pragma once

#include <glib.h>

#include "install/progress.h"
#include "system/config.h"
#include "view/view.h"

typedef struct {
	gchar *name;
	gchar *digest;   /* sha256, lower-case hex */
	gboolean active; /* <repo>/<name> points at it */
} RotaArtifactInstance;

typedef struct {
	const RotaArtifactRepo *config;
	GPtrArray *instances; /* RotaArtifactInstance*, sorted by name, then digest */
} RotaArtifactRepoState;

void rota_artifact_repo_state_free(RotaArtifactRepoState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaArtifactRepoState, rota_artifact_repo_state_free)

/* Reads the repository: its instances and which of them the links make
 * active. The path must be an existing directory. Links that do not point
 * at an instance only warn. */
RotaArtifactRepoState *rota_artifact_repo_scan(const RotaArtifactRepo *repo, GError **error);

/* Removes what does not belong (non-link entries, hidden leftovers such as
 * an interrupted install's `.tmp`) and every instance no link points at,
 * except instances with a file open (in use: skipped with a message).
 * Rescans. */
gboolean rota_artifact_repo_prune(RotaArtifactRepoState *st, GError **error);

/* Whether an artifact's name and digest make valid instance names: the
 * digest 64 lower-case hex digits, every name derived from them within
 * NAME_MAX. Checked when planning, before anything is written. */
gboolean rota_artifact_check_instance_name(const gchar *repo, const gchar *name, const gchar *digest, GError **error);

/* Whether name's link points at the instance with digest. */
gboolean rota_artifact_repo_is_active(const RotaArtifactRepoState *st, const gchar *name, const gchar *digest);

gboolean rota_artifact_repo_has_instance(const RotaArtifactRepoState *st, const gchar *name, const gchar *digest);

/* Writes instance name/digest from src (`files`: a copy read back and
 * checked against digest; `trees`: the tar archive src extracted, its
 * bytes checked against digest), written to `<instance>.tmp` first and
 * renamed when complete. */
gboolean rota_artifact_repo_add_instance(RotaArtifactRepoState *st, const gchar *name, const gchar *digest,
					 RotaView *src, RotaProgress *progress, GError **error);

/* Makes `active` (artifact name -> digest, each an existing instance) the
 * repository's set of active artifacts: links replaced atomically one by
 * one, links of other names removed, then synced. Rescans. */
gboolean rota_artifact_repo_commit(RotaArtifactRepoState *st, GHashTable *active, GError **error);

/* Every configured repository as GetArtifactStatus reports it
 * (cli-and-dbus.md §2.6): aa{sv}. A repository that cannot be read is
 * reported without artifacts and warned about. */
GVariant *rota_artifact_repos_status(const RotaConfig *config);
