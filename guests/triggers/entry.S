/* The shared trap entries and M <-> S/U switch (guests/include/mtest_entry.S). */
#include "mtest_entry.S"
