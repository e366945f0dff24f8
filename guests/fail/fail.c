/* Reports a failure through the test device: (42 << 16) | 0x3333. QEMU exits with status 42, and so
   must `matryoshka run`. */
#include "rt.h"

int main(void) {
    printf("failing on purpose with code 42\n");
    return 42;
}
