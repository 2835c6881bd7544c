/* squashfs.c — owns everything squashfs in rota: the mksquashfs-subset
 * option parser, the image writer (directory tree → squashfs 4.0 via the
 * low-level libsquashfs API), the random-access reader over a RotaView and the
 * parallel extractor. No other module talks to libsquashfs. */
#include "bundle/squashfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>

#include <libdeflate.h>

#include "common/util.h"

#define ROTA_SQFS_MIN_BLOCK 4096u
#define ROTA_SQFS_MAX_BLOCK 1048576u
#define ROTA_SQFS_PAD 4096u
/* Extraction hands out work in runs of blocks of about this many bytes:
 * large enough to amortise open() per run, small enough to balance cores. */
#define EXTRACT_CHUNK_BYTES (2u * 1024u * 1024u)
/* Small files are batched so one work item does not mean one tiny file. */
#define EXTRACT_BATCH_FILES 256u

/* libsquashfs objects freed through their vtable or sqfs_free. */
static void sqfs_object_unref(void *obj)
{
	sqfs_destroy(obj);
}
typedef sqfs_compressor_t SqfsCompressor;
typedef sqfs_block_writer_t SqfsBlockWriter;
typedef sqfs_frag_table_t SqfsFragTable;
typedef sqfs_id_table_t SqfsIdTable;
typedef sqfs_meta_writer_t SqfsMetaWriter;
typedef sqfs_dir_writer_t SqfsDirWriter;
typedef sqfs_block_processor_t SqfsBlockProcessor;
typedef sqfs_data_reader_t SqfsDataReader;
typedef sqfs_inode_generic_t SqfsInode;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsCompressor, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsBlockWriter, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsFragTable, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsIdTable, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsMetaWriter, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsDirWriter, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsBlockProcessor, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsDataReader, sqfs_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsInode, sqfs_free)

static const gchar *sqfs_strerror(int err)
{
	switch (err) {
	case SQFS_ERROR_ALLOC: return "out of memory";
	case SQFS_ERROR_IO: return "I/O error";
	case SQFS_ERROR_COMPRESSOR: return "compressed data is corrupt";
	case SQFS_ERROR_CORRUPTED: return "image is corrupt";
	case SQFS_ERROR_UNSUPPORTED: return "unsupported feature";
	case SQFS_ERROR_OVERFLOW: return "corrupt image (size overflow)";
	case SQFS_ERROR_OUT_OF_BOUNDS: return "location out of bounds (corrupt image)";
	case -9: return "bad superblock magic (not a squashfs image)";
	case -10: return "unsupported squashfs version (need 4.0)";
	case SQFS_ERROR_SUPER_BLOCK_SIZE: return "invalid block size in superblock";
	case SQFS_ERROR_NOT_DIR: return "not a directory";
	case SQFS_ERROR_NO_ENTRY: return "no such file or directory";
	case SQFS_ERROR_LINK_LOOP: return "directory loop (corrupt image)";
	case SQFS_ERROR_NOT_FILE: return "not a regular file";
	case SQFS_ERROR_ARG_INVALID: return "invalid argument";
	case SQFS_ERROR_SEQUENCE: return "call sequence error";
	default: return "internal libsquashfs error";
	}
}

static gint sqfs_error_code(int err)
{
	switch (err) {
	case SQFS_ERROR_IO: return ROTA_ERROR_IO;
	case SQFS_ERROR_ALLOC:
	case SQFS_ERROR_INTERNAL:
	case SQFS_ERROR_SEQUENCE: return ROTA_ERROR_FAILED;
	default: return ROTA_ERROR_INVALID;
	}
}

/* ------------------------------------------------------------------ */
/* options                                                              */

void rota_squashfs_options_init(RotaSquashfsOptions *opts)
{
	opts->compressor = g_strdup("gzip");
	opts->block_size = SQFS_DEFAULT_BLOCK_SIZE;
	opts->pad_4k = TRUE;
	opts->block_size_given = FALSE;
}

void rota_squashfs_options_clear(RotaSquashfsOptions *opts)
{
	g_clear_pointer(&opts->compressor, g_free);
}

/* Creating a compressor is the only reliable test of whether this
 * libsquashfs build supports it (lzo is often left out for licence reasons). */
static gboolean compressor_id_lookup(const gchar *name, SQFS_COMPRESSOR *out_id, GError **error)
{
	int id = sqfs_compressor_id_from_name(name);
	sqfs_compressor_config_t cfg;
	g_autoptr(SqfsCompressor) cmp = NULL;

	if (id < 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "unknown squashfs compressor '%s'", name);
		return FALSE;
	}
	if (sqfs_compressor_config_init(&cfg, id, SQFS_DEFAULT_BLOCK_SIZE, 0) != 0 ||
	    sqfs_compressor_create(&cfg, &cmp) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "squashfs compressor '%s' is not supported by this libsquashfs", name);
		return FALSE;
	}
	*out_id = id;
	return TRUE;
}

static gboolean block_size_valid(guint64 size)
{
	return size >= ROTA_SQFS_MIN_BLOCK && size <= ROTA_SQFS_MAX_BLOCK && (size & (size - 1)) == 0;
}

/* mksquashfs accepts plain bytes or a K/M suffix. */
static gboolean parse_size_suffix(const gchar *arg, guint64 *out)
{
	gchar *end = NULL;
	guint64 value;

	if (!g_ascii_isdigit(arg[0]))
		return FALSE;
	errno = 0;
	value = g_ascii_strtoull(arg, &end, 10);
	if (errno != 0 || value > G_MAXUINT32)
		return FALSE;
	if (*end == 'K' || *end == 'k')
		value *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		value *= 1024 * 1024, end++;
	*out = value;
	return *end == '\0';
}

static gboolean parse_block_size(const gchar *arg, guint32 *out, GError **error)
{
	guint64 value = 0;

	if (!parse_size_suffix(arg, &value)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "invalid squashfs block size '%s'", arg);
		return FALSE;
	}
	if (!block_size_valid(value)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "squashfs block size %s must be a power of two between 4K and 1M", arg);
		return FALSE;
	}
	*out = (guint32)value;
	return TRUE;
}

static gboolean is_blank(const gchar *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!g_ascii_isspace(*s))
			return FALSE;
	return TRUE;
}

static gboolean is_ignored_flag(const gchar *arg)
{
	static const gchar *const ignored[] = {"-all-root", "-no-xattrs", "-noappend", "-no-progress", "-quiet"};

	for (gsize i = 0; i < G_N_ELEMENTS(ignored); i++)
		if (g_strcmp0(arg, ignored[i]) == 0)
			return TRUE;
	return FALSE;
}

gboolean rota_squashfs_options_parse_args(RotaSquashfsOptions *opts, const gchar *args, GError **error)
{
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) shell_error = NULL;
	gint argc = 0;

	/* g_shell_parse_argv refuses empty input, but no arguments is valid. */
	if (is_blank(args))
		return TRUE;
	if (!g_shell_parse_argv(args, &argc, &argv, &shell_error)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "cannot parse mksquashfs arguments '%s': %s", args,
			    shell_error->message);
		return FALSE;
	}

	for (gint i = 0; i < argc; i++) {
		const gchar *arg = argv[i];
		gboolean takes_value = g_strcmp0(arg, "-comp") == 0 || g_strcmp0(arg, "-b") == 0;

		if (takes_value && i + 1 >= argc) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "mksquashfs argument '%s' needs a value", arg);
			return FALSE;
		}
		if (g_strcmp0(arg, "-comp") == 0) {
			SQFS_COMPRESSOR id;

			if (!compressor_id_lookup(argv[++i], &id, error))
				return FALSE;
			g_free(opts->compressor);
			opts->compressor = g_strdup(argv[i]);
		} else if (g_strcmp0(arg, "-b") == 0) {
			opts->block_size_given = TRUE;
			if (!parse_block_size(argv[++i], &opts->block_size, error))
				return FALSE;
		} else if (g_strcmp0(arg, "-nopad") == 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "mksquashfs argument '-nopad' is not allowed: bundles must be padded to 4 KiB");
			return FALSE;
		} else if (!is_ignored_flag(arg)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "unsupported mksquashfs argument '%s'", arg);
			return FALSE;
		}
	}
	return TRUE;
}

/* ------------------------------------------------------------------ */
/* sqfs_file_t over our fd (writer) and over a RotaView (reader)       */

typedef struct {
	sqfs_file_t base;
	int fd;          /* borrowed */
	guint64 size;    /* end of the highest write: the image grows only by us */
	int saved_errno; /* why the last write failed, for the error message */
} FdFile;

static void fd_file_destroy(sqfs_object_t *obj)
{
	g_free(obj);
}

static int fd_file_read_at(sqfs_file_t *base, sqfs_u64 off, void *buf, size_t len)
{
	FdFile *f = (FdFile *)base;

	if (off + len > f->size)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	while (len > 0) {
		ssize_t n = pread(f->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			f->saved_errno = n < 0 ? errno : EIO;
			return SQFS_ERROR_IO;
		}
		buf = (guint8 *)buf + n;
		off += (guint64)n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_file_write_at(sqfs_file_t *base, sqfs_u64 off, const void *buf, size_t len)
{
	FdFile *f = (FdFile *)base;
	guint64 end = off + len;

	while (len > 0) {
		ssize_t n = pwrite(f->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			f->saved_errno = n < 0 ? errno : EIO;
			return SQFS_ERROR_IO;
		}
		buf = (const guint8 *)buf + n;
		off += (guint64)n;
		len -= (size_t)n;
	}
	f->size = MAX(f->size, end);
	return 0;
}

static sqfs_u64 fd_file_get_size(const sqfs_file_t *base)
{
	return ((const FdFile *)base)->size;
}

static int fd_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	FdFile *f = (FdFile *)base;

	if (ftruncate(f->fd, (off_t)size) != 0) {
		f->saved_errno = errno;
		return SQFS_ERROR_IO;
	}
	f->size = size;
	return 0;
}

static FdFile *fd_file_new(int fd)
{
	FdFile *f = g_new0(FdFile, 1);

	f->base.base.destroy = fd_file_destroy;
	f->base.read_at = fd_file_read_at;
	f->base.write_at = fd_file_write_at;
	f->base.get_size = fd_file_get_size;
	f->base.truncate = fd_file_truncate;
	f->fd = fd;
	return f;
}
typedef FdFile RotaFdFile;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RotaFdFile, sqfs_object_unref)

