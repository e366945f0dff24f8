/* guests/kernel/kernel.c built with -DSMP=2 (cflags): the two-hart variant shares one code base. */
#include "../kernel/kernel.c"
