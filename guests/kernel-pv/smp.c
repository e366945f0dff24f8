/* guests/kernel/smp.c built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/smp.c"
