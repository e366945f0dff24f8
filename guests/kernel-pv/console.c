/* guests/kernel/console.c built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/console.c"
