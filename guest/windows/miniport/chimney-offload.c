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

#include "chimney-miniport.h"

typedef PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST Block;

#define BLOCK_PARENT(b)     ((Block)chimney_guest_block_parent( \
                                 (ChimneyNdisBlock *)(b)))

/* What preparing a block's command came to */
enum { STEP_SUBMIT, STEP_DONE, STEP_WAIT };

/* The n-th state structure after the block, each sized by its header */
static PVOID chimney_state(Block b, ULONG n)
{
    PUCHAR p = (PUCHAR)(b + 1);

    for (ULONG i = 0; i < n; i++) {
        p += ((POFFLOAD_STATE_HEADER)p)->Length;
    }
    return p;
}

static ChimneyObj *chimney_block_obj(Block b)
{
    return b && b->MiniportOffloadContext ? *b->MiniportOffloadContext : NULL;
}

/* --- walking the tree: the shared driver core's walk --- */

#define CORE(b)             ((ChimneyNdisBlock *)(b))

static Block chimney_first(ChimneyJob *job)
{
    return (Block)chimney_guest_walk_first(CORE(job->root),
                                           job->op == CHIMNEY_JOB_TERMINATE);
}

/* A failed initiate block has no dependents to visit */
static Block chimney_next(ChimneyJob *job, Block b)
{
    return (Block)chimney_guest_walk_next(CORE(b),
        job->op == CHIMNEY_JOB_TERMINATE,
        job->op != CHIMNEY_JOB_INITIATE || NT_SUCCESS(b->Status));
}

static VOID chimney_block_failed(ChimneyJob *job, Block b, NDIS_STATUS st)
{
    chimney_guest_block_failed(CORE(b), st,
                               job->op == CHIMNEY_JOB_INITIATE);
}

static VOID chimney_fail_all(Block root)
{
    for (Block b = root; b; b = b->NextBlock) {
        chimney_fail_all(b->DependentBlockList);
        b->Status = NDIS_STATUS_RESOURCES;
    }
}

/* --- initiate: one object per block --- */

static ChimneyObj *chimney_obj_alloc(ChimneyObj *table, ULONG n, ULONG kind)
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

static ULONG chimney_min(ULONG a, ULONG b)
{
    return a < b ? a : b;
}

static ULONG chimney_prepare_neighbor(ChimneyAdapter *a, ChimneyJob *job,
                                      Block b, ChimneyAdminCmd *cmd)
{
    PNEIGHBOR_OFFLOAD_STATE_CONST k = chimney_state(b, 0);
    PNEIGHBOR_OFFLOAD_STATE_CACHED c = chimney_state(b, 1);
    ChimneyNeighborState *ns = (ChimneyNeighborState *)(a->job_mem +
                                                        CHIMNEY_JOB_STATE);
    BOOLEAN own_mac = TRUE;
    ChimneyObj *o;

    for (ULONG i = 0; i < 6; i++) {
        own_mac &= !k->DlSourceAddress[i];
    }

    o = chimney_obj_alloc(a->neighbor, chimney_min(CHIMNEY_MAX_NEIGHBORS,
                          a->id.max_neighbors), CHIMNEY_KIND_NEIGHBOR);
    if (!o) {
        chimney_block_failed(job, b, NDIS_STATUS_OFFLOAD_NEIGHBOR_ENTRIES);
        return STEP_DONE;
    }
    memset(ns, 0, sizeof(*ns));
    memcpy(ns->src_mac, own_mac ? a->id.mac : k->DlSourceAddress, 6);
    memcpy(ns->dst_mac, c->DlDestinationAddress, 6);
    ns->vlan_id = k->VlanId;
    job->obj = o;
    cmd->opcode = CHIMNEY_CMD_OFFLOAD_NEIGHBOR;
    cmd->id = o->id;
    cmd->addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
    return STEP_SUBMIT;
}

