// A SQLite VFS that wraps the default one and reports every call that changes a file to hooks, which
// may fail it: the tests' I/O-error injection and power-cut recorder see SQLite's writes as they see
// Engram's own (see FileIO in the Engram module).
#ifndef ENGRAM_SQLITE_SHIM_H
#define ENGRAM_SQLITE_SHIM_H

#include <stdint.h>

// The calls a hook can fail; the same numbers as FileIO.Call's raw values.
enum {
    SHIM_CALL_CREATE = 0,
    SHIM_CALL_WRITE = 1,
    SHIM_CALL_TRUNCATE = 2,
    SHIM_CALL_SYNC = 3,
    SHIM_CALL_RENAME = 4,
    SHIM_CALL_UNLINK = 5,
    SHIM_CALL_SYNC_DIRECTORY = 6,
    SHIM_CALL_MAP = 7,
};

// Files are named by a handle, negative so that it never equals a file descriptor of Engram's own.
typedef struct {
    // Before a call: 0 lets it run, an errno fails it (ENOSPC as SQLITE_FULL, anything else as an I/O error).
    // `path` is set for create and unlink, `handle` for the calls on an open file.
    int (*before)(int call, const char *path, int64_t handle);
    // After a call succeeded.
    void (*opened)(const char *path, int64_t handle, int created);
    void (*wrote)(int64_t handle, const void *bytes, int count, int64_t offset);
    void (*truncated)(int64_t handle, int64_t length);
    void (*synced)(int64_t handle);
    void (*unlinked)(const char *path);
    void (*synced_directory)(const char *path);
    void (*closed)(int64_t handle);
} shim_hooks;

// Registers the shim as SQLite's default VFS (once; later calls only replace the hooks). Connections
// opened from then on go through it. Returns a SQLite result code.
int shim_install(const shim_hooks *hooks);

#endif
