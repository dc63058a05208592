/*
 * list.h - an intrusive doubly linked list, after libuv's queue.h: the
 * node lives inside the struct it links (no allocation per entry), and a
 * node can be taken out in O(1) without knowing its list.  A list is a
 * head node linked to itself when empty; a node taken out (or only
 * initialised) is linked to itself too, so taking it out again does
 * nothing.
 */
#ifndef DLPOOL_FRAMEWORK_LIST_H
#define DLPOOL_FRAMEWORK_LIST_H

#include <stddef.h>

typedef struct dlp__list {
    struct dlp__list *next, *prev;
} dlp__list;

/* The struct of type that holds node as its member. */
#define dlp__container_of(node, type, member)                                \
    ((type *)(void *)((char *)(node)-offsetof(type, member)))

static inline void dlp__list_init(dlp__list *l)
{
    l->next = l->prev = l;
}

static inline int dlp__list_empty(const dlp__list *l)
{
    return l->next == l;
}

/* Link n in after at (at the head of a list: dlp__list_push_head). */
static inline void dlp__list_insert_after(dlp__list *at, dlp__list *n)
{
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}

static inline void dlp__list_push_head(dlp__list *l, dlp__list *n)
{
    dlp__list_insert_after(l, n);
}

static inline void dlp__list_push_tail(dlp__list *l, dlp__list *n)
{
    dlp__list_insert_after(l->prev, n);
}

/* Take n out of whatever list it is in (none: nothing happens). */
static inline void dlp__list_remove(dlp__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

/* The node after n in list l, or NULL at its end. */
static inline dlp__list *dlp__list_next(const dlp__list *l,
                                        const dlp__list *n)
{
    return n->next == l ? NULL : n->next;
}

#endif
