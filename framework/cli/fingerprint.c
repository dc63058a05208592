/*
 * fingerprint.c - part of the dlpool command (framework/cli/main.c): what
 * identifies a run for its checkpoint.  See fingerprint.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ckformat.h"
#include "dlpool.h"
#include "fingerprint.h"
#include "text.h"

uint64_t fingerprint_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n--)
        h = (h ^ *b++) * 0x100000001b3ull;
    return h;
}

/* Find the plugin's file as the library does (a path, or a name searched
 * in DLPOOL_PLUGIN_PATH and the plugin directory, as NAME or NAME.so); a
 * name the system's library search finds has no file here.  A new string,
 * or NULL. */
static char *find_plugin(const char *name)
{
    const char *dirs[2] = {getenv("DLPOOL_PLUGIN_PATH"), DLP_PLUGINDIR};
    if (strchr(name, '/'))
        return strdup(name);
    if (!*name)
        return NULL;
    for (int k = 0; k < 2; k++) {
        const char *d = dirs[k];
        while (d && *d) {
            const char *colon = strchr(d, ':');
            size_t dlen = colon ? (size_t)(colon - d) : strlen(d);
            for (int so = 0; dlen && so < 2; so++) {
                struct stat st;
                char *p;
                if (asprintf(&p, "%.*s/%s%s", (int)dlen, d, name,
                             so ? ".so" : "") < 0)
                    return NULL;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
                    access(p, R_OK) == 0)
                    return p;
                free(p);
            }
            d = colon ? colon + 1 : NULL;
        }
    }
    return NULL;
}

/* What a file that is not a regular file is, for a message. */
static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

/* {"file":PATH,"size":N,"fnv1a64":HEX} for a plugin file, or
 * {"name":NAME} for one the system's library search finds (it is known
 * by its name alone), in *out.  0, or -1 (see err): out of memory, or
 * the path is not a regular file.  Only a regular file is read: hashing
 * a FIFO would wait for a writer, and a device may never end. */
static int plugin_identity(text_error *err, const char *ref, json_t **out)
{
    const char *colon = strrchr(ref, ':');
    char *name = strndup(ref, colon ? (size_t)(colon - ref) : strlen(ref));
    char *path = name ? find_plugin(name) : NULL, hex[17], buf[1 << 15];
    json_t *j = NULL;
    uint64_t h = FINGERPRINT_HASH_START, size = 0;
    struct stat st = {0};
    int fd = path ? open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    *out = NULL;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        if (!st.st_mode) /* fstat failed */
            text_fail(err, "plugin %s: %s", path, strerror(errno));
        else
            text_fail(err, "plugin %s is %s, not a shared object file",
                      path, file_kind(st.st_mode));
        close(fd);
        free(path);
        free(name);
        return -1;
    }
    if (fd >= 0) {
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0 ||
               (k < 0 && errno == EINTR)) {
            if (k > 0) {
                h = fingerprint_hash(h, buf, (size_t)k);
                size += (uint64_t)k;
            }
        }
        close(fd);
        snprintf(hex, sizeof hex, "%016" PRIx64, h);
        j = json_pack("{s:s, s:I, s:s}", "file", path, "size",
                      (json_int_t)size, "fnv1a64", hex);
    } else if (name) {
        /* Not a file found here: the pool reports it if it is missing. */
        j = json_pack("{s:s}", "name", name);
    }
    free(path);
    free(name);
    if (!j)
        return text_fail(err, "out of memory");
    *out = j;
    return 0;
}

char *fingerprint_make(const fingerprint_of *of, text_error *err)
{
    json_t *input, *fp, *plugin;
    struct stat st;
    char *s;
    if (plugin_identity(err, of->ref, &plugin))
        return NULL;
    input = json_pack("{s:s}", "name",
                      of->input_name ? of->input_name : "standard input");
    if (input && of->input_fd >= 0 && fstat(of->input_fd, &st) == 0 &&
        S_ISREG(st.st_mode))
        json_object_set_new(input, "size", json_integer(st.st_size));
    fp = json_pack("{s:s, s:i, s:s, s:o, s:o, s:b, s:o}", "format",
                   CK_FORMAT, "version", CK_VERSION, "function", of->ref,
                   "plugin", plugin, "sig",
                   of->sig ? json_string(of->sig) : json_null(), "records",
                   of->records, "input", input);
    if (!fp)
        return NULL;
    s = json_dumps(fp, JSON_COMPACT);
    json_decref(fp);
    return s;
}

