/*
 * Reboot through the test device: writing 0x7777 to it resets the machine, as on QEMU's virt
 * board. A reset reloads the images and restarts every hart at the reset vector but leaves the
 * rest of RAM as it was, so the guest counts its boots in a word of RAM that no image covers.
 */
#include "rt.h"

#define FINISHER_RESET 0x7777
/* 4 MiB into RAM: past the image, far below the device tree at the top of RAM. */
#define BOOT_RECORD ((volatile uint32_t *)0x80400000)
#define BOOT_MAGIC 0x5245424fu /* "OBER" */

int main(void) {
    uint32_t boots = 1;
    if (BOOT_RECORD[0] == BOOT_MAGIC) boots = BOOT_RECORD[1] + 1;
    printf("boot %u\n", boots);
    if (boots < 3) {
        BOOT_RECORD[0] = BOOT_MAGIC;
        BOOT_RECORD[1] = boots;
        printf("resetting\n");
        *(volatile uint32_t *)TEST_DEVICE = FINISHER_RESET;
        for (;;) __asm__ volatile("wfi");
    }
    BOOT_RECORD[0] = 0;
    printf("rebooted twice, RAM kept across resets\n");
    return 0;
}
