/*
 * The initramfs's /init for scripts/linux/build.sh. Its mode comes from the kernel command line:
 * the kernel hands every unknown `name=value` word to init as an environment variable
 * (init/main.c, unknown_bootoption), so `mtest=udp-server` arrives as "mtest=udp-server" in envp.
 *
 * - no mtest (the balloon test, packages/runner/test/linux-balloon.test.ts): touches TOUCH_MIB MiB
 *   of anonymous memory and unmaps it again (a little user work: page faults, then pages freed back
 *   to the kernel), prints "init: up" and sleeps forever, leaving the hart to the kernel's threads
 *   (the virtio_balloon driver's work);
 * - mtest=udp-server maddr=A.B.C.D: brings eth0 up with that address (/24) and echoes every UDP
 *   datagram to port UDP_PORT back to its sender until one says "bye", then prints a summary and
 *   powers off;
 * - mtest=udp-client maddr=A.B.C.D mpeer=A.B.C.D [mcount=N]: brings eth0 up, sends N numbered
 *   datagrams to the server one at a time (the first ones again after a second without a reply:
 *   the server may still be booting), checks that each reply is its datagram, sends "bye" until
 *   the server echoes it, prints "udp-client: K/N replies ..." and powers off.
 * Both print "udp-…: FAILED …" and power off on any error, so a test never waits for nothing.
 *
 * rv32 has no libc on Debian, so it makes its own system calls: asm-generic numbers, and rv32
 * has only the 64-bit-time calls, hence clock_nanosleep_time64, clock_gettime64 and
 * SO_RCVTIMEO_NEW; mmap is mmap2 there.
 */
#define SYS_ioctl 29
#define SYS_openat 56
#define SYS_write 64
#define SYS_reboot 142
#define SYS_socket 198
#define SYS_bind 200
#define SYS_sendto 206
#define SYS_recvfrom 207
#define SYS_setsockopt 208
#define SYS_munmap 215
#define SYS_mmap2 222
#define SYS_clock_gettime64 403
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
/* include/uapi/linux/reboot.h */
#define REBOOT_MAGIC1 0xfee1dead
#define REBOOT_MAGIC2 672274793
#define REBOOT_CMD_POWER_OFF 0x4321fedc
/* include/linux/socket.h, include/uapi/asm-generic/socket.h, include/uapi/linux/sockios.h */
#define AF_INET 2
#define SOCK_DGRAM 2
#define SOL_SOCKET 1
#define SO_RCVTIMEO_NEW 66
#define SIOCSIFFLAGS 0x8914
#define SIOCSIFADDR 0x8916
#define SIOCSIFNETMASK 0x891c
#define IFF_UP 0x1
#define EAGAIN 11
#define UDP_PORT 7777
#define PAYLOAD 64
#define MAX_TRIES 30

