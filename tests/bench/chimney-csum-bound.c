/*
 * The bound for chimney-bench: what one core of this machine does when it
 * copies the bytes of 64-KiB send requests into MSS-sized frames and
 * computes their Internet checksum in the same pass (what a device model
 * that must copy cannot beat).  Prints "bound: N MB/s" for
 * scripts/bench-send.sh.
 *
 *   chimney-csum-bound [MIB]     bytes to move, in MiB (default 4096)
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SRC_BYTES   (32u << 20)     /* beyond the caches, like guest RAM */
#define CHUNK       (64u * 1024)
#define MSS         1460u

/* Copy @len bytes and return their ones' complement sum, in one pass */
static uint16_t copy_csum(uint8_t *dst, const uint8_t *src, size_t len)
{
    uint64_t sum = 0;
    size_t i = 0;
    uint32_t w;

    /* 32-bit words into a 64-bit sum: no carries to chase, vectorizable */
    for (; i + 4 <= len; i += 4) {
        memcpy(&w, src + i, 4);
        memcpy(dst + i, &w, 4);
        sum += w;
    }
    for (; i < len; i++) {
        dst[i] = src[i];
        sum += (uint64_t)src[i] << ((i & 3) * 8);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* The same sum the slow way, to check the fast one */
static uint16_t csum_ref(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum += (uint64_t)p[i] << ((i & 1) * 8);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint64_t total = (uint64_t)(argc > 1 ? atoi(argv[1]) : 4096) << 20;
    uint8_t *src = malloc(SRC_BYTES), frame[2048];
    uint64_t x = 0x9e3779b97f4a7c15ull, moved = 0, off = 0;
    uint32_t sums = 0;          /* used, so the loop is not dropped */
    double t0;

    if (!src || (int64_t)total <= 0) {
        fprintf(stderr, "usage: chimney-csum-bound [MIB]\n");
        return 2;
    }
    for (size_t i = 0; i < SRC_BYTES; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(src + i, &x, 8);
    }
    for (size_t len = 1; len <= MSS; len += 97) {
        if (copy_csum(frame, src + len, len) != csum_ref(src + len, len) ||
            memcmp(frame, src + len, len)) {
            fprintf(stderr, "chimney-csum-bound: the checksum is wrong\n");
            return 1;
        }
    }
    t0 = now();
    while (moved < total) {
        for (uint32_t o = 0; o < CHUNK; o += MSS) {
            uint32_t len = CHUNK - o < MSS ? CHUNK - o : MSS;

            sums += copy_csum(frame, src + off + o, len);
        }
        moved += CHUNK;
        off = (off + CHUNK) % SRC_BYTES;
    }
    printf("bound: %.0f MB/s (copy + checksum, one pass, one core, %llu "
           "MiB)\n", moved / (now() - t0) / 1e6,
           (unsigned long long)(moved >> 20));
    return sums == 0xffffffff;
}
