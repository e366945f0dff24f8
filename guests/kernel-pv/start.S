/* guests/kernel/start.S built with -DPV (cflags): the paravirtual variant shares one code base. */
#include "../kernel/start.S"
