/*
 * text.h - part of the dlpool command (framework/cli/main.c): the text
 * of messages.  A plugin's message, an input line echoed in an error, a
 * file name: any of them may hold bytes that are not UTF-8, or control
 * characters that a terminal would obey.  These helpers cut such text at
 * character boundaries, mend it for JSON and escape it for a terminal.
 */
#ifndef DLPOOL_CLI_TEXT_H
#define DLPOOL_CLI_TEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "dlpool.h"

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

/* s[0, len) as a JSON string (malloc'd; NULL when out of memory); each
 * byte that is not part of a valid UTF-8 character becomes '?' (the
 * messages are the plugin's, and the files must stay JSON). */
char *text_json(const char *s, size_t len);

/* How a task ended as the files and lines name it: "ok", or the failure
 * kind's name (dlp_fail_kind_name). */
const char *text_kind(dlp_fail_kind k);

/* The first error of a run's records, the one reported: a later one is
 * dropped. */
typedef struct text_error {
    char msg[1024];
} text_error;

/* Format the message into e unless it holds one already (cut short, never
 * in the middle of a character, when it is too long).  Returns -1. */
int text_fail(text_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int text_vfail(text_error *e, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
