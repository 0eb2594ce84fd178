/* Switchyard guest SDK helpers (ABI 1): buffers, JSON reading and rewriting, host calls.
 * Compiled together with every plugin's sources by `switchyard plugin build`. */
#include "switchyard_plugin.h"

#include <stdlib.h>
#include <string.h>

/* ---- ABI exports ---- */

static char *sy__in;
static int32_t sy__in_cap;
static char *sy__out;
static int32_t sy__out_len, sy__out_cap;

static _Noreturn void sy__oom(void) {
    static const char msg[] = "out of memory";
    sy_host_abort(SY_ABORT_OUT_OF_MEMORY, msg, sizeof msg - 1);
    __builtin_trap();
}

__attribute__((export_name("sy_abi_version"))) int32_t sy_abi_version(void) { return SY_ABI_VERSION; }

/* The host writes each call's input here; the buffer persists and only grows. */
__attribute__((export_name("sy_input"))) char *sy_input(int32_t len) {
    if (len > sy__in_cap) {
        char *grown = realloc(sy__in, (size_t)len);
        if (!grown) sy__oom();
        sy__in = grown;
        sy__in_cap = len;
    }
    return sy__in;
}

int64_t sy__run(int64_t (*impl)(sy_str), int32_t len) {
    sy__out_len = 0;
    sy_str input = {sy__in, len};
    return impl(input);
}

/* ---- output ---- */

void sy_out_raw(const char *p, int32_t n) {
    if (n <= 0) return;
    if (sy__out_len + n > sy__out_cap) {
        int32_t cap = sy__out_cap ? sy__out_cap : 4096;
        while (cap < sy__out_len + n) cap *= 2;
        char *grown = realloc(sy__out, (size_t)cap);
        if (!grown) sy__oom();
        sy__out = grown;
        sy__out_cap = cap;
    }
    memcpy(sy__out + sy__out_len, p, (size_t)n);
    sy__out_len += n;
}

void sy_out_str(sy_str s) { sy_out_raw(s.p, s.n); }
void sy_out_cstr(const char *s) { sy_out_raw(s, (int32_t)strlen(s)); }

void sy_out_json_string(const char *p, int32_t n) {
    static const char hex[] = "0123456789abcdef";
    sy_out_raw("\"", 1);
    for (int32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sy_out_raw(esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sy_out_raw(esc, 6);
        } else {
            sy_out_raw((const char *)&p[i], 1);
        }
    }
    sy_out_raw("\"", 1);
}

void sy_out_int(int64_t v) {
    char digits[24];
    int i = 24;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        digits[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) digits[--i] = '-';
    sy_out_raw(digits + i, 24 - i);
}

void sy_out_reset(void) { sy__out_len = 0; }

sy_str sy_out_view(void) { return (sy_str){sy__out, sy__out_len}; }

int64_t sy_done(void) {
    return ((int64_t)(uint32_t)(uintptr_t)sy__out << 32) | (uint32_t)sy__out_len;
}

int64_t sy_none(void) {
    sy__out_len = 0;
    sy_out_raw("{}", 2);
    return sy_done();
}

_Noreturn void sy_fail(const char *message) {
    sy_host_abort(SY_ABORT_ERROR, message, (int32_t)strlen(message));
    __builtin_trap();
}

/* ---- JSON reading ---- */

static int32_t ws(sy_str j, int32_t i) {
    while (i < j.n && (j.p[i] == ' ' || j.p[i] == '\n' || j.p[i] == '\r' || j.p[i] == '\t')) i++;
    return i;
}

static int32_t skip_string(sy_str j, int32_t i) { /* i at the opening quote */
    for (i++; i < j.n; i++) {
        if (j.p[i] == '\\') i++;
        else if (j.p[i] == '"') return i + 1;
    }
    return j.n;
}