typedef struct {
	sqfs_file_t base;
	RotaView *view;
	GError *last_error; /* first view failure since the last reset */
} ViewFile;

static void view_file_destroy(sqfs_object_t *obj)
{
	ViewFile *f = (ViewFile *)obj;

	g_clear_error(&f->last_error);
	rota_view_unref(f->view);
	g_free(f);
}

static int view_file_read_at(sqfs_file_t *base, sqfs_u64 off, void *buf, size_t len)
{
	ViewFile *f = (ViewFile *)base;
	g_autoptr(GError) local = NULL;

	if (rota_view_read_at(f->view, off, buf, len, &local))
		return 0;
	/* Keep the view's message: it names the offset and the layer (e.g.
	 * verity), which a bare SQFS_ERROR_IO cannot. */
	if (f->last_error == NULL)
		f->last_error = g_steal_pointer(&local);
	return SQFS_ERROR_IO;
}

static int view_file_write_at(sqfs_file_t *base, sqfs_u64 off, const void *buf, size_t len)
{
	(void)base, (void)off, (void)buf, (void)len;
	return SQFS_ERROR_IO;
}

static sqfs_u64 view_file_get_size(const sqfs_file_t *base)
{
	return rota_view_get_size(((const ViewFile *)base)->view);
}

static int view_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	(void)base, (void)size;
	return SQFS_ERROR_IO;
}

static ViewFile *view_file_new(RotaView *view)
{
	ViewFile *f = g_new0(ViewFile, 1);

	f->base.base.destroy = view_file_destroy;
	f->base.read_at = view_file_read_at;
	f->base.write_at = view_file_write_at;
	f->base.get_size = view_file_get_size;
	f->base.truncate = view_file_truncate;
	f->view = rota_view_ref(view);
	return f;
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ViewFile, sqfs_object_unref)

/* Turns a libsquashfs failure on a reader into a GError: the view's own
 * error when a read failed underneath, else the libsquashfs code. */
static void set_read_error(GError **error, ViewFile *f, int err, const gchar *context)
{
	if (f != NULL && f->last_error != NULL) {
		g_set_error(error, f->last_error->domain, f->last_error->code, "%s: %s", context,
			    f->last_error->message);
		g_clear_error(&f->last_error);
		return;
	}
	g_set_error(error, ROTA_ERROR, sqfs_error_code(err), "%s: %s", context, sqfs_strerror(err));
}

/* ------------------------------------------------------------------ */
/* writer                                                               */

typedef struct _WNode WNode;
struct _WNode {
	gchar *name;
	gchar *path;        /* source path, for reading and messages */
	mode_t mode;
	GPtrArray *children; /* directories only, sorted by name (strcmp) */
	gchar *target;      /* symlinks only */
	sqfs_inode_generic_t *inode; /* files: filled in by the block processor */
	guint32 ino;
	guint64 ref;        /* inode reference: meta block << 16 | offset */
};

static void wnode_free(WNode *node)
{
	g_free(node->name);
	g_free(node->path);
	g_clear_pointer(&node->children, g_ptr_array_unref);
	g_free(node->target);
	if (node->inode != NULL)
		sqfs_free(node->inode);
	g_free(node);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WNode, wnode_free)

static gint wnode_compare(gconstpointer a, gconstpointer b)
{
	const WNode *na = *(WNode *const *)a;
	const WNode *nb = *(WNode *const *)b;

	/* Byte order, not locale order: the kernel binary-searches entries. */
	return strcmp(na->name, nb->name);
}

static WNode *scan_tree(const gchar *path, const gchar *name, GError **error);

static gboolean scan_children(WNode *dir, GError **error)
{
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) local = NULL;
	const gchar *entry;

	d = g_dir_open(dir->path, 0, &local);
	if (d == NULL) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot read directory '%s': %s", dir->path,
			    local->message);
		return FALSE;
	}
	dir->children = g_ptr_array_new_with_free_func((GDestroyNotify)wnode_free);
	while ((entry = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *child_path = g_build_filename(dir->path, entry, NULL);
		WNode *child = scan_tree(child_path, entry, error);

		if (child == NULL)
			return FALSE;
		g_ptr_array_add(dir->children, child);
	}
	g_ptr_array_sort(dir->children, wnode_compare);
	return TRUE;
}

static WNode *scan_tree(const gchar *path, const gchar *name, GError **error)
{
	g_autoptr(WNode) node = g_new0(WNode, 1);
	struct stat st;

	node->name = g_strdup(name);
	node->path = g_strdup(path);
	if (lstat(path, &st) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot stat '%s': %s", path, g_strerror(errno));
		return NULL;
	}
	node->mode = st.st_mode;
	if (S_ISDIR(st.st_mode)) {
		if (!scan_children(node, error))
			return NULL;
	} else if (S_ISLNK(st.st_mode)) {
		g_autoptr(GError) local = NULL;

		node->target = g_file_read_link(path, &local);
		if (node->target == NULL) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot read symlink '%s': %s", path,
				    local->message);
			return NULL;
		}
	} else if (!S_ISREG(st.st_mode)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "'%s' is not a regular file, directory or symlink; bundles cannot hold it", path);
		return NULL;
	}
	return g_steal_pointer(&node);
}

/* Children before parents, so the root gets the highest number as
 * mksquashfs does; the numbers must be exactly 1..inode_count. */
static void number_inodes(WNode *dir, guint32 *counter)
{
	for (guint i = 0; i < dir->children->len; i++) {
		WNode *child = g_ptr_array_index(dir->children, i);
		if (child->children != NULL)
			number_inodes(child, counter);
	}
	for (guint i = 0; i < dir->children->len; i++) {
		WNode *child = g_ptr_array_index(dir->children, i);
		if (child->children == NULL)
			child->ino = ++(*counter);
	}
	dir->ino = ++(*counter);
}

typedef struct {
	FdFile *file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_block_processor_t *proc;
	sqfs_meta_writer_t *inodes;
	sqfs_meta_writer_t *dirs;
	sqfs_dir_writer_t *dirwr;
	guint16 root_id_idx;
	guint32 block_size;
	guint8 *buf;
} Writer;

static gboolean writer_fail(Writer *w, int err, GError **error, const gchar *what)
{
	if (err == SQFS_ERROR_IO && w->file->saved_errno != 0)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "writing squashfs image: %s: %s", what,
			    g_strerror(w->file->saved_errno));
	else
		g_set_error(error, ROTA_ERROR, sqfs_error_code(err), "writing squashfs image: %s: %s", what,
			    sqfs_strerror(err));
	return FALSE;
}

static gboolean pack_file_data(Writer *w, WNode *node, GError **error)
{
	int fd = open(node->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int err;

	if (fd < 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot open '%s': %s", node->path, g_strerror(errno));
		return FALSE;
	}
	err = sqfs_block_processor_begin_file(w->proc, &node->inode, NULL, 0);
	while (err == 0) {
		ssize_t n = read(fd, w->buf, w->block_size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot read '%s': %s", node->path,
				    g_strerror(saved));
			return FALSE;
		}
		if (n == 0)
			break;
		err = sqfs_block_processor_append(w->proc, w->buf, (size_t)n);
	}
	close(fd);
	if (err == 0)
		err = sqfs_block_processor_end_file(w->proc);
	if (err != 0)
		return writer_fail(w, err, error, node->path);
	return TRUE;
}

static gboolean pack_tree_data(Writer *w, WNode *dir, GError **error)
{
	for (guint i = 0; i < dir->children->len; i++) {
		WNode *child = g_ptr_array_index(dir->children, i);

		if (child->children != NULL) {
			if (!pack_tree_data(w, child, error))
				return FALSE;
		} else if (S_ISREG(child->mode)) {
			if (!pack_file_data(w, child, error))
				return FALSE;
		}
	}
	return TRUE;
}

static void inode_set_common(Writer *w, sqfs_inode_generic_t *inode, WNode *node, mode_t type)
{
	inode->base.mode = type | (node->mode & 07777);
	inode->base.uid_idx = w->root_id_idx;
	inode->base.gid_idx = w->root_id_idx;
	inode->base.mod_time = 0;
	inode->base.inode_number = node->ino;
}

static gboolean write_inode(Writer *w, WNode *node, sqfs_inode_generic_t *inode, GError **error)
{
	sqfs_u64 block;
	sqfs_u32 offset;
	int err;

	sqfs_meta_writer_get_position(w->inodes, &block, &offset);
	node->ref = (block << 16) | offset;
	err = sqfs_meta_writer_write_inode(w->inodes, inode);
	if (err != 0)
		return writer_fail(w, err, error, node->path);
	return TRUE;
}

