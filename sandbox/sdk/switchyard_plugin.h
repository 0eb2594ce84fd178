/* Switchyard guest SDK, ABI version 1 (see sandbox/ABI.md).
 *
 * A plugin is one or more hook functions written with SY_HOOK(name) { ... }.
 * The input is JSON (sy_str input); the hook writes its JSON answer with the
 * sy_out_* functions and returns sy_done(), or returns sy_none() to change nothing.
 * Build: `switchyard plugin build DIR` (zig cc, wasm32-wasi reactor, no WASI imports).
 * Do not use stdio, files, clocks or the environment: no WASI is linked, so a module
 * importing any of it is refused at load.
 */
#ifndef SWITCHYARD_PLUGIN_H
#define SWITCHYARD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define SY_ABI_VERSION 1

/* A byte span (not NUL-terminated). JSON values keep their raw, escaped form. */
typedef struct {
    const char *p;
    int32_t n;
} sy_str;

/* ---- host functions: module "switchyard"; all but abort/result need a capability ---- */
#define SY_IMPORT(name) __attribute__((import_module("switchyard"), import_name(name)))
SY_IMPORT("abort") void sy_host_abort(int32_t code, const char *msg, int32_t len);
SY_IMPORT("result") int32_t sy_host_result(char *out, int32_t cap);
SY_IMPORT("log") void sy_host_log(int32_t level, const char *msg, int32_t len);
SY_IMPORT("kv_get") int32_t sy_host_kv_get(const char *key, int32_t klen, char *out, int32_t cap);
SY_IMPORT("kv_set") int32_t sy_host_kv_set(const char *key, int32_t klen, const char *val, int32_t vlen);
SY_IMPORT("kv_delete") int32_t sy_host_kv_delete(const char *key, int32_t klen);
SY_IMPORT("http") int32_t sy_host_http(const char *req, int32_t len, char *out, int32_t cap);
SY_IMPORT("config") int32_t sy_host_config(char *out, int32_t cap);

/* Host function results below zero. */
#define SY_NOT_FOUND (-1)
#define SY_DENIED (-2)
#define SY_FAILED (-3)
#define SY_BAD_ARGUMENT (-4)

/* abort codes */
#define SY_ABORT_ERROR 1
#define SY_ABORT_OUT_OF_MEMORY 2

enum { SY_DEBUG = 10, SY_INFO = 20, SY_WARNING = 30, SY_ERROR = 40 };

/* ---- hooks ---- */
int64_t sy__run(int64_t (*impl)(sy_str), int32_t len);
#define SY_HOOK(hook)                                                         \
    static int64_t sy__impl_##hook(sy_str input);                             \
    __attribute__((export_name("sy_" #hook))) int64_t sy_##hook(int32_t len) { \
        return sy__run(sy__impl_##hook, len);                                 \
    }                                                                         \
    static int64_t sy__impl_##hook(sy_str input)

/* ---- output: one growing buffer, reset before each hook ---- */
void sy_out_raw(const char *p, int32_t n);
void sy_out_str(sy_str s);                 /* raw bytes */
void sy_out_cstr(const char *s);           /* raw bytes of a C string */
void sy_out_json_string(const char *p, int32_t n); /* quoted and escaped */
void sy_out_int(int64_t v);
sy_str sy_out_view(void);                  /* what has been written so far */
void sy_out_reset(void);                   /* forget it and start again */
int64_t sy_done(void);                     /* the answer is what was written */
int64_t sy_none(void);                     /* answer {}: change nothing */
_Noreturn void sy_fail(const char *message); /* fail this call (counted as a fault) */

/* ---- JSON reading (no allocation) ---- */
sy_str sy_json_get(sy_str json, const char *path); /* "body.messages.0.content"; {0,0} if absent */
int sy_json_is_string(sy_str v);
sy_str sy_json_string_raw(sy_str v);       /* contents between the quotes, still escaped */
int64_t sy_json_int(sy_str v, int64_t fallback);
int sy_json_equals(sy_str v, const char *text); /* a JSON string equal to text */
int32_t sy_json_skip(sy_str json, int32_t at); /* index after the value starting at `at` */

/* Copy `json` to the output; for every string value the callback may write a replacement
 * of the string's contents (raw, escaped; without quotes) and return 1, or return 0 to keep it. */
typedef int (*sy_string_fn)(sy_str key, sy_str raw, void *ctx);
void sy_json_map_strings(sy_str json, sy_string_fn fn, void *ctx);

/* ---- small text helpers ---- */
sy_str sy_cstr(const char *s);
int32_t sy_find_ci(sy_str hay, sy_str needle); /* index or -1, ASCII case-insensitive */

/* ---- capabilities (each needs the admin's grant, or the call traps) ---- */
void sy_log(int32_t level, const char *message);
sy_str sy_config(void);                    /* the plugin's settings as a JSON object */
sy_str sy_config_get(const char *path);
int32_t sy_kv_get(const char *key, sy_str *value); /* length, or SY_NOT_FOUND */
int32_t sy_kv_set(const char *key, sy_str value);
int32_t sy_http(sy_str request, sy_str *response); /* request/response JSON; see ABI.md */

#endif