int32_t sy_json_skip(sy_str j, int32_t i) {
    i = ws(j, i);
    if (i >= j.n) return j.n;
    char c = j.p[i];
    if (c == '"') return skip_string(j, i);
    if (c == '{' || c == '[') {
        int depth = 0;
        for (; i < j.n; i++) {
            char d = j.p[i];
            if (d == '"') { i = skip_string(j, i) - 1; continue; }
            if (d == '{' || d == '[') depth++;
            else if (d == '}' || d == ']') {
                if (--depth == 0) return i + 1;
            }
        }
        return j.n;
    }
    while (i < j.n && j.p[i] != ',' && j.p[i] != '}' && j.p[i] != ']' && j.p[i] != ' ' &&
           j.p[i] != '\n' && j.p[i] != '\r' && j.p[i] != '\t')
        i++;
    return i;
}

static sy_str member(sy_str j, const char *key, int32_t klen) {
    sy_str none = {0, 0};
    int32_t i = ws(j, 0);
    if (i >= j.n) return none;
    if (j.p[i] == '{') {
        i++;
        for (;;) {
            i = ws(j, i);
            if (i >= j.n || j.p[i] != '"') return none;
            int32_t kstart = i + 1, kend = skip_string(j, i);
            int match = (kend - 1 - kstart == klen) && memcmp(j.p + kstart, key, (size_t)klen) == 0;
            i = ws(j, kend);
            if (i >= j.n || j.p[i] != ':') return none;
            int32_t vstart = ws(j, i + 1), vend = sy_json_skip(j, vstart);
            if (match) return (sy_str){j.p + vstart, vend - vstart};
            i = ws(j, vend);
            if (i >= j.n || j.p[i] != ',') return none;
            i++;
        }
    }
    if (j.p[i] == '[') {
        int32_t want = 0;
        for (int32_t k = 0; k < klen; k++) {
            if (key[k] < '0' || key[k] > '9') return none;
            want = want * 10 + (key[k] - '0');
        }
        i++;
        for (int32_t index = 0;; index++) {
            int32_t vstart = ws(j, i);
            if (vstart >= j.n || j.p[vstart] == ']') return none;
            int32_t vend = sy_json_skip(j, vstart);
            if (index == want) return (sy_str){j.p + vstart, vend - vstart};
            i = ws(j, vend);
            if (i >= j.n || j.p[i] != ',') return none;
            i++;
        }
    }
    return none;
}

sy_str sy_json_get(sy_str json, const char *path) {
    sy_str v = json;
    while (*path && v.p) {
        const char *dot = strchr(path, '.');
        int32_t len = dot ? (int32_t)(dot - path) : (int32_t)strlen(path);
        v = member(v, path, len);
        path += len + (dot ? 1 : 0);
    }
    return v;
}

int sy_json_is_string(sy_str v) { return v.p && v.n >= 2 && v.p[0] == '"'; }

sy_str sy_json_string_raw(sy_str v) {
    if (!sy_json_is_string(v)) return (sy_str){0, 0};
    return (sy_str){v.p + 1, v.n - 2};
}

int64_t sy_json_int(sy_str v, int64_t fallback) {
    if (!v.p || v.n == 0) return fallback;
    int32_t i = 0;
    int neg = 0;
    if (v.p[0] == '-') { neg = 1; i = 1; }
    if (i >= v.n || v.p[i] < '0' || v.p[i] > '9') return fallback;
    int64_t n = 0;
    for (; i < v.n && v.p[i] >= '0' && v.p[i] <= '9'; i++) n = n * 10 + (v.p[i] - '0');
    return neg ? -n : n;
}

int sy_json_equals(sy_str v, const char *text) {
    sy_str raw = sy_json_string_raw(v);
    int32_t n = (int32_t)strlen(text);
    return raw.p && raw.n == n && memcmp(raw.p, text, (size_t)n) == 0;
}

/* ---- JSON rewriting ---- */

static int32_t map_value(sy_str j, int32_t i, sy_str key, sy_string_fn fn, void *ctx);