static gboolean write_leaf_inode(Writer *w, WNode *node, GError **error)
{
	if (S_ISLNK(node->mode)) {
		gsize len = strlen(node->target);
		g_autofree sqfs_inode_generic_t *inode = g_malloc0(sizeof(*inode) + len);

		inode->base.type = SQFS_INODE_SLINK;
		inode->payload_bytes_available = len;
		inode->payload_bytes_used = len;
		inode->data.slink.nlink = 1;
		inode->data.slink.target_size = len;
		memcpy(inode->extra, node->target, len);
		inode_set_common(w, inode, node, S_IFLNK);
		return write_inode(w, node, inode, error);
	}
	/* The processor promoted the inode to an extended one where the
	 * size or the block start needed 64 bits. */
	inode_set_common(w, node->inode, node, S_IFREG);
	if (node->inode->base.type == SQFS_INODE_EXT_FILE)
		node->inode->data.file_ext.nlink = 1;
	return write_inode(w, node, node->inode, error);
}

/* Post-order: every child's inode reference must be known before the
 * parent's listing is written. */
static gboolean write_dir(Writer *w, WNode *dir, guint32 parent_ino, GError **error)
{
	g_autoptr(SqfsInode) inode = NULL;
	guint32 subdirs = 0;
	int err;

	for (guint i = 0; i < dir->children->len; i++) {
		WNode *child = g_ptr_array_index(dir->children, i);
		gboolean ok;

		if (child->children != NULL) {
			ok = write_dir(w, child, dir->ino, error);
			subdirs++;
		} else {
			ok = write_leaf_inode(w, child, error);
		}
		if (!ok)
			return FALSE;
	}

	err = sqfs_dir_writer_begin(w->dirwr, 0);
	for (guint i = 0; err == 0 && i < dir->children->len; i++) {
		WNode *child = g_ptr_array_index(dir->children, i);
		err = sqfs_dir_writer_add_entry(w->dirwr, child->name, child->ino, child->ref,
						child->mode & S_IFMT);
	}
	if (err == 0)
		err = sqfs_dir_writer_end(w->dirwr);
	if (err != 0)
		return writer_fail(w, err, error, dir->path);

	inode = sqfs_dir_writer_create_inode(w->dirwr, 0, 0xFFFFFFFF, parent_ino);
	if (inode == NULL)
		return writer_fail(w, SQFS_ERROR_ALLOC, error, dir->path);
	inode_set_common(w, inode, dir, S_IFDIR);
	/* POSIX link count (2 + subdirectories), as mksquashfs stores it. */
	if (inode->base.type == SQFS_INODE_DIR)
		inode->data.dir.nlink = 2 + subdirs;
	else
		inode->data.dir_ext.nlink = 2 + subdirs;
	return write_inode(w, dir, inode, error);
}

static gboolean pad_image(int fd, guint64 size, guint64 *out_size, GError **error)
{
	guint64 padded = (size + ROTA_SQFS_PAD - 1) / ROTA_SQFS_PAD * ROTA_SQFS_PAD;
	static const guint8 zeros[ROTA_SQFS_PAD];

	if (padded != size &&
	    !rota_pwrite_exact(fd, zeros, padded - size, size, "squashfs image padding", error))
		return FALSE;
	*out_size = padded;
	return TRUE;
}

static gboolean check_empty_fd(int fd, GError **error)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot stat squashfs output: %s", g_strerror(errno));
		return FALSE;
	}
	if (st.st_size != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "squashfs output file is not empty");
		return FALSE;
	}
	return TRUE;
}

/* Wraps a compressor so a block that does not shrink is stored
 * uncompressed (do_block returning 0). libsquashfs' lz4 returns output
 * larger than the input for tiny metadata blocks such as the 4-byte id
 * table, which unsquashfs rejects as corrupt; mksquashfs never does that. */
typedef struct {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
} ShrinkOnlyCompressor;

static void shrink_only_destroy(sqfs_object_t *obj)
{
	sqfs_destroy(((ShrinkOnlyCompressor *)obj)->inner);
	g_free(obj);
}

static sqfs_compressor_t *shrink_only_wrap(sqfs_compressor_t *inner);

static sqfs_object_t *shrink_only_copy(const sqfs_object_t *obj)
{
	sqfs_compressor_t *inner = sqfs_copy(((const ShrinkOnlyCompressor *)obj)->inner);

	return inner ? (sqfs_object_t *)shrink_only_wrap(inner) : NULL;
}

static void shrink_only_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const sqfs_compressor_t *inner = ((const ShrinkOnlyCompressor *)cmp)->inner;

	inner->get_configuration(inner, cfg);
}

static int shrink_only_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	sqfs_compressor_t *inner = ((ShrinkOnlyCompressor *)cmp)->inner;

	return inner->write_options(inner, file);
}

static int shrink_only_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	sqfs_compressor_t *inner = ((ShrinkOnlyCompressor *)cmp)->inner;

	return inner->read_options(inner, file);
}

static sqfs_s32 shrink_only_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size, sqfs_u8 *out,
				     sqfs_u32 outsize)
{
	sqfs_compressor_t *inner = ((ShrinkOnlyCompressor *)cmp)->inner;
	sqfs_s32 ret = inner->do_block(inner, in, size, out, outsize);

	return ret > 0 && (sqfs_u32)ret >= size ? 0 : ret;
}

static sqfs_compressor_t *shrink_only_wrap(sqfs_compressor_t *inner)
{
	ShrinkOnlyCompressor *w = g_new0(ShrinkOnlyCompressor, 1);

	w->base.base.destroy = shrink_only_destroy;
	w->base.base.copy = shrink_only_copy;
	w->base.get_configuration = shrink_only_get_configuration;
	w->base.write_options = shrink_only_write_options;
	w->base.read_options = shrink_only_read_options;
	w->base.do_block = shrink_only_do_block;
	w->inner = inner;
	return &w->base;
}

static gboolean create_compressors(const RotaSquashfsOptions *opts, SQFS_COMPRESSOR id, sqfs_compressor_t **cmp,
				   sqfs_compressor_t **uncmp, GError **error)
{
	sqfs_compressor_config_t cfg;
	int err;

	err = sqfs_compressor_config_init(&cfg, id, opts->block_size, 0);
	if (err == 0)
		err = sqfs_compressor_create(&cfg, cmp);
	if (err == 0)
		*cmp = shrink_only_wrap(*cmp);
	if (err == 0) {
		cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
		err = sqfs_compressor_create(&cfg, uncmp);
	}
	if (err != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "cannot create squashfs compressor '%s': %s",
			    opts->compressor, sqfs_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* Data blocks first (compressed in parallel), then the inode and directory
 * tables, fragment and id tables, and the superblock last, once every
 * location is known. */
static gboolean write_image(Writer *w, WNode *root, SqfsFragTable *frags, SqfsIdTable *ids, GError **error)
{
	int err;

	if (!pack_tree_data(w, root, error))
		return FALSE;
	err = sqfs_block_processor_finish(w->proc);
	if (err != 0)
		return writer_fail(w, err, error, "compressing data");

	w->super.inode_table_start = w->file->size;
	if (!write_dir(w, root, root->ino + 1, error))
		return FALSE;
	err = sqfs_meta_writer_flush(w->inodes);
	if (err != 0)
		return writer_fail(w, err, error, "inode table");
	w->super.directory_table_start = w->file->size;
	err = sqfs_meta_writer_flush(w->dirs);
	if (err == 0)
		err = sqfs_meta_write_write_to_file(w->dirs);
	if (err != 0)
		return writer_fail(w, err, error, "directory table");

	w->super.inode_count = root->ino;
	w->super.root_inode_ref = root->ref;
	err = sqfs_frag_table_write(frags, &w->file->base, &w->super, w->cmp);
	if (err != 0)
		return writer_fail(w, err, error, "fragment table");
	err = sqfs_id_table_write(ids, &w->file->base, &w->super, w->cmp);
	if (err != 0)
		return writer_fail(w, err, error, "id table");

	w->super.bytes_used = w->file->size;
	err = sqfs_super_write(&w->super, &w->file->base);
	if (err != 0)
		return writer_fail(w, err, error, "superblock");
	return TRUE;
}

gboolean rota_squashfs_write_dir(const gchar *srcdir, int fd, const RotaSquashfsOptions *opts, guint64 *out_size,
				 GError **error)
{
	g_autoptr(WNode) root = NULL;
	g_autoptr(RotaFdFile) file = NULL;
	g_autoptr(SqfsCompressor) cmp = NULL;
	g_autoptr(SqfsCompressor) uncmp = NULL;
	g_autoptr(SqfsBlockWriter) blkwr = NULL;
	g_autoptr(SqfsFragTable) frags = NULL;
	g_autoptr(SqfsIdTable) ids = NULL;
	g_autoptr(SqfsBlockProcessor) proc = NULL;
	g_autoptr(SqfsMetaWriter) inodes = NULL;
	g_autoptr(SqfsMetaWriter) dirs = NULL;
	g_autoptr(SqfsDirWriter) dirwr = NULL;
	g_autofree guint8 *buf = NULL;
	sqfs_block_processor_desc_t desc = {0};
	SQFS_COMPRESSOR id;
	guint32 counter = 0;
	Writer w = {0};
	int ret;

	if (!block_size_valid(opts->block_size)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "squashfs block size %u must be a power of two between 4K and 1M", opts->block_size);
		return FALSE;
	}
	if (!compressor_id_lookup(opts->compressor ? opts->compressor : "gzip", &id, error))
		return FALSE;
	if (!check_empty_fd(fd, error))
		return FALSE;

	root = scan_tree(srcdir, "", error);
	if (root == NULL)
		return FALSE;
	if (root->children == NULL) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "'%s' is not a directory", srcdir);
		return FALSE;
	}
	number_inodes(root, &counter);

	file = fd_file_new(fd);
	w.file = file;
	w.block_size = opts->block_size;
	if (!create_compressors(opts, id, &cmp, &uncmp, error))
		return FALSE;
	w.cmp = cmp;

	/* Superblock placeholder first; compressor options follow it directly
	 * and are only present when not the compressor's defaults. */
	sqfs_super_init(&w.super, opts->block_size, 0, id);
	w.super.flags |= SQFS_FLAG_NO_XATTRS;
	ret = sqfs_super_write(&w.super, &file->base);
	if (ret != 0)
		return writer_fail(&w, ret, error, "superblock");
	ret = cmp->write_options(cmp, &file->base);
	if (ret < 0)
		return writer_fail(&w, ret, error, "compressor options");
	if (ret > 0)
		w.super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

	blkwr = sqfs_block_writer_create(&file->base, ROTA_SQFS_PAD, 0);
	frags = sqfs_frag_table_create(0);
	ids = sqfs_id_table_create(0);
	inodes = sqfs_meta_writer_create(&file->base, cmp, 0);
	dirs = sqfs_meta_writer_create(&file->base, cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	dirwr = dirs ? sqfs_dir_writer_create(dirs, 0) : NULL;
	if (blkwr == NULL || frags == NULL || ids == NULL || inodes == NULL || dirwr == NULL)
		return writer_fail(&w, SQFS_ERROR_ALLOC, error, "setup");
	ret = sqfs_id_table_id_to_index(ids, 0, &w.root_id_idx);
	if (ret != 0)
		return writer_fail(&w, ret, error, "id table");

	desc.size = sizeof(desc);
	desc.max_block_size = opts->block_size;
	desc.num_workers = rota_worker_count();
	desc.max_backlog = 10 * desc.num_workers;
	desc.cmp = cmp;
	desc.wr = blkwr;
	desc.tbl = frags;
	desc.file = &file->base; /* lets fragment deduplication verify matches */
	desc.uncmp = uncmp;
	ret = sqfs_block_processor_create_ex(&desc, &proc);
	if (ret != 0)
		return writer_fail(&w, ret, error, "block processor");

	buf = g_malloc(opts->block_size);
	w.proc = proc;
	w.inodes = inodes;
	w.dirs = dirs;
	w.dirwr = dirwr;
	w.buf = buf;
	if (!write_image(&w, root, frags, ids, error))
		return FALSE;

	if (opts->pad_4k)
		return pad_image(fd, w.super.bytes_used, out_size, error);
	*out_size = w.super.bytes_used;
	return TRUE;
}

