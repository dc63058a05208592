/*
 * joblog.c - part of the dlpool command (framework/cli/main.c): the rows
 * of --joblog.  See joblog.h.
 */
#include "config.h"

#include <inttypes.h>

#include "dlpool.h"
#include "joblog.h"
#include "text.h"
#include "wfile.h"

void joblog_header(wfile *f)
{
    wfile_puts(f, "Index\tWorker\tStarttime\tJobRuntime\tAttempts\t"
                  "Status\tError\n");
}

/* Escape tabs, newlines, carriage returns and backslashes: a row is one
 * line of tab-separated fields. */
static void put_field(wfile *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\t':
            wfile_puts(f, "\\t");
            break;
        case '\n':
            wfile_puts(f, "\\n");
            break;
        case '\r':
            wfile_puts(f, "\\r");
            break;
        case '\\':
            wfile_puts(f, "\\\\");
            break;
        default:
            wfile_putc(f, *s);
        }
    }
}

void joblog_row(wfile *f, const dlp_result *res, dlp_fail_kind kind,
                const char *msg)
{
    wfile_printf(f, "%" PRIu64 "\t%d\t%.3f\t%.3f\t%u\t%s\t", res->index,
                 res->pid, res->start, res->run_time, res->attempts,
                 text_kind(kind));
    if (kind != DLP_FAIL_NONE && msg)
        put_field(f, msg);
    wfile_putc(f, '\n');
}
