/*
 * A checked NDIS underneath the Windows drivers in the test harnesses
 *
 * The mock NDIS entry points of tests/windows/pe-run.c and of the
 * chimney-windows qtest call in here first, and every breach of a
 * documented rule ends the test with "Bail out!" and the rule:
 *
 * - IRQL: the harness says which level it runs the driver at (PASSIVE
 *   for initialization and OID requests, DISPATCH in the DPC and with a
 *   spin lock held); each NDIS function is called at or below its
 *   documented maximum.  Spin locks are real (a mutex each) and raise
 *   the caller to DISPATCH; NdisDprAcquireSpinLock wants DISPATCH
 *   already, a lock is released by its holder, never taken twice.
 * - Exactly once: every NBL, OID request and offload state tree handed
 *   to a driver is recorded and must come back exactly once, through
 *   the right completion; nothing is outstanding at the end.
 * - Connections: no upcall names a connection before
 *   NdisMInitiateOffloadComplete handed its tree back; no send or
 *   receive goes down on one after its terminate started.
 * - Upcalls are made without the driver's spin lock held (NDIS calls
 *   the driver above from them), a disconnect completes one NBL per
 *   call, receive completions do not nest, handles come back unchanged.
 * - State trees come back with each block's Status one the operation
 *   may give (an initiate its documented list, the others SUCCESS or
 *   FAILURE); in an initiate no block succeeds under one that failed,
 *   and an offloaded block with a failed dependent says PARTIAL_SUCCESS.
 *   The const and cached state NDIS handed down (IPv4 or IPv6 path
 *   addresses included) is the host stack's: it comes back unchanged.
 *
 * Header-only, thread-safe (the stress case runs the driver on several
 * threads); no glib, so that the native pe-run can use it too.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NDIS_CHECK_H
#define NDIS_CHECK_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NC_PASSIVE      0
#define NC_DISPATCH     2

#define NC_PENDING      0x103u          /* NDIS_STATUS_PENDING */

/* What a recorded object is, and so which completion it takes */
enum {
    NC_NONE, NC_SEND, NC_RECEIVE, NC_DISCONNECT, NC_FORWARD, NC_OID,
    NC_INITIATE, NC_TERMINATE, NC_UPDATE, NC_INVALIDATE, NC_QUERY,
    NC_KINDS,
};

static const char *const nc_kind_name[NC_KINDS] = {
    "nothing", "send NBL", "receive NBL", "disconnect NBL", "forward NBL",
    "OID request", "initiate tree", "terminate tree", "update tree",
    "invalidate tree", "query tree",
};

#define NC_SLOTS        8192            /* outstanding objects at most */
#define NC_CONNS        256

typedef struct NcSlot {
    const void *obj;
    int kind;
    const void *conn;                   /* the NdisOffloadHandle, if any */
} NcSlot;

typedef struct NcConn {
    const void *handle;                 /* NdisOffloadHandle */
    int initiated;                      /* its initiate was completed */
    int terminating;                    /* a terminate went down */
} NcConn;

/* The const and cached state of an initiate tree, as NDIS handed it down */
#define NC_SNAPS        16
#define NC_SNAP_SEGS    96
#define NC_SNAP_BYTES   8192

typedef struct NcSnap {
    const void *root;
    int nseg;
    struct {
        const uint8_t *at;
        const uint8_t *block;
        uint16_t len, off;
    } seg[NC_SNAP_SEGS];
    uint32_t used;
    uint8_t bytes[NC_SNAP_BYTES];
} NcSnap;

typedef struct NcState {
    pthread_mutex_t mu;
    NcSlot slot[NC_SLOTS];
    NcConn conn[NC_CONNS];
    NcSnap snap[NC_SNAPS];
    unsigned long completions;
} NcState;

/*
 * One checker per process: the file that defines NDIS_CHECK_STATE holds
 * it, the others of a program made of several files refer to it.
 */
#ifdef NDIS_CHECK_STATE
NcState nc = { .mu = PTHREAD_MUTEX_INITIALIZER };
__thread int nc_irql;                   /* the level this thread is at */
__thread int nc_locks_held;             /* driver spin locks held */
__thread int nc_in_receive_done;        /* inside a receive completion */
#else
extern NcState nc;
extern __thread int nc_irql, nc_locks_held, nc_in_receive_done;
#endif

static inline void nc_breach(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static inline void nc_breach(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = snprintf(msg, sizeof(msg), "Bail out! NDIS rule broken: ");
    n += vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(msg) - 2) {
        n = sizeof(msg) - 2;
    }
    msg[n++] = '\n';
    if (write(1, msg, n) < 0) {
        _exit(2);
    }
    _exit(1);
}

