/* net-echo: answers net-ping. Every frame of EtherType 0x88b5 that starts with "MTRYPING" goes
   back to its sender with the MAC addresses swapped and "MTRYPONG" in place of the tag; a frame
   tagged "MTRYBYE!" ends the run (pass). Frames tagged "MTRYBULK" (net-ping's bulk mode) go
   back the same way with their tag kept. See guests/net-ping. */
#include "rt.h"
#include "vnet.h"

static uint8_t frame[VNET_MAX_FRAME];

static int tagged(const char *tag) {
    for (int i = 0; i < 8; i++) if (frame[14 + i] != (uint8_t)tag[i]) return 0;
    return 1;
}

int main(void) {
    uint32_t slot = vnet_init();
    printf("net-echo: virtio-net in slot %u (%s), MAC %02x:%02x:%02x:%02x:%02x:%02x\n", slot, vnet_modern ? "modern" : "legacy",
           vnet_mac[0], vnet_mac[1], vnet_mac[2], vnet_mac[3], vnet_mac[4], vnet_mac[5]);
    uint32_t echoed = 0, ignored = 0;
    for (;;) {
        int length = vnet_poll(frame, sizeof frame);
        if (length < 0) continue;
        if (length < 22 || frame[12] != 0x88 || frame[13] != 0xb5) {
            ignored++;
            continue;
        }
        if (tagged("MTRYBYE!")) break;
        int bulk = tagged("MTRYBULK");
        if (!bulk && !tagged("MTRYPING")) {
            ignored++;
            continue;
        }
        memcpy(frame, frame + 6, 6);
        memcpy(frame + 6, vnet_mac, 6);
        if (!bulk) memcpy(frame + 14, "MTRYPONG", 8);
        vnet_send(frame, (uint32_t)length);
        echoed++;
    }
    printf("net-echo: echoed %u frames, ignored %u; bye\n", echoed, ignored);
    return 0;
}
