/* net-ping: sends PINGS numbered frames (broadcast, EtherType 0x88b5, local experimental) to
   net-echo, waits for each reply, checks it (addressed to us, from the echo's MAC, same number,
   same payload) and passes when all came back. A frame not answered in time is sent again; a
   stale reply (an earlier number) is counted and skipped. Ends with a "MTRYBYE!" frame that stops
   the echo. */
#include "rt.h"
#include "vnet.h"

#define PINGS 16u
#define PAYLOAD 200u
#define POLLS_BEFORE_RETRY 400000u
#define MAX_TRIES 500u

static uint8_t out[VNET_MAX_FRAME], in[VNET_MAX_FRAME];

static void build(uint32_t seq, const char *tag) {
    memset(out, 0xff, 6); /* broadcast: the echo's MAC is not known yet */
    memcpy(out + 6, vnet_mac, 6);
    out[12] = 0x88;
    out[13] = 0xb5;
    memcpy(out + 14, tag, 8);
    out[22] = (uint8_t)seq;
    out[23] = (uint8_t)(seq >> 8);
    out[24] = (uint8_t)(seq >> 16);
    out[25] = (uint8_t)(seq >> 24);
    for (uint32_t i = 26; i < 14 + PAYLOAD; i++) out[i] = (uint8_t)(i * 7 + seq);
}

static uint32_t seq_of(const uint8_t *f) {
    return f[22] | (f[23] << 8) | (f[24] << 16) | ((uint32_t)f[25] << 24);
}

int main(void) {
    uint32_t slot = vnet_init();
    printf("net-ping: virtio-net in slot %u (%s), MAC %02x:%02x:%02x:%02x:%02x:%02x\n", slot, vnet_modern ? "modern" : "legacy",
           vnet_mac[0], vnet_mac[1], vnet_mac[2], vnet_mac[3], vnet_mac[4], vnet_mac[5]);
    while (!vnet_link_up()) { }
    uint32_t retries = 0, stale = 0;
    uint8_t echo_mac[6] = {0};
    for (uint32_t seq = 1; seq <= PINGS; seq++) {
        build(seq, "MTRYPING");
        int answered = 0;
        for (uint32_t tries = 0; tries < MAX_TRIES && !answered; tries++) {
            if (tries > 0) retries++;
            vnet_send(out, 14 + PAYLOAD);
            for (uint32_t polls = 0; polls < POLLS_BEFORE_RETRY && !answered; polls++) {
                int length = vnet_poll(in, sizeof in);
                if (length < 0) continue;
                if (length < 26 || in[12] != 0x88 || in[13] != 0xb5 || vnet_memcmp(in + 14, "MTRYPONG", 8) != 0) continue;
                if (seq_of(in) < seq) { stale++; continue; }
                if (seq_of(in) != seq) { printf("net-ping: reply %u to ping %u\n", seq_of(in), seq); return 2; }
                if ((uint32_t)length != 14 + PAYLOAD) { printf("net-ping: reply %u is %d bytes\n", seq, length); return 3; }
                if (vnet_memcmp(in, vnet_mac, 6) != 0) { printf("net-ping: reply %u not addressed to us\n", seq); return 4; }
                if (seq == 1) memcpy(echo_mac, in + 6, 6);
                else if (vnet_memcmp(in + 6, echo_mac, 6) != 0) { printf("net-ping: reply %u from another MAC\n", seq); return 5; }
                if (vnet_memcmp(in + 26, out + 26, PAYLOAD - 12) != 0) { printf("net-ping: reply %u payload differs\n", seq); return 6; }
                answered = 1;
            }
        }
        if (!answered) { printf("net-ping: no reply to ping %u\n", seq); return 7; }
    }
    build(PINGS + 1, "MTRYBYE!");
    vnet_send(out, 14 + PAYLOAD);
    printf("net-ping: %u/%u replies from %02x:%02x:%02x:%02x:%02x:%02x, %u retries, %u stale\n", PINGS, PINGS,
           echo_mac[0], echo_mac[1], echo_mac[2], echo_mac[3], echo_mac[4], echo_mac[5], retries, stale);
    return 0;
}
