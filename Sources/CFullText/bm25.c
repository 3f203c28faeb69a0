// BM25 over FTS5 with document frequencies supplied by the caller.
//
// FTS5's bm25() computes each phrase's document frequency with xQueryPhrase, which reads the phrase's
// whole doclist, on every query. A query restricted to a small namespace then still pays for the whole
// table. Engram caches the frequencies per database commit and passes them in; the per-row arithmetic
// below is bm25()'s, term for term, so the scores are the same numbers.

#include "cfulltext.h"
#include "scoped.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

/// What one query needs for every row: set up on its first row, kept as the query's auxiliary data.
typedef struct {
    int phrases;
    double averageLength;
    double *idf;         // one per phrase of the query; 0 for phrases past the caller's blob
    double *frequency;   // scratch: the weighted count of each phrase in the current row
} QueryData;

static const double k1 = 1.2;
static const double b = 0.75;

static int queryData(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_value *counts, QueryData **out) {
    QueryData *data = api->xGetAuxdata(fts, 0);
    if (data) {
        *out = data;
        return SQLITE_OK;
    }
    int phrases = api->xPhraseCount(fts);
    sqlite3_int64 rows = 0, tokens = 0;
    int rc = api->xRowCount(fts, &rows);
    if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
    if (rc != SQLITE_OK) return rc;

    size_t bytes = sizeof(QueryData) + sizeof(double) * 2 * (size_t)phrases;
    data = sqlite3_malloc64(bytes);
    if (!data) return SQLITE_NOMEM;
    memset(data, 0, bytes);
    data->phrases = phrases;
    data->idf = (double *)&data[1];
    data->frequency = &data->idf[phrases];
    // As bm25(): the average is over at least one row, and an IDF at or below 0 becomes 1e-6.
    data->averageLength = (double)tokens / (double)(rows > 0 ? rows : 1);

    const unsigned char *blob = sqlite3_value_blob(counts);
    int given = sqlite3_value_bytes(counts) / 8;
    for (int i = 0; i < phrases && i < given; i++) {
        uint64_t bits = 0;
        for (int byte = 7; byte >= 0; byte--) bits = (bits << 8) | blob[i * 8 + byte];
        double hits = (double)(int64_t)bits;
        double idf = log(((double)rows - hits + 0.5) / (hits + 0.5));
        data->idf[i] = idf <= 0.0 ? 1e-6 : idf;
    }
    rc = api->xSetAuxdata(fts, data, sqlite3_free);
    if (rc != SQLITE_OK) return rc;  // xSetAuxdata freed it
    *out = data;
    return SQLITE_OK;
}

static void engramBM25(
    const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *context, int count, sqlite3_value **values
) {
    if (count < 1) {
        sqlite3_result_error(context, "engram_bm25 needs the document frequencies", -1);
        return;
    }
    QueryData *data = NULL;
    int rc = queryData(api, fts, values[0], &data);
    int instances = 0;
    if (rc == SQLITE_OK) rc = api->xInstCount(fts, &instances);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(context, rc);
        return;
    }
    memset(data->frequency, 0, sizeof(double) * (size_t)data->phrases);
    for (int i = 0; i < instances; i++) {
        int phrase = 0, column = 0, offset = 0;
        rc = api->xInst(fts, i, &phrase, &column, &offset);
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(context, rc);
            return;
        }
        double weight = column + 1 < count ? sqlite3_value_double(values[column + 1]) : 1.0;
        data->frequency[phrase] += weight;
    }
    int length = 0;
    rc = api->xColumnSize(fts, -1, &length);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(context, rc);
        return;
    }
    double score = 0.0;
    for (int i = 0; i < data->phrases; i++) {
        double f = data->frequency[i];
        double num = f * (k1 + 1.0);
        double denom = f + k1 * (1 - b + b * (double)length / data->averageLength);
        score += data->idf[i] * (num / denom);
    }
    sqlite3_result_double(context, -1.0 * score);
}

int engram_fulltext_register(void *db) {
    fts5_api *api = NULL;
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2((sqlite3 *)db, "SELECT fts5(?1)", -1, &statement, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_pointer(statement, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(statement);
    rc = sqlite3_finalize(statement);
    if (rc != SQLITE_OK) return rc;
    if (!api || api->iVersion < 2) return SQLITE_ERROR;
    rc = api->xCreateFunction(api, "engram_bm25", NULL, engramBM25, NULL);
    return rc == SQLITE_OK ? engram_scoped_tokenizer_register(api) : rc;
}
