#include "switchyard_plugin.h"

SY_HOOK(on_request) {
    volatile int zero = 0;
    return (int64_t)(input.n / zero);
}
