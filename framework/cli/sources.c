/*
 * sources.c - part of the dlpool command (framework/cli/main.c): the
 * tasks of a run given on the command line, ::: and :::: sources.  See
 * sources.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlpool.h"
#include "input.h"
#include "records.h"
#include "say.h"
#include "sources.h"
#include "text.h"

int sources_is_mark(const char *s)
{
    return !strcmp(s, ":::") || !strcmp(s, "::::");
}

/* The lines of a :::: FILE ("-": standard input) as a source.  A line
 * longer than max_line is a set-up error, found as it is read: the file
 * is held whole, and one endless line must not take all memory. */
static void read_arg_file(argsrc *s, unsigned k, size_t max_line)
{
    int fd = strcmp(s->file, "-") ? open(s->file, O_RDONLY | O_CLOEXEC) : 0;
    size_t cap = 1 << 12, used = 0, lines = 0, line_at = 0, nl_n = 0;
    char *p, *end;
    if (fd < 0)
        die_setup(":::: source %u: cannot open '%s': %s", k, s->file,
                  strerror(errno));
    for (;;) {
        ssize_t r;
        if (!s->text || used + 1 >= cap) {
            char *t = realloc(s->text, cap *= 2);
            if (!t)
                die_setup(":::: source %u: '%s': out of memory", k, s->file);
            s->text = t;
        }
        r = read(fd, s->text + used, cap - used - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die_setup(":::: source %u: reading '%s': %s", k, s->file,
                      strerror(errno));
        if (r == 0)
            break;
        for (char *q = s->text + used, *e = q + r;
             (q = memchr(q, '\n', (size_t)(e - q))); q++, nl_n++)
            line_at = (size_t)(q - s->text) + 1;
        used += (size_t)r;
        if (used - line_at > max_line)
            die_setup(":::: source %u: '%s': line %zu is longer than "
                      "--max-line-length (%zu bytes)",
                      k, s->file, nl_n + 1, max_line);
    }
    if (fd > 0)
        close(fd);
    s->text[used] = 0;
    for (p = s->text, end = s->text + used; p < end; lines++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    s->tok = malloc((lines ? lines : 1) * sizeof *s->tok);
    s->len = malloc((lines ? lines : 1) * sizeof *s->len);
    if (!s->tok || !s->len)
        die_setup(":::: source %u: '%s': out of memory", k, s->file);
    for (p = s->text; p < end; s->n++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e--;
        *e = 0;
        s->tok[s->n] = p;
        s->len[s->n] = (size_t)(e - p);
        p = nl ? nl + 1 : end;
    }
}

void sources_parse(int argc, char **argv, int i, arglist *al,
                   size_t max_line)
{
    unsigned cap = 0;
    int stdin_used = 0;
    memset(al, 0, sizeof *al);
    al->total = 1;
    while (i < argc) {
        int files = !strcmp(argv[i], "::::"), j = ++i;
        while (j < argc && !sources_is_mark(argv[j]))
            j++;
        if (j == i)
            die_usage("run: '%s' with nothing after it (source %u)",
                      files ? "::::" : ":::", al->nsrc + 1);
        for (; i < j; i++) {
            argsrc *s;
            if (al->nsrc == cap) {
                argsrc *t = realloc(al->src, (cap = cap ? 2 * cap : 4) *
                                                 sizeof *t);
                if (!t)
                    die_setup("out of memory");
                al->src = t;
            }
            s = &al->src[al->nsrc++];
            memset(s, 0, sizeof *s);
            if (files) {
                s->file = argv[i];
                if (!strcmp(s->file, "-") && stdin_used++)
                    die_usage("run: ':::: -' (standard input) given twice");
                read_arg_file(s, al->nsrc, max_line);
            } else {
                s->tok = argv + i;
                s->n = (size_t)(j - i);
                if (!(s->len = malloc(s->n * sizeof *s->len)))
                    die_setup("out of memory");
                for (size_t t = 0; t < s->n; t++)
                    s->len[t] = strlen(s->tok[t]);
                i = j - 1; /* one source for all the arguments */
            }
            if (s->n && al->total > UINT64_MAX / s->n)
                die_usage("run: the ::: sources make more than 2^64 tasks");
            al->total *= s->n;
        }
    }
}

void sources_free(arglist *al)
{
    for (unsigned k = 0; k < al->nsrc; k++) {
        if (al->src[k].file) {
            free(al->src[k].text);
            free(al->src[k].tok);
        }
        free(al->src[k].len);
    }
    free(al->src);
}

/* The position of task index's argument in each source. */
static void arg_positions(const arglist *al, uint64_t index, size_t *pos)
{
    for (unsigned k = al->nsrc; k-- > 0;) {
        pos[k] = (size_t)(index % al->src[k].n);
        index /= al->src[k].n;
    }
}

/* Combination pos as one line for the checkpoint (records.c), which
 * hashes it: its tokens, each followed by a NUL.  As rec_line. */
static int arg_line(const arglist *al, uint64_t index, const size_t *pos)
{
    size_t n = 0;
    char *text, *p;
    int rc;
    for (unsigned k = 0; k < al->nsrc; k++)
        n += al->src[k].len[pos[k]] + 1;
    if (!(p = text = malloc(n)))
        return -1;
    for (unsigned k = 0; k < al->nsrc; k++) {
        memcpy(p, al->src[k].tok[pos[k]], al->src[k].len[pos[k]]);
        p += al->src[k].len[pos[k]];
        *p++ = 0;
    }
    rc = rec_line(al->in->rec, index, text, n);
    free(text);
    return rc;
}

int sources_next_task(void *ud, uint64_t index, dlp_args *a)
{
    arglist *al = ud;
    size_t pos[DLP_MAX_ARGS];
    if (rec_skips(al->in->rec)) {
        /* Combinations already in the checkpoint are skipped, so task
         * index runs combination al->next. */
        int rc;
        do {
            if (al->in->stop)
                return 0;
            if (al->next >= al->total)
                return rec_input_end(al->in->rec) ? -EINVAL : 0;
            arg_positions(al, al->next++, pos);
        } while ((rc = arg_line(al, index, pos)) == 1);
        if (rc < 0)
            return -EINVAL;
    } else {
        if (index >= al->total || al->in->stop)
            return 0;
        arg_positions(al, index, pos);
    }
    for (unsigned k = 0; k < al->nsrc; k++) {
        const argsrc *s = &al->src[k];
        if (input_token_arg(a, k + 1, s->tok[pos[k]], s->len[pos[k]]))
            break;
    }
    return 1;
}

/* Append a token to buf for a message: control characters as '?', cut at
 * max bytes (or a little less: never in the middle of a character). */
static void put_token_text(char *buf, size_t size, const char *tok,
                           size_t len, size_t max)
{
    size_t at = strlen(buf), keep = text_cut(tok, len, max);
    for (size_t i = 0; i < keep && at + 4 < size; i++)
        buf[at++] = (unsigned char)tok[i] < 0x20 || tok[i] == 0x7f ? '?'
                                                                  : tok[i];
    if (len > max && at + 4 < size) {
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at] = 0;
}

const char *sources_where(const arglist *al, uint64_t index, char *buf,
                          size_t size)
{
    size_t pos[DLP_MAX_ARGS];
    if (!al) {
        snprintf(buf, size, "line %" PRIu64, index + 1);
        return buf;
    }
    arg_positions(al, index, pos);
    snprintf(buf, size, ":::");
    for (unsigned k = 0; k < al->nsrc; k++) {
        const argsrc *s = &al->src[k];
        if (strlen(buf) + 2 < size)
            strcat(buf, " ");
        put_token_text(buf, size, s->tok[pos[k]], s->len[pos[k]], 24);
    }
    return buf;
}

char *sources_arg_error(const arglist *al, uint64_t index, const char *msg)
{
    size_t pos[DLP_MAX_ARGS];
    unsigned k = 0;
    int skip = 0;
    char head[256] = "";
    char *out;
    if (sscanf(msg, "argument %u%n", &k, &skip) < 1 || k < 1 ||
        k > al->nsrc) {
        sources_where(al, index, head, sizeof head);
        skip = 0;
        strcat(head, ": ");
    } else {
        const argsrc *s = &al->src[k - 1];
        arg_positions(al, index, pos);
        if (s->file)
            snprintf(head, sizeof head, ":::: source %u (%.*s), line %zu '",
                     k, (int)text_cut(s->file, strlen(s->file), 64), s->file,
                     pos[k - 1] + 1);
        else
            snprintf(head, sizeof head, "::: source %u, argument %zu '", k,
                     pos[k - 1] + 1);
        put_token_text(head, sizeof head - 2, s->tok[pos[k - 1]],
                       s->len[pos[k - 1]], 40);
        strcat(head, "'");
    }
    if (asprintf(&out, "%s%s", head, msg + skip) < 0)
        return NULL;
    return out;
}
