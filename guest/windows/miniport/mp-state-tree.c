/*
 * chimney-nic miniport: the offload state tree
 *
 * NDIS hands MiniportInitiateOffload, Terminate, Update, Invalidate and
 * Query a tree of NDIS_MINIPORT_OFFLOAD_BLOCK_LISTs: neighbors, their
 * paths, the paths' TCP connections.  Each call becomes a job; jobs run
 * one at a time, in the order NDIS made them, and a job takes one admin
 * command per block, the next one submitted from the DPC when the last
 * completes.  Initiate and the others walk the tree depth first, parents
 * before their dependents (a path needs its neighbor offloaded);
 * terminate walks it the other way round, since the device refuses to
 * terminate an object that others still depend on.
 *
 * A failed block fails its dependents unattempted and makes its parent a
 * partial success (research chimney.md 4.5).  The walk and the TCP state
 * translation are the OS-free driver core's, which the unit tests and
 * the qtests run.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "mp-adapter.h"

typedef PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST Block;

#define BLOCK_PARENT(b)     ((Block)chimney_guest_block_parent( \
                                 (ChimneyNdisBlock *)(b)))

/* What preparing a block's command came to */
enum { STEP_SUBMIT, STEP_DONE, STEP_WAIT };

/* The n-th state structure after the block, each sized by its header */
static PVOID mp_state(Block b, ULONG n)
{
    PUCHAR p = (PUCHAR)(b + 1);

    for (ULONG i = 0; i < n; i++) {
        p += ((POFFLOAD_STATE_HEADER)p)->Length;
    }
    return p;
}

static MpObj *mp_block_obj(Block b)
{
    return b && b->MiniportOffloadContext ? *b->MiniportOffloadContext : NULL;
}

/* --- walking the tree: the shared driver core's walk --- */

#define CORE(b)             ((ChimneyNdisBlock *)(b))

static Block mp_first(MpJob *job)
{
    return (Block)chimney_guest_walk_first(CORE(job->root),
                                           job->op == MP_JOB_TERMINATE);
}

/* A failed initiate block has no dependents to visit */
static Block mp_next(MpJob *job, Block b)
{
    return (Block)chimney_guest_walk_next(CORE(b),
        job->op == MP_JOB_TERMINATE,
        job->op != MP_JOB_INITIATE || NT_SUCCESS(b->Status));
}

static VOID mp_block_failed(MpJob *job, Block b, NDIS_STATUS st)
{
    chimney_guest_block_failed(CORE(b), st,
                               job->op == MP_JOB_INITIATE);
}

/*
 * Every block of a call that cannot run.  Only an initiate may say
 * RESOURCES; the other operations know SUCCESS and FAILURE alone
 * (chimney.md 4.5).
 */
static VOID mp_fail_all(Block root, NDIS_STATUS st)
{
    for (Block b = root; b; b = b->NextBlock) {
        mp_fail_all(b->DependentBlockList, st);
        b->Status = st;
    }
}

/* --- initiate: one object per block --- */

static MpObj *mp_obj_alloc(MpObj *table, ULONG n, ULONG kind)
{
    for (ULONG i = 0; i < n; i++) {
        if (!table[i].used && !table[i].kind) {
            table[i].kind = kind;
            table[i].id = i;
            return &table[i];
        }
    }
    return NULL;
}

static ULONG mp_min(ULONG a, ULONG b)
{
    return a < b ? a : b;
}

static ULONG mp_ticks(MpAdapter *a)
{
    return a->ticks_per_second ? a->ticks_per_second : 100;
}

