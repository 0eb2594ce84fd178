#include "switchyard_plugin.h"

SY_HOOK(on_request) {
    sy_out_cstr("\xff\xfe{ this is not json");
    return sy_done();
}

SY_HOOK(route) {
    return ((int64_t)0x7fff0000 << 32) | 4096; /* far beyond its memory */
}
