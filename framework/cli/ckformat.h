/*
 * ckformat.h - part of the dlpool command (framework/cli/main.c): the
 * format of a --checkpoint file, parsed and checked.  Nothing here reads
 * or writes a file (checkpoint.c does).
 *
 * The file is a sequence of records, each
 *
 *     TYPE SP LENGTH SP CRC LF PAYLOAD
 *
 * where TYPE is H or R, LENGTH the payload's size in bytes (decimal), and
 * CRC its CRC-32 (IEEE 802.3) in 8 hex digits.  The first record is the
 * only H: its payload is one line of JSON, the fingerprint of the run
 * (what makes its results those of this run; fingerprint.h).  Each R is
 * one finished task, appended as it finishes:
 *
 *     INDEX SP HASH SP KIND LF      input line INDEX+1, the FNV-1a 64 hash
 *                                   of that line (16 hex digits), and "ok"
 *                                   or the failure kind's name
 *     MESSAGE LF                    a failure's message as a JSON string;
 *                                   empty for "ok"
 *     LINE                          the output line, newline included,
 *                                   exactly as the command wrote it
 */
#ifndef DLPOOL_CLI_CKFORMAT_H
#define DLPOOL_CLI_CKFORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "dlpool.h"

#define CK_FORMAT "dlpool checkpoint"
#define CK_VERSION 1
/* A record header is "R " + at most 20 digits + " " + 8 hex digits + LF. */
#define CK_HDR_MAX 40

/* CRC-32 of p[0, n) continued from crc (0 to start). */
uint32_t ckformat_crc(uint32_t crc, const void *p, size_t n);

/* Parse a record header at p[0, n): 1 with its type, payload length,
 * checksum and size, else 0. */
int ckformat_header(const char *p, size_t n, char *type, uint64_t *plen,
                    uint32_t *crc, size_t *hlen);

/* The meta line of an R payload p[0, n): index, hash, kind, and where the
 * message line starts.  0, or -1 when it is not one. */
int ckformat_meta(const char *p, size_t n, uint64_t *index, uint64_t *hash,
                  dlp_fail_kind *kind, size_t *rest);

/* Whether the R payload p[0, n) is one this command could have written:
 * NULL, or what is wrong with it ("has no output line"). */
const char *ckformat_check_task(const char *p, size_t n);

/* Whether the file's first bytes p[0, n) could be the start of a
 * checkpoint's header cut short. */
int ckformat_header_prefix(const char *p, size_t n);

#endif
