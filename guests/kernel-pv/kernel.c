/* guests/kernel/kernel.c built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/kernel.c"
