/* guests/kernel/kernel.c built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/kernel.c"
