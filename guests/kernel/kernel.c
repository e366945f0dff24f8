/* The S-mode kernel: Sv32 page tables, U-mode tasks with their own address spaces, a round-robin
   scheduler driven by the timer, system calls, demand paging, and the order of the tests. */
#include "kernel.h"
#include "virtio-mmio.h"

#define PTE_V (1u << 0)
#define PTE_R (1u << 1)
#define PTE_W (1u << 2)
#define PTE_X (1u << 3)
#define PTE_U (1u << 4)
#define PTE_A (1u << 6)
#define PTE_D (1u << 7)
#define PAGE 4096u
#define SATP_SV32 0x80000000u
#define SATP_FOR(root) (SATP_SV32 | ((root) >> 12))

volatile uint32_t ticks;
uint32_t kernel_root;
volatile uint32_t kernel_root_ready;
static uint32_t next_free;

/* ---------------------------------------------------------------- basics */

#ifdef PV
/* kernel-pv: the same three services from a standard SBI implementation (the hypervisor). */
uint32_t sbi_call(uint32_t fn, uint32_t arg0, uint32_t arg1) {
    switch (fn) {
    case SBI_SET_TIMER:
        return (uint32_t)sbi_set_timer(((uint64_t)arg1 << 32) | arg0).error;
    case SBI_SEND_IPI:
        return (uint32_t)sbi_send_ipi(arg0, 0).error;
    case SBI_SHUTDOWN:
        console_flush();
        return (uint32_t)sbi_system_reset(SBI_SRST_SHUTDOWN,
                                          arg0 == 0 ? SBI_SRST_REASON_NONE : SBI_SRST_REASON_FAILURE_CODE(arg0)).error;
    default:
        return (uint32_t)SBI_ERR_NOT_SUPPORTED;
    }
}
#else
uint32_t sbi_call(uint32_t fn, uint32_t arg0, uint32_t arg1) {
    register uint32_t a0 __asm__("a0") = arg0;
    register uint32_t a1 __asm__("a1") = arg1;
    register uint32_t a7 __asm__("a7") = fn;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a7) : "memory");
    return a0;
}
#endif

__attribute__((noreturn)) void kfail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kprintf("kernel: FAILED: ");
    kvprintf(fmt, ap);
    va_end(ap);
    uart_putc('\n');
    sbi_call(SBI_SHUTDOWN, (uint32_t)code, 0);
    for (;;) {
    }
}