static ULONG chimney_prepare_path(ChimneyAdapter *a, ChimneyJob *job,
                                  Block b, ChimneyAdminCmd *cmd)
{
    PPATH_OFFLOAD_STATE_CONST k = chimney_state(b, 0);
    PPATH_OFFLOAD_STATE_CACHED c = chimney_state(b, 1);
    ChimneyPathState *ps = (ChimneyPathState *)(a->job_mem +
                                                CHIMNEY_JOB_STATE);
    ChimneyObj *nb = chimney_block_obj(BLOCK_PARENT(b));
    ChimneyObj *o;

    if (!nb || nb->kind != CHIMNEY_KIND_NEIGHBOR) {
        chimney_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    o = chimney_obj_alloc(a->path, chimney_min(CHIMNEY_MAX_PATHS,
                          a->id.max_paths), CHIMNEY_KIND_PATH);
    if (!o) {
        chimney_block_failed(job, b, NDIS_STATUS_OFFLOAD_PATH_ENTRIES);
        return STEP_DONE;
    }
    memset(ps, 0, sizeof(*ps));
    ps->neighbor = nb->id;
    memcpy(ps->src_ip, k->SourceAddress, 4);
    memcpy(ps->dst_ip, k->DestinationAddress, 4);
    ps->path_mtu = c->PathMtu;
    o->parent = nb;
    job->obj = o;
    cmd->opcode = CHIMNEY_CMD_OFFLOAD_PATH;
    cmd->id = o->id;
    cmd->addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
    return STEP_SUBMIT;
}

/* Received data NDIS hands over (BufferedData) into the job area */
static LONG chimney_copy_buffered(ChimneyAdapter *a, PNET_BUFFER_LIST nbl)
{
    ULONG total = 0;

    for (; nbl; nbl = nbl->Next) {
        for (PNET_BUFFER nb = nbl->FirstNetBuffer; nb; nb = nb->Next) {
            if (nb->DataLength > CHIMNEY_JOB_DATA_MAX - total ||
                !chimney_copy_nb(nb, a->job_mem + CHIMNEY_JOB_DATA + total)) {
                return -1;
            }
            total += nb->DataLength;
        }
    }
    return total;
}

/* OFFLOAD_TCP, once the handed-over sends are mapped into the SQ */
static ULONG chimney_tcp_command(ChimneyAdapter *a, ChimneyJob *job,
                                 Block b, ChimneyAdminCmd *cmd)
{
    ChimneyConn *c = (ChimneyConn *)job->obj;
    PTCP_OFFLOAD_STATE_DELEGATED d = chimney_state(b, 2);
    ChimneyGuestTcpQueues q = {
        .path = c->obj.parent->id,
        .cq = CHIMNEY_CONN_CQ,
        .sq_base = c->mem_pa.QuadPart + CHIMNEY_CONN_SQ,
        .sq_size = CHIMNEY_CONN_SQ_ENTRIES,
        .handover = c->sq_reserved,
        .db_record = c->mem_pa.QuadPart + CHIMNEY_CONN_DB,
        .rq_base = c->mem_pa.QuadPart + CHIMNEY_CONN_RQ,
        .rq_size = CHIMNEY_CONN_RCVS,
        .buffered_len = job->buffered,
        .buffered_addr = a->job_pa.QuadPart + CHIMNEY_JOB_DATA,
    };

    for (ULONG i = 0; i < c->sq_reserved; i++) {
        if (c->sq_req[i].failed) {
            chimney_conn_free(a, c);
            chimney_block_failed(job, b, NDIS_STATUS_RESOURCES);
            return STEP_DONE;
        }
    }
    chimney_guest_tcp_offload(
        (ChimneyTcpOffload *)(a->job_mem + CHIMNEY_JOB_STATE),
        chimney_state(b, 0), chimney_state(b, 1),
        (ChimneyNdisTcpDelegated *)d, &q);
    cmd->opcode = CHIMNEY_CMD_OFFLOAD_TCP;
    cmd->id = c->obj.id;
    cmd->addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
    return STEP_SUBMIT;
}

static ULONG chimney_prepare_tcp(ChimneyAdapter *a, ChimneyJob *job,
                                 Block b, ChimneyAdminCmd *cmd)
{
    PTCP_OFFLOAD_STATE_DELEGATED d = chimney_state(b, 2);
    ChimneyObj *path = chimney_block_obj(BLOCK_PARENT(b));
    ChimneyConn *c;
    LONG buffered;
    ULONG n;

    if (!path || path->kind != CHIMNEY_KIND_PATH) {
        chimney_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    buffered = chimney_copy_buffered(a, d->BufferedData);
    if (buffered < 0) {
        chimney_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
    c = chimney_conn_new(a);
    if (!c) {
        chimney_block_failed(job, b, NDIS_STATUS_OFFLOAD_TCP_ENTRIES);
        return STEP_DONE;
    }
    c->obj.parent = path;
    c->tag = job;
    job->obj = &c->obj;
    job->buffered = buffered;
    if (b->NetBufferListChain) {
        /* The lock is dropped while mapping: nothing may start the job */
        job->mapping = TRUE;
        if (!chimney_conn_handover(c, b->NetBufferListChain, &n)) {
            job->mapping = FALSE;
            chimney_conn_free(a, c);
            chimney_block_failed(job, b, NDIS_STATUS_RESOURCES);
            return STEP_DONE;
        }
        job->mapping = FALSE;
        if (c->sq.ring.tail != c->sq_reserved) {
            c->job = job;           /* chimney_job_mapped goes on */
            return STEP_WAIT;
        }
    }
    return chimney_tcp_command(a, job, b, cmd);
}

static ULONG chimney_prepare_initiate(ChimneyAdapter *a, ChimneyJob *job,
                                      Block b, ChimneyAdminCmd *cmd)
{
    b->Status = NDIS_STATUS_SUCCESS;
    if (!b->MiniportOffloadContext || *b->MiniportOffloadContext) {
        return STEP_DONE;           /* a placeholder or a linker */
    }
    switch (b->Header.Type) {
    case NeighborOffloadState:
        return chimney_prepare_neighbor(a, job, b, cmd);
    case Ip4OffloadState:
        return chimney_prepare_path(a, job, b, cmd);
    case TcpOffloadState:
        return chimney_prepare_tcp(a, job, b, cmd);
    default:                        /* IPv6 is not offloaded */
        chimney_block_failed(job, b, NDIS_STATUS_FAILURE);
        return STEP_DONE;
    }
}

static VOID chimney_initiate_done(ChimneyAdapter *a, ChimneyJob *job,
                                  Block b, UCHAR st)
{
    ChimneyObj *o = job->obj;

    if (st != CHIMNEY_ST_SUCCESS) {
        NDIS_STATUS ns = st != CHIMNEY_ST_NO_RESOURCES ? NDIS_STATUS_FAILURE :
            o->kind == CHIMNEY_KIND_TCP ? NDIS_STATUS_OFFLOAD_TCP_ENTRIES :
            NDIS_STATUS_RESOURCES;

        if (o->kind == CHIMNEY_KIND_TCP) {
            chimney_conn_free(a, (ChimneyConn *)o);
        } else {
            o->kind = 0;
        }
        chimney_block_failed(job, b, ns);
        return;
    }
    o->used = TRUE;
    o->ndis = b->NdisOffloadHandle;
    if (o->kind == CHIMNEY_KIND_TCP) {
        ChimneyConn *c = (ChimneyConn *)o;

        c->offloaded = TRUE;
        chimney_conn_doorbell(a, c);    /* sends NDIS made meanwhile */
    }
    *b->MiniportOffloadContext = o;
}

/* --- the other operations --- */

static ULONG chimney_kind_obj(ULONG kind)
{
    return kind == CHIMNEY_KIND_NEIGHBOR ? CHIMNEY_OBJ_NEIGHBOR :
           kind == CHIMNEY_KIND_PATH ? CHIMNEY_OBJ_PATH : CHIMNEY_OBJ_TCP;
}

static ULONG chimney_prepare_update(ChimneyAdapter *a, ChimneyJob *job,
                                    Block b, ChimneyAdminCmd *cmd)
{
    ChimneyObj *o = job->obj;
    PUCHAR state = a->job_mem + CHIMNEY_JOB_STATE;

    memset(state, 0, sizeof(ChimneyTcpOffload));
    switch (o->kind) {
    case CHIMNEY_KIND_NEIGHBOR: {
        PNEIGHBOR_OFFLOAD_STATE_CACHED c = chimney_state(b, 0);

        memcpy(((ChimneyNeighborState *)state)->dst_mac,
               c->DlDestinationAddress, 6);
        break;
    }
    case CHIMNEY_KIND_PATH:
        ((ChimneyPathState *)state)->path_mtu =
            ((PPATH_OFFLOAD_STATE_CACHED)chimney_state(b, 0))->PathMtu;
        break;
    default: {
        static const ChimneyNdisTcpConst k;
        static const ChimneyNdisTcpDelegated d;
        ChimneyGuestTcpQueues q = { 0 };

        chimney_guest_tcp_offload((ChimneyTcpOffload *)state, &k,
                                  chimney_state(b, 0), &d, &q);
        break;
    }
    }
    cmd->opcode = CHIMNEY_CMD_UPDATE;
    cmd->param[0] = chimney_kind_obj(o->kind);
    cmd->addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
    return STEP_SUBMIT;
}

static ULONG chimney_prepare(ChimneyAdapter *a, ChimneyJob *job, Block b,
                             ChimneyAdminCmd *cmd)
{
    ChimneyObj *o = chimney_block_obj(b);

    if (job->op == CHIMNEY_JOB_INITIATE) {
        return chimney_prepare_initiate(a, job, b, cmd);
    }
    b->Status = NDIS_STATUS_SUCCESS;
    if (!o || !o->used) {
        return STEP_DONE;
    }
    job->obj = o;
    cmd->id = o->id;
    switch (job->op) {
    case CHIMNEY_JOB_TERMINATE:
        cmd->opcode = CHIMNEY_CMD_TERMINATE;
        cmd->param[0] = chimney_kind_obj(o->kind);
        if (o->kind == CHIMNEY_KIND_TCP) {
            ULONG64 held = a->job_pa.QuadPart + CHIMNEY_JOB_DATA;

            cmd->addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
            cmd->param[CHIMNEY_TERM_PARAM_HELD_LO] = (ULONG)held;
            cmd->param[CHIMNEY_TERM_PARAM_HELD_HI] = (ULONG)(held >> 32);
            cmd->param[CHIMNEY_TERM_PARAM_HELD_LEN] = CHIMNEY_JOB_DATA_MAX;
        }
        return STEP_SUBMIT;
    case CHIMNEY_JOB_UPDATE:
        return chimney_prepare_update(a, job, b, cmd);
    case CHIMNEY_JOB_INVALIDATE:
        cmd->opcode = CHIMNEY_CMD_INVALIDATE;
        cmd->param[0] = chimney_kind_obj(o->kind);
        return STEP_SUBMIT;
    default:                        /* query */
        if (o->kind != CHIMNEY_KIND_TCP) {
            if (o->kind == CHIMNEY_KIND_NEIGHBOR) {
                /* The device keeps no reachability of its own */
                ((PNEIGHBOR_OFFLOAD_STATE_DELEGATED)chimney_state(b, 0))
                    ->NicReachabilityDelta = 0;
            }
            return STEP_DONE;
        }
        cmd->opcode = CHIMNEY_CMD_QUERY_TCP;
        cmd->addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
        return STEP_SUBMIT;
    }
}

/* TCP delegated state from QUERY_TCP or TERMINATE, into NDIS's block */
static VOID chimney_delegated_out(ChimneyAdapter *a, ChimneyJob *job, Block b)
{
    ChimneyTcpDelegated *dev = (ChimneyTcpDelegated *)(a->job_mem +
                                                        CHIMNEY_JOB_STATE);
    PTCP_OFFLOAD_STATE_DELEGATED d = chimney_state(b, 0);

    chimney_guest_tcp_delegated((ChimneyNdisTcpDelegated *)d, dev);
    if (job->op == CHIMNEY_JOB_QUERY) {
        d->SendBacklogSize = 0xffffffff;        /* not supported */
        d->ReceiveBacklogSize = 0xffffffff;
        return;
    }
    /* Every send completed (UPLOAD_IN_PROGRESS) before TERMINATE did */
    d->SendDataHead = NULL;
    d->SendDataTail = NULL;
    b->NetBufferListChain = NULL;
    d->BufferedData = dev->rcv_held ?
        chimney_buffered_nbl(a, a->job_mem + CHIMNEY_JOB_DATA,
                             chimney_min(dev->rcv_held,
                                         CHIMNEY_JOB_DATA_MAX)) : NULL;
}

static VOID chimney_done(ChimneyAdapter *a, ChimneyJob *job, Block b,
                         UCHAR st, ChimneyDeliveries *out)
{
    ChimneyObj *o = job->obj;

    if (job->op == CHIMNEY_JOB_INITIATE) {
        chimney_initiate_done(a, job, b, st);
        return;
    }
    b->Status = st == CHIMNEY_ST_SUCCESS ? NDIS_STATUS_SUCCESS :
                                           NDIS_STATUS_FAILURE;
    if (o->kind == CHIMNEY_KIND_TCP &&
        (job->op == CHIMNEY_JOB_QUERY || job->op == CHIMNEY_JOB_TERMINATE) &&
        st == CHIMNEY_ST_SUCCESS) {
        chimney_delegated_out(a, job, b);
    }
    if (job->op == CHIMNEY_JOB_TERMINATE) {
        /* Failed or not, NDIS forgets the object now */
        if (o->kind == CHIMNEY_KIND_TCP) {
            chimney_conn_terminated(a, (ChimneyConn *)o, out);
        } else {
            o->used = FALSE;
            o->kind = 0;
        }
    }
}

/* --- running jobs --- */

static VOID chimney_ndis_complete(ChimneyAdapter *a, ULONG op, Block root);

static BOOLEAN chimney_submit(ChimneyAdapter *a, ChimneyJob *job)
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
VOID chimney_jobs_run(ChimneyAdapter *a, ChimneyDeliveries *out)
{
    ChimneyJob *job;

    while ((job = a->jobs) && !job->inflight && !job->mapping) {
        if (job->cur && job->cmd.opcode) {
            /* Left when the admin SQ was full: retried on a completion */
            chimney_submit(a, job);
            return;
        }
        while (job->cur) {
            ULONG step;

            memset(&job->cmd, 0, sizeof(job->cmd));
            job->obj = NULL;
            step = chimney_prepare(a, job, job->cur, &job->cmd);
            if (step == STEP_WAIT) {
                job->mapping = TRUE;
                return;
            }
            if (step == STEP_SUBMIT) {
                chimney_submit(a, job);
                return;
            }
            job->cur = chimney_next(job, job->cur);
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
BOOLEAN chimney_job_admin_done(ChimneyAdapter *a, const ChimneyCqe *cqe,
                               ChimneyDeliveries *out)
{
    ChimneyJob *job = a->jobs;
    UCHAR st = CHIMNEY_CQE_STATUS(cqe->type_status);

    if (!job || !job->inflight || cqe->cookie != job->cookie) {
        return FALSE;
    }
    job->inflight = FALSE;
    if (job->cmd.opcode == CHIMNEY_CMD_IDENTIFY) {
        /* The round trip of a handover whose mapping failed */
        chimney_conn_free(a, (ChimneyConn *)job->obj);
        chimney_block_failed(job, job->cur, NDIS_STATUS_RESOURCES);
    } else {
        chimney_done(a, job, job->cur, st, out);
    }
    job->cmd.opcode = 0;
    job->cur = chimney_next(job, job->cur);
    chimney_jobs_run(a, out);
    return TRUE;
}

/*
 * Under the lock, from the mapping of the last handed-over send: submit
 * OFFLOAD_TCP.  Nothing can be completed from here, so a failed mapping
 * goes through the device: an IDENTIFY round trip brings the job back to
 * the DPC, which fails the block.
 */
VOID chimney_job_mapped(ChimneyAdapter *a, ChimneyConn *c)
{
    ChimneyJob *job = c->job;
    BOOLEAN failed = FALSE;

    c->job = NULL;
    job->mapping = FALSE;
    for (ULONG i = 0; i < c->sq_reserved; i++) {
        failed |= c->sq_req[i].failed;
    }
    memset(&job->cmd, 0, sizeof(job->cmd));
    if (failed) {
        job->cmd.opcode = CHIMNEY_CMD_IDENTIFY;
        job->cmd.addr = a->job_pa.QuadPart + CHIMNEY_JOB_STATE;
        job->cmd.len = CHIMNEY_IDENTIFY_SIZE;
    } else {
        chimney_tcp_command(a, job, job->cur, &job->cmd);
    }
    chimney_submit(a, job);
}

/* Outside the lock: NDIS gets its trees back, in order */
VOID chimney_jobs_deliver(ChimneyAdapter *a, ChimneyDeliveries *out)
{
    for (ULONG i = 0; i < out->ndone; i++) {
        ChimneyJob *job = out->done[i];

        chimney_ndis_complete(a, job->op, job->root);
        if (job->op == CHIMNEY_JOB_INITIATE) {
            chimney_announce(a, job);
        }
        NdisFreeMemory(job, sizeof(*job), 0);
    }
    out->ndone = 0;
}

static VOID chimney_ndis_complete(ChimneyAdapter *a, ULONG op, Block root)
{
    switch (op) {
    case CHIMNEY_JOB_INITIATE:
        NdisMInitiateOffloadComplete(a->miniport, root);
        break;
    case CHIMNEY_JOB_TERMINATE:
        NdisMTerminateOffloadComplete(a->miniport, root);
        break;
    case CHIMNEY_JOB_UPDATE:
        NdisMUpdateOffloadComplete(a->miniport, root);
        break;
    case CHIMNEY_JOB_INVALIDATE:
        NdisMInvalidateOffloadComplete(a->miniport, root);
        break;
    default:
        NdisMQueryOffloadStateComplete(a->miniport, root);
        break;
    }
}

static VOID chimney_job_start(ChimneyAdapter *a, ULONG op, Block root)
{
    ChimneyDeliveries out = CHIMNEY_DELIVERIES_INIT(out);
    ChimneyJob *job = NdisAllocateMemoryWithTagPriority(
        a->miniport, sizeof(*job), CHIMNEY_POOL_TAG, NormalPoolPriority);

    if (!job || !a->chimney) {
        if (job) {
            NdisFreeMemory(job, sizeof(*job), 0);
        }
        chimney_fail_all(root);
        chimney_ndis_complete(a, op, root);
        return;
    }
    memset(job, 0, sizeof(*job));
    job->op = op;
    job->root = root;
    job->cur = chimney_first(job);

    NdisAcquireSpinLock(&a->lock);
    *a->jobs_tail = job;
    a->jobs_tail = &job->next;
    chimney_jobs_run(a, &out);
    NdisReleaseSpinLock(&a->lock);
    chimney_deliver(a, &out);
}

VOID chimney_initiate_offload(NDIS_HANDLE context, Block list)
{
    chimney_job_start(context, CHIMNEY_JOB_INITIATE, list);
}

VOID chimney_terminate_offload(NDIS_HANDLE context, Block list)
{
    chimney_job_start(context, CHIMNEY_JOB_TERMINATE, list);
}

VOID chimney_update_offload(NDIS_HANDLE context, Block list)
{
    chimney_job_start(context, CHIMNEY_JOB_UPDATE, list);
}

VOID chimney_invalidate_offload(NDIS_HANDLE context, Block list)
{
    chimney_job_start(context, CHIMNEY_JOB_INVALIDATE, list);
}

VOID chimney_query_offload(NDIS_HANDLE context, Block list)
{
    chimney_job_start(context, CHIMNEY_JOB_QUERY, list);
}
