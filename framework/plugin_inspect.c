/*
 * plugin_inspect.c - dlp_plugin_inspect: read a plugin's manifest in a
 * short-lived worker, so that no plugin code runs in the caller.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "loader.h"
#include "supervise.h"
#include "wire.h"
#include "worker.h"

DLP_API int dlp_plugin_inspect(const char *plugin, const char *plugin_path,
                               char **plugin_name, unsigned *abi,
                               dlp_inspect_fn fn, void *ud, dlp_error *err)
{
    char *path = NULL;
    pid_t pid;
    int fd, rc, st;
    dlp__buf out = {0};
    unsigned char hb[DLP_HDR_SIZE];
    dlp__hdr h;
    long off;

    if (plugin_name)
        *plugin_name = NULL;
    if (!plugin)
        return dlp__err(err, DLP_EINVAL, "dlp_plugin_inspect: NULL plugin");
    if ((rc = dlp__plugin_find(plugin, plugin_path, &path, err)))
        return rc;
    if ((rc = dlp__worker_spawn(&pid, &fd, NULL, NULL, err))) {
        free(path);
        return rc;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    off = dlp__frame_begin(&out, DLP_F_INSPECT, 0, 0);
    if (off < 0 || dlp__put_str(&out, path, strlen(path), 1) ||
        dlp__frame_end(&out, off)) {
        rc = dlp__err(err, -ENOMEM, "out of memory");
        goto done;
    }
    {
        struct msghdr mh;
        struct iovec iov = {out.p, out.len};
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)out.len) {
            rc = dlp__err(err, DLP_EWORKER,
                          "cannot talk to the inspecting worker");
            goto done;
        }
    }
    out.len = 0;
    rc = dlp__read_full(fd, hb, sizeof hb);
    if (rc == 0) {
        dlp__hdr_unpack(hb, &h);
        if (h.type != DLP_F_INSPECTED || h.len > (1u << 26) ||
            dlp__buf_reserve(&out, h.len) ||
            dlp__read_full(fd, out.p, h.len))
            rc = DLP_EPROTO;
    }
    if (rc) {
        close(fd);
        fd = -1;
        st = dlp__reap(pid, DLP_LOST_GRACE_MS);
        char status[96];
        dlp__describe_status(st, status, sizeof status);
        rc = dlp__err(err, DLP_ENOPLUGIN,
                      "plugin '%s' killed the worker loading it: %s", path,
                      status);
        goto done;
    }
    {
        dlp__rd r;
        const char *s;
        uint32_t n, cnt;
        dlp__rd_init(&r, out.p, h.len);
        if (dlp__get_str(&r, &s, &n, 0) || dlp__get_u32(&r, &cnt)) {
            rc = dlp__err(err, DLP_EPROTO, "malformed reply inspecting '%s'",
                          path);
            goto done;
        }
        if ((int32_t)h.a != 0) {
            int code = dlp__code_ok((int)(int32_t)h.a) ? (int)(int32_t)h.a
                                                   : DLP_EPROTO;
            rc = dlp__err(err, code, "%.*s", (int)n, s);
            goto done;
        }
        if (abi)
            *abi = h.b;
        if (plugin_name && !(*plugin_name = strndup(s, n))) {
            rc = dlp__err(err, -ENOMEM, "out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < cnt; i++) {
            const char *fname, *fsig;
            uint32_t fl, sl;
            char a[256], b[256];
            if (dlp__get_str(&r, &fname, &fl, 0) ||
                dlp__get_str(&r, &fsig, &sl, 0)) {
                rc = dlp__err(err, DLP_EPROTO,
                              "malformed reply inspecting '%s'", path);
                goto done;
            }
            snprintf(a, sizeof a, "%.*s", (int)fl, fname);
            snprintf(b, sizeof b, "%.*s", (int)sl, fsig);
            if (fn)
                fn(ud, a, b);
        }
    }
    rc = 0;
done:
    if (fd >= 0) {
        close(fd);
        dlp__reap(pid, DLP_EXIT_GRACE_MS);
    }
    if (rc && plugin_name) {
        free(*plugin_name);
        *plugin_name = NULL;
    }
    dlp__buf_free(&out);
    free(path);
    return rc;
}