uint64_t read_time(void) {
    uint32_t hi, lo, hi2;
    do {
        hi = CSRR(timeh);
        lo = CSRR(time);
        hi2 = CSRR(timeh);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

static void arm_timer(void) {
    uint64_t when = read_time() + TICK_MTIME;
    sbi_call(SBI_SET_TIMER, (uint32_t)when, (uint32_t)(when >> 32));
}

static void tick(void) {
    ticks++;
    arm_timer();
}

/* Sleep until an interrupt is pending, let it be taken, return with SIE clear again. The caller
   keeps SIE clear while it checks its condition, so a wake-up cannot be lost in between. */
void wait_for_interrupt(void) {
    __asm__ volatile("wfi" : : : "memory");
#ifdef PV
    /* The mask in the shared page stands for SIE: no traps to open and close the window. */
    pv_irq_enable(&pv_page);
    pv_irq_disable(&pv_page);
#else
    CSRS(sstatus, SSTATUS_SIE);
    CSRC(sstatus, SSTATUS_SIE);
#endif
}

static inline uint32_t hart_id(void) {
    uint32_t tp;
    __asm__ volatile("mv %0, tp" : "=r"(tp));
    return tp;
}

static inline void sfence_all(void) { __asm__ volatile("sfence.vma zero, zero" : : : "memory"); }

/* ---------------------------------------------------------------- page frames and tables */

#ifdef PV
/* kernel-pv: direct paging (guests/include/pv.h) when the hypervisor offers it. The hardware
   walks these tables, so they hold machine frame numbers, they are read-only once pinned (changed
   only by pv_mmu_update, in batches), and the kernel's own pages carry PTE_U because the kernel
   runs in the hardware's U-mode. Tables come from a pool at the top of the kernel's 4 MiB, mapped
   read-only. Without the MMU functions, the tables are ordinary ones the hypervisor shadows. */
#define PT_POOL_START (KERNEL_MAP_END - 64 * PAGE)
#define KERNEL_PTE_U kernel_pte_u
static int direct_paging;             /* the hypervisor walks our tables: the rules of pv.h apply */
static uint32_t kernel_pte_u;         /* PTE_U with direct paging, else 0 */
/* Machine frames of the kernel's 4 MiB (pv_mmu_machine_frames), and the way back: a hash from
   machine frame to kernel frame. The frames beneath need not be contiguous or in order. */
#define KERNEL_FRAMES ((KERNEL_MAP_END - RAM_BASE) / PAGE)
#define M2P_SLOTS (2 * KERNEL_FRAMES)
static uint32_t p2m[KERNEL_FRAMES];
static uint32_t m2p_key[M2P_SLOTS];   /* machine frame + 1; 0: empty slot */
static uint16_t m2p_value[M2P_SLOTS]; /* index of the kernel frame (from RAM_BASE) */
static uint32_t next_table = PT_POOL_START;
static int tables_pinned;             /* from here on, PTEs change only by hypercall */
static uint32_t empty_root;           /* the user root of the kernel's own address space */
static struct pv_mmu_request mmu_batch[64];
static uint32_t mmu_batched;
#define FRAME_LIMIT PT_POOL_START
#define PTE_FRAME(pa) (machine_frame((pa) >> 12) << 10)
#define PTE_PA(pte) (guest_frame((pte) >> 10) << 12)

static uint32_t m2p_first_slot(uint32_t machine) { return (machine * 2654435761u) >> 21; }

static void p2m_init(void) {
    struct sbiret r = pv_mmu_machine_frames(RAM_BASE >> 12, KERNEL_FRAMES, p2m);
    if (r.error != SBI_SUCCESS) kfail(26, "mmu_machine_frames refused: error %d", r.error);
    for (uint32_t i = 0; i < KERNEL_FRAMES; i++) {
        uint32_t slot = m2p_first_slot(p2m[i]);
        while (m2p_key[slot] != 0) slot = (slot + 1) & (M2P_SLOTS - 1);
        m2p_key[slot] = p2m[i] + 1;
        m2p_value[slot] = (uint16_t)i;
    }
}

static uint32_t machine_frame(uint32_t frame) {
    if (!direct_paging) return frame;
    return p2m[frame - (RAM_BASE >> 12)];
}

static uint32_t guest_frame(uint32_t machine) {
    if (!direct_paging) return machine;
    for (uint32_t slot = m2p_first_slot(machine); m2p_key[slot] != 0; slot = (slot + 1) & (M2P_SLOTS - 1))
        if (m2p_key[slot] == machine + 1) return (RAM_BASE >> 12) + m2p_value[slot];
    kfail(27, "machine frame %x is not one of the kernel's", machine);
}

static void mmu_flush(void) {
    if (mmu_batched == 0) return;
    struct sbiret r = pv_mmu_update(mmu_batch, mmu_batched);
    if (r.error != SBI_SUCCESS) kfail(23, "mmu_update refused entry %u: error %d", r.value, r.error);
    mmu_batched = 0;
}

static void pin(uint32_t table, uint32_t level) {
    struct sbiret r = pv_mmu_pin((void *)table, level);
    if (r.error != SBI_SUCCESS) kfail(24, "pinning %p failed: error %d", table, r.error);
}

static void *alloc_table(void) {
    if (next_table + PAGE > KERNEL_MAP_END) kfail(10, "out of page-table frames");
    void *p = (void *)next_table; /* zeroed once, by vm_init, before anything was pinned */
    next_table += PAGE;
    return p;
}
#else
#define KERNEL_PTE_U 0
#define FRAME_LIMIT KERNEL_MAP_END
#define PTE_FRAME(pa) (((pa) >> 12) << 10)
#define PTE_PA(pte) (((pte) >> 10) << 12)
#define alloc_table alloc_page
#endif
#ifdef PV
#define EMPTY_ROOT empty_root
#else
#define EMPTY_ROOT 0
#endif

/* Frames alloc_page can still hand out. */
uint32_t free_pages(void) {
    return (FRAME_LIMIT - next_free) / PAGE;
}

void *alloc_page(void) {
    if (next_free + PAGE > FRAME_LIMIT) kfail(10, "out of page frames");
    void *p = (void *)next_free;
    next_free += PAGE;
    kmemset(p, 0, PAGE);
    return p;
}

/* Sets a PTE: a store, or with pinned tables a request in the next pv_mmu_update batch. */
static void pte_set(uint32_t *e, uint32_t value) {
#ifdef PV
    if (tables_pinned) {
        if (mmu_batched == sizeof mmu_batch / sizeof mmu_batch[0]) mmu_flush();
        mmu_batch[mmu_batched].pte = (uint32_t)e;
        mmu_batch[mmu_batched].value = value;
        mmu_batched++;
        return;
    }
#endif
    *e = value;
}

/* The level-0 PTE for va in the table rooted at root, creating the level-0 table if asked. */
static uint32_t *pte_slot(uint32_t root, uint32_t va, int create) {
    uint32_t *l1 = (uint32_t *)root;
    uint32_t *e = &l1[va >> 22];
    if (!(*e & PTE_V)) {
        if (!create) return 0;
        uint32_t table = (uint32_t)alloc_table();
#ifdef PV
        if (tables_pinned) pin(table, 0); /* a level-1 entry may only point at a pinned table */
#endif
        pte_set(e, PTE_FRAME(table) | PTE_V);
#ifdef PV
        mmu_flush(); /* read back below */
#endif
    } else if (*e & (PTE_R | PTE_W | PTE_X)) {
        return 0; /* a megapage */
    }
    uint32_t *l0 = (uint32_t *)PTE_PA(*e);
    return &l0[(va >> 12) & 0x3ff];
}

static void map_page(uint32_t root, uint32_t va, uint32_t pa, uint32_t perm) {
    uint32_t *e = pte_slot(root, va, 1);
    if (!e || (*e & PTE_V)) kfail(11, "map_page %p twice", va);
    /* A and D set up front: QEMU would set them in hardware, other harts may fault instead */
    pte_set(e, PTE_FRAME(pa) | perm | PTE_V | PTE_A | ((perm & PTE_W) ? PTE_D : 0));
}

static void map_range(uint32_t root, uint32_t start, uint32_t end, uint32_t perm) {
    for (uint32_t a = start; a < end; a += PAGE) map_page(root, a, a, perm | KERNEL_PTE_U);
}

/* Device registers: an ordinary mapping, or under PV an I/O entry the hypervisor emulates. */
static void map_io_range(uint32_t root, uint32_t start, uint32_t end, uint32_t perm) {
#ifdef PV
    if (!direct_paging) {
        map_range(root, start, end, perm);
        return;
    }
    for (uint32_t a = start; a < end; a += PAGE) {
        uint32_t *e = pte_slot(root, a, 1);
        if (!e || *e) kfail(11, "map_page %p twice", a);
        pte_set(e, ((a >> 12) << 10) | perm | PTE_U | PV_PTE_IO);
    }
#else
    map_range(root, start, end, perm);
#endif
}

static void map_io_megapage(uint32_t root, uint32_t va, uint32_t pa, uint32_t perm) {
#ifdef PV
    if (direct_paging) {
        pte_set(&((uint32_t *)root)[va >> 22], ((pa >> 12) << 10) | perm | PTE_U | PV_PTE_IO);
        return;
    }
#endif
    ((uint32_t *)root)[va >> 22] = ((pa >> 12) << 10) | perm | PTE_V | PTE_A | PTE_D;
}

/* The physical address behind a user virtual address, or 0 if the page is not mapped readable. */
static uint32_t user_translate(uint32_t root, uint32_t va) {
    uint32_t *e = pte_slot(root, va, 0);
    if (!e || (*e & (PTE_V | PTE_U | PTE_R)) != (PTE_V | PTE_U | PTE_R)) return 0;
    return PTE_PA(*e) | (va & (PAGE - 1));
}

/* Makes the address space with this root the current one (user_root: its user-only twin, PV). */
static void use_address_space(uint32_t root, uint32_t user_root) {
#ifdef PV
    if (direct_paging) {
        mmu_flush();
        struct sbiret r = pv_mmu_set_roots((void *)root, (void *)user_root);
        if (r.error != SBI_SUCCESS) kfail(25, "set_roots refused: error %d", r.error);
        return;
    }
#endif
    (void)user_root;
    CSRW(satp, SATP_FOR(root));
    sfence_all();
}

/* ---------------------------------------------------------------- S-mode trap bookkeeping */

static volatile uint32_t expect_fault, fault_cause, fault_tval;

static void vm_init(void) {
    next_free = (uint32_t)__free_start;
#ifdef PV
    struct sbiret info = pv_mmu_info();
    direct_paging = info.error == SBI_SUCCESS;
    if (direct_paging) {
        p2m_init();
        kernel_pte_u = PTE_U;
    }
    kmemset((void *)PT_POOL_START, 0, KERNEL_MAP_END - PT_POOL_START);
#endif
    kernel_root = (uint32_t)alloc_table();
    map_range(kernel_root, RAM_BASE, (uint32_t)__text_end, PTE_R | PTE_X);
    map_range(kernel_root, (uint32_t)__text_end, (uint32_t)__rodata_end, PTE_R);
    map_range(kernel_root, (uint32_t)__data_start, FRAME_LIMIT, PTE_R | PTE_W);
#ifdef PV
    map_range(kernel_root, PT_POOL_START, KERNEL_MAP_END, direct_paging ? PTE_R : PTE_R | PTE_W); /* the tables */
#endif
    map_io_range(kernel_root, UART_BASE, UART_BASE + PAGE, PTE_R | PTE_W);
    map_io_range(kernel_root, VIO_MMIO_BASE, VIO_MMIO_BASE + VIO_MMIO_SLOTS * PAGE, PTE_R | PTE_W);
    map_io_megapage(kernel_root, PLIC_BASE, PLIC_BASE, PTE_R | PTE_W);
    kprintf("vm: kernel page table: text r-x, rodata r--, data/bss/stacks/frames rw- (4 KiB pages),"
            " uart+virtio rw- (4 KiB), plic rw- (4 MiB megapage)\n");
#ifdef PV
    /* Hand the tables over: level 0 first (a root may only point at pinned tables), then the roots. */
    for (uint32_t i = 0; direct_paging && i < PAGE / 4; i++) {
        uint32_t e = ((uint32_t *)kernel_root)[i];
        if ((e & PTE_V) && !(e & (PTE_R | PTE_W | PTE_X))) pin(PTE_PA(e), 0);
    }
    empty_root = (uint32_t)alloc_table();
    if (direct_paging) {
        pin(kernel_root, 1);
        pin(empty_root, 1);
        tables_pinned = 1;
    }
#endif
    use_address_space(kernel_root, EMPTY_ROOT);
    __asm__ volatile("fence rw, rw" : : : "memory");
    kernel_root_ready = 1;
    kprintf("vm: sv32 paging enabled\n");

    /* self-check: the kernel's own text must not be writable any more */
    expect_fault = 1;
    uint32_t target = (uint32_t)__kernel_start;
    __asm__ volatile(".option push\n.option norvc\nsw zero, 0(%0)\n.option pop" : : "r"(target) : "memory");
    if (expect_fault || fault_cause != CAUSE_STORE_PAGE || fault_tval != target)
        kfail(12, "store to kernel text did not fault");
    kprintf("vm: store to kernel text at %p raised a store page fault: ok\n", target);
}

/* ---------------------------------------------------------------- tasks */

struct trapframe {
    uint32_t x[32];
    uint32_t epc, ksp, ktp; /* TF_EPC, TF_KSP, TF_KTP in kernel.h */
};

enum { T_UNUSED, T_RUNNABLE, T_EXITED, T_KILLED };

struct task {
    struct trapframe tf; /* first: the trap entry treats a task pointer as its frame */
    uint32_t pid, state, root, brk, preemptions;
    uint32_t user_root; /* PV: the root with the user mappings only (see pv.h) */
    int32_t exit_code;
    uint32_t kill_cause, kill_tval;
};

/* the U-mode programs (user.c, linked at USER_BASE) */
void utask_primes(void);
void utask_collatz(void);
void utask_heap(void);
void utask_rowrite(void);
void utask_kread(void);
void utask_priv(void);
void utask_beyond_brk(void);

#ifdef OPS
/* kernel-ops: the benchmark's tasks, run a phase at a time (see run_ops) */
void utask_ops_syscalls(void);
void utask_ops_yield(void);
void utask_ops_faults(void);
#define NTASKS 4
static void (*const task_entry[NTASKS])(void) = {
    utask_ops_syscalls, utask_ops_yield, utask_ops_yield, utask_ops_faults,
};
static const struct { uint32_t killed, cause, tval; } task_expect[NTASKS] = {{0, 0, 0}};
#else
#define NTASKS 7
static void (*const task_entry[NTASKS])(void) = {
    utask_primes, utask_collatz, utask_heap, utask_rowrite, utask_kread, utask_priv, utask_beyond_brk,
};
/* how each task must end: exit code 0, or killed with this cause (and stval when nonzero) */
static const struct { uint32_t killed, cause, tval; } task_expect[NTASKS] = {
    {0, 0, 0}, {0, 0, 0}, {0, 0, 0},
    {1, CAUSE_STORE_PAGE, USER_BASE},
    {1, CAUSE_LOAD_PAGE, RAM_BASE},
    {1, CAUSE_ILLEGAL, 0},
    {1, CAUSE_STORE_PAGE, 0x00600000u},
};
#endif

static struct task tasks[NTASKS];
static struct task *current;
static struct kctx main_ctx;
static uint32_t turn;                  /* the pid whose output is due (SYS_WAIT_TURN) */
static uint32_t timer_switches;        /* timer interrupts that moved the hart to another task */
static uint32_t demand_faults;

static void create_task(uint32_t i) {
    struct task *t = &tasks[i];
    t->pid = i + 1;
#ifdef PV
  if (direct_paging) {
    /* Two pinned roots sharing the user level-0 table; the kernel's entries only in the first. */
    t->root = (uint32_t)alloc_table();
    t->user_root = (uint32_t)alloc_table();
    pin(t->root, 1);
    pin(t->user_root, 1);
    for (uint32_t k = 0; k < PAGE / 4; k++) {
        uint32_t e = ((uint32_t *)kernel_root)[k];
        if (e) pte_set(&((uint32_t *)t->root)[k], e);
    }
    for (uint32_t k = USER_BASE >> 22; k <= (USER_STACK_TOP - 1) >> 22; k++) {
        uint32_t table = (uint32_t)alloc_table();
        pin(table, 0);
        pte_set(&((uint32_t *)t->root)[k], PTE_FRAME(table) | PTE_V);
        pte_set(&((uint32_t *)t->user_root)[k], PTE_FRAME(table) | PTE_V);
    }
    mmu_flush();
  } else
#endif
  {
    t->root = (uint32_t)alloc_page();
    kmemcpy((void *)t->root, (void *)kernel_root, PAGE); /* kernel mappings (not U) are shared */
  }
    uint32_t text = (uint32_t)(__user_text_end - __user_text_start);
    uint32_t data = (uint32_t)(__user_data_end - __user_data_start);
    for (uint32_t off = 0; off < text + data; off += PAGE) {
        void *frame = alloc_page();
        kmemcpy(frame, __user_lma + off, PAGE);
        map_page(t->root, USER_BASE + off, (uint32_t)frame, off < text ? (PTE_R | PTE_X | PTE_U)
                                                                     : (PTE_R | PTE_W | PTE_U));
    }
    for (uint32_t p = 1; p <= USER_STACK_PAGES; p++)
        map_page(t->root, USER_STACK_TOP - p * PAGE, (uint32_t)alloc_page(), PTE_R | PTE_W | PTE_U);
#ifdef PV
    mmu_flush();
#endif
    t->brk = USER_HEAP;
    t->tf.epc = (uint32_t)task_entry[i];
    t->tf.x[2] = USER_STACK_TOP;
    t->tf.ksp = (uint32_t)__stacks_bottom + TRAP_STACK_TOP; /* hart 0 runs the tasks */
    t->state = T_RUNNABLE;
}

static struct trapframe *switch_to(struct task *t) {
    if (!t) { /* every task has finished: back to the kernel's main flow */
        use_address_space(kernel_root, EMPTY_ROOT);
        current = 0;
        kctx_resume(&main_ctx);
    }
    if (t != current) {
        use_address_space(t->root, t->user_root);
        current = t;
    }
    return &t->tf;
}

/* round robin: the next runnable task after cur (cur itself if it is the only one left) */
static struct task *pick_next(struct task *cur) {
    uint32_t start = (uint32_t)(cur - tasks);
    for (uint32_t k = 1; k <= NTASKS; k++) {
        struct task *t = &tasks[(start + k) % NTASKS];
        if (t->state == T_RUNNABLE) return t;
    }
    return 0;
}

static void advance_turn(void) {
    turn++;
    while (turn <= NTASKS && tasks[turn - 1].state != T_RUNNABLE) turn++;
}

static const char *cause_name(uint32_t cause) {
    switch (cause) {
    case 0: return "misaligned fetch";
    case 1: return "fetch access fault";
    case CAUSE_ILLEGAL: return "illegal instruction";
    case 3: return "breakpoint";
    case 4: return "misaligned load";
    case 5: return "load access fault";
    case 6: return "misaligned store";
    case 7: return "store access fault";
    case CAUSE_FETCH_PAGE: return "instruction page fault";
    case CAUSE_LOAD_PAGE: return "load page fault";
    case CAUSE_STORE_PAGE: return "store page fault";
    default: return "exception";
    }
}

static struct trapframe *kill_task(struct task *t, uint32_t cause, uint32_t tval) {
    if (cause == CAUSE_FETCH_PAGE || cause == CAUSE_LOAD_PAGE || cause == CAUSE_STORE_PAGE)
        kprintf("task %u killed: %s at %p\n", t->pid, cause_name(cause), tval);
    else
        kprintf("task %u killed: %s at pc %p\n", t->pid, cause_name(cause), t->tf.epc);
    t->state = T_KILLED;
    t->kill_cause = cause;
    t->kill_tval = tval;
    if (turn == t->pid) advance_turn();
    return switch_to(pick_next(t));
}

/* Copies len bytes from the task's address space; 0 on success. */
static int copy_from_user(struct task *t, void *dst, uint32_t va, uint32_t len) {
    uint8_t *d = dst;
    while (len > 0) {
        uint32_t pa = user_translate(t->root, va);
        if (!pa || va < USER_BASE || va >= USER_STACK_TOP) return -1;
        uint32_t chunk = PAGE - (va & (PAGE - 1));
        if (chunk > len) chunk = len;
        kmemcpy(d, (void *)pa, chunk);
        d += chunk;
        va += chunk;
        len -= chunk;
    }
    return 0;
}

static struct trapframe *syscall(struct task *t) {
    uint32_t *a = t->tf.x;
    static char buf[256];
    switch (a[17]) {
    case SYS_WRITE:
        if (a[11] > sizeof buf || copy_from_user(t, buf, a[10], a[11]) != 0) {
            a[10] = (uint32_t)-1;
        } else {
            kwrite(buf, a[11]);
        }
        return &t->tf;
    case SYS_GETPID:
        a[10] = t->pid;
        return &t->tf;
    case SYS_YIELD:
        a[10] = 0;
        return switch_to(pick_next(t));
    case SYS_EXIT:
        t->exit_code = (int32_t)a[10];
        kprintf("task %u exited with code %d\n", t->pid, t->exit_code);
        t->state = T_EXITED;
        if (turn == t->pid) advance_turn();
        return switch_to(pick_next(t));
    case SYS_SBRK: {
        uint32_t old = t->brk;
        if (a[10] > USER_HEAP_MAX - old) {
            a[10] = (uint32_t)-1;
        } else {
            t->brk = old + a[10]; /* nothing is mapped now: pages come on first touch */
            a[10] = old;
        }
        return &t->tf;
    }
    case SYS_WAIT_TURN:
        if (a[10] < turn || a[10] > NTASKS) { /* a turn that has passed would never come */
            a[10] = (uint32_t)-1;
            return &t->tf;
        }
        if (turn == a[10]) {
            a[10] = 0;
            return &t->tf;
        }
        t->tf.epc -= 4; /* not yet: run the ecall again when this task is next scheduled */
        return switch_to(pick_next(t));
    case SYS_PREEMPTIONS:
        a[10] = t->preemptions;
        return &t->tf;
    default:
        a[10] = (uint32_t)-1;
        return &t->tf;
    }
}

/* Called by s_trap_entry for every trap taken from U-mode; returns the frame to resume. */
struct trapframe *s_trap_user(struct trapframe *tf) {
    struct task *t = current;
    uint32_t cause = CSRR(scause);
    uint32_t tval = CSRR(stval);
    if (t == 0 || &t->tf != tf) kfail(13, "trap from U-mode without a current task");
    if (cause & CAUSE_INTR) {
        switch (cause & ~CAUSE_INTR) {
        case IRQ_STI: {
            tick();
            t->preemptions++;
            struct task *next = pick_next(t);
            if (next != t) timer_switches++;
            return switch_to(next);
        }
        case IRQ_SEI:
            plic_dispatch();
            return tf;
        case IRQ_SSI:
            CSRC(sip, 1u << IRQ_SSI);
            smp_software_interrupt(hart_id());
            return tf;
        default:
            kfail(14, "unexpected interrupt %08x from U-mode", cause);
        }
    }
    if (cause == CAUSE_ECALL_U) {
        tf->epc += 4;
        return syscall(t);
    }
    if ((cause == CAUSE_LOAD_PAGE || cause == CAUSE_STORE_PAGE) && tval >= USER_HEAP && tval < t->brk) {
        uint32_t *e = pte_slot(t->root, tval, 1);
        if (!(*e & PTE_V)) { /* demand paging: a zeroed frame on first touch */
            map_page(t->root, tval & ~(PAGE - 1), (uint32_t)alloc_page(), PTE_R | PTE_W | PTE_U);
#ifdef PV
            if (direct_paging)
                mmu_flush(); /* the entry was invalid: nothing to flush from a TLB */
            else
#endif
                __asm__ volatile("sfence.vma %0, zero" : : "r"(tval) : "memory");
            demand_faults++;
            return tf;
        }
    }
    return kill_task(t, cause, tval);
}

/* Called by s_trap_entry for traps taken while the kernel itself runs; f[32] is sepc. */
void s_trap_kernel(uint32_t *f) {
    uint32_t cause = CSRR(scause);
    if (cause & CAUSE_INTR) {
        switch (cause & ~CAUSE_INTR) {
        case IRQ_STI: tick(); return;
        case IRQ_SEI: plic_dispatch(); return;
        case IRQ_SSI:
            CSRC(sip, 1u << IRQ_SSI);
            smp_software_interrupt(hart_id());
            return;
        default: break;
        }
    } else if (expect_fault) {
        fault_cause = cause;
        fault_tval = CSRR(stval);
        expect_fault = 0;
        f[32] += 4;
        return;
    }
    kfail(15, "unexpected trap in S-mode on hart %u: scause %08x sepc %08x stval %08x", hart_id(),
          cause, f[32], CSRR(stval));
}

#ifdef OPS
/* kernel-ops: the phase a benchmark is in, for the host to read (1 system calls, 2 context
   switches, 3 page faults, 4 timer interrupts, 5 done). The ELF names it; nothing prints it. */
volatile uint32_t ops_phase;

/* Runs tasks [first, first + count) to completion, with the timer off: only their own work. */
static void run_phase(uint32_t phase, const char *name, uint32_t first, uint32_t count, uint32_t ops) {
    for (uint32_t i = first; i < first + count; i++) create_task(i);
    ops_phase = phase;
    current = &tasks[first];
    use_address_space(current->root, current->user_root);
    kctx_enter_user(&main_ctx, &current->tf);
#ifdef PV
    CSRS(sstatus, SSTATUS_SIE); /* as in run_tasks: back through a trap, which cleared SIE */
#endif
    for (uint32_t i = first; i < first + count; i++)
        if (tasks[i].state != T_EXITED || tasks[i].exit_code != 0) kfail(20, "ops task %u failed", i + 1);
    kprintf("ops: %s: %u done\n", name, ops);
}

static void run_ops(void) {
    turn = 1;
    run_phase(1, "system calls", 0, 1, OPS_SYSCALLS);
    run_phase(2, "context switches", 1, 2, 2 * OPS_YIELDS);
    run_phase(3, "page faults", 3, 1, OPS_FAULTS);
    if (demand_faults != OPS_FAULTS) kfail(21, "expected %u demand-paging faults", OPS_FAULTS);
    /* Timer interrupts: arm, sleep until it fires, OPS_TICKS times. */
    ops_phase = 4;
    CSRS(sie, 1u << IRQ_STI);
    for (uint32_t i = 0; i < OPS_TICKS; i++) {
        uint32_t before = ticks;
        arm_timer();
        while (ticks == before) wait_for_interrupt();
    }
    CSRC(sie, 1u << IRQ_STI);
    kprintf("ops: timer interrupts: %u done\n", OPS_TICKS);
    ops_phase = 5;
}
#else
static void run_tasks(void) {
    for (uint32_t i = 0; i < NTASKS; i++) create_task(i);
    kprintf("sched: %u tasks at %p, each with its own page table; round robin, timer tick every"
            " 10 ms\n", NTASKS, USER_BASE);
    turn = 1;
    current = &tasks[0];
    use_address_space(current->root, current->user_root);
    arm_timer();
    CSRS(sie, 1u << IRQ_STI);
    kctx_enter_user(&main_ctx, &current->tf); /* returns when every task has exited or died */
#ifdef PV
    /* The kernel came back through a trap (kctx_resume), which cleared SIE: kernel-pv keeps it set
       and masks interrupts in the shared page instead. */
    CSRS(sstatus, SSTATUS_SIE);
#endif

    uint32_t exited = 0, killed = 0;
    for (uint32_t i = 0; i < NTASKS; i++) {
        struct task *t = &tasks[i];
        if (task_expect[i].killed) {
            if (t->state != T_KILLED || t->kill_cause != task_expect[i].cause ||
                (task_expect[i].tval && t->kill_tval != task_expect[i].tval))
                kfail(16, "task %u did not die as expected", t->pid);
            killed++;
        } else {
            if (t->state != T_EXITED || t->exit_code != 0) kfail(17, "task %u failed", t->pid);
            exited++;
        }
    }
    kprintf("sched: all tasks done: %u exited with code 0, %u killed as expected\n", exited, killed);
    /* Tasks 1-3 each wait until the timer has interrupted them twice while another task was
       runnable, so at least 6 timer-driven switches must have happened. The count itself depends
       on speed and is never printed. */
    int ok = timer_switches >= 6;
    for (uint32_t i = 0; i < 3; i++) ok = ok && tasks[i].preemptions >= 2;
    if (!ok) kfail(18, "too few preemptions");
    kprintf("preemption: ok\n");
    if (demand_faults != 3) kfail(19, "expected 3 demand-paging faults");
    kprintf("demand paging: ok (3 heap pages mapped on first touch)\n");
}
#endif /* OPS */

void s_main(uint32_t hart) {
    CSRW(stvec, (uint32_t)s_trap_entry);
    CSRS(sie, 1u << IRQ_SSI);
    if (hart != 0) {
        smp_secondary_main(hart);
        for (;;) __asm__ volatile("wfi");
    }
#ifdef PV
    /* Interrupts masked in the shared page from here on, SIE set once and for all: the mask is
       what the kernel flips (see wait_for_interrupt). */
    pv_irq_disable(&pv_page);
    if (pv_register_shared(&pv_page).error != SBI_SUCCESS) kfail(22, "the hypervisor refused the shared page");
    CSRS(sstatus, SSTATUS_SIE);
    console_use_shared_page();
#endif
    kprintf("s: kernel running in S-mode on hart 0\n");
    vm_init();
#ifdef OPS
    run_ops();
#else
    run_tasks();
    virtio_blk_test();
    virtio_balloon_test();
    uart_input_test();
#if SMP > 1
    smp_test();
#endif
#endif /* OPS */
    kprintf("kernel: all tests passed\n");
    sbi_call(SBI_SHUTDOWN, 0, 0);
    for (;;) {
    }
}
