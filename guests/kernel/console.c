/* Console output on the ns16550a (polled), a printf subset, LR/SC spinlocks and memory helpers.
   Used from M-mode (physical addresses) and S-mode (the kernel identity-maps RAM and the UART). */
#include "kernel.h"
#include "spinlock.h"

#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20

static volatile uint32_t print_lock;

/* The kernel's locks: LR/SC test-and-set (guests/include/spinlock.h). */
void spin_lock(volatile uint32_t *lock) { lrsc_lock(lock); }

void spin_unlock(volatile uint32_t *lock) { lrsc_unlock(lock); }

#ifdef PV
/* kernel-pv: once the page shared with the hypervisor is registered, output goes into its console
   ring, which the hypervisor copies out at its next exit (no call at all); before that, a line at
   a time through the SBI debug console (one call instead of one UART trap per byte). The buffers
   are in kernel memory, which the kernel maps at its physical address. */
struct pv_shared pv_page;
static uint32_t pv_page_ready;
static char line[128];
static uint32_t line_length;

void console_flush(void) {
    if (line_length > 0) sbi_debug_console_write(line_length, (uint32_t)(uintptr_t)line);
    line_length = 0;
}

void console_use_shared_page(void) {
    console_flush();
    pv_page_ready = 1;
}

void uart_putc(char c) {
    if (pv_page_ready) {
        pv_console_putc(&pv_page, c);
        return;
    }
    line[line_length++] = c;
    if (c == '\n' || line_length == sizeof line) console_flush();
}
#else
void uart_putc(char c) {
    while ((MMIO8(UART_BASE + UART_LSR) & UART_LSR_THRE) == 0) {
    }
    MMIO8(UART_BASE + UART_THR) = (uint8_t)c;
}
#endif

static void put_unsigned(uint32_t value, unsigned base, int width, char pad) {
    char digits[12];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value != 0);
    while (n < width) digits[n++] = pad;
    while (n > 0) uart_putc(digits[--n]);
}

/* %d %u %x %c %s %p %%, optional '0' flag and width */
void kvprintf(const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            uart_putc(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        switch (*fmt) {
        case 'd': {
            int32_t v = va_arg(ap, int32_t);
            if (v < 0) {
                uart_putc('-');
                put_unsigned((uint32_t)(-(v + 1)) + 1u, 10, width > 0 ? width - 1 : 0, pad);
            } else {
                put_unsigned((uint32_t)v, 10, width, pad);
            }
            break;
        }
        case 'u': put_unsigned(va_arg(ap, uint32_t), 10, width, pad); break;
        case 'x': put_unsigned(va_arg(ap, uint32_t), 16, width, pad); break;
        case 'p':
            uart_putc('0');
            uart_putc('x');
            put_unsigned(va_arg(ap, uint32_t), 16, 8, '0');
            break;
        case 'c': uart_putc((char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s) uart_putc(*s++);
            break;
        }
        case '%': uart_putc('%'); break;
        case '\0': return;
        default: uart_putc('%'); uart_putc(*fmt); break;
        }
    }
}

void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spin_lock(&print_lock);
    kvprintf(fmt, ap);
    spin_unlock(&print_lock);
    va_end(ap);
}

void kwrite(const char *buf, uint32_t len) {
    spin_lock(&print_lock);
    for (uint32_t i = 0; i < len; i++) uart_putc(buf[i]);
    spin_unlock(&print_lock);
}

void *kmemset(void *dst, int c, uint32_t n) {
    volatile uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

void *kmemcpy(void *dst, const void *src, uint32_t n) {
    volatile uint8_t *d = dst;
    const volatile uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

int kmemcmp(const void *a, const void *b, uint32_t n) {
    const uint8_t *x = a, *y = b;
    for (uint32_t i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

void *memset(void *dst, int c, unsigned long n) { return kmemset(dst, c, (uint32_t)n); }
void *memcpy(void *dst, const void *src, unsigned long n) { return kmemcpy(dst, src, (uint32_t)n); }
