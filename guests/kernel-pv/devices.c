/* guests/kernel/devices.c built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/devices.c"
