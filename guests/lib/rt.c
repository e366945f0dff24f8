#include "rt.h"

#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20

void putchar_uart(char c) {
    while ((mmio_read8(UART0_BASE + UART_LSR) & UART_LSR_THRE) == 0) {
    }
    mmio_write8(UART0_BASE + UART_THR, (uint8_t)c);
}

void puts_uart(const char *s) {
    while (*s) putchar_uart(*s++);
}

static void print_unsigned(uint32_t value, unsigned base, int width, char pad, int upper) {
    char digits[32];
    int n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[n++] = set[value % base];
        value /= base;
    } while (value != 0);
    while (n < width) digits[n++] = pad;
    while (n > 0) putchar_uart(digits[--n]);
}

/* Supports %d %i %u %x %X %c %s %p %% with an optional '0' flag and width. */
int vprintf(const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putchar_uart(*fmt);
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
        case 'd':
        case 'i': {
            int32_t v = va_arg(ap, int32_t);
            if (v < 0) {
                putchar_uart('-');
                print_unsigned((uint32_t)(-(v + 1)) + 1u, 10, width > 0 ? width - 1 : 0, pad, 0);
            } else {
                print_unsigned((uint32_t)v, 10, width, pad, 0);
            }
            break;
        }
        case 'u': print_unsigned(va_arg(ap, uint32_t), 10, width, pad, 0); break;
        case 'x': print_unsigned(va_arg(ap, uint32_t), 16, width, pad, 0); break;
        case 'X': print_unsigned(va_arg(ap, uint32_t), 16, width, pad, 1); break;
        case 'p':
            puts_uart("0x");
            print_unsigned((uint32_t)(uintptr_t)va_arg(ap, void *), 16, 8, '0', 0);
            break;
        case 'c': putchar_uart((char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            puts_uart(s ? s : "(null)");
            break;
        }
        case '%': putchar_uart('%'); break;
        case '\0': return 0;
        default: putchar_uart('%'); putchar_uart(*fmt); break;
        }
    }
    return 0;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    return 0;
}

void *memset(void *dst, int c, unsigned long n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *dst, const void *src, unsigned long n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void exit(int code) {
    mmio_write32(TEST_DEVICE, code == 0 ? 0x5555u : (((uint32_t)code << 16) | 0x3333u));
    for (;;) {
        __asm__ volatile("wfi");
    }
}
