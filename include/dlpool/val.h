/*
 * dlpool/val.h - structured values: null, booleans, numbers, strings,
 * bytes, lists and maps, nested to any combination.
 *
 * A dlp_val is the C side of the signature language's `val` type, and what
 * a channel between processes carries (dlp_chan_send).  Every dlp_val is a
 * tree of malloc'd nodes: the node that owns a subtree frees it.  The
 * layout below is public and stable, so reading a value needs no call; the
 * functions build, look up, copy and free.
 *
 * A plugin that uses these functions calls into libdlpool: link it with
 * `pkg-config --libs dlpool` (the library is already loaded in every
 * worker, so no second copy is made).  A plugin that only has scalar,
 * string and array arguments needs no library at all.
 *
 * Thread-safety: the functions keep no state; a value may be read from
 * several threads at once, and written by one at a time.
 */
#ifndef DLPOOL_VAL_H
#define DLPOOL_VAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DLP_API
#if defined(__GNUC__) && defined(DLP_BUILDING_LIBRARY)
#define DLP_API __attribute__((visibility("default")))
#else
#define DLP_API
#endif
#endif

/* The kinds of value.  Values are part of the ABI.  An integer is INT when
 * it fits in int64_t and UINT only above INT64_MAX, so every integer has
 * one representation. */
typedef enum dlp_val_kind {
    DLP_V_NULL = 0,
    DLP_V_BOOL,
    DLP_V_INT,
    DLP_V_UINT,
    DLP_V_FLOAT,
    DLP_V_STR,   /* text; may hold any bytes, always NUL-terminated */
    DLP_V_BYTES, /* binary; NUL-terminated too, for convenience */
    DLP_V_LIST,
    DLP_V_MAP /* string keys, in insertion order */
} dlp_val_kind;

/* Values nest at most this deep: every node counts, scalars too, so an
 * int in a list is depth 2, and 63 lists around an int is the deepest
 * value.  Deeper values are refused when they cross a process boundary
 * (as arguments, results, or over a channel), and by the command's JSON
 * input.  In memory any depth works: a push cannot see how deep its list
 * already is inside others, so the functions here that walk a value
 * (free, copy, equal, the cycle check of push and set) do not recurse. */
#define DLP_VAL_MAX_DEPTH 64

typedef struct dlp_val dlp_val;

struct dlp_val {
    dlp_val_kind kind;
    union {
        bool b;     /* BOOL */
        int64_t i;  /* INT */
        uint64_t u; /* UINT */
        double f;   /* FLOAT */
        struct {
            char *ptr; /* NUL-terminated */
            size_t len;
        } s; /* STR, BYTES */
        struct {
            dlp_val **items;
            char **keys; /* MAP only: keys[i] names items[i]; NULL for LIST */
            size_t len, cap;
        } c; /* LIST, MAP */
    } v;
};

/*
 * Constructors.  Each returns a new value (free it with dlp_val_free, or
 * hand it to a list or map, which then owns it), or NULL when out of
 * memory.  dlp_val_str and dlp_val_bytes copy len bytes (s may be NULL
 * when len is 0); dlp_val_cstr copies a NUL-terminated string.
 */
DLP_API dlp_val *dlp_val_null(void);
DLP_API dlp_val *dlp_val_bool(bool b);
DLP_API dlp_val *dlp_val_int(int64_t i);
/* INT when u fits in int64_t, UINT otherwise. */
DLP_API dlp_val *dlp_val_uint(uint64_t u);
DLP_API dlp_val *dlp_val_float(double f);
DLP_API dlp_val *dlp_val_str(const char *s, size_t len);
DLP_API dlp_val *dlp_val_cstr(const char *s);
DLP_API dlp_val *dlp_val_bytes(const void *p, size_t len);
/* An empty list, an empty map. */
DLP_API dlp_val *dlp_val_list(void);
DLP_API dlp_val *dlp_val_map(void);

