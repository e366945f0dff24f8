/* guests/kernel/devices.c built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/devices.c"
