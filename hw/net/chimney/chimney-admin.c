/*
 * chimney-nic: the admin queue
 *
 * Commands are fetched in order from the admin SQ and each one completes
 * on the admin CQ (CQ 0) with the command's cookie.  A command is only
 * fetched when the admin CQ has room for its completion, so a full CQ
 * holds the queue back instead of losing completions.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-offload.h"
#include "trace.h"

static uint8_t chimney_cmd_identify(ChimneyState *s, uint64_t addr,
                                    uint32_t len)
{
    ChimneyIdentify id = {
        .magic = cpu_to_le32(CHIMNEY_ID_MAGIC),
        .version = cpu_to_le32(CHIMNEY_VERSION),
        .mtu = cpu_to_le16(CHIMNEY_L2_MTU),
        .num_cqs = cpu_to_le16(s->num_cqs),
        .num_vectors = cpu_to_le16(s->num_vectors),
        .max_conns = cpu_to_le32(s->max_conns),
        .features = cpu_to_le32(CHIMNEY_FEATURES),
        .ring_log2_min = CHIMNEY_RING_LOG2_MIN,
        .ring_log2_max = CHIMNEY_RING_LOG2_MAX,
        .max_tx_sge = CHIMNEY_L2_MAX_TX_SGE,
        .max_frame = cpu_to_le32(CHIMNEY_L2_MAX_FRAME),
        .max_neighbors = cpu_to_le32(s->max_neighbors),
        .max_paths = cpu_to_le32(s->max_paths),
    };

    if (len < sizeof(id)) {
        CHIMNEY_GUEST_ERR(chimney_err_identify_len, "IDENTIFY buffer of %"
                          PRIu32 " bytes, need %zu", len, sizeof(id));
        return CHIMNEY_ST_INVALID_PARAM;
    }
    memcpy(id.mac, s->conf.macaddr.a, sizeof(id.mac));
    if (!chimney_dma_write(s, addr, &id, sizeof(id))) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    return CHIMNEY_ST_SUCCESS;
}

/* Ranges from NDIS_TCP_CONNECTION_OFFLOAD_PARAMETERS. */
bool chimney_params_valid(const uint32_t *p)
{
    uint32_t ticks = p[CHIMNEY_PARAM_TICKS_PER_SECOND];

    return (ticks == 10 || ticks == 100 || ticks == 1000) &&
           p[CHIMNEY_PARAM_ACK_FREQUENCY] >= 1 &&
           p[CHIMNEY_PARAM_ACK_FREQUENCY] <= 255 &&
           p[CHIMNEY_PARAM_DELAYED_ACK_TICKS] <= 255 &&
           p[CHIMNEY_PARAM_MAX_RETRANSMIT] >= 1 &&
           p[CHIMNEY_PARAM_MAX_RETRANSMIT] <= 255 &&
           p[CHIMNEY_PARAM_DOUBT_REACH] >= 1 &&
           p[CHIMNEY_PARAM_DOUBT_REACH] <= 255 &&
           p[CHIMNEY_PARAM_DUP_ACK_THRESH] >= 1 &&
           p[CHIMNEY_PARAM_DUP_ACK_THRESH] <= 255;
}

static uint8_t chimney_cmd_set_params(ChimneyState *s, const uint32_t *p)
{
    if (!chimney_params_valid(p)) {
        CHIMNEY_GUEST_ERR(chimney_err_params, "SET_PARAMS out of range");
        return CHIMNEY_ST_INVALID_PARAM;
    }
    memcpy(s->params, p, sizeof(s->params));
    s->params_set = true;
    chimney_offload_set_params(s);
    return CHIMNEY_ST_SUCCESS;
}

static bool chimney_cq_id_valid(ChimneyState *s, uint32_t id)
{
    return id != CHIMNEY_ADMIN_CQ_ID && id < s->num_cqs;
}

static bool chimney_cq_in_use(ChimneyState *s, uint32_t id)
{
    return (s->l2_txq.size && s->l2_txq.cq == id) ||
           (s->l2_rxq.size && s->l2_rxq.cq == id) ||
           chimney_conn_cq_in_use(s, id);
}