/* ------------------------------------------------------------------ */
/* reader                                                               */

/* gzip blocks are decompressed with libdeflate: squashfs stores every block
 * (data or metadata) as one complete zlib stream of known maximum output
 * size, which is exactly what libdeflate's whole-buffer decompressor
 * handles, about twice as fast as zlib's streaming inflate (extraction is
 * bound by it). It checks the zlib header and adler32 like zlib does. Any
 * failure (corrupt data, output larger than the block) is handed to the
 * libsquashfs (zlib) decompressor, so a bad block fails with exactly the
 * error it gave before, and a block only zlib accepts still decompresses.
 * The one thing libdeflate does not enforce is the window size declared in
 * the zlib header (it accepts matches up to 32 KiB back whatever the header
 * says); the output is still fully determined by the input, and what the
 * input is, is the verity tree's and the signature's business. Options
 * (compression level, window, strategies) matter only for compressing and
 * are read and checked by the libsquashfs compressor. */
typedef struct {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
	struct libdeflate_decompressor *d;
} DeflateDecompressor;

static sqfs_compressor_t *deflate_wrap(sqfs_compressor_t *inner);

static void deflate_destroy(sqfs_object_t *obj)
{
	DeflateDecompressor *w = (DeflateDecompressor *)obj;

	libdeflate_free_decompressor(w->d);
	sqfs_destroy(w->inner);
	g_free(w);
}

static sqfs_object_t *deflate_copy(const sqfs_object_t *obj)
{
	sqfs_compressor_t *inner = sqfs_copy(((const DeflateDecompressor *)obj)->inner);

	return inner ? (sqfs_object_t *)deflate_wrap(inner) : NULL;
}

static void deflate_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const sqfs_compressor_t *inner = ((const DeflateDecompressor *)cmp)->inner;

	inner->get_configuration(inner, cfg);
}

static int deflate_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	sqfs_compressor_t *inner = ((DeflateDecompressor *)cmp)->inner;

	return inner->write_options(inner, file);
}

static int deflate_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	sqfs_compressor_t *inner = ((DeflateDecompressor *)cmp)->inner;

	return inner->read_options(inner, file);
}

static sqfs_s32 deflate_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size, sqfs_u8 *out,
				 sqfs_u32 outsize)
{
	DeflateDecompressor *w = (DeflateDecompressor *)cmp;
	size_t actual = 0;

	if (size < 0x7FFFFFFF && outsize < 0x7FFFFFFF &&
	    libdeflate_zlib_decompress(w->d, in, size, out, outsize, &actual) == LIBDEFLATE_SUCCESS)
		return (sqfs_s32)actual;
	return w->inner->do_block(w->inner, in, size, out, outsize);
}

/* Wraps a libsquashfs gzip decompressor (takes it over); returns it as it
 * is if libdeflate cannot allocate. */
static sqfs_compressor_t *deflate_wrap(sqfs_compressor_t *inner)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	DeflateDecompressor *w;

	if (d == NULL)
		return inner;
	w = g_new0(DeflateDecompressor, 1);
	w->base.base.destroy = deflate_destroy;
	w->base.base.copy = deflate_copy;
	w->base.get_configuration = deflate_get_configuration;
	w->base.write_options = deflate_write_options;
	w->base.read_options = deflate_read_options;
	w->base.do_block = deflate_do_block;
	w->inner = inner;
	w->d = d;
	return &w->base;
}

/* One decompression context: libsquashfs readers and compressors are not
 * thread-safe, so each thread that decompresses gets its own. */
typedef struct {
	ViewFile *file;
	sqfs_compressor_t *cmp;
	sqfs_data_reader_t *data;
	guint8 *packed;   /* one compressed block */
	guint8 *block;    /* the last block decompressed for a partial read */
	guint64 block_at; /* its position in the image, G_MAXUINT64 if none */
	sqfs_u32 block_word; /* its stored size word and logical length: files may */
	gsize block_len;     /* share a position and differ in these (a crafted image) */
} ReadCtx;

static void read_ctx_free(ReadCtx *ctx)
{
	g_free(ctx->packed);
	g_free(ctx->block);
	if (ctx->data != NULL)
		sqfs_destroy(ctx->data);
	if (ctx->cmp != NULL)
		sqfs_destroy(ctx->cmp);
	if (ctx->file != NULL)
		sqfs_destroy(ctx->file);
	g_free(ctx);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ReadCtx, read_ctx_free)

struct _RotaSquashfs {
	RotaView *view;
	sqfs_super_t super;
	GMutex lock; /* guards everything below */
	ReadCtx *ctx;
	sqfs_dir_reader_t *dir;
	sqfs_id_table_t *ids;
	GHashTable *inodes; /* path → sqfs_inode_generic_t*, repeated reads skip the lookup */
	GHashTable *offsets; /* path → block_offsets() of the file */
	GPtrArray *spare;   /* idle ReadCtx* for file data: concurrent reads decode in parallel */
};

static ReadCtx *read_ctx_new(RotaView *view, const sqfs_super_t *super, GError **error)
{
	g_autoptr(ReadCtx) ctx = g_new0(ReadCtx, 1);
	sqfs_compressor_config_t cfg;
	int err;

	ctx->file = view_file_new(view);
	err = sqfs_compressor_config_init(&cfg, super->compression_id, super->block_size, SQFS_COMP_FLAG_UNCOMPRESS);
	if (err == 0)
		err = sqfs_compressor_create(&cfg, &ctx->cmp);
	if (err != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: unsupported squashfs compressor id %u",
			    rota_view_get_name(view), super->compression_id);
		return NULL;
	}
	if (super->compression_id == SQFS_COMP_GZIP)
		ctx->cmp = deflate_wrap(ctx->cmp);
	if (super->flags & SQFS_FLAG_COMPRESSOR_OPTIONS) {
		err = ctx->cmp->read_options(ctx->cmp, &ctx->file->base);
		if (err != 0) {
			set_read_error(error, ctx->file, err, "reading squashfs compressor options");
			return NULL;
		}
	}
	ctx->data = sqfs_data_reader_create(&ctx->file->base, super->block_size, ctx->cmp, 0);
	if (ctx->data == NULL) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot create squashfs data reader");
		return NULL;
	}
	err = sqfs_data_reader_load_fragment_table(ctx->data, super);
	if (err != 0) {
		set_read_error(error, ctx->file, err, "reading squashfs fragment table");
		return NULL;
	}
	ctx->packed = g_malloc(super->block_size);
	ctx->block = g_malloc(super->block_size);
	ctx->block_at = G_MAXUINT64;
	return g_steal_pointer(&ctx);
}

void rota_squashfs_free(RotaSquashfs *sqfs)
{
	if (sqfs == NULL)
		return;
	g_clear_pointer(&sqfs->inodes, g_hash_table_unref);
	g_clear_pointer(&sqfs->offsets, g_hash_table_unref);
	if (sqfs->ids != NULL)
		sqfs_destroy(sqfs->ids);
	if (sqfs->dir != NULL)
		sqfs_destroy(sqfs->dir);
	g_clear_pointer(&sqfs->ctx, read_ctx_free);
	g_clear_pointer(&sqfs->spare, g_ptr_array_unref);
	g_mutex_clear(&sqfs->lock);
	g_clear_pointer(&sqfs->view, rota_view_unref);
	g_free(sqfs);
}

