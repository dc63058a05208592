/*
 * text.c - part of the dlpool command (framework/cli/main.c): cutting,
 * mending and escaping the text of messages.  See text.h.
 */
#include "config.h"

#include "text.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The length of the valid UTF-8 character at p[0, n) (1 for ASCII), its
 * code point in *cp; 0 when the bytes there are not one. */
static size_t char_at(const unsigned char *p, size_t n, unsigned *cp)
{
    unsigned c = p[0], v, min;
    size_t more;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        more = 1, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        more = 2, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        more = 3, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n - 1 < more)
        return 0;
    for (size_t i = 1; i <= more; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return more + 1;
}

int text_is_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned cp;
    for (size_t i = 0, k; i < len; i += k)
        if (!(k = char_at(p + i, len - i, &cp)))
            return 0;
    return 1;
}

char *text_lossy(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char *copy = malloc(len + 1);
    unsigned cp;
    if (!copy)
        return NULL;
    for (size_t i = 0, k; i < len; i += k) {
        if ((k = char_at(p + i, len - i, &cp))) {
            memcpy(copy + i, s + i, k);
        } else {
            copy[i] = '?'; /* one byte at a time: the next may start one */
            k = 1;
        }
    }
    copy[len] = 0;
    return copy;
}

size_t text_cut(const char *s, size_t len, size_t max)
{
    size_t k = max;
    if (max >= len)
        return len;
    /* s[k] is where the cut falls: back up over continuation bytes to
     * the start of their character (at most three). */
    while (k > 0 && max - k < 3 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return ((unsigned char)s[k] & 0xc0) == 0x80 ? max : k;
}

void text_trim(char *s)
{
    dlp__utf8_trim_inline(s);
}

void text_put_escaped(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, k, plain = 0;
    unsigned cp;
    while (i < len) {
        k = char_at(p + i, len - i, &cp);
        if (k && cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0)) {
            i += k;
            plain += k;
            continue;
        }
        fwrite(s + i - plain, 1, plain, out);
        plain = 0;
        if (!k)
            fprintf(out, "\\x%02x", p[i]);
        else if (cp == '\n')
            fputs("\\n", out);
        else if (cp == '\t')
            fputs("\\t", out);
        else if (cp == '\r')
            fputs("\\r", out);
        else if (cp < 0x80)
            fprintf(out, "\\x%02x", cp);
        else
            fprintf(out, "\\u%04x", cp);
        i += k ? k : 1;
    }
    fwrite(s + i - plain, 1, plain, out);
}

char *text_json(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *text;
    if (!j) {
        char *copy = text_lossy(s, len);
        if (copy) {
            j = json_stringn(copy, len);
            free(copy);
        }
    }
    text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return text;
}

const char *text_kind(dlp_fail_kind k)
{
    return k == DLP_FAIL_NONE ? "ok" : dlp_fail_kind_name(k);
}

int text_vfail(text_error *e, const char *fmt, va_list ap)
{
    if (e->msg[0])
        return -1; /* the first error is the one to report */
    if (vsnprintf(e->msg, sizeof e->msg, fmt, ap) >= (int)sizeof e->msg)
        text_trim(e->msg);
    return -1;
}

int text_fail(text_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_vfail(e, fmt, ap);
    va_end(ap);
    return -1;
}
