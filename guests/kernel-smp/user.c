/* guests/kernel/user.c built with -DSMP=2 (cflags): the two-hart variant shares one code base. */
#include "../kernel/user.c"
