#include "switchyard_plugin.h"

SY_HOOK(on_request) {
    volatile uint64_t spins = 0;
    for (;;) spins++;
}
