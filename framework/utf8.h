/*
 * utf8.h - the one piece of UTF-8 handling that the library and the
 * command both need, as an inline function: the command links only the
 * library's public symbols, so it cannot call dlp__utf8_trim.
 */
#ifndef DLPOOL_UTF8_H
#define DLPOOL_UTF8_H

#include <string.h>

/* s holds text cut short at a buffer's end: drop the bytes of a UTF-8
 * character cut in two at its end, so that it stays valid text. */
static inline void dlp__utf8_trim_inline(char *s)
{
    size_t n = strlen(s), i = n;
    /* The last lead byte among the last three bytes, if any. */
    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i > 0) {
        unsigned c = (unsigned char)s[i - 1];
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (need > n - (i - 1))
            s[i - 1] = 0;
    }
}

#endif
