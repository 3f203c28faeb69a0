#include "sqlite_shim.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

typedef struct {
    sqlite3_file base;
    int64_t handle;  // 0: a file without a name (temporary), not reported
    int directory_sync_pending;
    char directory[512];
    sqlite3_file *real;
} ShimFile;

static sqlite3_vfs shim_vfs;
static sqlite3_vfs *real_vfs;
static shim_hooks hooks;
static atomic_llong next_handle = 1;

static int failure(int err, int io_error) { return err == ENOSPC ? SQLITE_FULL : io_error; }

static int check(int call, const char *path, int64_t handle) {
    return hooks.before ? hooks.before(call, path, handle) : 0;
}

static void directory_of(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= size) n = size - 1;
    memcpy(out, path, n);
    out[n] = 0;
    if (n == 0) strcpy(out, slash ? "/" : ".");
}

// MARK: file methods

static int shim_close(sqlite3_file *file) {
    ShimFile *f = (ShimFile *)file;
    if (f->handle && hooks.closed) hooks.closed(f->handle);
    return f->real->pMethods->xClose(f->real);
}

static int shim_read(sqlite3_file *file, void *buffer, int count, sqlite3_int64 offset) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xRead(f->real, buffer, count, offset);
}

static int shim_write(sqlite3_file *file, const void *bytes, int count, sqlite3_int64 offset) {
    ShimFile *f = (ShimFile *)file;
    if (f->handle) {
        int err = check(SHIM_CALL_WRITE, NULL, f->handle);
        if (err) return failure(err, SQLITE_IOERR_WRITE);
    }
    int rc = f->real->pMethods->xWrite(f->real, bytes, count, offset);
    if (rc == SQLITE_OK && f->handle && hooks.wrote) hooks.wrote(f->handle, bytes, count, offset);
    return rc;
}

static int shim_truncate(sqlite3_file *file, sqlite3_int64 size) {
    ShimFile *f = (ShimFile *)file;
    if (f->handle) {
        int err = check(SHIM_CALL_TRUNCATE, NULL, f->handle);
        if (err) return failure(err, SQLITE_IOERR_TRUNCATE);
    }
    int rc = f->real->pMethods->xTruncate(f->real, size);
    if (rc == SQLITE_OK && f->handle && hooks.truncated) hooks.truncated(f->handle, size);
    return rc;
}

// The unix VFS also syncs the directory on the first sync of a journal or WAL it created (so that
// the file's name survives a power cut); the hooks hear of that as a directory sync.
static int shim_sync(sqlite3_file *file, int flags) {
    ShimFile *f = (ShimFile *)file;
    if (f->handle) {
        int err = check(SHIM_CALL_SYNC, NULL, f->handle);
        if (err) return failure(err, SQLITE_IOERR_FSYNC);
    }
    int rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK && f->handle) {
        if (hooks.synced) hooks.synced(f->handle);
        if (f->directory_sync_pending) {
            f->directory_sync_pending = 0;
            if (hooks.synced_directory) hooks.synced_directory(f->directory);
        }
    }
    return rc;
}

static int shim_file_size(sqlite3_file *file, sqlite3_int64 *size) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int shim_lock(sqlite3_file *file, int level) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int shim_unlock(sqlite3_file *file, int level) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int shim_check_reserved_lock(sqlite3_file *file, int *out) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int shim_file_control(sqlite3_file *file, int op, void *arg) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int shim_sector_size(sqlite3_file *file) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int shim_device_characteristics(sqlite3_file *file) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int shim_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}

static int shim_shm_lock(sqlite3_file *file, int offset, int n, int flags) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *file) {
    ShimFile *f = (ShimFile *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int shim_shm_unmap(sqlite3_file *file, int delete_flag) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int shim_fetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **out) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xFetch(f->real, offset, amount, out);
}

static int shim_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
    ShimFile *f = (ShimFile *)file;
    return f->real->pMethods->xUnfetch(f->real, offset, page);
}

