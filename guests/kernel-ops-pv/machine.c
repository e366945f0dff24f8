/* guests/kernel/machine.c built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/machine.c"