static gboolean read_superblock(RotaSquashfs *sqfs, GError **error)
{
	g_autoptr(ViewFile) file = view_file_new(sqfs->view);
	const gchar *name = rota_view_get_name(sqfs->view);
	g_autofree gchar *context = g_strdup_printf("%s: reading squashfs superblock", name);
	int err;

	err = sqfs_super_read(&sqfs->super, &file->base);
	if (err != 0) {
		set_read_error(error, file, err, context);
		return FALSE;
	}
	if (sqfs->super.bytes_used > rota_view_get_size(sqfs->view)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: squashfs bytes_used %" G_GUINT64_FORMAT " exceeds the payload size %" G_GUINT64_FORMAT,
			    name, (guint64)sqfs->super.bytes_used, rota_view_get_size(sqfs->view));
		return FALSE;
	}
	return TRUE;
}

RotaSquashfs *rota_squashfs_open(RotaView *view, GError **error)
{
	g_autoptr(RotaSquashfs) sqfs = g_new0(RotaSquashfs, 1);
	int err;

	g_mutex_init(&sqfs->lock);
	sqfs->view = rota_view_ref(view);
	sqfs->inodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sqfs_free);
	sqfs->offsets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
	sqfs->spare = g_ptr_array_new_with_free_func((GDestroyNotify)read_ctx_free);
	if (!read_superblock(sqfs, error))
		return NULL;
	sqfs->ctx = read_ctx_new(view, &sqfs->super, error);
	if (sqfs->ctx == NULL)
		return NULL;
	sqfs->dir = sqfs_dir_reader_create(&sqfs->super, sqfs->ctx->cmp, &sqfs->ctx->file->base, 0);
	sqfs->ids = sqfs_id_table_create(0);
	if (sqfs->dir == NULL || sqfs->ids == NULL) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_FAILED, "cannot create squashfs readers");
		return NULL;
	}
	err = sqfs_id_table_read(sqfs->ids, &sqfs->ctx->file->base, &sqfs->super, sqfs->ctx->cmp);
	if (err != 0) {
		set_read_error(error, sqfs->ctx->file, err, "reading squashfs id table");
		return NULL;
	}
	return g_steal_pointer(&sqfs);
}

static gboolean inode_is_dir(const sqfs_inode_generic_t *inode)
{
	return inode->base.type == SQFS_INODE_DIR || inode->base.type == SQFS_INODE_EXT_DIR;
}

static gboolean inode_is_file(const sqfs_inode_generic_t *inode)
{
	return inode->base.type == SQFS_INODE_FILE || inode->base.type == SQFS_INODE_EXT_FILE;
}

/* Walks path one component at a time from the root, so nothing outside the
 * image root can be named. Caller holds the lock. */
static sqfs_inode_generic_t *lookup_path_locked(RotaSquashfs *sqfs, const gchar *path, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	g_autoptr(SqfsInode) inode = NULL;
	g_autofree gchar *context = g_strdup_printf("%s: looking up '%s'", rota_view_get_name(sqfs->view), path);
	int err;

	for (gchar **p = parts; *p != NULL; p++) {
		if (g_strcmp0(*p, "..") == 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "path '%s' has a '..' component; lookups are confined to the image root", path);
			return NULL;
		}
	}
	err = sqfs_dir_reader_get_root_inode(sqfs->dir, &inode);
	for (gchar **p = parts; err == 0 && *p != NULL; p++) {
		if (**p == '\0' || g_strcmp0(*p, ".") == 0)
			continue;
		if (!inode_is_dir(inode)) {
			err = SQFS_ERROR_NOT_DIR;
			break;
		}
		err = sqfs_dir_reader_open_dir(sqfs->dir, inode, 0);
		if (err == 0)
			err = sqfs_dir_reader_find(sqfs->dir, *p);
		g_clear_pointer(&inode, sqfs_free);
		if (err == 0)
			err = sqfs_dir_reader_get_inode(sqfs->dir, &inode);
	}
	if (err != 0) {
		set_read_error(error, sqfs->ctx->file, err, context);
		return NULL;
	}
	return g_steal_pointer(&inode);
}

/* Returns a borrowed, cached file inode. Caller holds the lock. */
static const sqfs_inode_generic_t *lookup_file_locked(RotaSquashfs *sqfs, const gchar *path, GError **error)
{
	sqfs_inode_generic_t *inode = g_hash_table_lookup(sqfs->inodes, path);

	if (inode != NULL)
		return inode;
	inode = lookup_path_locked(sqfs, path, error);
	if (inode == NULL)
		return NULL;
	if (!inode_is_file(inode)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "%s: '%s' is not a regular file",
			    rota_view_get_name(sqfs->view), path);
		sqfs_free(inode);
		return NULL;
	}
	g_hash_table_insert(sqfs->inodes, g_strdup(path), inode);
	return inode;
}

static guint64 inode_file_size(const sqfs_inode_generic_t *inode)
{
	sqfs_u64 size = 0;

	sqfs_inode_get_file_size(inode, &size);
	return size;
}

gboolean rota_squashfs_file_size(RotaSquashfs *sqfs, const gchar *path, guint64 *out_size, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&sqfs->lock);
	const sqfs_inode_generic_t *inode = lookup_file_locked(sqfs, path, error);

	if (inode == NULL)
		return FALSE;
	*out_size = inode_file_size(inode);
	return TRUE;
}

/* A data-reading context of its own for the calling thread: libsquashfs
 * readers are not thread-safe, and one shared reader would serialize the
 * decompression of concurrent reads (an install's reader threads). */
static ReadCtx *take_read_ctx(RotaSquashfs *sqfs, GError **error)
{
	ReadCtx *ctx = NULL;

	g_mutex_lock(&sqfs->lock);
	if (sqfs->spare->len)
		ctx = g_ptr_array_steal_index_fast(sqfs->spare, sqfs->spare->len - 1);
	g_mutex_unlock(&sqfs->lock);
	return ctx ? ctx : read_ctx_new(sqfs->view, &sqfs->super, error);
}

static void return_read_ctx(RotaSquashfs *sqfs, ReadCtx *ctx)
{
	g_mutex_lock(&sqfs->lock);
	g_ptr_array_add(sqfs->spare, ctx);
	g_mutex_unlock(&sqfs->lock);
}

/* Where each data block of a file starts in the image, plus the end of the
 * last one (count + 1 entries; a sparse block starts where the next does). */
static GArray *block_offsets(const sqfs_inode_generic_t *inode)
{
	size_t count = sqfs_inode_get_file_block_count(inode);
	guint64 at = 0;
	GArray *offsets = g_array_sized_new(FALSE, FALSE, sizeof(guint64), (guint)count + 1);

	sqfs_inode_get_file_block_start(inode, &at);
	for (size_t i = 0; i < count; i++) {
		g_array_append_val(offsets, at);
		at += SQFS_ON_DISK_BLOCK_SIZE(inode->extra[i]);
	}
	g_array_append_val(offsets, at);
	return offsets;
}

/* Hints the image bytes that hold the file's blocks for [off, off+len):
 * blocks are stored in order, so that is one range (a fragment tail is not
 * included; it is small and elsewhere). */
static void will_read_blocks(RotaSquashfs *sqfs, GArray *offsets, guint64 off, guint64 len)
{
	guint64 bs = sqfs->super.block_size, count = offsets->len - 1;
	guint64 first = off / bs, end = MIN((off + len + bs - 1) / bs, count);

	if (len == 0 || first >= end)
		return;
	guint64 start = g_array_index(offsets, guint64, first), stop = g_array_index(offsets, guint64, end);
	if (stop > start)
		rota_view_will_read(sqfs->view, start, stop - start);
}

/* The file's inode and block offsets, both cached until the image closes. */
/* block_offsets() of the file at path, computed once (lock held). */
static GArray *offsets_locked(RotaSquashfs *sqfs, const gchar *path, const sqfs_inode_generic_t *inode)
{
	GArray *offsets = g_hash_table_lookup(sqfs->offsets, path);

	if (offsets == NULL) {
		offsets = block_offsets(inode);
		g_hash_table_insert(sqfs->offsets, g_strdup(path), offsets);
	}
	return offsets;
}

static const sqfs_inode_generic_t *file_blocks(RotaSquashfs *sqfs, const gchar *path, GArray **out_offsets,
					       GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&sqfs->lock);
	const sqfs_inode_generic_t *inode = lookup_file_locked(sqfs, path, error);

	if (inode == NULL)
		return NULL;
	*out_offsets = offsets_locked(sqfs, path, inode);
	return inode;
}

typedef struct {
	RotaSquashfs *sqfs;
	ReadCtx *ctx;
	const gchar *path;
	const sqfs_inode_generic_t *inode;
	GArray *offsets;
	guint64 size;
} FileReader;

static void set_block_error(GError **error, FileReader *r, guint64 block, int err)
{
	g_set_error(error, ROTA_ERROR, sqfs_error_code(err),
		    "%s: reading '%s': data block %" G_GUINT64_FORMAT " at image offset %" G_GUINT64_FORMAT ": %s",
		    rota_view_get_name(r->sqfs->view), r->path, block, g_array_index(r->offsets, guint64, block),
		    sqfs_strerror(err));
}

/* Decompresses block b (stored as word) into out, which holds exactly the
 * block's logical length. */
