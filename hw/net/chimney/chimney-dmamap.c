/*
 * chimney-nic: guest payload mapped for one bottom-half run
 *
 * A data segment's payload leaves from guest memory in place.  Mapping
 * it translates the address and takes a reference on the memory region,
 * and unmapping looks the RAM block up again; once per segment, without
 * the backend's segmentation, that cost more than the segment's other
 * work.  Here up to CHIMNEY_DMAMAP_MAX_EXTENT bytes of an SGL entry are
 * mapped at its first segment in a run of the bottom half (chimney_bh,
 * where all queue work runs) and the segments after it use that
 * extent.  A frame done with CHIMNEY_DMAMAP_KEEP extents mapped unmaps
 * them, and the end of the run unmaps the rest: no mapping outlives a
 * run, during which the BQL is held and guest memory keeps its layout.
 * Outside a run a mapping is made and given back per call.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/rcu.h"
#include "hw/pci/pci_device.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-dmamap.h"
#include "trace.h"

static void chimney_dmamap_unmap_all(ChimneyState *s)
{
    ChimneyDmaMaps *d = &s->offload.maps;

    trace_chimney_dmamap_unmap_all(d->count);
    for (uint32_t i = 0; i < d->count; i++) {
        pci_dma_unmap(PCI_DEVICE(s), d->ext[i].host, d->ext[i].len,
                      DMA_DIRECTION_TO_DEVICE, d->ext[i].len);
    }
    d->count = 0;
}

void chimney_dmamap_begin(ChimneyState *s)
{
    assert(!s->offload.maps.in_run);
    s->offload.maps.in_run = true;
}

void chimney_dmamap_end(ChimneyState *s)
{
    ChimneyDmaMaps *d = &s->offload.maps;

    /* the engine gives every part back before it returns */
    assert(d->in_run && !d->in_use);
    chimney_dmamap_unmap_all(s);
    d->in_run = false;
}

/*
 * Up to *@len bytes at @addr mapped for reading, when they are guest RAM
 * (NULL otherwise: the caller reads them instead), *@len set to how many
 */
static void *chimney_dmamap_ram(ChimneyState *s, dma_addr_t addr,
                                dma_addr_t *len)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    MemoryRegion *mr;
    hwaddr xlat, tlen = *len;
    void *p;

    if (!*len || addr + *len - 1 < addr) {
        return NULL;
    }
    RCU_READ_LOCK_GUARD();
    mr = address_space_translate(pci_get_address_space(pdev), addr, &xlat,
                                 &tlen, false, MEMTXATTRS_UNSPECIFIED);
    if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr)) {
        return NULL;
    }
    *len = MIN(*len, tlen);
    p = pci_dma_map(pdev, addr, len, DMA_DIRECTION_TO_DEVICE);
    /* address_space_map gives RAM's length, never 0 with a pointer */
    return p;
}

/*
 * Up to *@len bytes at @addr, of the @extent bytes from there that one
 * SGL entry holds, for reading in place; *@len set to how many.  NULL
 * when they are not guest RAM.  Give them back with chimney_dmamap_put.
 */
const void *chimney_dmamap_get(ChimneyState *s, dma_addr_t addr,
                               dma_addr_t extent, uint32_t *len)
{
    ChimneyDmaMaps *d = &s->offload.maps;
    ChimneyDmaMapExtent *e;
    dma_addr_t n = MIN(*len, extent);
    void *p;

    if (!d->in_run) {
        p = chimney_dmamap_ram(s, addr, &n);
        *len = n;
        return p;
    }
    for (uint32_t i = 0; i < d->count; i++) {
        e = &d->ext[i];
        if (addr >= e->addr && addr - e->addr < e->len) {
            d->in_use++;
            *len = MIN(n, e->len - (addr - e->addr));
            return (uint8_t *)e->host + (addr - e->addr);
        }
    }
    /* room for every part of a frame: never full, but never overrun */
    if (d->count == CHIMNEY_DMAMAP_EXTENTS) {
        return NULL;
    }
    e = &d->ext[d->count];
    e->addr = addr;
    e->len = MAX(n, MIN(extent, CHIMNEY_DMAMAP_MAX_EXTENT));
    e->host = chimney_dmamap_ram(s, addr, &e->len);
    if (!e->host) {
        return NULL;
    }
    d->count++;
    trace_chimney_dmamap_map(addr, e->len, d->count);
    d->in_use++;
    *len = MIN(n, e->len);
    return e->host;
}

void chimney_dmamap_put(ChimneyState *s, const void *p, uint32_t len)
{
    ChimneyDmaMaps *d = &s->offload.maps;

    if (!d->in_run) {
        pci_dma_unmap(PCI_DEVICE(s), (void *)p, len, DMA_DIRECTION_TO_DEVICE,
                      len);
        return;
    }
    assert(d->in_use);
    /* between frames: keep a few extents, not every one of a long run */
    if (!--d->in_use && d->count >= CHIMNEY_DMAMAP_KEEP) {
        chimney_dmamap_unmap_all(s);
    }
}