struct timespec64 {
  long long tv_sec;
  long long tv_nsec;
};
struct sock_timeval64 {
  long long tv_sec;
  long long tv_usec;
};
struct sockaddr_in {
  unsigned short family;
  unsigned short port; /* network order */
  unsigned int address; /* network order */
  unsigned char zero[8];
};
/* struct ifreq: the name, then a 16-byte union (an address, or flags). */
struct ifreq {
  char name[16];
  union {
    struct sockaddr_in address;
    short flags;
  } u;
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

static int console = 1;

/* GCC calls memset for zeroed structures even with -ffreestanding; volatile keeps this loop from
   being turned back into a call to itself. */
void *memset(void *destination, int value, unsigned long length) {
  volatile unsigned char *bytes = destination;
  while (length-- > 0) *bytes++ = (unsigned char)value;
  return destination;
}

static long length_of(const char *text) {
  long length = 0;
  while (text[length] != 0) length++;
  return length;
}

static void say(const char *text) { syscall6(SYS_write, console, (long)text, length_of(text), 0, 0, 0); }

/* Appends `value` in decimal to `out`; returns the new end. */
static char *decimal(char *out, unsigned long value) {
  char digits[12];
  int n = 0;
  do digits[n++] = (char)('0' + value % 10), value /= 10;
  while (value != 0);
  while (n > 0) *out++ = digits[--n];
  return out;
}

static char *append(char *out, const char *text) {
  while (*text != 0) *out++ = *text++;
  return out;
}

/* Says `prefix` then `value` (negative: "-errno"), then `suffix`. */
static void say_number(const char *prefix, long value, const char *suffix) {
  char line[128];
  char *end = append(line, prefix);
  if (value < 0) *end++ = '-', value = -value;
  end = append(decimal(end, (unsigned long)value), suffix);
  *end = 0;
  say(line);
}

static void power_off(void) {
  syscall6(SYS_reboot, (long)REBOOT_MAGIC1, REBOOT_MAGIC2, REBOOT_CMD_POWER_OFF, 0, 0, 0);
  say("init: power off failed\n");
  struct timespec64 second = {1, 0};
  for (;;) syscall6(SYS_clock_nanosleep_time64, CLOCK_MONOTONIC, 0, (long)&second, 0, 0, 0);
}

static void fail(const char *what, long error) {
  say_number(what, error, "\n");
  power_off();
}

/* The value of `name=` in envp, or 0. */
static const char *env(char **envp, const char *name) {
  for (; *envp != 0; envp++) {
    const char *entry = *envp;
    const char *key = name;
    while (*key != 0 && *entry == *key) entry++, key++;
    if (*key == 0 && *entry == '=') return entry + 1;
  }
  return 0;
}

static int equal(const char *a, const char *b) {
  while (*a != 0 && *a == *b) a++, b++;
  return *a == *b;
}

/* "A.B.C.D" in network order (the bytes in memory in that order), or 0 if it is not one. */
static unsigned int parse_ipv4(const char *text) {
  unsigned int address = 0;
  for (int part = 0; part < 4; part++) {
    unsigned int value = 0;
    int digits = 0;
    while (*text >= '0' && *text <= '9' && digits < 3) value = value * 10 + (unsigned int)(*text++ - '0'), digits++;
    if (digits == 0 || value > 255 || *text != (part == 3 ? 0 : '.')) return 0;
    if (part < 3) text++;
    address |= value << (8 * part);
  }
  return address;
}

static unsigned short network_port(unsigned short port) { return (unsigned short)((port >> 8) | (port << 8)); }

/* Microseconds of CLOCK_MONOTONIC, wrapping after an hour: enough for differences (and no libgcc's
   64-bit division needed). */
static unsigned long now_micros(void) {
  struct timespec64 now;
  syscall6(SYS_clock_gettime64, CLOCK_MONOTONIC, (long)&now, 0, 0, 0, 0);
  return (unsigned long)now.tv_sec * 1000000 + (unsigned long)now.tv_nsec / 1000;
}

static void interface_request(int sock, unsigned long request, struct ifreq *request_data, const char *what) {
  long result = syscall6(SYS_ioctl, sock, (long)request, (long)request_data, 0, 0, 0);
  if (result < 0) fail(what, result);
}

/* eth0 up with `address`/24 (the ioctls `ifconfig eth0 A.B.C.D netmask 255.255.255.0 up` makes). */
static void bring_up_eth0(int sock, unsigned int address) {
  struct ifreq request = {{'e', 't', 'h', '0'}, {{AF_INET, 0, address, {0}}}};
  interface_request(sock, SIOCSIFADDR, &request, "init: FAILED: SIOCSIFADDR eth0: ");
  request.u.address.address = parse_ipv4("255.255.255.0");
  interface_request(sock, SIOCSIFNETMASK, &request, "init: FAILED: SIOCSIFNETMASK eth0: ");
  request.u.address.address = 0;
  request.u.flags = IFF_UP;
  interface_request(sock, SIOCSIFFLAGS, &request, "init: FAILED: SIOCSIFFLAGS eth0: ");
}

static int udp_socket(unsigned int address) {
  int sock = (int)syscall6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0);
  if (sock < 0) fail("init: FAILED: socket: ", sock);
  bring_up_eth0(sock, address);
  struct sockaddr_in local = {AF_INET, network_port(UDP_PORT), address, {0}};
  long result = syscall6(SYS_bind, sock, (long)&local, sizeof local, 0, 0, 0);
  if (result < 0) fail("init: FAILED: bind: ", result);
  say("init: eth0 up\n");
  return sock;
}

static void udp_server(unsigned int address) {
  int sock = udp_socket(address);
  char buffer[PAYLOAD];
  unsigned long echoed = 0;
  for (;;) {
    struct sockaddr_in peer;
    unsigned int peer_length = sizeof peer;
    long received = syscall6(SYS_recvfrom, sock, (long)buffer, sizeof buffer, 0, (long)&peer, (long)&peer_length);
    if (received < 0) fail("udp-server: FAILED: recvfrom: ", received);
    long sent = syscall6(SYS_sendto, sock, (long)buffer, received, 0, (long)&peer, peer_length);
    if (sent != received) fail("udp-server: FAILED: sendto: ", sent);
    /* "bye" is echoed too: the client waits for it before it powers off, so that it does not
       stop while its "bye" is still on the way. */
    if (received == 3 && buffer[0] == 'b' && buffer[1] == 'y' && buffer[2] == 'e') break;
    echoed++;
  }
  say_number("udp-server: echoed ", (long)echoed, " datagrams\n");
  power_off();
}

/* Datagram `n`'s payload: its number, then bytes that depend on it (a reply must match all of them). */
static void fill(char *payload, unsigned int n) {
  for (int i = 0; i < 4; i++) payload[i] = (char)(n >> (8 * i));
  for (int i = 4; i < PAYLOAD; i++) payload[i] = (char)(n * 31 + (unsigned int)i);
}