static gboolean unpack_block(FileReader *r, guint64 b, sqfs_u32 word, guint8 *out, gsize logical, GError **error)
{
	guint64 at = g_array_index(r->offsets, guint64, b);
	gsize packed = SQFS_ON_DISK_BLOCK_SIZE(word);
	sqfs_s32 n;

	if (packed > r->sqfs->super.block_size) {
		set_block_error(error, r, b, SQFS_ERROR_CORRUPTED);
		return FALSE;
	}
	if (!rota_view_read_at(r->sqfs->view, at, r->ctx->packed, packed, error))
		return FALSE;
	n = r->ctx->cmp->do_block(r->ctx->cmp, r->ctx->packed, (sqfs_u32)packed, out, (sqfs_u32)logical);
	if (n <= 0) {
		set_block_error(error, r, b, n < 0 ? n : SQFS_ERROR_OVERFLOW);
		return FALSE;
	}
	if ((gsize)n != logical) {
		/* Only the last block of a file may be short, and it is short in
		 * its logical length already: anything else is damage. */
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: reading '%s': data block %" G_GUINT64_FORMAT " at image offset %" G_GUINT64_FORMAT
			    ": compressed data is corrupt (%d bytes instead of %" G_GSIZE_FORMAT ")",
			    rota_view_get_name(r->sqfs->view), r->path, b, at, (int)n, logical);
		return FALSE;
	}
	return TRUE;
}

/* Copies [in, in+n) of block b into dst: stored blocks straight from the
 * image, whole compressed blocks decompressed in place, parts of one
 * through the context's one-block cache. */
static gboolean read_block_part(FileReader *r, guint64 b, gsize in, guint8 *dst, gsize n, GError **error)
{
	guint32 bs = r->sqfs->super.block_size;
	gsize logical = (gsize)MIN((guint64)bs, r->size - b * bs);
	sqfs_u32 word = r->inode->extra[b];
	guint64 at = g_array_index(r->offsets, guint64, b);

	if (SQFS_IS_SPARSE_BLOCK(word)) {
		memset(dst, 0, n);
		return TRUE;
	}
	if (!SQFS_IS_BLOCK_COMPRESSED(word)) {
		if (SQFS_ON_DISK_BLOCK_SIZE(word) != logical) {
			set_block_error(error, r, b, SQFS_ERROR_CORRUPTED);
			return FALSE;
		}
		return rota_view_read_at(r->sqfs->view, at + in, dst, n, error);
	}
	if (n == logical)
		return unpack_block(r, b, word, dst, logical, error);
	/* Keyed on all that decides the decoded bytes: a block decoded to a
	 * shorter length for another file must not serve this one's longer
	 * read from whatever the buffer held beyond it. */
	if (r->ctx->block_at != at || r->ctx->block_word != word || r->ctx->block_len != logical) {
		r->ctx->block_at = G_MAXUINT64;
		if (!unpack_block(r, b, word, r->ctx->block, logical, error))
			return FALSE;
		r->ctx->block_at = at;
		r->ctx->block_word = word;
		r->ctx->block_len = logical;
	}
	memcpy(dst, r->ctx->block + in, n);
	return TRUE;
}

/* The tail of a file kept in a fragment block: [off, off+len) of it. */
static gboolean read_fragment_tail(FileReader *r, guint64 off, guint8 *dst, gsize len, GError **error)
{
	sqfs_u8 *tail = NULL;
	size_t tail_len = 0;
	int err = sqfs_data_reader_get_fragment(r->ctx->data, r->inode, &tail_len, &tail);

	if (err == 0 && off + len > tail_len)
		err = SQFS_ERROR_CORRUPTED;
	if (err != 0) {
		g_autofree gchar *context = g_strdup_printf("%s: reading the fragment of '%s'",
							    rota_view_get_name(r->sqfs->view), r->path);
		set_read_error(error, r->ctx->file, err, context);
		sqfs_free(tail);
		return FALSE;
	}
	memcpy(dst, tail + off, len);
	sqfs_free(tail);
	return TRUE;
}

/* Reads block by block with the offsets computed once per file (libsquashfs'
 * sqfs_data_reader_read() walks the block list from the start on every call
 * and, at a block-aligned offset, also loads the block before). */
static gboolean read_blocks(FileReader *r, guint64 off, guint8 *dst, gsize len, GError **error)
{
	guint32 bs = r->sqfs->super.block_size;
	guint64 count = r->offsets->len - 1;

	while (len > 0) {
		guint64 b = off / bs;
		gsize in = (gsize)(off % bs);
		gsize n;

		if (b >= count)
			return read_fragment_tail(r, off - count * bs, dst, len, error);
		n = (gsize)MIN((guint64)len, MIN((guint64)bs, r->size - b * bs) - in);
		if (!read_block_part(r, b, in, dst, n, error))
			return FALSE;
		off += n;
		dst += n;
		len -= n;
	}
	return TRUE;
}

gboolean rota_squashfs_read_file(RotaSquashfs *sqfs, const gchar *path, guint64 off, void *buf, gsize len,
				 GError **error)
{
	FileReader r = {.sqfs = sqfs, .path = path};
	guint64 end;
	gboolean ok;

	r.inode = file_blocks(sqfs, path, &r.offsets, error);
	if (r.inode == NULL)
		return FALSE;
	r.size = inode_file_size(r.inode);
	if (!rota_add_u64(off, len, &end) || end > r.size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
			    "%s: reading %" G_GSIZE_FORMAT " bytes at offset %" G_GUINT64_FORMAT
			    " of '%s' goes beyond its size %" G_GUINT64_FORMAT,
			    rota_view_get_name(sqfs->view), len, off, path, r.size);
		return FALSE;
	}
	r.ctx = take_read_ctx(sqfs, error);
	if (!r.ctx)
		return FALSE;
	ok = read_blocks(&r, off, buf, len, error);
	return_read_ctx(sqfs, r.ctx);
	return ok;
}

/* A file read whole (manifest, block-hash-index) is fetched in one go. */
static void hint_whole_file(RotaSquashfs *sqfs, const gchar *path, guint64 size)
{
	GArray *offsets;

	if (file_blocks(sqfs, path, &offsets, NULL))
		will_read_blocks(sqfs, offsets, 0, size);
}

GBytes *rota_squashfs_load_file(RotaSquashfs *sqfs, const gchar *path, gsize max_size, GError **error)
{
	g_autofree guint8 *data = NULL;
	guint64 size;

	if (!rota_squashfs_file_size(sqfs, path, &size, error))
		return NULL;
	if (size > max_size) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_LIMIT,
			    "%s: '%s' is %" G_GUINT64_FORMAT " bytes, more than the allowed %" G_GSIZE_FORMAT,
			    rota_view_get_name(sqfs->view), path, size, max_size);
		return NULL;
	}
	data = g_malloc(MAX(size, 1));
	hint_whole_file(sqfs, path, size);
	if (!rota_squashfs_read_file(sqfs, path, 0, data, size, error))
		return NULL;
	return g_bytes_new_take(g_steal_pointer(&data), size);
}

/* ------------------------------------------------------------------ */
/* extraction                                                           */

typedef struct {
	gchar *path;                       /* destination path */
	gchar *rel;                        /* path inside the image, for messages */
	const sqfs_inode_generic_t *inode; /* borrowed from the tree */
	guint64 size;
	guint32 n_blocks;                  /* full or sparse blocks, without the fragment */
	gboolean has_fragment;
	mode_t mode;
} ExtractFile;

/* A run of work: either blocks [first_block, end_block) of one large file
 * (pre-created by the main thread) or several whole small files. */
typedef struct {
	guint first_file;
	guint end_file;
	guint32 first_block;
	guint32 end_block;
	gboolean whole_files;
} ExtractItem;

typedef struct {
	RotaSquashfs *sqfs;
	GArray *files; /* ExtractFile */
	GArray *items; /* ExtractItem */
	gint next_item;
	gint failed;
	GMutex error_lock;
	GError *error;
} Extractor;

static void extract_file_clear(gpointer p)
{
	ExtractFile *f = p;

	g_free(f->path);
	g_free(f->rel);
}

static void extractor_fail(Extractor *ex, GError *err)
{
	g_mutex_lock(&ex->error_lock);
	if (ex->error == NULL)
		ex->error = err;
	else
		g_error_free(err);
	g_mutex_unlock(&ex->error_lock);
	g_atomic_int_set(&ex->failed, 1);
}

static gboolean extract_block(Extractor *ex, ReadCtx *ctx, const ExtractFile *f, int fd, guint32 index,
			      GError **error)
{
	g_autofree gchar *context = NULL;
	sqfs_u8 *data = NULL;
	size_t size = 0;
	gboolean ok;
	int err;

	/* A sparse block (stored size 0) stays a hole of the pre-sized file. */
	if (SQFS_ON_DISK_BLOCK_SIZE(f->inode->extra[index]) == 0)
		return TRUE;
	err = sqfs_data_reader_get_block(ctx->data, f->inode, index, &size, &data);
	if (err != 0) {
		context = g_strdup_printf("extracting '%s' (block %u)", f->rel, index);
		set_read_error(error, ctx->file, err, context);
		return FALSE;
	}
	ok = rota_pwrite_exact(fd, data, size, (guint64)index * ex->sqfs->super.block_size, f->path, error);
	sqfs_free(data);
	return ok;
}

static gboolean extract_fragment(ReadCtx *ctx, const ExtractFile *f, int fd, guint64 block_size, GError **error)
{
	sqfs_u8 *data = NULL;
	size_t size = 0;
	gboolean ok;
	int err;

	err = sqfs_data_reader_get_fragment(ctx->data, f->inode, &size, &data);
	if (err != 0) {
		g_autofree gchar *context = g_strdup_printf("extracting '%s' (tail fragment)", f->rel);
		set_read_error(error, ctx->file, err, context);
		return FALSE;
	}
	ok = rota_pwrite_exact(fd, data, size, (guint64)f->n_blocks * block_size, f->path, error);
	sqfs_free(data);
	return ok;
}

static gboolean extract_range(Extractor *ex, ReadCtx *ctx, const ExtractFile *f, int fd, guint32 first,
			      guint32 end, GError **error)
{
	for (guint32 i = first; i < end; i++)
		if (!extract_block(ex, ctx, f, fd, i, error))
			return FALSE;
	if (end == f->n_blocks && f->has_fragment)
		return extract_fragment(ctx, f, fd, ex->sqfs->super.block_size, error);
	return TRUE;
}

