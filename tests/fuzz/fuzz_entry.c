/* fuzz_entry.c - libFuzzer entry point; built once per target with
 * -DFZ_TARGET=fz_<name> (see meson.build). */
#include <stddef.h>
#include <stdint.h>

#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FZ_TARGET(data, size);
    return 0;
}
