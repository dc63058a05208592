/*
 * text.h - part of the dlpool command (framework/cli/main.c): the text
 * of messages.  A plugin's message, an input line echoed in an error, a
 * file name: any of them may hold bytes that are not UTF-8, or control
 * characters that a terminal would obey.  These helpers cut such text at
 * character boundaries, mend it for JSON and escape it for a terminal.
 */
#ifndef DLPOOL_CLI_TEXT_H
#define DLPOOL_CLI_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Whether s[0, len) is UTF-8 as jansson accepts it for a JSON string
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
int text_is_utf8(const char *s, size_t len);

/* A copy of s[0, len) (malloc'd, NUL-terminated, the same length) in
 * which each byte that is not part of a valid UTF-8 character is '?';
 * NULL when out of memory. */
char *text_lossy(const char *s, size_t len);

/* Where to cut s[0, len) to keep at most max bytes without cutting a
 * UTF-8 character in two: max, or a little less. */
size_t text_cut(const char *s, size_t len, size_t max);

/* Drop the bytes of a UTF-8 character cut in two at the end of s (a
 * message that snprintf cut short at its buffer's end). */
void text_trim(char *s);

/* Write s to a terminal's stream (standard error): control characters,
 * which a terminal obeys (ESC, BEL, the C1 range such as U+009B CSI), and
 * bytes that are not UTF-8 are written as escapes: \n, \t, \r, \x1b,
 * \u009b, \xff. */
void text_put_escaped(FILE *out, const char *s);

#endif
