/* A minimal runtime for bare-metal guests on the QEMU `virt` board (and on matryoshka's). */
#ifndef MATRYOSHKA_RT_H
#define MATRYOSHKA_RT_H

#include <stdarg.h>
#include <stdint.h>

#define UART0_BASE 0x10000000u   /* ns16550a, IRQ 10 */
#define TEST_DEVICE 0x00100000u  /* sifive_test: 0x5555 pass, (code << 16) | 0x3333 fail */

static inline void mmio_write32(uintptr_t addr, uint32_t value) { *(volatile uint32_t *)addr = value; }
static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write8(uintptr_t addr, uint8_t value) { *(volatile uint8_t *)addr = value; }
static inline uint8_t mmio_read8(uintptr_t addr) { return *(volatile uint8_t *)addr; }

void putchar_uart(char c);
void puts_uart(const char *s);
int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
void *memset(void *dst, int c, unsigned long n);
void *memcpy(void *dst, const void *src, unsigned long n);
__attribute__((noreturn)) void exit(int code);

#endif
