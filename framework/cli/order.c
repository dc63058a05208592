/*
 * order.c - part of the dlpool command (framework/cli/main.c): the tasks
 * in flight and the lines held for their turn.  See order.h.
 */
#include "config.h"

#include <stdlib.h>

#include "order.h"

#define FL_EMPTY UINT64_MAX

static size_t fl_home(uint64_t k, size_t mask)
{
    return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

int order_track(order *o, uint64_t pool, uint64_t input, uint64_t hash)
{
    size_t i;
    if ((o->fl_n + 1) * 2 > o->fl_cap) {
        size_t cap = o->fl_cap ? o->fl_cap * 2 : 1024;
        flight *t = malloc(cap * sizeof *t);
        if (!t)
            return -1;
        for (i = 0; i < cap; i++)
            t[i].pool = FL_EMPTY;
        for (size_t k = 0; k < o->fl_cap; k++) {
            if (o->fl[k].pool == FL_EMPTY)
                continue;
            for (i = fl_home(o->fl[k].pool, cap - 1); t[i].pool != FL_EMPTY;
                 i = (i + 1) & (cap - 1))
                ;
            t[i] = o->fl[k];
        }
        free(o->fl);
        o->fl = t;
        o->fl_cap = cap;
    }
    for (i = fl_home(pool, o->fl_cap - 1); o->fl[i].pool != FL_EMPTY;
         i = (i + 1) & (o->fl_cap - 1))
        ;
    o->fl[i] = (flight){pool, input, hash};
    o->fl_n++;
    return 0;
}

/* Deleted by shifting the entries after it back, so no tombstones pile
 * up. */
int order_untrack(order *o, uint64_t pool, flight *out)
{
    size_t mask = o->fl_cap - 1, i, j;
    if (!o->fl_cap)
        return 0;
    for (i = fl_home(pool, mask); o->fl[i].pool != pool; i = (i + 1) & mask)
        if (o->fl[i].pool == FL_EMPTY)
            return 0;
    *out = o->fl[i];
    o->fl_n--;
    for (;;) {
        o->fl[i].pool = FL_EMPTY;
        for (j = i;;) {
            size_t h;
            j = (j + 1) & mask;
            if (o->fl[j].pool == FL_EMPTY)
                return 1;
            h = fl_home(o->fl[j].pool, mask);
            /* The entry at j may fill the hole at i only if its home is
             * not cyclically within (i, j]. */
            if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
                continue;
            o->fl[i] = o->fl[j];
            i = j;
            break;
        }
    }
}

int order_hold(order *o, held h)
{
    size_t i;
    if (o->heap_n == o->heap_cap) {
        size_t cap = o->heap_cap ? o->heap_cap * 2 : 64;
        held *t = realloc(o->heap, cap * sizeof *t);
        if (!t)
            return -1;
        o->heap = t;
        o->heap_cap = cap;
    }
    for (i = o->heap_n++; i > 0 && o->heap[(i - 1) / 2].index > h.index;
         i = (i - 1) / 2)
        o->heap[i] = o->heap[(i - 1) / 2];
    o->heap[i] = h;
    return 0;
}

held order_take(order *o)
{
    held top = o->heap[0], last = o->heap[--o->heap_n];
    size_t i = 0, n = o->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && o->heap[c + 1].index < o->heap[c].index)
            c++;
        if (o->heap[c].index >= last.index)
            break;
        o->heap[i] = o->heap[c];
        i = c;
    }
    if (n)
        o->heap[i] = last;
    return top;
}

const held *order_first(const order *o)
{
    return o->heap_n ? &o->heap[0] : NULL;
}

void order_free(order *o)
{
    while (o->heap_n) {
        held h = order_take(o);
        free(h.line);
    }
    free(o->heap);
    free(o->fl);
}
