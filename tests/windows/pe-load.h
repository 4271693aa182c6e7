/*
 * Load a Windows x64 driver image into a Linux process and run it
 *
 * The image is mapped and relocated as the Windows loader would, its
 * imports are bound to the caller's mocks (functions in the Windows x64
 * calling convention; calling any other import stops the run with the
 * function's name), and its globals can be found by their COFF symbols.
 * A region can be declared MMIO: the driver's 32-bit loads and stores to
 * it fault, are decoded, and are handed to the caller's callbacks, so a
 * driver's register accesses can reach a device model.
 *
 * Header-only: the native pe-run tool and the chimney-windows qtest (built
 * by QEMU's meson with its own first include) both use it.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PE_LOAD_H
#define PE_LOAD_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define WINAPI __attribute__((ms_abi))

static inline uint16_t rd16(const void *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t rd32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static inline void *rdp(const void *base, size_t off)
{
    void *v;

    memcpy(&v, (const uint8_t *)base + off, sizeof(v));
    return v;
}

static inline void wrp(void *base, size_t off, const void *v)
{
    memcpy((uint8_t *)base + off, &v, sizeof(v));
}

typedef struct Image {
    uint8_t *file;
    size_t file_len;
    uint8_t *base;
    uint32_t entry;
    uint32_t nsec;
    const uint8_t *sec;             /* section headers */
    uint32_t sym_off, nsym;
} Image;

typedef struct Mock {
    const char *name;
    void *fn;
} Mock;

#define TRAPS 256
static uint8_t *trap_base;
static const char *trap_name[TRAPS];
static uint32_t ntraps;                 /* over every image loaded */

/* An MMIO window: 32-bit accesses to it reach these callbacks */
typedef struct PeMmio {
    uint8_t *va;
    size_t len;
    uint32_t (*readl)(void *opaque, uint32_t off);
    void (*writel)(void *opaque, uint32_t off, uint32_t val);
    void *opaque;
} PeMmio;

static PeMmio pe_mmio;

