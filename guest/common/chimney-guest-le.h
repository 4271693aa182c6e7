/*
 * chimney-nic: little-endian fields, byte by byte, for the driver core
 *
 * The device's fields are little-endian; assembling them byte by byte
 * keeps the driver core correct whatever the byte order of the CPU that
 * runs it.  Private to guest/common/.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_GUEST_LE_H
#define CHIMNEY_GUEST_LE_H

#include <stdint.h>

static inline uint16_t le16_in(const void *p)
{
    const uint8_t *b = p;

    return b[0] | b[1] << 8;
}

static inline uint32_t le32_in(const void *p)
{
    const uint8_t *b = p;

    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t le64_in(const void *p)
{
    return le32_in(p) | (uint64_t)le32_in((const uint8_t *)p + 4) << 32;
}

static inline void le16_out(void *p, uint16_t v)
{
    uint8_t *b = p;

    b[0] = v;
    b[1] = v >> 8;
}

static inline void le32_out(void *p, uint32_t v)
{
    uint8_t *b = p;

    b[0] = v;
    b[1] = v >> 8;
    b[2] = v >> 16;
    b[3] = v >> 24;
}

static inline void le64_out(void *p, uint64_t v)
{
    le32_out(p, v);
    le32_out((uint8_t *)p + 4, v >> 32);
}

#endif /* CHIMNEY_GUEST_LE_H */
