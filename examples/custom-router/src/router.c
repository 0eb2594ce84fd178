/* route: long prompts to `long_route`; otherwise the first configured keyword found in the
 * messages picks its route; otherwise no opinion (the gateway's own rules decide). */
#include "switchyard_plugin.h"

static int64_t choose(sy_str route, const char *reason) {
    sy_out_cstr("{\"route\":");
    sy_out_str(route);
    sy_out_cstr(",\"reason\":\"");
    sy_out_cstr(reason);
    sy_out_cstr("\"}");
    return sy_done();
}

SY_HOOK(route) {
    int64_t tokens = sy_json_int(sy_json_get(input, "request.token_estimate"), 0);
    sy_str long_route = sy_config_get("long_route");
    if (sy_json_is_string(long_route) && tokens > sy_json_int(sy_config_get("long_threshold"), 3000))
        return choose(long_route, "long");
    sy_str messages = sy_json_get(input, "request.body.messages");
    sy_str keywords = sy_config_get("keywords");
    for (int i = 0; i < 64; i++) {
        char path[24] = {0};
        int n = i, len = 0;
        char digits[4];
        do { digits[len++] = (char)('0' + n % 10); n /= 10; } while (n);
        for (int k = 0; k < len; k++) path[k] = digits[len - 1 - k];
        sy_str rule = sy_json_get(keywords, path);
        if (!rule.p) break;
        sy_str keyword = sy_json_string_raw(sy_json_get(rule, "keyword"));
        sy_str route = sy_json_get(rule, "route");
        if (keyword.n > 0 && sy_json_is_string(route) && sy_find_ci(messages, keyword) >= 0)
            return choose(route, "keyword");
    }
    return sy_none();
}
