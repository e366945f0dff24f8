/* The first guest: greets over the ns16550a UART and passes through the test device. */
#include "rt.h"

int main(void) {
    uint32_t hart;
    __asm__ volatile("csrr %0, mhartid" : "=r"(hart));
    printf("Hello from matryoshka guest on hart %u!\n", hart);
    return 0;
}
