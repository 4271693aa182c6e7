/*
 * pe-run: what its files share (see pe-run.c)
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PE_RUN_H
#define PE_RUN_H

#include "pe-load.h"
#include "ndis-check.h"

/* The driver's entry points, by the number of arguments */
typedef WINAPI uint32_t DriverEntryFn(void *driver, void *registry);
typedef WINAPI uint32_t Fn2(void *a, void *b);
typedef WINAPI uint32_t Fn3(void *a, void *b, void *c);
typedef WINAPI void Fn1v(void *a);
typedef WINAPI void Fn2v(void *a, void *b);
typedef WINAPI void Fn3v(void *a, void *b, void *c);

#define H_MINIPORT_DRIVER   ((void *)0x1001)
#define H_PROTOCOL          ((void *)0x1002)
#define H_BINDING           ((void *)0x1003)
#define H_VIRTUAL_MINIPORT  ((void *)0x1004)
#define H_DEVICE            ((void *)0x1005)

/* What the drivers handed the mock NDIS, kept for the checks */
typedef struct PeRun {
    uint8_t mp_chars[0x98];
    uint8_t proto_chars[0x80];
    uint8_t optional[4][0x40];
    char optional_who[4];           /* 'm' miniport half, 'p' protocol */
    int noptional;
    int deregistered, associated, device_registered;
    void *im_context;               /* NdisIMInitializeDeviceInstanceEx */
    void *down_root;                /* the last state tree passed down */
    int down_op;
    void *up_root;                  /* the last tree completed up */
    int up_op;
    void *sent_handle, *sent_nbl;
    void *send_completed;
    void *event_handle;
    uint32_t event_type;
    uint8_t attrs_seen;
    uint32_t tcp_support[2];        /* the offload attributes' Support* */
    uint8_t *oid_down;              /* NdisOidRequest's clone */
    uint32_t oid_down_status;       /* what NdisOidRequest returns */
    uint8_t *oid_done;              /* NdisMOidRequestComplete's */
    uint32_t status_codes[4];       /* NdisMIndicateStatusEx's */
    int nstatus;
    int fail_alloc;                 /* the next allocations fail */
} PeRun;

extern PeRun pr;
extern const Mock pe_mocks[];

void ok(int cond, const char *what);
int find_optional(uint8_t type, char who);
int handlers_set(const uint8_t *chars, size_t from, size_t to);
void check_miniport_chars(uint32_t flags);
void check_provider(void);
uint32_t oid_request(void *handler, void *adapter, uint8_t *req);

void run_miniport(void *entry);
void run_im(Image *im, void *entry);

#endif /* PE_RUN_H */
