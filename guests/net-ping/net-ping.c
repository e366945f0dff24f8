/* net-ping: sends PINGS numbered frames (broadcast, EtherType 0x88b5, local experimental) to
   net-echo, waits for each reply, checks it (addressed to us, from the echo's MAC, same number,
   same payload) and passes when all came back. A frame not answered in time is sent again; a
   stale reply (an earlier number) is counted and skipped. Ends with a "MTRYBYE!" frame that stops
   the echo.

   Bulk mode (params.bulk_frames > 0, written into the ELF's `params` symbol by the host, as for
   guests/memhog): after ping 1 (which finds the echo), a stream of that many frames tagged
   "MTRYBULK", full-size by default (1514 bytes: an Ethernet header and 1500 bytes), as many in
   flight as a receive ring holds (VNET_QSIZE) by default, each echoed back and checked (its
   number, its length, its first and last payload bytes). params.window = 1 with small frames
   measures round trips instead of throughput. It prints the frames' count and the machine timer's ticks the
   stream took (QEMU's mtime runs at 10 MHz of host time, so a QEMU run can time itself), then
   sends "MTRYBYE!". The 16 pings of the default mode are not sent, so its transcript is unchanged. */
#include "rt.h"
#include "vnet.h"

#define PINGS 16u
#define PAYLOAD 200u
#define POLLS_BEFORE_RETRY 400000u
#define MAX_TRIES 500u

#define BULK_FRAME 1514u
#define MIN_FRAME 60u
#define POLLS_BEFORE_GIVING_UP 20000000u
#define CLINT_MTIME 0x0200bff8u

struct params {
    uint32_t bulk_frames; /* 0: the 16 pings; N: ping 1, then a stream of N frames */
    uint32_t window;      /* frames unanswered at most, 1..VNET_QSIZE (0: VNET_QSIZE) */
    uint32_t frame_bytes; /* 60..1514 (0: 1514) */
};

/* In .data, not .bss (it is all zeroes): crt0 clears .bss, which would wipe what the host wrote. */
__attribute__((section(".data"))) volatile struct params params = { 0, 0, 0 };

static uint8_t out[VNET_MAX_FRAME], in[VNET_MAX_FRAME];

static void build_sized(uint32_t seq, const char *tag, uint32_t length) {
    memset(out, 0xff, 6); /* broadcast: the echo's MAC is not known yet */
    memcpy(out + 6, vnet_mac, 6);
    out[12] = 0x88;
    out[13] = 0xb5;
    memcpy(out + 14, tag, 8);
    out[22] = (uint8_t)seq;
    out[23] = (uint8_t)(seq >> 8);
    out[24] = (uint8_t)(seq >> 16);
    out[25] = (uint8_t)(seq >> 24);
    for (uint32_t i = 26; i < length; i++) out[i] = (uint8_t)(i * 7 + seq);
}

static void build(uint32_t seq, const char *tag) { build_sized(seq, tag, 14 + PAYLOAD); }

static uint32_t seq_of(const uint8_t *f) {
    return f[22] | (f[23] << 8) | (f[24] << 16) | ((uint32_t)f[25] << 24);
}

/* Streams params.bulk_frames frames to `echo_mac`, at most `window` of them unanswered: the
   echo's ring and ours each hold VNET_QSIZE buffers, so none is ever dropped. */
static int bulk(const uint8_t *echo_mac, uint32_t first_seq) {
    uint32_t frames = params.bulk_frames;
    uint32_t window = params.window == 0 ? VNET_QSIZE : params.window;
    uint32_t size = params.frame_bytes == 0 ? BULK_FRAME : params.frame_bytes;
    if (window > VNET_QSIZE || size < MIN_FRAME || size > BULK_FRAME) {
        printf("net-ping: bulk: window %u or frame size %u out of range (1..%u, %u..%u)\n", window, size, VNET_QSIZE, MIN_FRAME, BULK_FRAME);
        return 11;
    }
    uint32_t sent = 0, answered = 0, idle = 0;
    uint32_t started = mmio_read32(CLINT_MTIME);
    while (answered < frames) {
        if (sent < frames && sent - answered < window) {
            build_sized(first_seq + sent, "MTRYBULK", size);
            memcpy(out, echo_mac, 6);
            vnet_send(out, size);
            sent++;
            continue;
        }
        int length = vnet_poll(in, sizeof in);
        if (length < 0) {
            if (++idle == POLLS_BEFORE_GIVING_UP) { printf("net-ping: bulk: no reply to frame %u\n", answered); return 8; }
            continue;
        }
        idle = 0;
        if (length < 26 || in[12] != 0x88 || in[13] != 0xb5 || vnet_memcmp(in + 14, "MTRYBULK", 8) != 0) continue;
        uint32_t seq = first_seq + answered;
        if (seq_of(in) != seq) { printf("net-ping: bulk: reply %u where %u was due\n", seq_of(in), seq); return 9; }
        if ((uint32_t)length != size || in[26] != (uint8_t)(26 * 7 + seq) || in[size - 1] != (uint8_t)((size - 1) * 7 + seq)) {
            printf("net-ping: bulk: reply %u is damaged (%d bytes)\n", seq, length);
            return 10;
        }
        answered++;
    }
    uint32_t ticks = mmio_read32(CLINT_MTIME) - started;
    printf("net-ping: bulk: %u/%u frames of %u bytes echoed, window %u, %u timer ticks\n", answered, frames, size, window, ticks);
    return 0;
}

int main(void) {
    uint32_t slot = vnet_init();
    printf("net-ping: virtio-net in slot %u (%s), MAC %02x:%02x:%02x:%02x:%02x:%02x\n", slot, vnet_modern ? "modern" : "legacy",
           vnet_mac[0], vnet_mac[1], vnet_mac[2], vnet_mac[3], vnet_mac[4], vnet_mac[5]);
    while (!vnet_link_up()) { }
    uint32_t retries = 0, stale = 0;
    uint8_t echo_mac[6] = {0};
    uint32_t pings = params.bulk_frames > 0 ? 1 : PINGS;
    for (uint32_t seq = 1; seq <= pings; seq++) {
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
    int status = params.bulk_frames > 0 ? bulk(echo_mac, pings + 1) : 0;
    build(pings + 1 + params.bulk_frames, "MTRYBYE!");
    vnet_send(out, 14 + PAYLOAD);
    printf("net-ping: %u/%u replies from %02x:%02x:%02x:%02x:%02x:%02x, %u retries, %u stale\n", pings, pings,
           echo_mac[0], echo_mac[1], echo_mac[2], echo_mac[3], echo_mac[4], echo_mac[5], retries, stale);
    return status;
}