static int32_t map_value(sy_str j, int32_t i, sy_str key, sy_string_fn fn, void *ctx) {
    i = ws(j, i);
    if (i >= j.n) return j.n;
    char c = j.p[i];
    if (c == '"') {
        int32_t end = skip_string(j, i);
        sy_str raw = {j.p + i + 1, end - i - 2};
        sy_out_raw("\"", 1);
        if (!fn(key, raw, ctx)) sy_out_str(raw);
        sy_out_raw("\"", 1);
        return end;
    }
    if (c == '{') {
        sy_out_raw("{", 1);
        i = ws(j, i + 1);
        int first = 1;
        while (i < j.n && j.p[i] != '}') {
            if (!first) sy_out_raw(",", 1);
            first = 0;
            int32_t kend = skip_string(j, i);
            sy_str k = {j.p + i + 1, kend - i - 2};
            sy_out_raw(j.p + i, kend - i);
            sy_out_raw(":", 1);
            i = ws(j, kend);
            i = map_value(j, i + 1, k, fn, ctx); /* skip ':' */
            i = ws(j, i);
            if (i < j.n && j.p[i] == ',') i = ws(j, i + 1);
        }
        sy_out_raw("}", 1);
        return i + 1;
    }
    if (c == '[') {
        sy_out_raw("[", 1);
        i = ws(j, i + 1);
        int first = 1;
        while (i < j.n && j.p[i] != ']') {
            if (!first) sy_out_raw(",", 1);
            first = 0;
            i = ws(j, map_value(j, i, key, fn, ctx));
            if (i < j.n && j.p[i] == ',') i = ws(j, i + 1);
        }
        sy_out_raw("]", 1);
        return i + 1;
    }
    int32_t end = sy_json_skip(j, i);
    sy_out_raw(j.p + i, end - i);
    return end;
}

void sy_json_map_strings(sy_str json, sy_string_fn fn, void *ctx) {
    sy_str none = {"", 0};
    map_value(json, 0, none, fn, ctx);
}

/* ---- text ---- */

sy_str sy_cstr(const char *s) { return (sy_str){s, (int32_t)strlen(s)}; }

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

int32_t sy_find_ci(sy_str hay, sy_str needle) {
    if (needle.n == 0) return 0;
    for (int32_t i = 0; i + needle.n <= hay.n; i++) {
        int32_t k = 0;
        while (k < needle.n && lower(hay.p[i + k]) == lower(needle.p[k])) k++;
        if (k == needle.n) return i;
    }
    return -1;
}

/* ---- capabilities ---- */

void sy_log(int32_t level, const char *message) {
    sy_host_log(level, message, (int32_t)strlen(message));
}

/* Host calls that return data: try a stack buffer, fetch a longer result with `result`. */
static int32_t take(int32_t n, char *small, int32_t small_cap, sy_str *out) {
    if (n < 0) return n;
    if (n <= small_cap) {
        char *copy = malloc((size_t)n + 1);
        if (!copy) sy__oom();
        memcpy(copy, small, (size_t)n);
        *out = (sy_str){copy, n};
        return n;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) sy__oom();
    sy_host_result(big, n);
    *out = (sy_str){big, n};
    return n;
}

sy_str sy_config(void) {
    static sy_str cached;
    static int loaded;
    if (!loaded) {
        char small[512];
        if (take(sy_host_config(small, sizeof small), small, sizeof small, &cached) < 0)
            cached = sy_cstr("{}");
        loaded = 1;
    }
    return cached;
}

sy_str sy_config_get(const char *path) { return sy_json_get(sy_config(), path); }

int32_t sy_kv_get(const char *key, sy_str *value) {
    char small[512];
    int32_t n = sy_host_kv_get(key, (int32_t)strlen(key), small, sizeof small);
    return take(n, small, sizeof small, value);
}

int32_t sy_kv_set(const char *key, sy_str value) {
    return sy_host_kv_set(key, (int32_t)strlen(key), value.p, value.n);
}

int32_t sy_http(sy_str request, sy_str *response) {
    char small[1024];
    int32_t n = sy_host_http(request.p, request.n, small, sizeof small);
    return take(n, small, sizeof small, response);
}
