/*
 * The C library's memory functions, linked into each driver image
 *
 * GCC emits calls to memcpy and memset for structure copies and
 * initializers.  Whether ntoskrnl.exe of Windows 7 x64 exports them is
 * not proven from here (their DDI pages do not list them as kernel
 * exports), and the WDK links its own copies from its static runtime
 * library; so do these drivers, and the images import neither.
 *
 * The loops must stay loops: without no-tree-loop-distribute-patterns
 * GCC would recognise them and call memset / memcpy, i.e. themselves.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stddef.h>

#define CRT_LOOP __attribute__((optimize("no-tree-loop-distribute-patterns")))

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

CRT_LOOP void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    while (n--) {
        *d++ = *s++;
    }
    return dst;
}

/* Overlapping copies: backwards when the destination is above */
CRT_LOOP void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if (d <= s || d >= s + n) {
        return memcpy(dst, src, n);
    }
    while (n--) {
        d[n] = s[n];
    }
    return dst;
}

CRT_LOOP void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;

    while (n--) {
        *d++ = (unsigned char)c;
    }
    return dst;
}
