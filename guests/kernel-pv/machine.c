/* guests/kernel/machine.c built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/machine.c"