static uint8_t chimney_cmd_create_cq(ChimneyState *s, uint32_t id,
                                     uint64_t base, uint32_t size,
                                     const uint32_t *p)
{
    uint32_t vector = p[CHIMNEY_CQ_PARAM_VECTOR];
    uint32_t mod_usec = p[CHIMNEY_CQ_PARAM_MOD_USEC];
    uint32_t flags = p[CHIMNEY_CQ_PARAM_FLAGS];

    if (!chimney_cq_id_valid(s, id)) {
        CHIMNEY_GUEST_ERR(chimney_err_create_cq_id, "CREATE_CQ bad id %"
                          PRIu32, id);
        return CHIMNEY_ST_INVALID_ID;
    }
    if (s->cq[id].size) {
        CHIMNEY_GUEST_ERR(chimney_err_create_cq_exists, "CQ %" PRIu32
                          " exists", id);
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (!chimney_ring_geometry_valid(base, size, CHIMNEY_CQE_SIZE) ||
        vector >= s->num_vectors || mod_usec > CHIMNEY_CQ_MOD_USEC_MAX ||
        (flags & ~(CHIMNEY_CQF_HOLDOFF | CHIMNEY_CQF_LAZY)) ||
        (flags & (CHIMNEY_CQF_HOLDOFF | CHIMNEY_CQF_LAZY)) ==
        CHIMNEY_CQF_LAZY) {
        CHIMNEY_GUEST_ERR(chimney_err_create_cq, "CREATE_CQ %" PRIu32
                          " base 0x%" PRIx64 " size %" PRIu32 " vector %"
                          PRIu32 " mod_usec %" PRIu32 " flags 0x%" PRIx32
                          " refused", id, base, size, vector, mod_usec,
                          flags);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    chimney_cq_init(&s->cq[id], base, size, vector,
                    p[CHIMNEY_CQ_PARAM_MOD_COUNT], mod_usec, flags);
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_cmd_destroy_cq(ChimneyState *s, uint32_t id)
{
    if (!chimney_cq_id_valid(s, id) || !s->cq[id].size) {
        CHIMNEY_GUEST_ERR(chimney_err_destroy_cq_id, "DESTROY_CQ bad id %"
                          PRIu32, id);
        return CHIMNEY_ST_INVALID_ID;
    }
    if (chimney_cq_in_use(s, id)) {
        CHIMNEY_GUEST_ERR(chimney_err_destroy_cq_busy, "DESTROY_CQ %" PRIu32
                          " while a queue posts to it", id);
        return CHIMNEY_ST_IN_USE;
    }
    chimney_cq_clear(&s->cq[id]);
    s->intr_cause &= ~(1u << id);
    chimney_irq_update_intx(s);
    return CHIMNEY_ST_SUCCESS;
}

static ChimneyRing *chimney_l2q(ChimneyState *s, uint32_t id)
{
    switch (id) {
    case CHIMNEY_QUEUE_L2_TX:
        return &s->l2_txq;
    case CHIMNEY_QUEUE_L2_RX:
        return &s->l2_rxq;
    case CHIMNEY_QUEUE_INDICATE:
        return &s->ind_q;
    default:
        return NULL;
    }
}

static uint8_t chimney_cmd_create_l2q(ChimneyState *s, uint32_t id,
                                      uint64_t base, uint32_t size,
                                      const uint32_t *p)
{
    ChimneyRing *q = chimney_l2q(s, id);
    uint32_t cq = p[CHIMNEY_L2Q_PARAM_CQ];

    if (!q) {
        CHIMNEY_GUEST_ERR(chimney_err_create_l2q_id, "CREATE_L2Q bad queue %"
                          PRIu32, id);
        return CHIMNEY_ST_INVALID_ID;
    }
    if (q->size) {
        CHIMNEY_GUEST_ERR(chimney_err_create_l2q_exists, "L2 queue %" PRIu32
                          " exists", id);
        return CHIMNEY_ST_INVALID_STATE;
    }
    /* Indications complete on their connection's CQ: none is named */
    if (!chimney_ring_geometry_valid(base, size, CHIMNEY_L2_DESC_SIZE) ||
        (id == CHIMNEY_QUEUE_INDICATE ? cq != 0 :
         !chimney_cq_id_valid(s, cq) || !s->cq[cq].size)) {
        CHIMNEY_GUEST_ERR(chimney_err_create_l2q, "CREATE_L2Q %" PRIu32
                          " base 0x%" PRIx64 " size %" PRIu32 " cq %" PRIu32
                          " refused", id, base, size, cq);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    *q = (ChimneyRing) { .base = base, .size = size, .cq = cq };
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_cmd_destroy_l2q(ChimneyState *s, uint32_t id)
{
    ChimneyRing *q = chimney_l2q(s, id);

    if (!q || !q->size) {
        CHIMNEY_GUEST_ERR(chimney_err_destroy_l2q_id, "DESTROY_L2Q bad queue %"
                          PRIu32, id);
        return CHIMNEY_ST_INVALID_ID;
    }
    memset(q, 0, sizeof(*q));
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_admin_exec(ChimneyState *s, const ChimneyAdminCmd *cmd,
                                  ChimneyConn **target)
{
    uint32_t id = le32_to_cpu(cmd->id);
    uint64_t addr = le64_to_cpu(cmd->addr);
    uint32_t len = le32_to_cpu(cmd->len);
    uint32_t p[ARRAY_SIZE(cmd->param)];

    *target = NULL;
    for (int i = 0; i < ARRAY_SIZE(p); i++) {
        p[i] = le32_to_cpu(cmd->param[i]);
    }
    if (cmd->flags) {
        CHIMNEY_GUEST_ERR(chimney_err_admin_flags, "admin command flags 0x%x",
                          cmd->flags);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    switch (cmd->opcode) {
    case CHIMNEY_CMD_IDENTIFY:
        return chimney_cmd_identify(s, addr, len);
    case CHIMNEY_CMD_SET_PARAMS:
        return chimney_cmd_set_params(s, p);
    case CHIMNEY_CMD_CREATE_CQ:
        return chimney_cmd_create_cq(s, id, addr, len, p);
    case CHIMNEY_CMD_DESTROY_CQ:
        return chimney_cmd_destroy_cq(s, id);
    case CHIMNEY_CMD_CREATE_L2Q:
        return chimney_cmd_create_l2q(s, id, addr, len, p);
    case CHIMNEY_CMD_DESTROY_L2Q:
        return chimney_cmd_destroy_l2q(s, id);
    case CHIMNEY_CMD_OFFLOAD_NEIGHBOR ... CHIMNEY_CMD_QUERY_STATS:
        return chimney_offload_cmd(s, cmd, id, addr, p, target);
    default:
        CHIMNEY_GUEST_ERR(chimney_err_admin_opcode, "unknown admin opcode "
                          "0x%x", cmd->opcode);
        return CHIMNEY_ST_INVALID_OPCODE;
    }
}

void chimney_admin_process(ChimneyState *s)
{
    ChimneyRing *q = &s->asq;

    for (int budget = CHIMNEY_BH_BUDGET; budget > 0; budget--) {
        ChimneyAdminCmd cmd;
        ChimneyCqe cqe = { .queue = CHIMNEY_QUEUE_ADMIN };
        ChimneyConn *conn;
        uint32_t p[ARRAY_SIZE(cmd.param)];
        uint8_t status;

        if (!chimney_running(s) || chimney_ring_empty(q) ||
            chimney_cq_full(&s->cq[CHIMNEY_ADMIN_CQ_ID])) {
            return;
        }
        if (!chimney_dma_read(s, chimney_ring_entry(q, q->head, sizeof(cmd)),
                              &cmd, sizeof(cmd))) {
            chimney_fatal(s, CHIMNEY_FATAL_ASQ_DMA, q->head);
            return;
        }
        /* A command completing on a connection's CQ needs room there */
        for (int i = 0; i < ARRAY_SIZE(p); i++) {
            p[i] = le32_to_cpu(cmd.param[i]);
        }
        conn = chimney_offload_cmd_target(s, cmd.opcode, le32_to_cpu(cmd.id),
                                          p);
        if (conn && !chimney_conn_can_push(conn)) {
            return;
        }
        q->head = chimney_ring_next(q, q->head);
        status = chimney_admin_exec(s, &cmd, &conn);
        trace_chimney_admin_cmd(cmd.opcode, le32_to_cpu(cmd.id), status);
        if (conn) {
            ChimneyPending pe = {
                .cookie = le64_to_cpu(cmd.cookie),
                .sq_head = q->head,
                .info = cmd.opcode,
                .type = CHIMNEY_CQE_ADMIN,
                .status = status,
                .queue = CHIMNEY_QUEUE_ADMIN,
            };

            chimney_conn_push(conn, &pe);
            chimney_conn_release(conn);
            continue;
        }
        cqe.obj = le32_to_cpu(cmd.id);
        cqe.sq_head = q->head;
        cqe.cookie = le64_to_cpu(cmd.cookie);
        cqe.info = cmd.opcode;
        cqe.type_status = CHIMNEY_CQE_MAKE(CHIMNEY_CQE_ADMIN, status, 0);
        chimney_cq_post(s, CHIMNEY_ADMIN_CQ_ID, &cqe);
    }
    /* Budget spent with work left: yield to the main loop, then go on. */
    chimney_schedule(s);
}
