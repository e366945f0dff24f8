/* guests/kernel/start.S built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/start.S"
