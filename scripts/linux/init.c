/*
 * The initramfs's /init for scripts/linux/build.sh. It touches TOUCH_MIB MiB of anonymous memory
 * and unmaps it again (a little user work: page faults, then pages freed back to the kernel),
 * prints a marker on the console and sleeps forever, leaving the hart to the kernel's threads
 * (the virtio_balloon driver's work).
 * rv32 has no libc on Debian, so it makes its own system calls: asm-generic numbers, and rv32
 * has only the 64-bit-time calls, hence clock_nanosleep_time64; mmap is mmap2 there.
 */
#define SYS_openat 56
#define SYS_write 64
#define SYS_munmap 215
#define SYS_mmap2 222
#define SYS_clock_nanosleep_time64 407
#define AT_FDCWD (-100)
#define O_RDWR 2
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define CLOCK_MONOTONIC 1
#define PAGE_SIZE 4096
#define TOUCH_MIB 16

struct timespec64 {
  long long tv_sec;
  long long tv_nsec;
};

static long syscall6(long number, long a0, long a1, long a2, long a3, long a4, long a5) {
  register long r_a0 __asm__("a0") = a0;
  register long r_a1 __asm__("a1") = a1;
  register long r_a2 __asm__("a2") = a2;
  register long r_a3 __asm__("a3") = a3;
  register long r_a4 __asm__("a4") = a4;
  register long r_a5 __asm__("a5") = a5;
  register long r_a7 __asm__("a7") = number;
  __asm__ volatile("ecall" : "+r"(r_a0) : "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a4), "r"(r_a5), "r"(r_a7) : "memory");
  return r_a0;
}

static long write_all(int fd, const char *text) {
  long length = 0;
  while (text[length] != 0) length++;
  return syscall6(SYS_write, fd, (long)text, length, 0, 0, 0);
}

void _start(void) {
  int fd = 1;
  /* The kernel opened /dev/console as fds 0-2 (the initramfs has the node); open it otherwise. */
  if (write_all(fd, "init: started\n") < 0) fd = (int)syscall6(SYS_openat, AT_FDCWD, (long)"/dev/console", O_RDWR, 0, 0, 0);
  long length = TOUCH_MIB << 20;
  long address = syscall6(SYS_mmap2, 0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (address < 0 && address > -4096) {
    write_all(fd, "init: mmap failed\n");
  } else {
    for (long offset = 0; offset < length; offset += PAGE_SIZE) *(volatile char *)(address + offset) = 1;
    syscall6(SYS_munmap, address, length, 0, 0, 0, 0);
  }
  write_all(fd, "init: up\n");
  struct timespec64 second = {1, 0};
  for (;;) syscall6(SYS_clock_nanosleep_time64, CLOCK_MONOTONIC, 0, (long)&second, 0, 0, 0);
}
