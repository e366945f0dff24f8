/* guests/kernel/console.c built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/console.c"
