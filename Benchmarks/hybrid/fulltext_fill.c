// What the full-text index costs to fill, per tokenizer: FTS5 `rebuild` of Engram's index layout from
// the memories of a store, with plain `porter unicode61`, with the `engram` tokenizer and one scope for
// every memory (each word indexed twice, no more distinct terms), and with the `engram` tokenizer and
// each memory's own namespace (what Engram does). Run it on a copy of a store's memories.sqlite: it
// creates and drops a table `fill_probe` and a view `fill_source` in that file.
//
//     fulltext_fill DATABASE [ROUNDS]
//
// Prints the median seconds per rebuild for each, and the index's size in the last.

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cfulltext.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int ascending(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int run(sqlite3 *db, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "%s\n  in: %s\n", error, sql);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fulltext_fill DATABASE [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (rounds < 1 || rounds > 64) rounds = 3;
    sqlite3 *db = NULL;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK || engram_fulltext_register(db) != 0) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    // The fill alone: no journal, no sync.
    if (run(db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")) return 1;
    static const struct {
        const char *label, *scope, *tokenizer;
    } variants[] = {
        {"porter unicode61", "''", "porter unicode61"},
        {"engram, one scope for all", "char(30) || 'x' || char(31)", "engram porter unicode61"},
        {"engram, each memory's namespace", "char(30) || scope_terms || char(31)", "engram porter unicode61"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char setup[1024], build[512];
        snprintf(setup, sizeof setup,
                 "DROP TABLE IF EXISTS fill_probe; DROP VIEW IF EXISTS fill_source;"
                 "CREATE VIEW fill_source(rowid, content, cause, outcome, tags, scope_terms) AS SELECT rowid,"
                 " %s || content, %s || cause, %s || outcome, %s || tags, scope_terms FROM memory;",
                 variants[v].scope, variants[v].scope, variants[v].scope, variants[v].scope);
        snprintf(build, sizeof build,
                 "CREATE VIRTUAL TABLE fill_probe USING fts5(content, cause, outcome, tags, scope_terms,"
                 " content='fill_source', content_rowid='rowid', tokenize='%s');"
                 "INSERT INTO fill_probe(fill_probe) VALUES ('rebuild');",
                 variants[v].tokenizer);
        double times[64];
        for (int r = 0; r < rounds; r++) {
            if (run(db, setup)) return 1;
            double start = seconds();
            if (run(db, build)) return 1;
            times[r] = seconds() - start;
        }
        qsort(times, (size_t)rounds, sizeof(double), ascending);
        sqlite3_stmt *size = NULL;
        long long bytes = 0;
        if (sqlite3_prepare_v2(db, "SELECT sum(length(block)) FROM fill_probe_data", -1, &size, NULL) == SQLITE_OK &&
            sqlite3_step(size) == SQLITE_ROW)
            bytes = sqlite3_column_int64(size, 0);
        sqlite3_finalize(size);
        printf("%-34s %.2f s median of %d, index %.1f MB\n", variants[v].label, times[rounds / 2], rounds,
               (double)bytes / 1e6);
    }
    run(db, "DROP TABLE IF EXISTS fill_probe; DROP VIEW IF EXISTS fill_source;");
    sqlite3_close(db);
    return 0;
}
