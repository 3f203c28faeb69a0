// The cost of Engram's keyword statement alone, in SQLite, with no Swift, GRDB or record reading around it:
// the same SELECT as `RecordStore.keywordMatches` (FTS5 MATCH joined to the memory table, scored by
// Sources/CFullText's `engram_bm25`, ORDER BY score), every row stepped and every column read.
// Document frequencies are passed as a constant (they change the scores, not the work).
//
// Build and run through `hybrid_latency.py --sql`, which writes the MATCH expressions Engram would
// write for its queries, whole-store and restricted to the namespace, one per line:
//
//     keyword_sql DATABASE PATTERNS [ROUNDS]
//
// Prints the median time per statement over all patterns and rounds, in microseconds.

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfulltext.h"

static const char *statementSQL =
    "SELECT memory.slot, memory.rowid, engram_bm25(memory_fts, ?1, 1.0, 1.0, 1.0, 1.0, 0.0) AS score "
    "FROM memory_fts JOIN memory ON memory.rowid = memory_fts.rowid WHERE memory_fts MATCH ?2 ORDER BY score";

static double microseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int ascending(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: keyword_sql DATABASE PATTERNS [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    // As Engram's connections: the ranking function, reads through a mapping.
    if (engram_fulltext_register(db) != 0 || sqlite3_exec(db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL)) {
        fprintf(stderr, "cannot set up the connection: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    FILE *file = fopen(argv[2], "r");
    if (!file) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    size_t count = 0, capacity = 256;
    char **patterns = malloc(capacity * sizeof(char *));
    char line[4096];
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = 0;
        if (count == capacity) patterns = realloc(patterns, (capacity *= 2) * sizeof(char *));
        patterns[count++] = strdup(line);
    }
    fclose(file);

    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, statementSQL, -1, &statement, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot prepare: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    long long frequencies[64];
    for (int i = 0; i < 64; i++) frequencies[i] = 1000;
    double *times = malloc(count * (size_t)rounds * sizeof(double));
    long rows = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < count; i++) {
            double start = microseconds();
            sqlite3_bind_blob(statement, 1, frequencies, sizeof frequencies, SQLITE_STATIC);
            sqlite3_bind_text(statement, 2, patterns[i], -1, SQLITE_STATIC);
            while (sqlite3_step(statement) == SQLITE_ROW) {
                rows++;
                for (int c = 0; c < 3; c++) sqlite3_column_value(statement, c);
            }
            if (sqlite3_reset(statement) != SQLITE_OK) {
                fprintf(stderr, "query failed: %s\n", sqlite3_errmsg(db));
                return 1;
            }
            times[(size_t)r * count + i] = microseconds() - start;
        }
    }
    size_t total = count * (size_t)rounds;
    qsort(times, total, sizeof(double), ascending);
    printf("%.1f us median, %.1f rows per statement, %zu statements\n", times[total / 2], (double)rows / (double)total,
           total);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return 0;
}
