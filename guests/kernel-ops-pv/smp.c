/* guests/kernel/smp.c built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/smp.c"
