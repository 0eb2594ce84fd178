/* on_usage: POST {"source": "switchyard", "usage": <the event>} to the configured url.
 * The host only lets the request through to hosts the manifest lists. */
#include "switchyard_plugin.h"

#include <stdlib.h>

SY_HOOK(on_usage) {
    sy_str url = sy_config_get("url");
    sy_str usage = sy_json_get(input, "usage");
    if (!sy_json_is_string(url) || !usage.p) return sy_none();
    sy_out_cstr("{\"method\":\"POST\",\"url\":");
    sy_out_str(url);
    sy_out_cstr(",\"body\":{\"source\":\"switchyard\",\"usage\":");
    sy_out_str(usage);
    sy_out_cstr("}}");
    sy_str reply;
    int32_t n = sy_http(sy_out_view(), &reply);
    if (n == SY_DENIED) sy_log(SY_WARNING, "usage-notifier: the url's host is not in allowed_hosts");
    else if (n < 0) sy_log(SY_WARNING, "usage-notifier: the webhook could not be reached");
    else free((void *)reply.p);
    return sy_none();
}
