/* guests/kernel/smp.c built with -DSMP=2 (cflags): the two-hart variant shares one code base. */
#include "../kernel/smp.c"