/* The harness runs the driver at @irql; returns the level it was at */
static inline int nc_enter(int irql)
{
    int old = nc_irql;

    nc_irql = irql;
    return old;
}

static inline void nc_leave(int old)
{
    if (nc_locks_held) {
        nc_breach("the driver returned holding %d spin lock(s)",
                  nc_locks_held);
    }
    nc_irql = old;
}

/* An NDIS function documented as callable at IRQL <= @max */
static inline void nc_call(const char *fn, int max)
{
    if (nc_irql > max) {
        nc_breach("%s called at IRQL %d, documented maximum %d", fn,
                  nc_irql, max);
    }
}

/* An NDIS function that calls the driver above: no lock of ours held */
static inline void nc_upcall(const char *fn)
{
    nc_call(fn, NC_DISPATCH);
    if (nc_locks_held) {
        nc_breach("%s called with a spin lock held", fn);
    }
}

/* --- spin locks: NDIS_SPIN_LOCK { KSPIN_LOCK SpinLock; KIRQL OldIrql } */

typedef struct NcLock {
    pthread_mutex_t mu;
    pthread_t owner;
    int held;
} NcLock;

static inline NcLock *nc_lock_of(void *ndis_lock)
{
    NcLock **slot = ndis_lock;

    if (!*slot) {
        /* A zeroed NDIS_SPIN_LOCK is a released one */
        pthread_mutex_lock(&nc.mu);
        if (!*slot) {
            NcLock *l = calloc(1, sizeof(*l));

            pthread_mutex_init(&l->mu, NULL);
            __atomic_store_n(slot, l, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&nc.mu);
    }
    return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

static inline void nc_lock_init(void *ndis_lock)
{
    memset(ndis_lock, 0, 16);
    nc_lock_of(ndis_lock);
}

static inline void nc_lock_acquire(void *ndis_lock, int dpr)
{
    NcLock *l = nc_lock_of(ndis_lock);
    int old = nc_irql;

    if (dpr && nc_irql != NC_DISPATCH) {
        nc_breach("NdisDprAcquireSpinLock at IRQL %d, not DISPATCH",
                  nc_irql);
    }
    nc_call(dpr ? "NdisDprAcquireSpinLock" : "NdisAcquireSpinLock",
            NC_DISPATCH);
    if (l->held && pthread_equal(l->owner, pthread_self())) {
        nc_breach("spin lock %p taken twice by one thread", ndis_lock);
    }
    pthread_mutex_lock(&l->mu);
    l->owner = pthread_self();
    l->held = 1;
    ((uint8_t *)ndis_lock)[8] = old;    /* OldIrql */
    nc_irql = NC_DISPATCH;
    nc_locks_held++;
}

static inline void nc_lock_release(void *ndis_lock, int dpr)
{
    NcLock *l = nc_lock_of(ndis_lock);
    int old = ((uint8_t *)ndis_lock)[8];

    if (!l->held || !pthread_equal(l->owner, pthread_self())) {
        nc_breach("spin lock %p released by a thread not holding it",
                  ndis_lock);
    }
    l->held = 0;
    nc_locks_held--;
    nc_irql = dpr ? NC_DISPATCH : old;
    pthread_mutex_unlock(&l->mu);
}

/* --- objects handed to the driver and their completions --- */

static inline size_t nc_hash(const void *p)
{
    return ((uintptr_t)p >> 4) * 2654435761u % NC_SLOTS;
}

/* --- state trees (NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, x64) --- */

#define NC_BLOCK        0x98            /* the state follows the block */
#define NC_ST_SUCCESS   0x00000000u
#define NC_ST_PARTIAL   0x40020004u     /* NDIS_STATUS_OFFLOAD_PARTIAL_... */
#define NC_ST_FAILURE   0xc0000001u

static inline const uint8_t *nc_rdp(const uint8_t *p, size_t off)
{
    const uint8_t *v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static inline uint32_t nc_rd32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

/*
 * The Status values of a block an operation may complete with
 * (learn.microsoft.com, "NDIS_MINIPORT_OFFLOAD_BLOCK_LIST structure",
 * Status; "Returning the Completion Status of an Initiate Offload
 * Operation"): an initiate SUCCESS, OFFLOAD_PARTIAL_SUCCESS, FAILURE,
 * RESOURCES or one of the NDIS_STATUS_OFFLOAD_*_ENTRIES / _BUFFER /
 * _RCV_WINDOW / VLAN_MISMATCH / CONNECTION_REJECTED reasons; terminate,
 * update, invalidate and query SUCCESS or FAILURE only.
 */
static inline int nc_status_allowed(uint32_t st, int kind)
{
    if (st == NC_ST_SUCCESS || st == NC_ST_FAILURE) {
        return 1;
    }
    if (kind != NC_INITIATE) {
        return 0;
    }
    return st == NC_ST_PARTIAL || st == 0xc000009au ||
           (st >= 0xc0231004u && st <= 0xc023100du) || st == 0xc0231012u;
}

static inline int nc_failed(uint32_t st)
{
    return st != NC_ST_SUCCESS && st != NC_ST_PARTIAL;
}

/*
 * The rules of a tree coming back (the lock not held): @parent_failed
 * says whether the block above failed in an initiate.
 */
static inline void nc_tree_check(const uint8_t *b, int kind,
                                 int parent_failed)
{
    for (; b; b = nc_rdp(b, 0x08)) {
        uint32_t st = nc_rd32(b + 0x18);
        const uint8_t *d;

        if (!nc_status_allowed(st, kind)) {
            nc_breach("%s block %p (type %u) completed with status 0x%x",
                      nc_kind_name[kind], (const void *)b, b[0], st);
        }
        if (kind == NC_INITIATE && parent_failed && !nc_failed(st)) {
            nc_breach("initiate block %p (type %u) says 0x%x under a block "
                      "that failed", (const void *)b, b[0], st);
        }
        /* An offloaded object whose immediate dependent failed: partial */
        for (d = nc_rdp(b, 0x10);
             kind == NC_INITIATE && st == NC_ST_SUCCESS && nc_rdp(b, 0x30) &&
             d; d = nc_rdp(d, 0x08)) {
            if (nc_failed(nc_rd32(d + 0x18))) {
                nc_breach("initiate block %p (type %u) says SUCCESS, its "
                          "dependent %p failed: OFFLOAD_PARTIAL_SUCCESS",
                          (const void *)b, b[0], (const void *)d);
            }
        }
        nc_tree_check(nc_rdp(b, 0x10), kind, nc_failed(st));
    }
}

/* Under nc.mu: record @len bytes at @at of @block's state */
static inline void nc_snap_seg(NcSnap *s, const uint8_t *block,
                               const uint8_t *at, uint32_t len)
{
    if (!at || !len) {
        return;
    }
    if (s->nseg == NC_SNAP_SEGS || len > NC_SNAP_BYTES - s->used) {
        nc_breach("a state tree larger than the checker records");
    }
    s->seg[s->nseg].at = at;
    s->seg[s->nseg].block = block;
    s->seg[s->nseg].len = len;
    s->seg[s->nseg].off = s->used;
    memcpy(s->bytes + s->used, at, len);
    s->used += len;
    s->nseg++;
}

/*
 * Under nc.mu: the const and cached state of each new offload in the
 * tree (a block whose MiniportOffloadContext points at NULL), each
 * structure sized by its OFFLOAD_STATE_HEADER.Length: a neighbor's
 * (NeighborOffloadState 4), an IPv4 or IPv6 path's (Ip4OffloadState 8,
 * Ip6OffloadState 12) with the 4 or 16 bytes of each address its
 * PATH_OFFLOAD_STATE_CONST points to, a connection's (TcpOffloadState
 * 17).  Delegated state is the target's to write.
 */
static inline void nc_snap_tree(NcSnap *s, const uint8_t *b)
{
    for (; b; b = nc_rdp(b, 0x08)) {
        const uint8_t *ctx = nc_rdp(b, 0x30), *st = b + NC_BLOCK;
        uint32_t alen = b[0] == 12 ? 16 : 4;

        if (ctx && !nc_rdp(ctx, 0) &&
            (b[0] == 4 || b[0] == 8 || b[0] == 12 || b[0] == 17)) {
            uint32_t klen = nc_rd32(st), clen;

            if (klen < 8 || klen > 0x100) {
                nc_breach("block %p: const state Length %u", (const void *)b,
                          klen);
            }
            clen = nc_rd32(st + klen);
            if (clen < 8 || clen > 0x100) {
                nc_breach("block %p: cached state Length %u",
                          (const void *)b, clen);
            }
            nc_snap_seg(s, b, st, klen + clen);
            if (b[0] == 8 || b[0] == 12) {
                nc_snap_seg(s, b, nc_rdp(st, 8), alen);
                nc_snap_seg(s, b, nc_rdp(st, 0x10), alen);
            }
        }
        nc_snap_tree(s, nc_rdp(b, 0x10));
    }
}

static inline void nc_snap_take(const uint8_t *root)
{
    pthread_mutex_lock(&nc.mu);
    for (int i = 0; i < NC_SNAPS; i++) {
        if (!nc.snap[i].root) {
            nc.snap[i].root = root;
            nc.snap[i].nseg = 0;
            nc.snap[i].used = 0;
            nc_snap_tree(&nc.snap[i], root);
            pthread_mutex_unlock(&nc.mu);
            return;
        }
    }
    nc_breach("more than %d initiate trees outstanding", NC_SNAPS);
}

/* The initiate tree @root came back: its const and cached state unchanged */
static inline void nc_snap_compare(const uint8_t *root)
{
    pthread_mutex_lock(&nc.mu);
    for (int i = 0; i < NC_SNAPS; i++) {
        NcSnap *s = &nc.snap[i];

        if (s->root != root) {
            continue;
        }
        for (int j = 0; j < s->nseg; j++) {
            if (memcmp(s->seg[j].at, s->bytes + s->seg[j].off,
                       s->seg[j].len)) {
                nc_breach("the target changed the const or cached state "
                          "of block %p (type %u), the host stack's",
                          (const void *)s->seg[j].block, s->seg[j].block[0]);
            }
        }
        s->root = NULL;
        break;
    }
    pthread_mutex_unlock(&nc.mu);
}

/* @obj goes to the driver; it must come back through @kind's completion */
static inline void nc_give(const void *obj, int kind, const void *conn)
{
    size_t i = nc_hash(obj);

    if (kind == NC_INITIATE) {
        nc_snap_take(obj);
    }

    pthread_mutex_lock(&nc.mu);
    for (size_t n = 0; n < NC_SLOTS; n++, i = (i + 1) % NC_SLOTS) {
        if (nc.slot[i].obj == obj) {
            nc_breach("%s %p handed down while still outstanding as %s",
                      nc_kind_name[kind], obj,
                      nc_kind_name[nc.slot[i].kind]);
        }
        if (!nc.slot[i].obj) {
            nc.slot[i] = (NcSlot) { obj, kind, conn };
            pthread_mutex_unlock(&nc.mu);
            return;
        }
    }
    nc_breach("more than %d objects outstanding", NC_SLOTS);
}

static inline NcConn *nc_conn_find(const void *handle)
{
    for (int i = 0; i < NC_CONNS; i++) {
        if (nc.conn[i].handle == handle) {
            return &nc.conn[i];
        }
    }
    return NULL;
}

/* Under nc.mu: an upcall naming @conn is allowed */
static inline void nc_conn_check_up(const void *conn, const char *fn)
{
    NcConn *c = conn ? nc_conn_find(conn) : NULL;

    if (c && !c->initiated) {
        nc_breach("%s for connection %p before its initiate completed", fn,
                  conn);
    }
}

/* @obj comes back through @fn, @kind's completion: once */
static inline void nc_take(const void *obj, int kind, const char *fn)
{
    size_t i = nc_hash(obj);

    pthread_mutex_lock(&nc.mu);
    for (size_t n = 0; n < NC_SLOTS; n++, i = (i + 1) % NC_SLOTS) {
        if (!nc.slot[i].obj) {
            break;
        }
        if (nc.slot[i].obj == obj) {
            if (nc.slot[i].kind != kind) {
                nc_breach("%s completes %p, which is a %s", fn, obj,
                          nc_kind_name[nc.slot[i].kind]);
            }
            nc_conn_check_up(nc.slot[i].conn, fn);
            /* Backward-shift deletion keeps the probe chains whole */
            for (size_t j = (i + 1) % NC_SLOTS; nc.slot[j].obj;
                 j = (j + 1) % NC_SLOTS) {
                size_t h = nc_hash(nc.slot[j].obj);

                if ((j > i && (h <= i || h > j)) ||
                    (j < i && h <= i && h > j)) {
                    nc.slot[i] = nc.slot[j];
                    i = j;
                }
            }
            nc.slot[i] = (NcSlot) { 0 };
            nc.completions++;
            pthread_mutex_unlock(&nc.mu);
            if (kind >= NC_INITIATE) {
                nc_tree_check(obj, kind, 0);
            }
            if (kind == NC_INITIATE) {
                nc_snap_compare(obj);
            }
            return;
        }
    }
    nc_breach("%s completes %p, which is not outstanding (completed twice, "
              "or never handed down)", fn, obj);
}

/* An NBL chain completed: each NBL once */
static inline void nc_take_chain(const uint8_t *nbl, int kind,
                                 const char *fn)
{
    for (; nbl; nbl = *(uint8_t *const *)nbl) {  /* Next at 0 */
        nc_take(nbl, kind, fn);
    }
}

/* How many objects of @kind (NC_NONE: any) are still with a driver */
static inline int nc_outstanding(int kind)
{
    int n = 0;

    pthread_mutex_lock(&nc.mu);
    for (int i = 0; i < NC_SLOTS; i++) {
        n += nc.slot[i].obj && (kind == NC_NONE || nc.slot[i].kind == kind);
    }
    pthread_mutex_unlock(&nc.mu);
    return n;
}

/* At the end of a run: nothing may be left with the drivers */
static inline void nc_all_back(const char *when)
{
    for (int i = 0; i < NC_SLOTS; i++) {
        if (nc.slot[i].obj) {
            nc_breach("%s: %s %p was never completed", when,
                      nc_kind_name[nc.slot[i].kind], nc.slot[i].obj);
        }
    }
}

/* A fresh checker for the next test of the same process */
static inline void nc_reset(void)
{
    pthread_mutex_lock(&nc.mu);
    memset(nc.slot, 0, sizeof(nc.slot));
    memset(nc.conn, 0, sizeof(nc.conn));
    for (int i = 0; i < NC_SNAPS; i++) {
        nc.snap[i].root = NULL;
    }
    pthread_mutex_unlock(&nc.mu);
}

/* --- connections, by the NdisOffloadHandle of their TCP block --- */

static inline void nc_conn_new(const void *handle)
{
    pthread_mutex_lock(&nc.mu);
    for (int i = 0; i < NC_CONNS; i++) {
        if (!nc.conn[i].handle || nc.conn[i].handle == handle) {
            nc.conn[i] = (NcConn) { .handle = handle };
            pthread_mutex_unlock(&nc.mu);
            return;
        }
    }
    nc_breach("more than %d connections", NC_CONNS);
}

/* NdisMInitiateOffloadComplete handed the tree naming @handle back */
static inline void nc_conn_initiated(const void *handle)
{
    NcConn *c;

    pthread_mutex_lock(&nc.mu);
    c = nc_conn_find(handle);
    if (c) {
        c->initiated = 1;
    }
    pthread_mutex_unlock(&nc.mu);
}

static inline void nc_conn_terminating(const void *handle)
{
    NcConn *c;

    pthread_mutex_lock(&nc.mu);
    c = nc_conn_find(handle);
    if (c) {
        c->terminating = 1;
    }
    pthread_mutex_unlock(&nc.mu);
}

/* An upcall that names a connection by its handle (event, indication) */
static inline void nc_conn_up(const void *handle, const char *fn)
{
    nc_upcall(fn);
    pthread_mutex_lock(&nc.mu);
    nc_conn_check_up(handle, fn);
    pthread_mutex_unlock(&nc.mu);
}

/* I/O going down on a connection: not once its terminate started */
static inline void nc_conn_down(const void *handle, const char *fn)
{
    NcConn *c;

    pthread_mutex_lock(&nc.mu);
    c = nc_conn_find(handle);
    if (c && c->terminating) {
        nc_breach("%s on connection %p after its terminate started", fn,
                  handle);
    }
    pthread_mutex_unlock(&nc.mu);
}

/* --- the completion rules of particular calls --- */

/* MiniportTcpOffloadSend/Receive/Disconnect/Forward return PENDING */
static inline void nc_pending(uint32_t st, const char *fn)
{
    if (st != NC_PENDING) {
        nc_breach("%s returned 0x%x; the DDI allows NDIS_STATUS_PENDING "
                  "only", fn, st);
    }
}

static inline void nc_handle(const void *got, const void *want,
                             const char *fn)
{
    if (got != want) {
        nc_breach("%s with handle %p, not the %p NDIS gave", fn, got, want);
    }
}

static inline void nc_disconnect_done(const uint8_t *nbl)
{
    nc_upcall("NdisTcpOffloadDisconnectComplete");
    if (!nbl || *(uint8_t *const *)nbl) {
        nc_breach("NdisTcpOffloadDisconnectComplete with %s NBL",
                  nbl ? "more than one" : "no");
    }
    nc_take(nbl, NC_DISCONNECT, "NdisTcpOffloadDisconnectComplete");
}

static inline void nc_receive_done_enter(void)
{
    nc_upcall("NdisTcpOffloadReceiveComplete");
    if (nc_in_receive_done++) {
        nc_breach("NdisTcpOffloadReceiveComplete called from within "
                  "itself");
    }
}

static inline void nc_receive_done_leave(void)
{
    nc_in_receive_done--;
}

#endif /* NDIS_CHECK_H */
