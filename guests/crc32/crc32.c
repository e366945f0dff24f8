/* CPU-bound benchmark: CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) over a buffer filled
   by a linear congruential generator, computed bytewise with a 256-entry table, 128 rounds (about
   88 million instructions: long enough that QEMU's start-up does not dominate its timing).
   Prints every eighth round's CRC so that every engine must agree on the exact result. */
#include "rt.h"

#define BUFFER_BYTES (64 * 1024)
#define ROUNDS 128

static uint32_t crc_table[256];
static uint8_t buffer[BUFFER_BYTES];

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *data, uint32_t length, uint32_t crc) {
    crc = ~crc;
    for (uint32_t i = 0; i < length; i++) crc = crc_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int main(void) {
    build_table();
    uint32_t seed = 12345;
    for (uint32_t i = 0; i < BUFFER_BYTES; i++) {
        seed = seed * 1103515245u + 12345u;
        buffer[i] = (uint8_t)(seed >> 16);
    }
    /* The check value of the standard: CRC-32 of "123456789" is 0xCBF43926. */
    static const uint8_t check[] = "123456789";
    uint32_t check_crc = crc32(check, 9, 0);
    printf("crc32 check: %08x %s\n", check_crc, check_crc == 0xCBF43926u ? "ok" : "WRONG");
    uint32_t crc = 0;
    for (int round = 0; round < ROUNDS; round++) {
        crc = crc32(buffer, BUFFER_BYTES, crc);
        if (round % 8 == 7) printf("round %d: %08x\n", round, crc);
    }
    return check_crc == 0xCBF43926u ? 0 : 1;
}