static const sqlite3_io_methods shim_methods = {
    3, shim_close, shim_read, shim_write, shim_truncate, shim_sync, shim_file_size, shim_lock, shim_unlock,
    shim_check_reserved_lock, shim_file_control, shim_sector_size, shim_device_characteristics, shim_shm_map,
    shim_shm_lock, shim_shm_barrier, shim_shm_unmap, shim_fetch, shim_unfetch,
};

// MARK: VFS methods

static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags) {
    (void)vfs;
    ShimFile *f = (ShimFile *)file;
    memset(f, 0, sizeof(ShimFile));
    f->real = (sqlite3_file *)(f + 1);
    int created = 0;
    if (name) {
        int exists = 0;
        if (real_vfs->xAccess(real_vfs, name, SQLITE_ACCESS_EXISTS, &exists) != SQLITE_OK) exists = 0;
        created = !exists && (flags & SQLITE_OPEN_CREATE);
        if (created) {
            int err = check(SHIM_CALL_CREATE, name, 0);
            if (err) return failure(err, SQLITE_CANTOPEN);
        }
    }
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->base.pMethods = NULL;  // SQLite does not call xClose on a file whose open failed
        return rc;
    }
    f->base.pMethods = &shim_methods;
    if (name) {
        f->handle = -(int64_t)atomic_fetch_add(&next_handle, 1);
        int journal = flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL);
        f->directory_sync_pending = journal && (flags & SQLITE_OPEN_CREATE);
        directory_of(name, f->directory, sizeof f->directory);
        if (hooks.opened) hooks.opened(name, f->handle, created);
    }
    return SQLITE_OK;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int sync_directory) {
    (void)vfs;
    int err = check(SHIM_CALL_UNLINK, name, 0);
    if (err) return failure(err, SQLITE_IOERR_DELETE);
    int rc = real_vfs->xDelete(real_vfs, name, sync_directory);
    if (rc == SQLITE_OK) {
        if (hooks.unlinked) hooks.unlinked(name);
        if (sync_directory && hooks.synced_directory) {
            char directory[512];
            directory_of(name, directory, sizeof directory);
            hooks.synced_directory(directory);
        }
    }
    return rc;
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, size, out);
}

static void *shim_dl_open(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void shim_dl_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    real_vfs->xDlError(real_vfs, size, out);
}

static void (*shim_dl_sym(sqlite3_vfs *vfs, void *library, const char *symbol))(void) {
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, library, symbol);
}

static void shim_dl_close(sqlite3_vfs *vfs, void *library) {
    (void)vfs;
    real_vfs->xDlClose(real_vfs, library);
}

static int shim_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, size, out);
}

static int shim_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return real_vfs->xSleep(real_vfs, microseconds);
}

static int shim_current_time(sqlite3_vfs *vfs, double *out) {
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int shim_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, size, out);
}

static int shim_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int shim_install(const shim_hooks *new_hooks) {
    hooks = *new_hooks;
    if (real_vfs) return SQLITE_OK;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs) return SQLITE_ERROR;
    memset(&shim_vfs, 0, sizeof shim_vfs);
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = (int)sizeof(ShimFile) + real_vfs->szOsFile;
    shim_vfs.mxPathname = real_vfs->mxPathname;
    shim_vfs.zName = "engram-shim";
    shim_vfs.xOpen = shim_open;
    shim_vfs.xDelete = shim_delete;
    shim_vfs.xAccess = shim_access;
    shim_vfs.xFullPathname = shim_full_pathname;
    shim_vfs.xDlOpen = shim_dl_open;
    shim_vfs.xDlError = shim_dl_error;
    shim_vfs.xDlSym = shim_dl_sym;
    shim_vfs.xDlClose = shim_dl_close;
    shim_vfs.xRandomness = shim_randomness;
    shim_vfs.xSleep = shim_sleep;
    shim_vfs.xCurrentTime = shim_current_time;
    shim_vfs.xGetLastError = shim_get_last_error;
    shim_vfs.xCurrentTimeInt64 = shim_current_time_int64;
    return sqlite3_vfs_register(&shim_vfs, 1);
}
