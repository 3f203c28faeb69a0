#ifndef ENGRAM_CFULLTEXT_H
#define ENGRAM_CFULLTEXT_H

/// Registers the FTS5 auxiliary function `engram_bm25` and the FTS5 tokenizer `engram` (scoped.c: another
/// tokenizer that also indexes each word under a scope given in front of the text) on one SQLite
/// connection (a `sqlite3 *`). Returns an SQLite result code.
///
/// `engram_bm25(fts_table, frequencies, w0, w1, ...)` is FTS5's own `bm25()` (k1 = 1.2, b = 0.75, the
/// same inverse document frequency and length normalisation, per-column weights), except that the
/// document frequency of each leading phrase of the query comes from `frequencies`, a blob of
/// little-endian 64-bit counts, instead of a walk of that phrase's whole doclist on every query. Phrases
/// past the blob score 0 (the caller uses them only to restrict the match). Like `bm25()`, the result is
/// negated: smaller is better.
int engram_fulltext_register(void *db);

#endif
