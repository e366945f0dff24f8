/* An S-mode "kernel" started by boot-firmware through --bios / QEMU -bios. It reports where it was
   loaded, and what the device tree's /chosen node says (bootargs, initrd range) together with the
   first bytes of the initrd, so that matryoshka's boot path can be compared with QEMU's. */
#include <stdint.h>

#define UART0 ((volatile uint8_t *)0x10000000u)
#define TEST_DEVICE ((volatile uint32_t *)0x00100000u)

static void putc_(char c) { while ((UART0[5] & 0x20) == 0) {} UART0[0] = (uint8_t)c; }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void hex(uint32_t v) { for (int i = 28; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]); }
static uint32_t be32(const void *p) {
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}
static int streq(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return *a == *b; }
static __attribute__((noreturn)) void finish(uint32_t value) { *TEST_DEVICE = value; for (;;) {} }

/* Walks the flattened device tree's structure block (Devicetree spec v0.4 §5.4) for /chosen. */
static void report_chosen(const uint8_t *fdt) {
    if (be32(fdt) != 0xd00dfeedu) { puts_("fdt: bad magic\n"); finish((2 << 16) | 0x3333); }
    const uint8_t *structure = fdt + be32(fdt + 8);
    const char *strings = (const char *)fdt + be32(fdt + 12);
    int depth = 0, in_chosen = 0;
    uint32_t initrd_start = 0, initrd_end = 0;
    for (const uint8_t *p = structure;;) {
        uint32_t token = be32(p);
        p += 4;
        if (token == 1) { /* BEGIN_NODE */
            const char *name = (const char *)p;
            depth++;
            if (depth == 2 && streq(name, "chosen")) in_chosen = 1;
            while (*p) p++;
            p = (const uint8_t *)(((uintptr_t)p + 4) & ~(uintptr_t)3);
        } else if (token == 2) { /* END_NODE */
            if (depth == 2) in_chosen = 0;
            depth--;
        } else if (token == 3) { /* PROP */
            uint32_t len = be32(p), nameoff = be32(p + 4);
            const uint8_t *value = p + 8;
            const char *name = strings + nameoff;
            if (in_chosen && streq(name, "bootargs")) { puts_("chosen: bootargs \""); puts_((const char *)value); puts_("\"\n"); }
            if (in_chosen && streq(name, "linux,initrd-start")) initrd_start = be32(value + len - 4);
            if (in_chosen && streq(name, "linux,initrd-end")) initrd_end = be32(value + len - 4);
            p = value + ((len + 3) & ~3u);
        } else if (token == 4) { /* NOP */
        } else break; /* END */
    }
    if (initrd_start) {
        puts_("chosen: initrd at 0x"); hex(initrd_start); puts_(", ");
        hex(initrd_end - initrd_start); puts_(" bytes, begins \"");
        for (const char *c = (const char *)initrd_start; c < (const char *)initrd_end && *c != '\n'; c++) putc_(*c);
        puts_("\"\n");
    } else {
        puts_("chosen: no initrd\n");
    }
}

void kernel_main(uint32_t hart, const uint8_t *fdt) {
    uint32_t pc;
    __asm__ volatile("auipc %0, 0" : "=r"(pc));
    puts_("boot-kernel: running on hart "); hex(hart); puts_(" near 0x"); hex(pc & ~0xfffu); puts_("\n");
    /* Only S-mode may read sstatus without trapping to M (which has no handler here). */
    uint32_t sstatus;
    __asm__ volatile("csrr %0, sstatus" : "=r"(sstatus));
    puts_("boot-kernel: in S-mode, sstatus readable\n");
    puts_("fdt: at 0x"); hex((uint32_t)(uintptr_t)fdt); puts_("\n");
    report_chosen(fdt);
    finish(0x5555);
}
