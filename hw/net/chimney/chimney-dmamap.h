/*
 * chimney-nic: guest payload mapped for one bottom-half run
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_DMAMAP_H
#define HW_NET_CHIMNEY_DMAMAP_H

#include "system/dma.h"
#include "hw/net/chimney/chimney-tcp.h"

/* A frame done with this many extents mapped unmaps them all */
#define CHIMNEY_DMAMAP_KEEP     8
/*
 * So at most KEEP - 1 are kept from one frame to the next, and a frame
 * maps fewer parts than CHIMNEY_TCP_TX_IOV (tcp_tx_gather): a miss
 * always finds a free entry
 */
#define CHIMNEY_DMAMAP_EXTENTS  (CHIMNEY_DMAMAP_KEEP - 1 + CHIMNEY_TCP_TX_IOV)
/*
 * Bytes of an SGL entry mapped at once, at most: a mapping's cost may
 * grow with its length (Xen's map cache maps every page of it)
 */
#define CHIMNEY_DMAMAP_MAX_EXTENT   (256 * 1024)

typedef struct ChimneyDmaMapExtent {
    dma_addr_t addr, len;
    void *host;
} ChimneyDmaMapExtent;

typedef struct ChimneyDmaMaps {
    ChimneyDmaMapExtent ext[CHIMNEY_DMAMAP_EXTENTS];
    uint32_t count;             /* extents mapped: ext[0..count) */
    uint32_t in_use;            /* parts handed out, not yet given back */
    bool in_run;                /* mappings are kept until its end */
} ChimneyDmaMaps;

typedef struct ChimneyState ChimneyState;

void chimney_dmamap_begin(ChimneyState *s);
void chimney_dmamap_end(ChimneyState *s);
const void *chimney_dmamap_get(ChimneyState *s, dma_addr_t addr,
                               dma_addr_t extent, uint32_t *len);
void chimney_dmamap_put(ChimneyState *s, const void *p, uint32_t len);

#endif /* HW_NET_CHIMNEY_DMAMAP_H */
