/* The test kernel: definitions shared by the M-mode monitor, the S-mode kernel, the U-mode tasks
   and the assembly entries. See README.md for the design. */
#ifndef KERNEL_H
#define KERNEL_H

/* Number of harts the kernel brings up: 1 (guests/kernel) or 2 (guests/kernel-smp, -DSMP=2). */
#ifndef SMP
#define SMP 1
#endif
#define MAX_HARTS 2

/* Per-hart stack area (link.ld reserves MAX_HARTS of them): [base, base+4K) M-mode trap stack,
   [base+4K, base+12K) stack for traps from U-mode, [base+12K, base+32K) S-mode kernel stack. */
#define HART_STACK      0x8000
#define M_STACK_TOP     0x1000
#define TRAP_STACK_TOP  0x3000

/* U-mode trap frame (struct trapframe in kernel.c): x0..x31 then these. */
#define TF_EPC   128
#define TF_KSP   132   /* top of the hart's U-trap stack */
#define TF_KTP   136   /* the kernel's tp (hart id) */

/* System calls: number in a7, arguments in a0..a2, result in a0. */
#define SYS_WRITE        1  /* write(buf, len): prints len bytes atomically, returns len or -1 */
#define SYS_GETPID       2
#define SYS_YIELD        3
#define SYS_EXIT         4  /* exit(code): never returns */
#define SYS_SBRK         5  /* sbrk(increment): returns the old break; pages appear on first touch */
#define SYS_WAIT_TURN    6  /* wait_turn(n): blocks until the output turn is n */
#define SYS_PREEMPTIONS  7  /* how often the timer has interrupted the caller so far (never printed) */

/* Tiny SBI-like interface from S to M (ecall from S, function in a7), modelled on legacy SBI 0.1. */
#define SBI_SET_TIMER  0   /* a0/a1: absolute mtime of the next S timer interrupt (lo/hi) */
#define SBI_SEND_IPI   4   /* a0: mask of harts that get an S software interrupt */
#define SBI_SHUTDOWN   8   /* a0: 0 pass, else failure code, through the test device */

/* kernel-ops (-DOPS): how many of each operation the benchmark phases do. */
#define OPS_SYSCALLS 2000
#define OPS_YIELDS   1000   /* per task; two tasks */
#define OPS_FAULTS   400
#define OPS_TICKS    200

/* User address space (identical layout in every task, separate page tables and frames). */
#define USER_BASE       0x00400000u  /* text+rodata (r-x), then data+bss (rw-) */
#define USER_HEAP       0x00500000u  /* sbrk heap, demand-paged */
#define USER_HEAP_MAX   0x00700000u
#define USER_STACK_TOP  0x00800000u  /* two stack pages below */
#define USER_STACK_PAGES 2

#ifndef __ASSEMBLER__
#include <stdarg.h>
#include <stdint.h>
#ifdef PV
#include "pv.h"
extern struct pv_shared pv_page; /* hart 0's page shared with the hypervisor (console.c) */
#endif

#define CSRR(csr) ({ uint32_t v_; __asm__ volatile("csrr %0, " #csr : "=r"(v_) : : "memory"); v_; })
#define CSRW(csr, val) __asm__ volatile("csrw " #csr ", %0" : : "r"((uint32_t)(val)) : "memory")
#define CSRS(csr, val) __asm__ volatile("csrs " #csr ", %0" : : "r"((uint32_t)(val)) : "memory")
#define CSRC(csr, val) __asm__ volatile("csrc " #csr ", %0" : : "r"((uint32_t)(val)) : "memory")

#define MMIO32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define MMIO8(a)  (*(volatile uint8_t *)(uintptr_t)(a))

/* board addresses (QEMU virt) */
#define TEST_DEVICE  0x00100000u
#define CLINT_BASE   0x02000000u
#define CLINT_MSIP(h)     (CLINT_BASE + 4u * (h))
#define CLINT_MTIMECMP(h) (CLINT_BASE + 0x4000u + 8u * (h))
#define CLINT_MTIME       (CLINT_BASE + 0xbff8u)
#define PLIC_BASE    0x0c000000u
#define UART_BASE    0x10000000u
#define UART_IRQ     10
#define RAM_BASE     0x80000000u
#define KERNEL_MAP_END 0x80400000u  /* the kernel maps (and allocates frames from) the first 4 MiB */

/* CSR fields */
#define SSTATUS_SIE  (1u << 1)
#define SSTATUS_SPIE (1u << 5)
#define SSTATUS_SPP  (1u << 8)
#define MSTATUS_MPP_S (1u << 11)
#define MSTATUS_MPP_MASK (3u << 11)
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define CAUSE_INTR 0x80000000u
#define CAUSE_ILLEGAL 2
#define CAUSE_ECALL_U 8
#define CAUSE_ECALL_S 9
#define CAUSE_FETCH_PAGE 12
#define CAUSE_LOAD_PAGE 13
#define CAUSE_STORE_PAGE 15

/* timer: QEMU virt's mtime runs at 10 MHz; one kernel tick is 10 ms */
#define TICK_MTIME 100000u

/* linker symbols */
extern char __kernel_start[], __text_end[], __rodata_end[], __data_start[], __bss_start[],
    __bss_end[], __stacks_bottom[], __stacks_top[], __free_start[];
extern char __user_lma[], __user_lma_end[], __user_text_start[], __user_text_end[],
    __user_data_start[], __user_data_end[];

/* start.S */
void m_trap_entry(void);
void s_entry(void);
void s_trap_entry(void);
struct kctx { uint32_t ra, sp, s[12]; };
struct trapframe;
void kctx_enter_user(struct kctx *ctx, struct trapframe *tf);
__attribute__((noreturn)) void kctx_resume(struct kctx *ctx);

/* console.c */
void uart_putc(char c);
#ifdef PV
void console_flush(void);   /* kernel-pv: writes out the buffered line */
void console_use_shared_page(void);  /* kernel-pv: from now on, the shared page's ring */
#else
#define console_flush() ((void)0)
#endif
void kprintf(const char *fmt, ...);
void kvprintf(const char *fmt, va_list ap);
void kwrite(const char *buf, uint32_t len);
void spin_lock(volatile uint32_t *lock);
void spin_unlock(volatile uint32_t *lock);
void *kmemset(void *dst, int c, uint32_t n);
void *kmemcpy(void *dst, const void *src, uint32_t n);
int kmemcmp(const void *a, const void *b, uint32_t n);
/* These two names are what gcc may call for struct copies and zeroing. */
void *memset(void *dst, int c, unsigned long n);
void *memcpy(void *dst, const void *src, unsigned long n);

/* kernel.c */
extern volatile uint32_t ticks;
uint32_t sbi_call(uint32_t fn, uint32_t a0, uint32_t a1);
__attribute__((noreturn)) void kfail(int code, const char *fmt, ...);
void wait_for_interrupt(void);   /* one wfi with S interrupts briefly enabled */
uint64_t read_time(void);
void *alloc_page(void);
uint32_t free_pages(void);
extern uint32_t kernel_root;

/* devices.c */
void plic_init_hart0(void);
void plic_enable(uint32_t irq);
void plic_dispatch(void);
void virtio_blk_test(void);
void virtio_balloon_test(void);
void uart_input_test(void);

/* smp.c */
void smp_secondary_main(uint32_t hart);
void smp_test(void);
void smp_software_interrupt(uint32_t hart);

#endif /* __ASSEMBLER__ */
#endif
