/* The two-hart tests (built with -DSMP=2 in guests/kernel-smp): hart 1 boots through M-mode into
   S-mode with the kernel's page table, both harts increment a counter under an LR/SC spinlock,
   and they exchange inter-processor interrupts (CLINT msip -> M software interrupt -> S software
   interrupt). Every line is printed while the other hart waits for a flag, so the order of the
   transcript is fixed. */
#include "kernel.h"

static volatile uint32_t ipi_count[MAX_HARTS];

/* S software interrupt on `hart` (already cleared in sip). Hart 1 answers every IPI with one. */
void smp_software_interrupt(uint32_t hart) {
    if (hart >= MAX_HARTS) return;
    ipi_count[hart]++;
    if (hart == 1) sbi_call(SBI_SEND_IPI, 1u << 0, 0);
}

#if SMP > 1

#define INCREMENTS 50000u
#define IPI_ROUNDS 3

extern volatile uint32_t kernel_root_ready;
static volatile uint32_t hart1_online, hello_done, counter_go, counter_done, final_done;
static volatile uint32_t counter_lock, shared_counter;

static void fence(void) { __asm__ volatile("fence rw, rw" : : : "memory"); }

static void add_under_lock(void) {
    for (uint32_t i = 0; i < INCREMENTS; i++) {
        spin_lock(&counter_lock);
        shared_counter = shared_counter + 1;
        spin_unlock(&counter_lock);
    }
}

void smp_secondary_main(uint32_t hart) {
    while (!kernel_root_ready) fence();
    CSRW(satp, 0x80000000u | (kernel_root >> 12));
    __asm__ volatile("sfence.vma zero, zero" : : : "memory");
    hart1_online = 1;
    while (ipi_count[hart] < 1) wait_for_interrupt();   /* woken by hart 0's first IPI */
    kprintf("smp: hart %u: M-mode setup, S-mode with paging on, woken by an IPI from hart 0\n", hart);
    fence();
    hello_done = 1;
    while (!counter_go) fence();
    add_under_lock();
    fence();
    counter_done = 1;
    while (ipi_count[hart] < 2 + IPI_ROUNDS) wait_for_interrupt();   /* rounds, then the last one */
    kprintf("smp: hart %u: answered %u IPIs, parking\n", hart, ipi_count[hart]);
    fence();
    final_done = 1;
}

/* Spin on a flag of hart 1 (bounded by mtime so a missing hart fails instead of hanging). */
static void await(volatile uint32_t *flag, const char *what) {
    uint64_t deadline = read_time() + 100u * TICK_MTIME;
    while (!*flag) {
        if (read_time() > deadline) kfail(50, "hart 1: timed out waiting for %s", what);
        fence();
    }
    fence();
}

static void ipi_round_trip(uint32_t expected_replies, const char *what) {
    uint64_t deadline = read_time() + 100u * TICK_MTIME;
    sbi_call(SBI_SEND_IPI, 1u << 1, 0);
    while (ipi_count[0] < expected_replies) {
        if (read_time() > deadline) kfail(51, "no IPI reply from hart 1 (%s)", what);
        wait_for_interrupt();
    }
}

void smp_test(void) {
    await(&hart1_online, "hart 1 to come online");
    ipi_round_trip(1, "wake-up");
    await(&hello_done, "hart 1's greeting");
    kprintf("smp: ipi hart 0 -> hart 1 -> hart 0 (wake-up): ok\n");

    counter_go = 1;
    add_under_lock();
    await(&counter_done, "hart 1's increments");
    if (shared_counter != 2 * INCREMENTS) kfail(52, "shared counter is %u", shared_counter);
    kprintf("smp: lr/sc spinlock: 2 harts x %u increments = %u: ok\n", INCREMENTS, shared_counter);

    for (uint32_t r = 1; r <= IPI_ROUNDS; r++) {
        ipi_round_trip(1 + r, "ping-pong");
        kprintf("smp: ipi round %u: hart 0 -> hart 1 -> hart 0: ok\n", r);
    }
    ipi_round_trip(2 + IPI_ROUNDS, "finish");
    await(&final_done, "hart 1 to park");
    if (ipi_count[0] != 2 + IPI_ROUNDS || ipi_count[1] != 2 + IPI_ROUNDS) kfail(53, "IPI counts");
    kprintf("smp: ok\n");
}

#else

void smp_secondary_main(uint32_t hart) { (void)hart; }

#endif