/*
 * Append item to a list.  The list takes item, also on failure (then item
 * is freed): so `dlp_val_push(l, dlp_val_int(1))` never leaks.  Returns 0,
 * DLP_EINVAL (list is not a list, or item is NULL) or -ENOMEM.
 *
 * A value is a tree: item may not be list itself nor hold it anywhere
 * (l pushed into l, or into a list inside l).  Such a push returns
 * DLP_EINVAL and frees nothing: item stays the caller's.  Looking for
 * list walks item, so the cost of a push grows with the size of item.
 * The walk needs memory only for an item nested deeper than
 * DLP_VAL_MAX_DEPTH; if it gets none, -ENOMEM, and item stays the
 * caller's too.
 */
DLP_API int dlp_val_push(dlp_val *list, dlp_val *item);

/*
 * Set key (a NUL-terminated string, copied) to item in a map, replacing
 * (and freeing) the value the key had.  The map takes item, also on
 * failure.  Returns 0, DLP_EINVAL or -ENOMEM.  Looking a key up is linear
 * in the number of keys: maps are records, not hash tables.  An item that
 * is map or holds it is refused as dlp_val_push refuses one.
 */
DLP_API int dlp_val_set(dlp_val *map, const char *key, dlp_val *item);

/* Number of items of a list or map; 0 for any other kind or NULL. */
DLP_API size_t dlp_val_len(const dlp_val *v);
/* Item i of a list or map (borrowed), or NULL when out of range. */
DLP_API const dlp_val *dlp_val_at(const dlp_val *v, size_t i);
/* Key i of a map (borrowed), or NULL. */
DLP_API const char *dlp_val_key(const dlp_val *v, size_t i);
/* The value of key in a map (borrowed), or NULL when it has none. */
DLP_API const dlp_val *dlp_val_get(const dlp_val *map, const char *key);

/* The value as an int64_t: true for INT, and for UINT up to INT64_MAX. */
DLP_API bool dlp_val_as_int(const dlp_val *v, int64_t *out);
/* The value as a double: true for INT, UINT and FLOAT. */
DLP_API bool dlp_val_as_double(const dlp_val *v, double *out);

/* A deep copy (new value), or NULL when out of memory or v is NULL.  Any
 * depth. */
DLP_API dlp_val *dlp_val_copy(const dlp_val *v);
/* Deep equality: same kinds, same contents, maps with the same keys in
 * the same order.  1.0 and 1 differ (FLOAT and INT).  Values nested
 * deeper than DLP_VAL_MAX_DEPTH need memory to compare: without it, false. */
DLP_API bool dlp_val_equal(const dlp_val *a, const dlp_val *b);
/* The name of a kind ("list"); static. */
DLP_API const char *dlp_val_kind_name(dlp_val_kind kind);
/* Free a value and everything in it, at any depth, without needing
 * memory.  Accepts NULL. */
DLP_API void dlp_val_free(dlp_val *v);

/* ---- channels --------------------------------------------------------
 *
 * A channel is one end of a duplex connection between two processes
 * (Python's Pipe()), carrying values.  A process started with
 * dlp_process_start() runs a plugin function of signature "i32(chan)" that
 * receives its end; the starter gets the other end from dlp_process_chan().
 * Each end is used by one thread at a time.
 */
typedef struct dlp_chan dlp_chan;

/* Send a copy of v.  Returns 0, or a negative code: -EPIPE when the other
 * end is closed, DLP_ETOOBIG past 1 GiB or DLP_VAL_MAX_DEPTH levels. */
DLP_API int dlp_chan_send(dlp_chan *c, const dlp_val *v);

/* Wait for the next value: 1 and *out (new, free it with dlp_val_free),
 * 0 at end of file (the other end closed, or its process ended), or a
 * negative code (DLP_EPROTO for a malformed message). */
DLP_API int dlp_chan_recv(dlp_chan *c, dlp_val **out);

/* Close this end for sending: the other end reads end of file once it has
 * read every value sent before.  Receiving still works.  Returns 0. */
DLP_API int dlp_chan_close(dlp_chan *c);

#ifdef __cplusplus
}
#endif
#endif /* DLPOOL_VAL_H */
