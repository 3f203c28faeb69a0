// The `engram` FTS5 tokenizer: another tokenizer (porter over unicode61 in Engram's schema) that also
// indexes every word under its memory's namespace.
//
// A keyword query restricted to one small namespace otherwise ANDs a namespace term into its MATCH, and
// FTS5 still walks the whole doclist of every query word and of the namespace term: tens of microseconds
// for a namespace of a hundredth of a 100k store, whatever the namespace's size. With this tokenizer a
// column value that starts with a scope marker, SCOPE_START scope SCOPE_END text, is indexed as text and,
// at the same position (FTS5_TOKEN_COLOCATED, as synonyms are), as scope SCOPE_END word for every word.
// A query phrase with the same marker finds only that scope's rows, from doclists as short as the scope.
// Colocated tokens do not count toward a column's length, so bm25 sees the same numbers either way.

#include "scoped.h"

#include <sqlite3.h>
#include <string.h>

#define SCOPE_START '\x1e'
#define SCOPE_END '\x1f'
// A scope is `FullText.namespaceTerm`, 22 bytes; anything longer is not a marker.
#define SCOPE_MAX 64

typedef struct {
    fts5_tokenizer wrapped;
    Fts5Tokenizer *instance;
} Scoped;

typedef struct {
    void *context;
    int (*emit)(void *, int, const char *, int, int, int);
    const char *scope;
    int scopeLength;
    int shift;  // the marker's length: offsets are reported in the whole value
    int document;
    char buffer[SCOPE_MAX + 1 + 256];
} Emitter;

static int scopedCreate(void *context, const char **arguments, int count, Fts5Tokenizer **out) {
    fts5_api *api = context;
    if (count < 1) return SQLITE_ERROR;
    Scoped *scoped = sqlite3_malloc(sizeof(Scoped));
    if (!scoped) return SQLITE_NOMEM;
    memset(scoped, 0, sizeof(Scoped));
    void *wrappedContext = NULL;
    int rc = api->xFindTokenizer(api, arguments[0], &wrappedContext, &scoped->wrapped);
    if (rc == SQLITE_OK) rc = scoped->wrapped.xCreate(wrappedContext, &arguments[1], count - 1, &scoped->instance);
    if (rc != SQLITE_OK) {
        sqlite3_free(scoped);
        return rc;
    }
    *out = (Fts5Tokenizer *)scoped;
    return SQLITE_OK;
}

static void scopedDelete(Fts5Tokenizer *tokenizer) {
    Scoped *scoped = (Scoped *)tokenizer;
    if (scoped->instance) scoped->wrapped.xDelete(scoped->instance);
    sqlite3_free(scoped);
}

/// Each token of the wrapped tokenizer: in a document the token, then the scoped token at its position;
/// in a query only the scoped token.
static int emitScoped(void *context, int flags, const char *token, int length, int start, int end) {
    Emitter *e = context;
    start += e->shift;
    end += e->shift;
    if (e->document) {
        int rc = e->emit(e->context, flags, token, length, start, end);
        if (rc != SQLITE_OK) return rc;
        flags = FTS5_TOKEN_COLOCATED;
    }
    int total = e->scopeLength + 1 + length;
    char *scoped = total <= (int)sizeof e->buffer ? e->buffer : sqlite3_malloc(total);
    if (!scoped) return SQLITE_NOMEM;
    memcpy(scoped, e->scope, (size_t)e->scopeLength);
    scoped[e->scopeLength] = SCOPE_END;
    memcpy(scoped + e->scopeLength + 1, token, (size_t)length);
    int rc = e->emit(e->context, flags, scoped, total, start, end);
    if (scoped != e->buffer) sqlite3_free(scoped);
    return rc;
}

/// Every token of the wrapped tokenizer, offsets moved past the marker (auxiliary functions' view).
static int emitShifted(void *context, int flags, const char *token, int length, int start, int end) {
    Emitter *e = context;
    return e->emit(e->context, flags, token, length, start + e->shift, end + e->shift);
}

static int scopedTokenize(
    Fts5Tokenizer *tokenizer, void *context, int flags, const char *text, int length,
    int (*emit)(void *, int, const char *, int, int, int)
) {
    Scoped *scoped = (Scoped *)tokenizer;
    int end = -1;
    if (length > 1 && text[0] == SCOPE_START) {
        for (int i = 1; i < length && i <= SCOPE_MAX + 1; i++) {
            if (text[i] == SCOPE_END) {
                end = i;
                break;
            }
        }
    }
    if (end < 0) return scoped->wrapped.xTokenize(scoped->instance, context, flags, text, length, emit);
    Emitter e = {
        .context = context, .emit = emit, .scope = text + 1, .scopeLength = end - 1, .shift = end + 1,
        .document = (flags & FTS5_TOKENIZE_DOCUMENT) != 0,
    };
    // Auxiliary functions (highlight, snippet) see the text alone.
    return scoped->wrapped.xTokenize(
        scoped->instance, &e, flags, text + e.shift, length - e.shift,
        (flags & FTS5_TOKENIZE_AUX) ? emitShifted : emitScoped);
}

int engram_scoped_tokenizer_register(fts5_api *api) {
    fts5_tokenizer tokenizer = {scopedCreate, scopedDelete, scopedTokenize};
    return api->xCreateTokenizer(api, "engram", api, &tokenizer, NULL);
}
