/* The U-mode tasks. This file is linked at USER_BASE (0x00400000, see link.ld) and copied into
   every task's own frames, so it must be self-contained: no calls into the kernel image (no
   memset/memcpy, no libgcc), only system calls.

   Output rule: a task prints only between SYS_WAIT_TURN(pid) and its exit (or death), and each
   line is one SYS_WRITE, so the transcript does not depend on where the timer interrupts. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#include "kernel.h"

static inline uint32_t sys(uint32_t n, uint32_t arg0, uint32_t arg1) {
    register uint32_t a0 __asm__("a0") = arg0;
    register uint32_t a1 __asm__("a1") = arg1;
    register uint32_t a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a7) : "memory");
    return a0;
}

static __attribute__((noreturn)) void sys_exit(uint32_t code) {
    sys(SYS_EXIT, code, 0);
    for (;;) {
    }
}

/* ---------------------------------------------------------------- one output line */

struct line {
    uint32_t n;
    char b[160];
};

static void put_s(struct line *l, const char *s) {
    while (*s && l->n < sizeof l->b - 1) l->b[l->n++] = *s++;
}

static void put_u(struct line *l, uint32_t v) {
    char d[10];
    int k = 0;
    do {
        d[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k > 0 && l->n < sizeof l->b - 1) l->b[l->n++] = d[--k];
}

static void put_x(struct line *l, uint32_t v) {
    put_s(l, "0x");
    for (int shift = 28; shift >= 0 && l->n < sizeof l->b - 1; shift -= 4)
        l->b[l->n++] = "0123456789abcdef"[(v >> shift) & 15];
}

static void begin(struct line *l, uint32_t pid) {
    l->n = 0;
    put_s(l, "[task ");
    put_u(l, pid);
    put_s(l, "] ");
}

static void send(struct line *l) {
    l->b[l->n++] = '\n';
    sys(SYS_WRITE, (uint32_t)l->b, l->n);
    l->n = 0;
}

/* ---------------------------------------------------------------- shared pieces */

/* Same virtual address in every task, a different frame in each: proves the address spaces are
   separate when each task still finds its own value after the others have run. */
static volatile uint32_t private_tag;

static uint32_t task_start(void) {
    uint32_t pid = sys(SYS_GETPID, 0, 0);
    private_tag = pid * 0x01010101u;
    return pid;
}

static void burn(void) {
    volatile uint32_t x = 0;
    for (uint32_t i = 0; i < 2000; i++) x = x + i;
}

/* Spin until the timer has interrupted this task n times (the count is never printed). */
static void get_preempted(uint32_t n) {
    while (sys(SYS_PREEMPTIONS, 0, 0) < n) burn();
}

static int report_private(uint32_t pid) {
    struct line l;
    int ok = private_tag == pid * 0x01010101u;
    begin(&l, pid);
    put_s(&l, "private data at ");
    put_x(&l, (uint32_t)&private_tag);
    put_s(&l, " still holds ");
    put_x(&l, private_tag);
    put_s(&l, ok ? " after preemption: ok" : ": CORRUPTED");
    send(&l);
    return ok;
}

/* ---------------------------------------------------------------- the tasks */

void utask_primes(void) {
    uint32_t pid = task_start();
    uint32_t count = 0, sum = 0;
    for (uint32_t n = 2; n < 20000; n++) {
        int prime = 1;
        for (uint32_t d = 2; d * d <= n; d++)
            if (n % d == 0) {
                prime = 0;
                break;
            }
        if (prime) {
            count++;
            sum += n;
        }
    }
    get_preempted(2);
    sys(SYS_WAIT_TURN, pid, 0);
    struct line l;
    begin(&l, pid);
    put_s(&l, "there are ");
    put_u(&l, count);
    put_s(&l, " primes below 20000, their sum is ");
    put_u(&l, sum);
    send(&l);
    sys_exit(report_private(pid) && count == 2262 ? 0 : 1);
}

void utask_collatz(void) {
    uint32_t pid = task_start();
    uint32_t best = 1, best_steps = 0;
    for (uint32_t n = 1; n < 20000; n++) {
        uint32_t x = n, steps = 0;
        while (x != 1) {
            x = (x & 1) ? 3 * x + 1 : x / 2;
            steps++;
        }
        if (steps > best_steps) {
            best_steps = steps;
            best = n;
        }
        if (n % 5000 == 0) sys(SYS_YIELD, 0, 0);
    }
    get_preempted(2);
    sys(SYS_WAIT_TURN, pid, 0);
    struct line l;
    begin(&l, pid);
    put_s(&l, "collatz below 20000: longest chain starts at ");
    put_u(&l, best);
    put_s(&l, " (");
    put_u(&l, best_steps);
    put_s(&l, " steps), with voluntary yields");
    send(&l);
    sys_exit(report_private(pid) ? 0 : 1);
}

void utask_heap(void) {
    uint32_t pid = task_start();
    const uint32_t pages = 3, bytes = pages * 4096;
    uint32_t base = sys(SYS_SBRK, bytes, 0);
    uint32_t top = sys(SYS_SBRK, 0, 0);
    volatile uint32_t *heap = (volatile uint32_t *)base;
    int zero = 1;
    for (uint32_t i = 0; i < bytes / 4; i++) zero = zero && heap[i] == 0;   /* faults, page by page */
    for (uint32_t i = 0; i < bytes / 4; i++) heap[i] = i * 2654435761u;
    get_preempted(2);
    int pattern = 1;
    for (uint32_t i = 0; i < bytes / 4; i++) pattern = pattern && heap[i] == i * 2654435761u;
    sys(SYS_WAIT_TURN, pid, 0);
    struct line l;
    begin(&l, pid);
    put_s(&l, "heap: sbrk(");
    put_u(&l, bytes);
    put_s(&l, ") = ");
    put_x(&l, base);
    put_s(&l, ", break now ");
    put_x(&l, top);
    send(&l);
    begin(&l, pid);
    put_s(&l, "heap: ");
    put_u(&l, pages);
    put_s(&l, zero ? " pages read as zero on first touch" : " pages NOT zero");
    put_s(&l, pattern ? ", pattern intact after preemption" : ", pattern CORRUPTED");
    send(&l);
    int ok = report_private(pid) && zero && pattern && base == USER_HEAP && top == USER_HEAP + bytes;
    sys_exit(ok ? 0 : 1);
}

static void announce(uint32_t pid, const char *what, uint32_t addr) {
    struct line l;
    begin(&l, pid);
    put_s(&l, what);
    if (addr) put_x(&l, addr);
    send(&l);
}

void utask_rowrite(void) {
    uint32_t pid = task_start();
    sys(SYS_WAIT_TURN, pid, 0);
    announce(pid, "storing to my read-only text page at ", USER_BASE);
    *(volatile uint32_t *)USER_BASE = 0;
    sys_exit(1);
}

void utask_kread(void) {
    uint32_t pid = task_start();
    sys(SYS_WAIT_TURN, pid, 0);
    announce(pid, "loading from kernel memory at ", RAM_BASE);
    (void)*(volatile uint32_t *)RAM_BASE;
    sys_exit(1);
}

void utask_priv(void) {
    uint32_t pid = task_start();
    sys(SYS_WAIT_TURN, pid, 0);
    announce(pid, "executing a supervisor instruction (csrr sstatus)", 0);
    uint32_t v;
    __asm__ volatile("csrr %0, sstatus" : "=r"(v));
    sys_exit(1 + v);
}

void utask_beyond_brk(void) {
    uint32_t pid = task_start();
    sys(SYS_WAIT_TURN, pid, 0);
    announce(pid, "storing beyond my break (0x00500000) at ", 0x00600000u);
    *(volatile uint32_t *)0x00600000u = 1;
    sys_exit(1);
}

#ifdef OPS
/* ---------------------------------------------------------------- kernel-ops: one operation, many times */

/* System calls: the cheapest one, over and over. */
void utask_ops_syscalls(void) {
    for (uint32_t i = 0; i < OPS_SYSCALLS; i++) sys(SYS_GETPID, 0, 0);
    sys_exit(0);
}

/* Context switches: two of these yield to each other, each yield a switch of address space. */
void utask_ops_yield(void) {
    for (uint32_t i = 0; i < OPS_YIELDS; i++) sys(SYS_YIELD, 0, 0);
    sys_exit(0);
}

/* Page faults: grow the heap, then touch each new page once (a demand-paging fault each). */
void utask_ops_faults(void) {
    uint32_t base = sys(SYS_SBRK, OPS_FAULTS * 4096u, 0);
    if (base == (uint32_t)-1) sys_exit(1);
    for (uint32_t i = 0; i < OPS_FAULTS; i++) *(volatile uint32_t *)(base + i * 4096u) = i;
    sys_exit(0);
}
#endif