static ULONG mp_prepare_neighbor(MpAdapter *a, MpJob *job,
                                 Block b, ChimneyAdminCmd *cmd)
{
    PNEIGHBOR_OFFLOAD_STATE_CACHED c = mp_state(b, 1);
    MpObj *o;
    int st;

    /*
     * VLAN 4095 is reserved: never offloaded, the device never sees it.
     * A VLAN id on a device without 802.1Q matching: out of VLAN
     * resources ("Determining Whether to Fail an Offload Request Because
     * of 802.1Q Information").
     */
    st = chimney_guest_neighbor((ChimneyNeighborState *)(a->job_mem +
                                                         MP_JOB_STATE),
                                mp_state(b, 0), mp_state(b, 1), a->id.mac,
                                a->id.features);
    if (st) {
        mp_block_failed(job, b, st == CHIMNEY_GUEST_NO_VLAN ?
                                NDIS_STATUS_OFFLOAD_VLAN_ENTRIES :
                                NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    o = mp_obj_alloc(a->neighbor, mp_min(MP_MAX_NEIGHBORS,
                          a->id.max_neighbors), MP_KIND_NEIGHBOR);
    if (!o) {
        mp_block_failed(job, b, NDIS_STATUS_OFFLOAD_NEIGHBOR_ENTRIES);
        return STEP_DONE;
    }
    /* The host last saw the neighbor reachable HostReachabilityDelta ago */
    o->progress_ms = mp_now_ms() - (ULONG64)c->HostReachabilityDelta *
                     1000 / mp_ticks(a);
    job->obj = o;
    cmd->opcode = CHIMNEY_CMD_OFFLOAD_NEIGHBOR;
    cmd->id = o->id;
    cmd->addr = a->job_pa.QuadPart + MP_JOB_STATE;
    return STEP_SUBMIT;
}

/*
 * An IPv4 or IPv6 path, by its block's type.  An IPv6 path the adapter
 * does not offer (the device lacks it, or it was turned off), a bad
 * address or an MTU outside the family's range fails here, before the
 * device; so does its connection (unattempted).
 */
static ULONG mp_prepare_path(MpAdapter *a, MpJob *job,
                             Block b, ChimneyAdminCmd *cmd)
{
    PPATH_OFFLOAD_STATE_CACHED c = mp_state(b, 1);
    MpObj *nb = mp_block_obj(BLOCK_PARENT(b));
    uint32_t family = 0;
    MpObj *o;

    if (!nb || nb->kind != MP_KIND_NEIGHBOR ||
        (b->Header.Type == Ip6OffloadState ? a->offload_off_v6 :
                                             a->offload_off) ||
        chimney_guest_path(a->job_mem + MP_JOB_STATE, &family,
                           b->Header.Type, nb->id, mp_state(b, 0),
                           mp_state(b, 1), a->id.features)) {
        mp_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    o = mp_obj_alloc(a->path, mp_min(MP_MAX_PATHS,
                          a->id.max_paths), MP_KIND_PATH);
    if (!o) {
        mp_block_failed(job, b, NDIS_STATUS_OFFLOAD_PATH_ENTRIES);
        return STEP_DONE;
    }
    o->parent = nb;
    o->family = family;
    o->path_mtu = c->PathMtu;
    job->obj = o;
    cmd->opcode = CHIMNEY_CMD_OFFLOAD_PATH;
    cmd->id = o->id;
    cmd->addr = a->job_pa.QuadPart + MP_JOB_STATE;
    cmd->param[CHIMNEY_PATH_PARAM_FAMILY] = family;
    return STEP_SUBMIT;
}

/*
 * The device lowered an IPv6 path's MTU (ICMPv6 Packet Too Big).  NDIS
 * has no event for it: the host stack gets the ICMPv6 message itself on
 * the plain path (the device passes it up), processes it and sends the
 * new PathMtu in an update.  Only the driver's copy follows the device.
 */
VOID mp_path_mtu_event(MpAdapter *a, const ChimneyCqe *cqe)
{
    MpObj *o;

    if (cqe->obj >= MP_MAX_PATHS) {
        return;
    }
    o = &a->path[cqe->obj];
    if (o->used && o->kind == MP_KIND_PATH &&
        o->family == CHIMNEY_PATH_IPV6 &&
        cqe->bytes >= CHIMNEY_IPV6_MIN_MTU && cqe->bytes < o->path_mtu) {
        DbgPrint("chimney-nic: path %u MTU %u\n", (unsigned)o->id,
                 (unsigned)cqe->bytes);
        o->path_mtu = cqe->bytes;
    }
}

/* Received data NDIS hands over (BufferedData) into the job area */
static LONG mp_copy_buffered(MpAdapter *a, PNET_BUFFER_LIST nbl)
{
    ULONG total = 0;

    for (; nbl; nbl = nbl->Next) {
        for (PNET_BUFFER nb = nbl->FirstNetBuffer; nb; nb = nb->Next) {
            if (nb->DataLength > MP_JOB_DATA_MAX - total ||
                !mp_copy_nb(nb, a->job_mem + MP_JOB_DATA + total)) {
                return -1;
            }
            total += nb->DataLength;
        }
    }
    return total;
}

/* OFFLOAD_TCP, once the handed-over sends are mapped into the SQ */
static ULONG mp_offload_tcp_command(MpAdapter *a, MpJob *job,
                                    Block b, ChimneyAdminCmd *cmd)
{
    MpConn *c = (MpConn *)job->obj;
    PTCP_OFFLOAD_STATE_DELEGATED d = mp_state(b, 2);
    ChimneyGuestTcpQueues q = {
        .path = c->obj.parent->id,
        .cq = MP_CONN_CQ,
        .sq_base = c->mem_pa.QuadPart + MP_CONN_SQ,
        .sq_size = MP_CONN_SQ_ENTRIES,
        .handover = c->sq_reserved,
        .db_record = c->mem_pa.QuadPart + MP_CONN_DB,
        .rq_base = c->mem_pa.QuadPart + MP_CONN_RQ,
        .rq_size = MP_CONN_RCVS,
        .buffered_len = job->buffered,
        .buffered_addr = a->job_pa.QuadPart + MP_JOB_DATA,
        .ipv6 = c->obj.parent->family == CHIMNEY_PATH_IPV6,
        .db_hint = (a->id.features & CHIMNEY_FEAT_DB_HINT) != 0,
    };

    for (ULONG i = 0; i < c->sq_reserved; i++) {
        if (c->sq_req[i].failed) {
            mp_conn_free(a, c);
            mp_block_failed(job, b, NDIS_STATUS_RESOURCES);
            return STEP_DONE;
        }
    }
    /*
     * The DDI does not say in which byte order the ports come; network
     * order is assumed, and a segment of the connection the host sent
     * through us before the offload shows whether that holds.
     */
    if (chimney_guest_port_order(&a->flows, mp_state(b, 0)) ==
        CHIMNEY_PORTS_HOST) {
        DbgPrint("chimney-nic: TCP const ports in host byte order\n");
        q.ports_host_order = TRUE;
    }
    chimney_guest_tcp_offload(
        (ChimneyTcpOffload *)(a->job_mem + MP_JOB_STATE),
        mp_state(b, 0), mp_state(b, 1),
        (ChimneyNdisTcpDelegated *)d, &q);
    cmd->opcode = CHIMNEY_CMD_OFFLOAD_TCP;
    cmd->id = c->obj.id;
    cmd->addr = a->job_pa.QuadPart + MP_JOB_STATE;
    cmd->len = CHIMNEY_TCP_OFFLOAD_SIZE;        /* the 1.3 block */
    return STEP_SUBMIT;
}

static ULONG mp_prepare_tcp(MpAdapter *a, MpJob *job,
                            Block b, ChimneyAdminCmd *cmd)
{
    PTCP_OFFLOAD_STATE_DELEGATED d = mp_state(b, 2);
    MpObj *path = mp_block_obj(BLOCK_PARENT(b));
    MpConn *c;
    LONG buffered;
    ULONG n;

    if (!path || path->kind != MP_KIND_PATH ||
        chimney_guest_tcp_cached_unsupported(mp_state(b, 1),
                                             a->id.features)) {
        /* An 802.1p priority the device cannot tag: the host keeps it */
        mp_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    buffered = mp_copy_buffered(a, d->BufferedData);
    if (buffered < 0) {
        mp_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    c = mp_conn_new(a);
    if (!c) {
        mp_block_failed(job, b, NDIS_STATUS_OFFLOAD_TCP_ENTRIES);
        return STEP_DONE;
    }
    c->obj.parent = path;
    c->tag = job;
    job->obj = &c->obj;
    job->buffered = buffered;
    if (b->NetBufferListChain) {
        /* The lock is dropped while mapping: nothing may start the job */
        job->mapping = TRUE;
        if (!mp_conn_handover(c, b->NetBufferListChain, &n)) {
            job->mapping = FALSE;
            mp_conn_free(a, c);
            mp_block_failed(job, b, NDIS_STATUS_RESOURCES);
            return STEP_DONE;
        }
        job->mapping = FALSE;
        if (c->sq.ring.tail != c->sq_reserved) {
            c->job = job;           /* mp_job_mapped goes on */
            return STEP_WAIT;
        }
    }
    return mp_offload_tcp_command(a, job, b, cmd);
}

static ULONG mp_prepare_initiate(MpAdapter *a, MpJob *job,
                                 Block b, ChimneyAdminCmd *cmd)
{
    b->Status = NDIS_STATUS_SUCCESS;
    if (!b->MiniportOffloadContext || *b->MiniportOffloadContext) {
        return STEP_DONE;           /* a placeholder or a linker */
    }
    switch (b->Header.Type) {
    case NeighborOffloadState:
        return mp_prepare_neighbor(a, job, b, cmd);
    case Ip4OffloadState:
    case Ip6OffloadState:
        return mp_prepare_path(a, job, b, cmd);
    case TcpOffloadState:
        return mp_prepare_tcp(a, job, b, cmd);
    default:                        /* no state chimney offloads */
        mp_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
}

static VOID mp_initiate_done(MpAdapter *a, MpJob *job,
                             Block b, UCHAR st)
{
    MpObj *o = job->obj;

    if (st != CHIMNEY_ST_SUCCESS) {
        NDIS_STATUS ns = st != CHIMNEY_ST_NO_RESOURCES ? NDIS_STATUS_FAILURE :
            o->kind == MP_KIND_TCP ? NDIS_STATUS_OFFLOAD_TCP_ENTRIES :
            NDIS_STATUS_RESOURCES;

        if (o->kind == MP_KIND_TCP) {
            mp_conn_free(a, (MpConn *)o);
        } else {
            o->kind = 0;
        }
        mp_block_failed(job, b, ns);
        return;
    }
    o->used = TRUE;
    o->ndis = b->NdisOffloadHandle;
    if (o->kind == MP_KIND_TCP) {
        MpConn *c = (MpConn *)o;

        c->offloaded = TRUE;
        mp_conn_doorbell(a, c);         /* sends NDIS made meanwhile */
    }
    *b->MiniportOffloadContext = o;
}

/* --- the other operations --- */

static ULONG mp_kind_obj(ULONG kind)
{
    return kind == MP_KIND_NEIGHBOR ? CHIMNEY_OBJ_NEIGHBOR :
           kind == MP_KIND_PATH ? CHIMNEY_OBJ_PATH : CHIMNEY_OBJ_TCP;
}

static ULONG mp_prepare_update(MpAdapter *a, MpJob *job,
                               Block b, ChimneyAdminCmd *cmd)
{
    MpObj *o = job->obj;
    PUCHAR state = a->job_mem + MP_JOB_STATE;

    memset(state, 0, sizeof(ChimneyTcpOffload));
    switch (o->kind) {
    case MP_KIND_NEIGHBOR: {
        PNEIGHBOR_OFFLOAD_STATE_CACHED c = mp_state(b, 0);

        memcpy(((ChimneyNeighborState *)state)->dst_mac,
               c->DlDestinationAddress, 6);
        break;
    }
    case MP_KIND_PATH: {
        MpObj *nb = mp_block_obj(BLOCK_PARENT(b));
        ULONG to = o->parent->id;

        /*
         * A path under another neighbor than its own: the next hop
         * changed, NDIS moves it to the new neighbor (the root of the
         * update tree) before it terminates the old one.
         */
        if (nb && nb->used && nb->kind == MP_KIND_NEIGHBOR &&
            nb != o->parent) {
            to = nb->id;
            cmd->param[CHIMNEY_UPDATE_PARAM_FLAGS] =
                CHIMNEY_UPDATE_PATH_RELINK;
        }
        /* The block of the path's own family; an MTU it cannot have fails */
        if (chimney_guest_path_update(state, o->family, to,
                                      mp_state(b, 0))) {
            b->Status = NDIS_STATUS_FAILURE;
            return STEP_DONE;
        }
        break;
    }
    default: {
        static const ChimneyNdisTcpConst k;
        static const ChimneyNdisTcpDelegated d;
        ChimneyGuestTcpQueues q = {
            .ipv6 = o->parent->family == CHIMNEY_PATH_IPV6,
        };

        /* Restarts, a new receive window: not the device's */
        if (chimney_guest_tcp_cached_unsupported(mp_state(b, 0),
                                                 a->id.features)) {
            b->Status = NDIS_STATUS_FAILURE;
            return STEP_DONE;
        }

        chimney_guest_tcp_offload((ChimneyTcpOffload *)state, &k,
                                  mp_state(b, 0), &d, &q);
        cmd->len = CHIMNEY_TCP_OFFLOAD_SIZE;
        break;
    }
    }
    cmd->opcode = CHIMNEY_CMD_UPDATE;
    cmd->param[0] = mp_kind_obj(o->kind);
    cmd->addr = a->job_pa.QuadPart + MP_JOB_STATE;
    return STEP_SUBMIT;
}

static ULONG mp_prepare(MpAdapter *a, MpJob *job, Block b,
                        ChimneyAdminCmd *cmd)
{
    MpObj *o = mp_block_obj(b);

    if (job->op == MP_JOB_INITIATE) {
        return mp_prepare_initiate(a, job, b, cmd);
    }
    b->Status = NDIS_STATUS_SUCCESS;
    if (!o || !o->used) {
        return STEP_DONE;
    }
    job->obj = o;
    cmd->id = o->id;
    switch (job->op) {
    case MP_JOB_TERMINATE:
        cmd->opcode = CHIMNEY_CMD_TERMINATE;
        cmd->param[0] = mp_kind_obj(o->kind);
        if (o->kind == MP_KIND_TCP) {
            ULONG64 held = a->job_pa.QuadPart + MP_JOB_DATA;

            cmd->addr = a->job_pa.QuadPart + MP_JOB_STATE;
            cmd->param[CHIMNEY_TERM_PARAM_HELD_LO] = (ULONG)held;
            cmd->param[CHIMNEY_TERM_PARAM_HELD_HI] = (ULONG)(held >> 32);
            cmd->param[CHIMNEY_TERM_PARAM_HELD_LEN] = MP_JOB_DATA_MAX;
        }
        return STEP_SUBMIT;
    case MP_JOB_UPDATE:
        return mp_prepare_update(a, job, b, cmd);
    case MP_JOB_INVALIDATE:
        cmd->opcode = CHIMNEY_CMD_INVALIDATE;
        cmd->param[0] = mp_kind_obj(o->kind);
        return STEP_SUBMIT;
    default:                        /* query */
        if (o->kind != MP_KIND_TCP) {
            if (o->kind == MP_KIND_NEIGHBOR) {
                /* TCP ticks since a connection over it made progress */
                ((PNEIGHBOR_OFFLOAD_STATE_DELEGATED)mp_state(b, 0))
                    ->NicReachabilityDelta =
                    (ULONG)((mp_now_ms() - o->progress_ms) * mp_ticks(a) /
                            1000);
            }
            return STEP_DONE;
        }
        cmd->opcode = CHIMNEY_CMD_QUERY_TCP;
        cmd->addr = a->job_pa.QuadPart + MP_JOB_STATE;
        return STEP_SUBMIT;
    }
}

/* TCP delegated state from QUERY_TCP or TERMINATE, into NDIS's block */
static VOID mp_delegated_out(MpAdapter *a, MpJob *job, Block b)
{
    ChimneyTcpDelegated *dev = (ChimneyTcpDelegated *)(a->job_mem +
                                                        MP_JOB_STATE);
    PTCP_OFFLOAD_STATE_DELEGATED d = mp_state(b, 0);

    chimney_guest_tcp_delegated((ChimneyNdisTcpDelegated *)d, dev);
    if (job->op == MP_JOB_QUERY) {
        d->SendBacklogSize = 0xffffffff;        /* not supported */
        d->ReceiveBacklogSize = 0xffffffff;
        return;
    }
    /* Every send completed (UPLOAD_IN_PROGRESS) before TERMINATE did */
    d->SendDataHead = NULL;
    d->SendDataTail = NULL;
    b->NetBufferListChain = NULL;
    d->BufferedData = dev->rcv_held ?
        mp_buffered_nbl(a, a->job_mem + MP_JOB_DATA,
                        mp_min(dev->rcv_held,
                               MP_JOB_DATA_MAX)) : NULL;
}

static VOID mp_done(MpAdapter *a, MpJob *job, Block b,
                    UCHAR st, MpDeliveries *out)
{
    MpObj *o = job->obj;

    if (job->op == MP_JOB_INITIATE) {
        mp_initiate_done(a, job, b, st);
        return;
    }
    b->Status = st == CHIMNEY_ST_SUCCESS ? NDIS_STATUS_SUCCESS :
                                           NDIS_STATUS_FAILURE;
    if (o->kind == MP_KIND_TCP &&
        (job->op == MP_JOB_QUERY || job->op == MP_JOB_TERMINATE) &&
        st == CHIMNEY_ST_SUCCESS) {
        mp_delegated_out(a, job, b);
    }
    if (job->op == MP_JOB_UPDATE && st == CHIMNEY_ST_SUCCESS &&
        o->kind == MP_KIND_PATH) {
        o->path_mtu = ((PPATH_OFFLOAD_STATE_CACHED)mp_state(b, 0))->PathMtu;
        if (job->cmd.param[CHIMNEY_UPDATE_PARAM_FLAGS] &
            CHIMNEY_UPDATE_PATH_RELINK) {
            o->parent = mp_block_obj(BLOCK_PARENT(b));  /* relinked */
        }
    }
    if (job->op == MP_JOB_TERMINATE) {
        /*
         * A connection is gone, failed or not.  A neighbor or path the
         * device still holds (a path, a connection still depends on it)
         * keeps its slot: its id is still the device's, and the block
         * fails.
         */
        if (o->kind == MP_KIND_TCP) {
            mp_conn_terminated(a, (MpConn *)o, out);
        } else if (st != CHIMNEY_ST_IN_USE) {
            o->used = FALSE;
            o->kind = 0;
        }
    }
}

/* --- running jobs --- */

static VOID mp_ndis_complete(MpAdapter *a, ULONG op, Block root);

static BOOLEAN mp_submit(MpAdapter *a, MpJob *job)
{
    job->cmd.cookie = ++a->dev.next_cookie;
    job->cookie = job->cmd.cookie;
    job->inflight = chimney_guest_admin_submit(&a->dev, &job->cmd);
    return job->inflight;
}

/*
 * Under the lock: advance the running job until it waits for the device
 * or ends; an ended job goes to @out and the next one starts.
 */
VOID mp_jobs_run(MpAdapter *a, MpDeliveries *out)
{
    MpJob *job;

    while ((job = a->jobs) && !job->inflight && !job->mapping) {
        if (job->cur && job->cmd.opcode) {
            /* Left when the admin SQ was full: retried on a completion */
            mp_submit(a, job);
            return;
        }
        while (job->cur) {
            ULONG step;

            memset(&job->cmd, 0, sizeof(job->cmd));
            job->obj = NULL;
            step = mp_prepare(a, job, job->cur, &job->cmd);
            if (step == STEP_WAIT) {
                job->mapping = TRUE;
                return;
            }
            if (step == STEP_SUBMIT) {
                mp_submit(a, job);
                return;
            }
            job->cur = mp_next(job, job->cur);
        }
        if (out->ndone == ARRAYSIZE(out->done)) {
            out->full = TRUE;
            return;
        }
        a->jobs = job->next;
        if (!a->jobs) {
            a->jobs_tail = &a->jobs;
        }
        out->done[out->ndone++] = job;
    }
}

/* The DPC: an admin completion that may be the running job's */
BOOLEAN mp_job_admin_done(MpAdapter *a, const ChimneyCqe *cqe,
                          MpDeliveries *out)
{
    MpJob *job = a->jobs;
    UCHAR st = CHIMNEY_CQE_STATUS(cqe->type_status);

    if (!job || !job->inflight || cqe->cookie != job->cookie) {
        return FALSE;
    }
    job->inflight = FALSE;
    if (job->cmd.opcode == CHIMNEY_CMD_IDENTIFY) {
        /* The round trip of a handover whose mapping failed */
        mp_conn_free(a, (MpConn *)job->obj);
        mp_block_failed(job, job->cur, NDIS_STATUS_RESOURCES);
    } else {
        mp_done(a, job, job->cur, st, out);
    }
    job->cmd.opcode = 0;
    job->cur = mp_next(job, job->cur);
    mp_jobs_run(a, out);
    return TRUE;
}

/*
 * Under the lock, from the mapping of the last handed-over send: submit
 * OFFLOAD_TCP.  Nothing can be completed from here, so a failed mapping
 * goes through the device: an IDENTIFY round trip brings the job back to
 * the DPC, which fails the block.
 */
VOID mp_job_mapped(MpAdapter *a, MpConn *c)
{
    MpJob *job = c->job;
    BOOLEAN failed = FALSE;

    c->job = NULL;
    job->mapping = FALSE;
    for (ULONG i = 0; i < c->sq_reserved; i++) {
        failed |= c->sq_req[i].failed;
    }
    memset(&job->cmd, 0, sizeof(job->cmd));
    if (failed) {
        job->cmd.opcode = CHIMNEY_CMD_IDENTIFY;
        job->cmd.addr = a->job_pa.QuadPart + MP_JOB_STATE;
        job->cmd.len = CHIMNEY_IDENTIFY_SIZE;
    } else {
        mp_offload_tcp_command(a, job, job->cur, &job->cmd);
    }
    mp_submit(a, job);
}

/* Outside the lock: NDIS gets its trees back, in order */
VOID mp_jobs_deliver(MpAdapter *a, MpDeliveries *out)
{
    for (ULONG i = 0; i < out->ndone; i++) {
        MpJob *job = out->done[i];

        mp_ndis_complete(a, job->op, job->root);
        if (job->op == MP_JOB_INITIATE) {
            mp_announce(a, job);
        }
        NdisFreeMemory(job, sizeof(*job), 0);
    }
    out->ndone = 0;
}

static VOID mp_ndis_complete(MpAdapter *a, ULONG op, Block root)
{
    switch (op) {
    case MP_JOB_INITIATE:
        NdisMInitiateOffloadComplete(a->miniport, root);
        break;
    case MP_JOB_TERMINATE:
        NdisMTerminateOffloadComplete(a->miniport, root);
        break;
    case MP_JOB_UPDATE:
        NdisMUpdateOffloadComplete(a->miniport, root);
        break;
    case MP_JOB_INVALIDATE:
        NdisMInvalidateOffloadComplete(a->miniport, root);
        break;
    default:
        NdisMQueryOffloadStateComplete(a->miniport, root);
        break;
    }
}

static VOID mp_job_start(MpAdapter *a, ULONG op, Block root)
{
    MpDeliveries out = MP_DELIVERIES_INIT(out);
    MpJob *job = NdisAllocateMemoryWithTagPriority(
        a->miniport, sizeof(*job), MP_POOL_TAG, NormalPoolPriority);

    if (!job || !a->chimney ||
        (op == MP_JOB_INITIATE && a->offload_off && a->offload_off_v6)) {
        /*
         * Turned off: nothing is offloaded until it is turned on (one
         * family off: its paths fail, mp_prepare_path)
         */
        if (job) {
            NdisFreeMemory(job, sizeof(*job), 0);
        }
        mp_fail_all(root, op == MP_JOB_INITIATE && !job ?
                          NDIS_STATUS_RESOURCES : NDIS_STATUS_FAILURE);
        mp_ndis_complete(a, op, root);
        return;
    }
    memset(job, 0, sizeof(*job));
    job->op = op;
    job->root = root;
    job->cur = mp_first(job);

    NdisAcquireSpinLock(&a->lock);
    *a->jobs_tail = job;
    a->jobs_tail = &job->next;
    mp_jobs_run(a, &out);
    NdisReleaseSpinLock(&a->lock);
    mp_deliver(a, &out);
}

VOID mp_initiate_offload(NDIS_HANDLE context, Block list)
{
    mp_job_start(context, MP_JOB_INITIATE, list);
}

VOID mp_terminate_offload(NDIS_HANDLE context, Block list)
{
    mp_job_start(context, MP_JOB_TERMINATE, list);
}

VOID mp_update_offload(NDIS_HANDLE context, Block list)
{
    mp_job_start(context, MP_JOB_UPDATE, list);
}

VOID mp_invalidate_offload(NDIS_HANDLE context, Block list)
{
    mp_job_start(context, MP_JOB_INVALIDATE, list);
}

VOID mp_query_offload(NDIS_HANDLE context, Block list)
{
    mp_job_start(context, MP_JOB_QUERY, list);
}