/* What a fingerprint's field k (see fingerprint_check) says, as a
 * message puts it. */
static void describe(char *buf, size_t size, size_t k, const json_t *v)
{
    const json_t *name = json_object_get(v, "name"),
                 *file = json_object_get(v, "file"),
                 *bytes = json_object_get(v, "size");
    char *any;
    switch (k) {
    case 0:
        snprintf(buf, size, "%s", json_is_string(v) ? json_string_value(v)
                                                    : "?");
        return;
    case 1:
        if (json_is_string(file))
            snprintf(buf, size, "%s, %" JSON_INTEGER_FORMAT " bytes, "
                                "FNV-1a %s",
                     json_string_value(file), json_integer_value(bytes),
                     json_string_value(json_object_get(v, "fnv1a64")));
        else
            snprintf(buf, size, "%s, found by the system",
                     json_is_string(name) ? json_string_value(name) : "?");
        return;
    case 2:
        if (json_is_string(v))
            snprintf(buf, size, "with --sig '%s'", json_string_value(v));
        else
            snprintf(buf, size, "without --sig");
        return;
    case 3:
        snprintf(buf, size, "%s --records",
                 json_is_true(v) ? "with" : "without");
        return;
    case 4:
        if (json_is_integer(bytes))
            snprintf(buf, size, "%s, %" JSON_INTEGER_FORMAT " bytes",
                     json_is_string(name) ? json_string_value(name) : "?",
                     json_integer_value(bytes));
        else
            snprintf(buf, size, "%s",
                     json_is_string(name) ? json_string_value(name) : "?");
        return;
    default:
        any = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        snprintf(buf, size, "%s", any ? any : "nothing");
        free(any);
    }
}

int fingerprint_check(const char *path, const char *p, size_t n,
                      const char *cur_text, text_error *err)
{
    static const char *const keys[] = {"function", "plugin", "sig",
                                       "records", "input"};
    json_error_t je;
    json_t *old = json_loadb(p, n, 0, &je),
           *cur = json_loads(cur_text, 0, &je);
    int rc = 0;
    if (!old || !json_is_object(old) ||
        !json_equal(json_object_get(old, "format"),
                    json_object_get(cur, "format"))) {
        rc = text_fail(err, "checkpoint %s: its header is not understood",
                       path);
    } else if (!json_equal(json_object_get(old, "version"),
                           json_object_get(cur, "version"))) {
        char v[64];
        describe(v, sizeof v, 99, json_object_get(old, "version"));
        rc = text_fail(err, "checkpoint %s is of format version %s; this "
                            "dlpool writes version %d",
                       path, v, CK_VERSION);
    }
    for (size_t k = 0; !rc && k < sizeof keys / sizeof *keys; k++) {
        const json_t *a = json_object_get(old, keys[k]),
                     *b = json_object_get(cur, keys[k]);
        char was[300], is[300];
        if (json_equal(a, b))
            continue;
        describe(was, sizeof was, k, a);
        describe(is, sizeof is, k, b);
        if (k == 0)
            rc = text_fail(err, "checkpoint %s was written for a different "
                                "function: %s (this run: %s)",
                           path, was, is);
        else if (k == 1)
            rc = text_fail(err, "checkpoint %s was written with a different "
                                "plugin: %s (this run: %s)",
                           path, was, is);
        else if (k == 4)
            rc = text_fail(err, "checkpoint %s was written for different "
                                "input: %s (this run: %s)",
                           path, was, is);
        else
            rc = text_fail(err, "checkpoint %s was written %s (this run: %s)",
                           path, was, is);
    }
    json_decref(old);
    json_decref(cur);
    return rc;
}
