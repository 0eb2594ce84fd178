#include "switchyard_plugin.h"

static char block[65536];

SY_HOOK(on_request) {
    for (;;) sy_out_raw(block, sizeof block);
}
