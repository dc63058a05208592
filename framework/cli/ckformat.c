/*
 * ckformat.c - part of the dlpool command (framework/cli/main.c): the
 * format of a --checkpoint file.  See ckformat.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ckformat.h"
#include "dlpool.h"
#include "text.h"

/* Made at the first use. */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t ckformat_crc(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    if (!crc_table[1])
        crc_init();
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static int kind_parse(const char *s, size_t n, dlp_fail_kind *out)
{
    for (int k = DLP_FAIL_NONE; k <= DLP_FAIL_CANCELLED; k++) {
        const char *name = text_kind((dlp_fail_kind)k);
        if (strlen(name) == n && !memcmp(name, s, n)) {
            *out = (dlp_fail_kind)k;
            return 0;
        }
    }
    return -1;
}

int ckformat_header(const char *p, size_t n, char *type, uint64_t *plen,
                    uint32_t *crc, size_t *hlen)
{
    size_t i = 2, d0;
    uint64_t len = 0;
    uint32_t c = 0;
    if (n < 2 || (p[0] != 'H' && p[0] != 'R') || p[1] != ' ')
        return 0;
    for (d0 = i; i < n && p[i] >= '0' && p[i] <= '9' && i - d0 < 19; i++)
        len = len * 10 + (uint64_t)(p[i] - '0');
    if (i == d0 || i >= n || p[i++] != ' ')
        return 0;
    for (d0 = i; i < n && i - d0 < 8; i++) {
        char h = p[i];
        int v = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                       : -1;
        if (v < 0)
            return 0;
        c = c << 4 | (uint32_t)v;
    }
    if (i - d0 != 8 || i >= n || p[i] != '\n')
        return 0;
    *type = p[0];
    *plen = len;
    *crc = c;
    *hlen = i + 1;
    return 1;
}

int ckformat_meta(const char *p, size_t n, uint64_t *index, uint64_t *hash,
                  dlp_fail_kind *kind, size_t *rest)
{
    const char *nl = memchr(p, '\n', n), *sp1, *sp2;
    char num[24];
    char *end;
    if (!nl || !(sp1 = memchr(p, ' ', (size_t)(nl - p))) ||
        !(sp2 = memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1))))
        return -1;
    if (sp1 - p < 1 || sp1 - p > 20 || sp2 - sp1 - 1 != 16)
        return -1;
    memcpy(num, p, (size_t)(sp1 - p));
    num[sp1 - p] = 0;
    if (num[0] < '0' || num[0] > '9')
        return -1;
    errno = 0;
    *index = strtoull(num, &end, 10);
    if (errno || *end)
        return -1;
    memcpy(num, sp1 + 1, 16);
    num[16] = 0;
    *hash = strtoull(num, &end, 16);
    if (*end || !((num[0] >= '0' && num[0] <= '9') ||
                  (num[0] >= 'a' && num[0] <= 'f')))
        return -1;
    if (kind_parse(sp2 + 1, (size_t)(nl - sp2 - 1), kind))
        return -1;
    *rest = (size_t)(nl - p) + 1;
    return 0;
}

/* Its checksum only says the record is whole; a record made by hand with
 * a valid checksum must not change the output's shape: its output line is
 * one non-empty line of UTF-8 text without control characters, ending in
 * its newline, as every line the command writes. */
const char *ckformat_check_task(const char *p, size_t n)
{
    const char *why = NULL, *msg, *nl, *line;
    uint64_t index, hash;
    dlp_fail_kind kind;
    size_t rest, len;
    if (ckformat_meta(p, n, &index, &hash, &kind, &rest))
        why = "is not understood";
    else if (index == UINT64_MAX)
        why = "has an index out of range";
    else if (!(nl = memchr(p + rest, '\n', n - rest)))
        why = "has no message line";
    else {
        msg = p + rest;
        line = nl + 1;
        len = (size_t)(p + n - line);
        if (kind == DLP_FAIL_NONE && nl != msg) {
            why = "has a message for a task that succeeded";
        } else if (kind != DLP_FAIL_NONE) {
            json_error_t je;
            json_t *j = json_loadb(msg, (size_t)(nl - msg), JSON_DECODE_ANY,
                                   &je);
            if (!json_is_string(j))
                why = "has a message that is not a JSON string";
            json_decref(j);
        }
        if (why) {
        } else if (len == 0) {
            why = "has no output line";
        } else if (line[len - 1] != '\n') {
            why = "has an output line that does not end in a newline";
        } else if (len == 1) {
            why = "has an empty output line";
        } else if (memchr(line, '\n', len - 1)) {
            why = "has more than one output line";
        } else if (!text_is_utf8(line, len - 1)) {
            why = "has an output line that is not UTF-8 text";
        } else {
            for (size_t i = 0; i + 1 < len; i++)
                if ((unsigned char)line[i] < 0x20) {
                    why = "has a control character in its output line";
                    break;
                }
        }
    }
    return why;
}

/* Only such a file is started afresh; anything else is somebody's file,
 * and is left alone. */
int ckformat_header_prefix(const char *p, size_t n)
{
    static const char body[] = "{\"format\":\"" CK_FORMAT "\"";
    size_t i = 2;
    if (n == 0)
        return 1;
    if (p[0] != 'H' || (n > 1 && p[1] != ' '))
        return 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i < n && (i == 2 || p[i++] != ' '))
        return 0;
    for (size_t d = i; i < n && i - d < 8; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    if (i < n && p[i++] != '\n')
        return 0;
    for (size_t k = 0; i < n && k < sizeof body - 1; i++, k++)
        if (p[i] != body[k])
            return 0;
    return 1;
}