static void udp_client(unsigned int address, unsigned int server, unsigned long count) {
  int sock = udp_socket(address);
  /* A second without a reply sends the datagram again: the server may still be booting. */
  struct sock_timeval64 timeout = {1, 0};
  long result = syscall6(SYS_setsockopt, sock, SOL_SOCKET, SO_RCVTIMEO_NEW, (long)&timeout, sizeof timeout, 0);
  if (result < 0) fail("udp-client: FAILED: setsockopt SO_RCVTIMEO_NEW: ", result);
  struct sockaddr_in to = {AF_INET, network_port(UDP_PORT), server, {0}};
  char payload[PAYLOAD];
  char reply[PAYLOAD];
  unsigned long replies = 0;
  unsigned long retries = 0;
  unsigned long started = 0;
  for (unsigned int n = 0; n < count; n++) {
    fill(payload, n);
    if (n == 1) started = now_micros(); /* the first one waited for the server and ARP */
    int answered = 0;
    for (int attempt = 0; attempt < MAX_TRIES && !answered; attempt++) {
      if (attempt > 0) retries++;
      long sent = syscall6(SYS_sendto, sock, (long)payload, PAYLOAD, 0, (long)&to, sizeof to);
      if (sent != PAYLOAD) fail("udp-client: FAILED: sendto: ", sent);
      for (;;) {
        long received = syscall6(SYS_recvfrom, sock, (long)reply, sizeof reply, 0, 0, 0);
        if (received == -EAGAIN) break; /* timed out: send again */
        if (received < 0) fail("udp-client: FAILED: recvfrom: ", received);
        int same = received == PAYLOAD;
        for (int i = 0; same && i < PAYLOAD; i++) same = reply[i] == payload[i];
        if (same) {
          answered = 1;
          break;
        }
        /* A late reply to an earlier try of an earlier datagram: not this one's, wait on. */
      }
    }
    if (!answered) break;
    replies++;
  }
  unsigned long micros = now_micros() - started;
  /* "bye" until it comes back (a few seconds at most): the server stops when it gets it. */
  for (int attempt = 0; attempt < 5; attempt++) {
    syscall6(SYS_sendto, sock, (long)"bye", 3, 0, (long)&to, sizeof to);
    long received;
    do received = syscall6(SYS_recvfrom, sock, (long)reply, sizeof reply, 0, 0, 0);
    while (received >= 0 && !(received == 3 && reply[0] == 'b' && reply[1] == 'y' && reply[2] == 'e'));
    if (received == 3) break;
  }
  char line[160];
  char *end = append(line, "udp-client: ");
  end = append(decimal(end, replies), "/");
  end = append(decimal(end, count), " replies from the server, ");
  end = append(decimal(end, retries), " retries, ");
  end = append(decimal(end, count > 1 && replies == count ? micros / (count - 1) : 0), " us per round trip\n");
  *end = 0;
  say(line);
  power_off();
}

static void balloon_mode(void) {
  long length = TOUCH_MIB << 20;
  long address = syscall6(SYS_mmap2, 0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (address < 0 && address > -4096) {
    say("init: mmap failed\n");
  } else {
    for (long offset = 0; offset < length; offset += PAGE_SIZE) *(volatile char *)(address + offset) = 1;
    syscall6(SYS_munmap, address, length, 0, 0, 0, 0);
  }
  say("init: up\n");
  struct timespec64 second = {1, 0};
  for (;;) syscall6(SYS_clock_nanosleep_time64, CLOCK_MONOTONIC, 0, (long)&second, 0, 0, 0);
}

/* The process's initial stack (System V ABI): argc, argv[argc] and a null, envp and a null. */
void start_c(long *stack) {
  long argc = stack[0];
  char **envp = (char **)(stack + 1 + argc + 1);
  /* The kernel opened /dev/console as fds 0-2 (the initramfs has the node); open it otherwise. */
  if (syscall6(SYS_write, console, (long)"init: started\n", 14, 0, 0, 0) < 0) {
    console = (int)syscall6(SYS_openat, AT_FDCWD, (long)"/dev/console", O_RDWR, 0, 0, 0);
    say("init: started\n");
  }
  const char *mode = env(envp, "mtest");
  if (mode == 0) balloon_mode();
  const char *address_text = env(envp, "maddr");
  unsigned int address = address_text == 0 ? 0 : parse_ipv4(address_text);
  if (address == 0) {
    say("init: FAILED: maddr=A.B.C.D missing or malformed\n");
    power_off();
  }
  if (equal(mode, "udp-server")) udp_server(address);
  if (equal(mode, "udp-client")) {
    const char *peer_text = env(envp, "mpeer");
    unsigned int peer = peer_text == 0 ? 0 : parse_ipv4(peer_text);
    if (peer == 0) {
      say("udp-client: FAILED: mpeer=A.B.C.D missing or malformed\n");
      power_off();
    }
    const char *count_text = env(envp, "mcount");
    unsigned long count = 0;
    while (count_text != 0 && *count_text >= '0' && *count_text <= '9' && count < 1000000) count = count * 10 + (unsigned long)(*count_text++ - '0');
    udp_client(address, peer, count == 0 ? 32 : count);
  }
  say("init: FAILED: unknown mtest= (udp-server or udp-client)\n");
  power_off();
}

/* The entry point: the stack pointer is where the kernel put argc (start_c reads it from there). */
__asm__(".globl _start\n_start:\n  mv a0, sp\n  andi sp, sp, -16\n  call start_c\n");
