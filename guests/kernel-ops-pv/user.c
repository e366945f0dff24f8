/* guests/kernel/user.c built for the benchmark (cflags): one code base with guests/kernel. */
#include "../kernel/user.c"
