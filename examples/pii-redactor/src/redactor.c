/* on_request: mask emails, phone numbers and (Luhn-valid) card numbers in every message
 * text and system prompt. Strings are scanned in their JSON-escaped form; none of the
 * patterns contains a character JSON escapes, so a match never straddles an escape. */
#include "switchyard_plugin.h"

typedef struct {
    sy_str email, phone, card;
    int count;
} masks;

static int is_local(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
static int is_domain(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of an email address starting at s[i], or 0. */
static int32_t email_at(sy_str s, int32_t i) {
    int32_t j = i;
    while (j < s.n && is_local(s.p[j])) j++;
    if (j == i || j >= s.n || s.p[j] != '@') return 0;
    int32_t d = ++j, last_dot = -1;
    while (j < s.n && is_domain(s.p[j])) {
        if (s.p[j] == '.') last_dot = j;
        j++;
    }
    while (j > d && s.p[j - 1] == '.') j--; /* a sentence's full stop is not the domain's */
    if (last_dot >= j - 1) {
        last_dot = -1;
        for (int32_t k = d; k < j; k++)
            if (s.p[k] == '.') last_dot = k;
    }
    if (last_dot <= d || j - last_dot - 1 < 2) return 0;
    for (int32_t k = last_dot + 1; k < j; k++)
        if (!is_alpha(s.p[k])) return 0;
    return j - i;
}

static int luhn(const char *digits, int n) {
    int sum = 0;
    for (int k = 0; k < n; k++) {
        int d = digits[n - 1 - k] - '0';
        if (k % 2 == 1) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

/* A run of digits with spaces, dashes, dots or parentheses: 1 card, 2 phone, 0 neither. */
static int number_at(sy_str s, int32_t i, int32_t *len) {
    char digits[32];
    int n = 0;
    int32_t j = i, end = i;
    if (s.p[j] == '+' || s.p[j] == '(') j++;
    while (j < s.n) {
        char c = s.p[j];
        if (is_digit(c)) {
            if (n < 32) digits[n] = c;
            n++;
            end = j + 1;
        } else if (!(c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')) {
            break;
        } else if (j + 1 < s.n && !is_digit(s.p[j + 1]) && s.p[j + 1] != '(' && c != ')') {
            break;
        }
        j++;
    }
    if (end < s.n && (is_alpha(s.p[end]) || s.p[end] == '@')) return 0;
    *len = end - i;
    if (n >= 13 && n <= 19 && luhn(digits, n)) return 1;
    if ((n >= 10 && n <= 15) || (s.p[i] == '+' && n >= 8 && n <= 15)) return 2;
    return 0;
}

static int redact(sy_str key, sy_str raw, void *ctx) {
    masks *m = ctx;
    static const char *const fields[] = {"content", "text", "system"};
    int wanted = 0;
    for (int f = 0; f < 3; f++) {
        sy_str name = sy_cstr(fields[f]);
        if (key.n == name.n && sy_find_ci(key, name) == 0) wanted = 1;
    }
    if (!wanted) return 0;
    int before = m->count;
    int32_t copied = 0;
    for (int32_t i = 0; i < raw.n;) {
        int boundary = i == 0 || !is_local(raw.p[i - 1]);
        int32_t len = 0;
        int kind = 0;
        if (boundary && (len = email_at(raw, i)) > 0) {
            kind = 3;
        } else if (boundary && (is_digit(raw.p[i]) || raw.p[i] == '+' || raw.p[i] == '(')) {
            kind = number_at(raw, i, &len);
        }
        if (!kind) {
            i++;
            continue;
        }
        sy_out_raw(raw.p + copied, i - copied);
        sy_out_str(kind == 3 ? m->email : kind == 1 ? m->card : m->phone);
        m->count++;
        i += len;
        copied = i;
    }
    if (m->count == before) return 0;
    sy_out_raw(raw.p + copied, raw.n - copied);
    return 1;
}

static sy_str mask(const char *key, const char *fallback) {
    sy_str v = sy_json_string_raw(sy_config_get(key));
    return v.p ? v : sy_cstr(fallback);
}

SY_HOOK(on_request) {
    masks m = {mask("email", "[EMAIL]"), mask("phone", "[PHONE]"), mask("card", "[CARD]"), 0};
    sy_out_cstr("{\"body\":");
    sy_json_map_strings(sy_json_get(input, "request.body"), redact, &m);
    sy_out_cstr("}");
    return m.count ? sy_done() : sy_none();
}