static int open_dest(const ExtractFile *f, gboolean create, GError **error)
{
	int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
	int fd = open(f->path, flags, 0600);

	if (fd < 0)
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot %s '%s': %s", create ? "create" : "open",
			    f->path, g_strerror(errno));
	return fd;
}

/* Small files are created, filled and given their mode by the worker, so
 * each costs a single open(). */
static gboolean extract_whole_file(Extractor *ex, ReadCtx *ctx, const ExtractFile *f, GError **error)
{
	int fd = open_dest(f, TRUE, error);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = extract_range(ex, ctx, f, fd, 0, f->n_blocks, error);
	/* Trailing sparse blocks were never written. */
	if (ok && ftruncate(fd, (off_t)f->size) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot resize '%s': %s", f->path, g_strerror(errno));
		ok = FALSE;
	}
	if (ok && fchmod(fd, f->mode) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot chmod '%s': %s", f->path, g_strerror(errno));
		ok = FALSE;
	}
	close(fd);
	return ok;
}

static gboolean extract_item(Extractor *ex, ReadCtx *ctx, const ExtractItem *item, GError **error)
{
	if (item->whole_files) {
		for (guint i = item->first_file; i < item->end_file; i++) {
			if (g_atomic_int_get(&ex->failed))
				return TRUE;
			if (!extract_whole_file(ex, ctx, &g_array_index(ex->files, ExtractFile, i), error))
				return FALSE;
		}
		return TRUE;
	}

	const ExtractFile *f = &g_array_index(ex->files, ExtractFile, item->first_file);
	int fd = open_dest(f, FALSE, error);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = extract_range(ex, ctx, f, fd, item->first_block, item->end_block, error);
	close(fd);
	return ok;
}

static gpointer extract_worker(gpointer data)
{
	Extractor *ex = data;
	g_autoptr(GError) local = NULL;
	g_autoptr(ReadCtx) ctx = read_ctx_new(ex->sqfs->view, &ex->sqfs->super, &local);

	if (ctx == NULL) {
		extractor_fail(ex, g_steal_pointer(&local));
		return NULL;
	}
	while (!g_atomic_int_get(&ex->failed)) {
		gint i = g_atomic_int_add(&ex->next_item, 1);

		if (i >= (gint)ex->items->len)
			break;
		if (!extract_item(ex, ctx, &g_array_index(ex->items, ExtractItem, i), &local)) {
			extractor_fail(ex, g_steal_pointer(&local));
			break;
		}
	}
	return NULL;
}

static gboolean create_dest_dir(const gchar *path, GError **error)
{
	/* Owner-writable while we fill it; the stored mode is applied last. */
	if (mkdir(path, 0700) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create directory '%s': %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	const gchar *destdir;
	guint32 block_size;
	GArray *files;      /* ExtractFile */
	GPtrArray *dirs;    /* destination dirs, parents first */
	GArray *dir_modes;  /* mode_t, parallel to dirs */
} TreeWalk;

static gboolean add_file(TreeWalk *tw, const sqfs_tree_node_t *node, const gchar *path, const gchar *rel,
			 GError **error)
{
	ExtractFile f = {0};
	sqfs_u32 frag_index = 0xFFFFFFFF, frag_offset = 0;
	guint32 n_stored = node->inode->payload_bytes_used / sizeof(sqfs_u32);

	f.inode = node->inode;
	f.size = inode_file_size(node->inode);
	sqfs_inode_get_frag_location(node->inode, &frag_index, &frag_offset);
	f.has_fragment = frag_index != 0xFFFFFFFF;
	f.n_blocks = n_stored;
	f.mode = node->inode->base.mode & 0777;
	if (n_stored != (f.has_fragment ? f.size / tw->block_size : (f.size + tw->block_size - 1) / tw->block_size)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "extracting '%s': inode block list is corrupt", rel);
		return FALSE;
	}
	f.path = g_strdup(path);
	f.rel = g_strdup(rel);
	g_array_append_val(tw->files, f);
	return TRUE;
}

static gboolean create_symlink(const sqfs_tree_node_t *node, const gchar *path, const gchar *rel, GError **error)
{
	const sqfs_inode_generic_t *inode = node->inode;
	sqfs_u32 len = inode->base.type == SQFS_INODE_EXT_SLINK ? inode->data.slink_ext.target_size
								 : inode->data.slink.target_size;
	g_autofree gchar *target = NULL;

	if (len > inode->payload_bytes_used) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "extracting '%s': symlink target is corrupt", rel);
		return FALSE;
	}
	target = g_strndup((const gchar *)inode->extra, len);
	if (symlink(target, path) != 0) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot create symlink '%s': %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* Creates directories and symlinks, and lists regular files for the
 * workers. Names are checked so nothing lands outside destdir. */
static gboolean walk_tree(TreeWalk *tw, const sqfs_tree_node_t *dir, const gchar *dir_path, const gchar *dir_rel,
			  GError **error)
{
	for (const sqfs_tree_node_t *n = dir->children; n != NULL; n = n->next) {
		const gchar *name = (const gchar *)n->name;
		g_autofree gchar *path = NULL;
		g_autofree gchar *rel = NULL;
		gboolean ok = TRUE;

		rel = *dir_rel ? g_strconcat(dir_rel, "/", name, NULL) : g_strdup(name);
		if (!rota_is_plain_filename(name)) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID,
				    "refusing to extract unsafe entry name '%s' in '%s'", name, dir_rel);
			return FALSE;
		}
		path = g_build_filename(dir_path, name, NULL);
		if (inode_is_dir(n->inode)) {
			mode_t mode = n->inode->base.mode & 0777;

			ok = create_dest_dir(path, error);
			if (ok) {
				g_ptr_array_add(tw->dirs, g_strdup(path));
				g_array_append_val(tw->dir_modes, mode);
				ok = walk_tree(tw, n, path, rel, error);
			}
		} else if (inode_is_file(n->inode)) {
			ok = add_file(tw, n, path, rel, error);
		} else if (n->inode->base.type == SQFS_INODE_SLINK || n->inode->base.type == SQFS_INODE_EXT_SLINK) {
			ok = create_symlink(n, path, rel, error);
		}
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

static void plan_items(GArray *files, guint32 block_size, GArray *items)
{
	guint32 chunk_blocks = MAX(1u, EXTRACT_CHUNK_BYTES / block_size);
	ExtractItem batch = {.whole_files = TRUE};
	guint64 batch_bytes = 0;

	for (guint i = 0; i < files->len; i++) {
		const ExtractFile *f = &g_array_index(files, ExtractFile, i);

		if (f->n_blocks <= chunk_blocks) {
			if (batch.end_file == batch.first_file)
				batch.first_file = batch.end_file = i;
			batch.end_file = i + 1;
			batch_bytes += f->size;
			if (batch_bytes >= EXTRACT_CHUNK_BYTES || batch.end_file - batch.first_file >= EXTRACT_BATCH_FILES) {
				g_array_append_val(items, batch);
				batch.first_file = batch.end_file;
				batch_bytes = 0;
			}
			continue;
		}
		if (batch.end_file > batch.first_file) {
			g_array_append_val(items, batch);
			batch.first_file = batch.end_file;
			batch_bytes = 0;
		}
		for (guint32 b = 0; b < f->n_blocks; b += chunk_blocks) {
			ExtractItem run = {.first_file = i,
					   .end_file = i + 1,
					   .first_block = b,
					   .end_block = MIN(f->n_blocks, b + chunk_blocks)};
			g_array_append_val(items, run);
		}
	}
	if (batch.end_file > batch.first_file)
		g_array_append_val(items, batch);
}

/* Large files are split across workers, so they must exist at full size
 * before any worker writes into them. */
static gboolean precreate_large_files(Extractor *ex, GError **error)
{
	for (guint i = 0; i < ex->items->len; i++) {
		const ExtractItem *item = &g_array_index(ex->items, ExtractItem, i);
		const ExtractFile *f;
		int fd;

		if (item->whole_files || item->first_block != 0)
			continue;
		f = &g_array_index(ex->files, ExtractFile, item->first_file);
		fd = open_dest(f, TRUE, error);
		if (fd < 0)
			return FALSE;
		if (ftruncate(fd, (off_t)f->size) != 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot resize '%s': %s", f->path,
				    g_strerror(errno));
			close(fd);
			return FALSE;
		}
		close(fd);
	}
	return TRUE;
}

static gboolean run_workers(Extractor *ex, guint n_threads, GError **error)
{
	g_autoptr(GPtrArray) threads = g_ptr_array_new();

	n_threads = MIN(n_threads, MAX(1u, ex->items->len));
	for (guint i = 0; i < n_threads; i++)
		g_ptr_array_add(threads, g_thread_new("rota-unsquash", extract_worker, ex));
	for (guint i = 0; i < threads->len; i++)
		g_thread_join(g_ptr_array_index(threads, i));
	if (ex->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&ex->error));
		return FALSE;
	}
	return TRUE;
}

/* Modes are applied last: a read-only file or directory must not stop us
 * writing into it. Only permission bits: suid/sgid/sticky stay inert, as
 * RAUC mounts bundles nosuid. */
