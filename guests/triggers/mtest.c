/* The shared trap harness (guests/include/mtest_impl.h). */
#include "mtest_impl.h"