/* ucontext register slots by x86 register number */
static const int pe_gregs[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

/*
 * Decode "mov r32, [m]" (8B /r), "mov [m], r32" (89 /r) or
 * "mov [m], imm32" (C7 /0), with an optional REX prefix: the instruction
 * length, or 0 for anything else.  *reg is -1 for an immediate (*imm).
 */
static inline int pe_decode_mov(const uint8_t *ip, int *load, int *reg,
                                uint32_t *imm)
{
    int n = 0, rex = 0, mod, rm, op;

    if ((ip[0] & 0xf0) == 0x40) {
        rex = ip[n++];
    }
    op = ip[n++];
    if (rex & 8 || (op != 0x8b && op != 0x89 && op != 0xc7)) {
        return 0;                   /* 64-bit or another instruction */
    }
    *load = op == 0x8b;
    mod = ip[n] >> 6;
    rm = ip[n] & 7;
    *reg = ((ip[n] >> 3) & 7) | (rex & 4 ? 8 : 0);
    if (op == 0xc7) {
        if (*reg & 7) {
            return 0;
        }
        *reg = -1;
    }
    n++;
    if (mod == 3) {
        return 0;
    }
    if (rm == 4) {                  /* SIB */
        if (mod == 0 && (ip[n] & 7) == 5) {
            n += 4;
        }
        n++;
    } else if (mod == 0 && rm == 5) {
        return 0;                   /* RIP-relative: never MMIO here */
    }
    n += mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (op == 0xc7) {
        memcpy(imm, ip + n, 4);
        n += 4;
    }
    return n;
}

static inline void pe_on_fault(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    greg_t *g = uc->uc_mcontext.gregs;
    uintptr_t a = (uintptr_t)si->si_addr;
    char msg[160];
    int n, load, reg, len;
    uint32_t imm = 0;

    len = pe_mmio.va && a >= (uintptr_t)pe_mmio.va &&
          a + 4 <= (uintptr_t)pe_mmio.va + pe_mmio.len ?
          pe_decode_mov((const uint8_t *)g[REG_RIP], &load, &reg, &imm) : 0;
    if (len) {
        uint32_t off = a - (uintptr_t)pe_mmio.va;

        if (load) {
            g[pe_gregs[reg]] = pe_mmio.readl(pe_mmio.opaque, off);
        } else {
            pe_mmio.writel(pe_mmio.opaque, off,
                           reg < 0 ? imm : (uint32_t)g[pe_gregs[reg]]);
        }
        g[REG_RIP] += len;
        return;
    }
    if (a >= (uintptr_t)trap_base && a < (uintptr_t)trap_base + TRAPS * 16) {
        n = snprintf(msg, sizeof(msg), "Bail out! the driver called %s, "
                     "which the mock NDIS does not provide\n",
                     trap_name[(a - (uintptr_t)trap_base) / 16]);
    } else {
        const uint8_t *ip = (const uint8_t *)g[REG_RIP];

        n = snprintf(msg, sizeof(msg), "Bail out! the driver faulted at "
                     "%p (code %02x %02x %02x %02x)\n", si->si_addr, ip[0],
                     ip[1], ip[2], ip[3]);
    }
    if (write(1, msg, n) < 0) {
        _exit(2);
    }
    _exit(1);
}

/* An MMIO window the driver can be given as mapped registers */
static inline void *pe_mmio_map(size_t len,
                                uint32_t (*readl)(void *, uint32_t),
                                void (*writel)(void *, uint32_t, uint32_t),
                                void *opaque)
{
    pe_mmio.va = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    pe_mmio.len = len;
    pe_mmio.readl = readl;
    pe_mmio.writel = writel;
    pe_mmio.opaque = opaque;
    return pe_mmio.va;
}

static inline void pe_install_fault_handler(void)
{
    struct sigaction sa = {
        .sa_sigaction = pe_on_fault,
        .sa_flags = SA_SIGINFO | SA_NODEFER,
    };

    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

static inline void *image_map(Image *im, const char *path,
                              const Mock *mocks)
{
    FILE *f = fopen(path, "rb");
    uint32_t pe, opt, size;
    const uint8_t *d;

    if (!f) {
        perror(path);
        exit(2);
    }
    pe_install_fault_handler();
    fseek(f, 0, SEEK_END);
    im->file_len = ftell(f);
    rewind(f);
    im->file = malloc(im->file_len);
    if (fread(im->file, 1, im->file_len, f) != im->file_len) {
        exit(2);
    }
    fclose(f);
    d = im->file;
    pe = rd32(d + 0x3c);
    im->nsec = rd16(d + pe + 6);
    im->sym_off = rd32(d + pe + 12);
    im->nsym = rd32(d + pe + 16);
    opt = pe + 24;
    im->entry = rd32(d + opt + 16);
    size = rd32(d + opt + 56);
    im->sec = d + opt + rd16(d + pe + 20);
    im->base = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(im->base, d, rd32(d + opt + 60));
    for (uint32_t i = 0; i < im->nsec; i++) {
        const uint8_t *s = im->sec + 40 * i;
        uint32_t raw = rd32(s + 16);

        if (raw) {
            memcpy(im->base + rd32(s + 12), d + rd32(s + 20), raw);
        }
    }

    /* Base relocations: DIR64 only on x64 */
    {
        uint64_t delta = (uint64_t)im->base - *(uint64_t *)(d + opt + 24);
        uint32_t rva = rd32(d + opt + 112 + 8 * 5);
        uint32_t len = rd32(d + opt + 112 + 8 * 5 + 4);

        for (uint32_t off = 0; off < len;) {
            uint8_t *blk = im->base + rva + off;
            uint32_t page = rd32(blk), bsize = rd32(blk + 4);

            for (uint32_t e = 8; e < bsize; e += 2) {
                uint16_t ent = rd16(blk + e);

                if ((ent >> 12) == 10) {
                    *(uint64_t *)(im->base + page + (ent & 0xfff)) += delta;
                }
            }
            off += bsize;
        }
    }

    /* Imports: mocks, or a trap that names the function */
    if (!trap_base) {
        trap_base = mmap(NULL, TRAPS * 16, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    for (uint8_t *desc = im->base + rd32(d + opt + 112 + 8);
         rd32(desc + 12); desc += 20) {
        uint64_t *ilt = (uint64_t *)(im->base + rd32(desc));
        uint64_t *iat = (uint64_t *)(im->base + rd32(desc + 16));

        for (; *ilt; ilt++, iat++) {
            const char *name = (const char *)im->base + (*ilt & 0x7fffffff)
                               + 2;
            const Mock *m = mocks;

            while (m->name && strcmp(m->name, name)) {
                m++;
            }
            if (m->name) {
                *iat = (uint64_t)m->fn;
            } else if (ntraps < TRAPS) {
                trap_name[ntraps] = name;
                *iat = (uint64_t)(trap_base + 16 * ntraps++);
            }
        }
    }
    return im->base + im->entry;
}

/* A global of the image, by its COFF symbol */
static inline void *image_symbol(Image *im, const char *want)
{
    const uint8_t *sym = im->file + im->sym_off;
    const char *strtab = (const char *)sym + 18 * im->nsym;

    for (uint32_t i = 0; i < im->nsym; i += 1 + sym[18 * i + 17]) {
        const uint8_t *s = sym + 18 * i;
        char name[9] = { 0 };
        const char *n = name;
        int16_t sec = (int16_t)rd16(s + 12);

        if (rd32(s) == 0) {
            n = strtab + rd32(s + 4);
        } else {
            memcpy(name, s, 8);
        }
        if (sec > 0 && !strcmp(n, want)) {
            return im->base + rd32(im->sec + 40 * (sec - 1) + 12) +
                   rd32(s + 8);
        }
    }
    return NULL;
}

/*
 * An NDIS_TCP_OFFLOAD_EVENT_HANDLERS table, what NdisMGetOffloadHandlers
 * gives a target: header (type 0x80, revision 1, size 0x38), then the
 * event, receive-indicate and four completion entry points.
 */
static inline void pe_tcp_handlers(void **table, void *event, void *indicate,
                                   void *send, void *receive,
                                   void *disconnect, void *forward)
{
    table[0] = (void *)(uintptr_t)0x00380180;
    table[1] = event;
    table[2] = indicate;
    table[3] = send;
    table[4] = receive;
    table[5] = disconnect;
    table[6] = forward;
}

#endif /* PE_LOAD_H */