static gboolean apply_modes(Extractor *ex, TreeWalk *tw, GError **error)
{
	for (guint i = 0; i < ex->items->len; i++) {
		const ExtractItem *item = &g_array_index(ex->items, ExtractItem, i);
		const ExtractFile *f = &g_array_index(ex->files, ExtractFile, item->first_file);

		if (item->whole_files || item->first_block != 0)
			continue;
		if (chmod(f->path, f->mode) != 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot chmod '%s': %s", f->path,
				    g_strerror(errno));
			return FALSE;
		}
	}
	for (guint i = tw->dirs->len; i > 0; i--) {
		const gchar *path = g_ptr_array_index(tw->dirs, i - 1);

		if (chmod(path, g_array_index(tw->dir_modes, mode_t, i - 1)) != 0) {
			g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "cannot chmod '%s': %s", path,
				    g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

static sqfs_tree_node_t *read_hierarchy(RotaSquashfs *sqfs, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&sqfs->lock);
	g_autofree gchar *context = g_strdup_printf("%s: reading squashfs directory tree", rota_view_get_name(sqfs->view));
	sqfs_tree_node_t *root = NULL;
	int err;

	err = sqfs_dir_reader_get_full_hierarchy(sqfs->dir, sqfs->ids, NULL,
						 SQFS_TREE_NO_DEVICES | SQFS_TREE_NO_SOCKETS | SQFS_TREE_NO_FIFO,
						 &root);
	if (err != 0) {
		set_read_error(error, sqfs->ctx->file, err, context);
		return NULL;
	}
	return root;
}

typedef sqfs_tree_node_t SqfsTreeNode;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SqfsTreeNode, sqfs_dir_tree_destroy)

gboolean rota_squashfs_extract(RotaSquashfs *sqfs, const gchar *destdir, guint n_threads, GError **error)
{
	g_autoptr(SqfsTreeNode) root = NULL;
	g_autoptr(GArray) files = g_array_new(FALSE, TRUE, sizeof(ExtractFile));
	g_autoptr(GArray) items = g_array_new(FALSE, TRUE, sizeof(ExtractItem));
	g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) dir_modes = g_array_new(FALSE, FALSE, sizeof(mode_t));
	TreeWalk tw = {.destdir = destdir, .block_size = sqfs->super.block_size, .files = files, .dirs = dirs, .dir_modes = dir_modes};
	Extractor ex = {.sqfs = sqfs, .files = files, .items = items};
	mode_t root_mode;
	gboolean ok;

	g_array_set_clear_func(files, extract_file_clear);
	if (g_file_test(destdir, G_FILE_TEST_EXISTS) || g_file_test(destdir, G_FILE_TEST_IS_SYMLINK)) {
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_INVALID, "output directory '%s' exists already", destdir);
		return FALSE;
	}
	root = read_hierarchy(sqfs, error);
	if (root == NULL)
		return FALSE;
	if (!create_dest_dir(destdir, error))
		return FALSE;
	root_mode = root->inode->base.mode & 0777;
	g_ptr_array_add(dirs, g_strdup(destdir));
	g_array_append_val(dir_modes, root_mode);
	if (!walk_tree(&tw, root, destdir, "", error))
		return FALSE;

	plan_items(files, sqfs->super.block_size, items);
	if (!precreate_large_files(&ex, error))
		return FALSE;
	g_mutex_init(&ex.error_lock);
	ok = run_workers(&ex, n_threads ? n_threads : rota_worker_count(), error);
	g_mutex_clear(&ex.error_lock);
	return ok && apply_modes(&ex, &tw, error);
}

gboolean rota_squashfs_copy_file_out(RotaSquashfs *sqfs, const gchar *path, const gchar *dest, int mode,
				     GError **error)
{
	g_autofree guint8 *buf = g_malloc(1 << 20);
	guint64 size = 0;
	int fd;

	if (!rota_squashfs_file_size(sqfs, path, &size, error))
		return FALSE;
	fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, ROTA_ERROR, ROTA_ERROR_IO, "%s: cannot create: %s", dest, g_strerror(err));
		return FALSE;
	}
	for (guint64 off = 0; off < size;) {
		gsize n = (gsize)MIN((guint64)(1 << 20), size - off);
		if (!rota_squashfs_read_file(sqfs, path, off, buf, n, error) || !rota_write_all(fd, buf, n, dest, error)) {
			close(fd);
			unlink(dest);
			return FALSE;
		}
		off += n;
	}
	close(fd);
	return TRUE;
}

typedef struct {
	RotaView base;
	RotaSquashfs *sqfs;
	gchar *path;
	GArray *offsets; /* block_offsets() of the file, owned by sqfs */
} SquashfsFileView;

static gboolean squashfs_file_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	SquashfsFileView *self = (SquashfsFileView *)view;
	return rota_squashfs_read_file(self->sqfs, self->path, off, buf, len, error);
}

static void squashfs_file_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	SquashfsFileView *self = (SquashfsFileView *)view;
	will_read_blocks(self->sqfs, self->offsets, off, len);
}

static void squashfs_file_view_finalize(RotaView *view)
{
	g_free(((SquashfsFileView *)view)->path);
}

static const RotaViewOps squashfs_file_view_ops = {
	.read_at = squashfs_file_view_read_at,
	.finalize = squashfs_file_view_finalize,
	.will_read = squashfs_file_view_will_read,
};

/* ---- raw files: chunks read straight from the image ---- */

typedef struct {
	RotaView base;
	RotaView *image;   /* the squashfs image (the verified payload) */
	guint32 block_size;
	GArray *blocks;    /* guint64 offset in image per data block, G_MAXUINT64 = sparse */
} RawFileView;

static gboolean raw_file_view_read_at(RotaView *view, guint64 off, void *buf, gsize len, GError **error)
{
	RawFileView *self = (RawFileView *)view;
	guint8 *dst = buf;

	while (len > 0) {
		guint64 block = off / self->block_size, in = off % self->block_size;
		gsize n = (gsize)MIN((guint64)len, self->block_size - in);
		guint64 at = g_array_index(self->blocks, guint64, block);

		if (at == G_MAXUINT64)
			memset(dst, 0, n);
		else if (!rota_view_read_at(self->image, at + in, dst, n, error))
			return FALSE;
		dst += n;
		off += n;
		len -= n;
	}
	return TRUE;
}

/* Stored blocks lie back to back (sparse ones take no room): one range. */
static void raw_file_view_will_read(RotaView *view, guint64 off, guint64 len)
{
	RawFileView *self = (RawFileView *)view;
	guint64 first = off / self->block_size, last = (off + len - 1) / self->block_size;
	guint64 start = G_MAXUINT64, stop = 0;

	for (guint64 b = first; b <= last && b < self->blocks->len; b++) {
		guint64 at = g_array_index(self->blocks, guint64, b);
		if (at == G_MAXUINT64)
			continue;
		start = MIN(start, at);
		stop = MAX(stop, at + self->block_size);
	}
	if (stop > start)
		rota_view_will_read(self->image, start, stop - start);
}

static void raw_file_view_finalize(RotaView *view)
{
	RawFileView *self = (RawFileView *)view;
	g_array_unref(self->blocks);
	rota_view_unref(self->image);
}

static const RotaViewOps raw_file_view_ops = {
	.read_at = raw_file_view_read_at,
	.finalize = raw_file_view_finalize,
	.will_read = raw_file_view_will_read,
};

/* Where each block of a file lies in the image, if every block is stored
 * uncompressed and the file has no fragment; NULL otherwise. */
static GArray *raw_block_map(const RotaSquashfs *sqfs, const sqfs_inode_generic_t *inode, GArray *offsets)
{
	size_t count = offsets->len - 1;
	guint64 size = inode_file_size(inode), end;
	sqfs_u32 frag_index = 0xFFFFFFFF, frag_offset = 0;
	g_autoptr(GArray) map = NULL;

	if (sqfs_inode_get_frag_location(inode, &frag_index, &frag_offset) != 0 || frag_index != 0xFFFFFFFF ||
	    (guint64)count != (size + sqfs->super.block_size - 1) / sqfs->super.block_size)
		return NULL;
	map = g_array_sized_new(FALSE, FALSE, sizeof(guint64), (guint)count);
	for (size_t i = 0; i < count; i++) {
		sqfs_u32 stored = inode->extra[i];
		guint64 at = SQFS_IS_SPARSE_BLOCK(stored) ? G_MAXUINT64 : g_array_index(offsets, guint64, i);
		guint64 logical = MIN((guint64)sqfs->super.block_size, size - i * sqfs->super.block_size);

		if (at != G_MAXUINT64 && (SQFS_IS_BLOCK_COMPRESSED(stored) || SQFS_ON_DISK_BLOCK_SIZE(stored) != logical ||
					  !rota_add_u64(at, logical, &end) || end > sqfs->super.bytes_used))
			return NULL;
		g_array_append_val(map, at);
	}
	return g_steal_pointer(&map);
}

RotaView *rota_squashfs_file_view_new(RotaSquashfs *sqfs, const gchar *path, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&sqfs->lock);
	const sqfs_inode_generic_t *inode = lookup_file_locked(sqfs, path, error);
	g_autoptr(GArray) map = NULL;
	SquashfsFileView *self;
	GArray *offsets;

	if (inode == NULL)
		return NULL;
	offsets = offsets_locked(sqfs, path, inode);
	map = raw_block_map(sqfs, inode, offsets);
	if (map) {
		/* A stored-raw file: read exactly the bytes asked, no block decoding. */
		RawFileView *raw = rota_view_alloc(sizeof(RawFileView), &raw_file_view_ops, inode_file_size(inode), path);
		raw->image = rota_view_ref(sqfs->view);
		raw->block_size = sqfs->super.block_size;
		raw->blocks = g_steal_pointer(&map);
		return &raw->base;
	}
	self = rota_view_alloc(sizeof(SquashfsFileView), &squashfs_file_view_ops, inode_file_size(inode), path);
	self->sqfs = sqfs;
	self->path = g_strdup(path);
	self->offsets = offsets;
	return &self->base;
}
