/* guests/kernel/user.c built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/user.c"
