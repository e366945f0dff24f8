/* spinlock.h: a test-and-set lock built from LR/SC, for guests with several harts.

   lr.w.aq takes the reservation with acquire ordering, sc.w.rl stores 1 with release ordering
   and fails if another hart touched the word in between (unprivileged spec, chapter "A"
   extension, LR/SC). Unlocking is a fence then a plain store of 0. */
#ifndef MATRYOSHKA_SPINLOCK_H
#define MATRYOSHKA_SPINLOCK_H

#include <stdint.h>

static inline void lrsc_lock(volatile uint32_t *lock) {
    uint32_t busy;
    __asm__ volatile(
        "1: lr.w.aq  %0, (%1)\n"
        "   bnez     %0, 1b\n"
        "   sc.w.rl  %0, %2, (%1)\n"
        "   bnez     %0, 1b\n"
        : "=&r"(busy)
        : "r"(lock), "r"(1u)
        : "memory");
}

static inline void lrsc_unlock(volatile uint32_t *lock) {
    __asm__ volatile("fence rw, w" : : : "memory");
    *lock = 0;
}

#endif /* MATRYOSHKA_SPINLOCK_H */
