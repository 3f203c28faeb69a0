#ifndef ENGRAM_SCOPED_H
#define ENGRAM_SCOPED_H

#include <sqlite3.h>

/// Registers the `engram` tokenizer (scoped.c) with FTS5.
int engram_scoped_tokenizer_register(fts5_api *api);

#endif
