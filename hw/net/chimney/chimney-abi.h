/*
 * chimney-nic guest ABI: registers, queue entries, commands and statuses
 *
 * This header is the single source of truth for the programming interface
 * of the chimney-nic PCI function.  The device model, the qtest libqos
 * driver and the Windows miniport all include it, so it depends on nothing
 * but <stdint.h>.  docs/specs/chimney-nic.rst describes the same interface
 * in prose and must always match it.
 *
 * Every multi-byte field is little-endian.  Every structure has natural
 * alignment and no padding; the size and offset checks at the end of the
 * file hold on every supported compiler.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_ABI_H
#define HW_NET_CHIMNEY_ABI_H

#include <stdint.h>
#include <stddef.h>

/* PCI identity */
#define CHIMNEY_PCI_VENDOR_ID           0x1af4
#define CHIMNEY_PCI_DEVICE_ID           0x10f0
#define CHIMNEY_PCI_REVISION            0x01

/* Interface version: a new minor only adds, a new major breaks. */
#define CHIMNEY_VERSION_MAJOR           1
#define CHIMNEY_VERSION_MINOR           0
#define CHIMNEY_VERSION \
    ((CHIMNEY_VERSION_MAJOR << 16) | CHIMNEY_VERSION_MINOR)

/* BAR numbers and sizes */
#define CHIMNEY_BAR_MMIO                0   /* registers + doorbells */
#define CHIMNEY_BAR_MSIX                2   /* MSI-X table and PBA */
#define CHIMNEY_MMIO_SIZE               0x2000
#define CHIMNEY_DOORBELL_BASE           0x1000

/*
 * BAR0 registers.  32-bit accesses only; 64-bit addresses are LO/HI pairs.
 * RO registers ignore writes; reserved offsets read as zero.
 */
#define CHIMNEY_REG_ID                  0x000   /* RO: CHIMNEY_ID_MAGIC */
#define CHIMNEY_REG_VERSION             0x004   /* RO: major[31:16], minor */
#define CHIMNEY_REG_CAP_QUEUES          0x008   /* RO: see CHIMNEY_CAPQ_* */
#define CHIMNEY_REG_CAP_MAX_CONNS       0x00c   /* RO: maximum connections */
#define CHIMNEY_REG_CAP_RING            0x010   /* RO: see CHIMNEY_CAPR_* */
#define CHIMNEY_REG_FEATURES            0x014   /* RO: CHIMNEY_FEAT_* */
#define CHIMNEY_REG_CTRL                0x020   /* RW: CHIMNEY_CTRL_* */
#define CHIMNEY_REG_STATUS              0x024   /* RO: CHIMNEY_STATUS_* */
#define CHIMNEY_REG_FATAL_CODE          0x028   /* RO: CHIMNEY_FATAL_* */
#define CHIMNEY_REG_FATAL_INFO          0x02c   /* RO: code-specific detail */
#define CHIMNEY_REG_MAC_LO              0x030   /* RO: MAC bytes 0..3 */
#define CHIMNEY_REG_MAC_HI              0x034   /* RO: MAC bytes 4..5 */
#define CHIMNEY_REG_ASQ_BASE_LO         0x040   /* RW while disabled */
#define CHIMNEY_REG_ASQ_BASE_HI         0x044
#define CHIMNEY_REG_ASQ_SIZE            0x048   /* entries, power of two */
#define CHIMNEY_REG_ACQ_BASE_LO         0x050   /* RW while disabled */
#define CHIMNEY_REG_ACQ_BASE_HI         0x054
#define CHIMNEY_REG_ACQ_SIZE            0x058   /* entries, power of two */
#define CHIMNEY_REG_INTR_CAUSE          0x060   /* RW1C: INTx-pending CQs */
#define CHIMNEY_REG_INTR_MASK           0x064   /* RW: CQs kept off INTx */

/* Doorbells (BAR0, write-only, read as zero).  Values are ring indices. */
#define CHIMNEY_DB_ASQ_TAIL             0x1000  /* admin SQ producer index */
#define CHIMNEY_DB_L2_TXQ_TAIL          0x1004  /* L2 TX queue producer */
#define CHIMNEY_DB_L2_RXQ_TAIL          0x1008  /* L2 RX queue producer */
#define CHIMNEY_DB_CQ_HEAD(n)           (0x1100 + 4 * (n)) /* CQ n head */

#define CHIMNEY_ID_MAGIC                0x594d4843u   /* "CHMY" */

#define CHIMNEY_CAPQ_CQS(v)             ((v) & 0xff)          /* incl. admin */
#define CHIMNEY_CAPQ_VECTORS(v)         (((v) >> 8) & 0xff)   /* MSI-X */
#define CHIMNEY_CAPR_LOG2_MAX(v)        ((v) & 0xff)          /* ring size */
#define CHIMNEY_CAPR_LOG2_MIN(v)        (((v) >> 8) & 0xff)

#define CHIMNEY_FEAT_L2                 (1u << 0)   /* L2 TX/RX queues */
#define CHIMNEY_FEAT_INTX               (1u << 1)   /* INTx fallback */
#define CHIMNEY_FEAT_MODERATION         (1u << 2)   /* per-CQ moderation */

#define CHIMNEY_CTRL_ENABLE             (1u << 0)
#define CHIMNEY_CTRL_RESET              (1u << 1)   /* self-clearing */

#define CHIMNEY_STATUS_READY            (1u << 0)
#define CHIMNEY_STATUS_FATAL            (1u << 1)
#define CHIMNEY_STATUS_LINK_UP          (1u << 2)

/* Why CHIMNEY_STATUS_FATAL was latched; FATAL_INFO says where. */
#define CHIMNEY_FATAL_NONE              0
#define CHIMNEY_FATAL_ADMIN_CONFIG      1   /* info: register offset */
#define CHIMNEY_FATAL_ASQ_DMA           2   /* info: SQ index */
#define CHIMNEY_FATAL_CQ_DMA            3   /* info: CQ id */
#define CHIMNEY_FATAL_DOORBELL          4   /* info: doorbell offset */
#define CHIMNEY_FATAL_QUEUE_DMA         5   /* info: doorbell offset of queue */

/* Ring geometry */
#define CHIMNEY_RING_LOG2_MIN           2
#define CHIMNEY_RING_LOG2_MAX           15
#define CHIMNEY_RING_ALIGN              64      /* base address alignment */
#define CHIMNEY_ADMIN_CQ_ID             0
#define CHIMNEY_MAX_CQS                 32      /* one INTR_CAUSE bit each */

/* Every completion queue entry, whatever its queue. */
#define CHIMNEY_CQE_SIZE                32
typedef struct ChimneyCqe {
    uint32_t obj;           /* connection id|gen, queue id, or 0 */
    uint32_t sq_head;       /* consumer index of the queue this frees */
    uint64_t cookie;        /* the request's cookie, echoed verbatim */
    uint32_t bytes;         /* bytes transferred, or a result */
    uint32_t aux;           /* type-specific */
    uint16_t queue;         /* CHIMNEY_QUEUE_* that the entry is about */
    uint16_t info;          /* type-specific */
    uint32_t type_status;   /* written last: see CHIMNEY_CQE_* below */
} ChimneyCqe;

#define CHIMNEY_CQE_TYPE(v)             ((v) & 0xff)
#define CHIMNEY_CQE_STATUS(v)           (((v) >> 8) & 0xff)
#define CHIMNEY_CQE_FLAGS(v)            (((v) >> 16) & 0x7f)
#define CHIMNEY_CQE_PHASE               (1u << 31)
#define CHIMNEY_CQE_MAKE(type, status, flags) \
    ((uint32_t)(type) | ((uint32_t)(status) << 8) | ((uint32_t)(flags) << 16))

/* Completion types */
#define CHIMNEY_CQE_ADMIN               1   /* an admin command finished */
#define CHIMNEY_CQE_SEND                2   /* reserved: offloaded send */
#define CHIMNEY_CQE_RECV                3   /* reserved: offloaded receive */
#define CHIMNEY_CQE_INDICATE            4   /* reserved: receive indication */
#define CHIMNEY_CQE_EVENT               5   /* device or connection event */
#define CHIMNEY_CQE_L2_TX               7   /* an L2 frame was sent */
#define CHIMNEY_CQE_L2_RX               8   /* an L2 frame was received */

/* Completion statuses */
#define CHIMNEY_ST_SUCCESS              0x00
#define CHIMNEY_ST_INVALID_OPCODE       0x01
#define CHIMNEY_ST_INVALID_PARAM        0x02
#define CHIMNEY_ST_INVALID_ID           0x03
#define CHIMNEY_ST_IN_USE               0x04
#define CHIMNEY_ST_DMA_ERROR            0x05
#define CHIMNEY_ST_BAD_DESCRIPTOR       0x06
#define CHIMNEY_ST_NO_RESOURCES         0x07
#define CHIMNEY_ST_INVALID_STATE        0x08
#define CHIMNEY_ST_REQUEST_ABORTED      0x10    /* NDIS: REQUEST_ABORTED */
#define CHIMNEY_ST_UPLOAD_IN_PROGRESS   0x11    /* NDIS: UPLOAD_IN_PROGRESS */

/* Queues named in ChimneyCqe.queue */
#define CHIMNEY_QUEUE_ADMIN             0
#define CHIMNEY_QUEUE_L2_TX             1
#define CHIMNEY_QUEUE_L2_RX             2

/* CHIMNEY_CQE_EVENT codes (in aux) */
#define CHIMNEY_EVENT_LINK              1   /* info: 1 up, 0 down */

/* Admin submission queue entry */
#define CHIMNEY_ADMIN_CMD_SIZE          64
typedef struct ChimneyAdminCmd {
    uint8_t  opcode;
    uint8_t  flags;         /* must be zero */
    uint16_t rsvd0;
    uint32_t id;            /* object the command acts on */
    uint64_t cookie;        /* echoed in the completion */
    uint64_t addr;          /* guest buffer or ring base */
    uint32_t len;           /* buffer bytes or ring entries */
    uint32_t param[9];      /* opcode-specific, see below */
} ChimneyAdminCmd;

#define CHIMNEY_CMD_IDENTIFY            0x01
#define CHIMNEY_CMD_SET_PARAMS          0x02
#define CHIMNEY_CMD_CREATE_CQ           0x03
#define CHIMNEY_CMD_DESTROY_CQ          0x04
#define CHIMNEY_CMD_CREATE_L2Q          0x05
#define CHIMNEY_CMD_DESTROY_L2Q         0x06
/* 0x10..0x1f reserved: OFFLOAD, UPDATE, QUERY, INVALIDATE, TERMINATE */

/*
 * IDENTIFY: addr/len name a buffer of at least CHIMNEY_IDENTIFY_SIZE bytes
 * that receives a ChimneyIdentify.
 */
#define CHIMNEY_IDENTIFY_SIZE           128
typedef struct ChimneyIdentify {
    uint32_t magic;         /* CHIMNEY_ID_MAGIC */
    uint32_t version;       /* CHIMNEY_VERSION */
    uint8_t  mac[6];
    uint16_t mtu;           /* largest L2 payload the device sends */
    uint16_t num_cqs;       /* including the admin CQ */
    uint16_t num_vectors;   /* MSI-X vectors */
    uint32_t max_conns;
    uint32_t features;      /* CHIMNEY_FEAT_* */
    uint8_t  ring_log2_min;
    uint8_t  ring_log2_max;
    uint8_t  max_tx_sge;    /* descriptors per L2 frame */
    uint8_t  rsvd0;
    uint32_t max_frame;     /* largest L2 frame, bytes */
    uint32_t rsvd[23];
} ChimneyIdentify;

/*
 * SET_PARAMS: the chimney offload parameters
 * (NDIS_TCP_CONNECTION_OFFLOAD_PARAMETERS), in param[]:
 */
#define CHIMNEY_PARAM_TICKS_PER_SECOND  0   /* 10, 100 or 1000 */
#define CHIMNEY_PARAM_ACK_FREQUENCY     1   /* segments per ACK, 1..255 */
#define CHIMNEY_PARAM_DELAYED_ACK_TICKS 2   /* 0..255 */
#define CHIMNEY_PARAM_MAX_RETRANSMIT    3   /* 1..255 */
#define CHIMNEY_PARAM_DOUBT_REACH       4   /* 1..255 */
#define CHIMNEY_PARAM_SWS_TICKS         5
#define CHIMNEY_PARAM_DUP_ACK_THRESH    6   /* 1..255 */
#define CHIMNEY_PARAM_PUSH_TICKS        7
#define CHIMNEY_PARAM_NCE_STALE_TICKS   8

/*
 * CREATE_CQ: id = CQ id (1 .. num_cqs - 1), addr = ring base,
 * len = entries (power of two), and:
 */
#define CHIMNEY_CQ_PARAM_VECTOR         0   /* MSI-X vector */
#define CHIMNEY_CQ_PARAM_MOD_COUNT      1   /* entries per interrupt, 0 = 1 */
#define CHIMNEY_CQ_PARAM_MOD_USEC       2   /* longest wait, 0 = none */
#define CHIMNEY_CQ_MOD_USEC_MAX         100000

/* DESTROY_CQ: id = CQ id.  Fails with IN_USE while a queue posts to it. */

/*
 * CREATE_L2Q: id = CHIMNEY_QUEUE_L2_TX or CHIMNEY_QUEUE_L2_RX,
 * addr = ring base, len = entries (power of two), and:
 */
#define CHIMNEY_L2Q_PARAM_CQ            0   /* CQ that gets its completions */

/* DESTROY_L2Q: id = queue.  Outstanding RX buffers are returned unused. */

/*
 * L2 TX descriptor.  A frame is one or more descriptors, the last with
 * CHIMNEY_L2TX_EOP; its cookie comes back in the CHIMNEY_CQE_L2_TX entry,
 * whose sq_head is the index after the EOP descriptor.
 */
#define CHIMNEY_L2_DESC_SIZE            32
typedef struct ChimneyL2TxDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t rsvd0;
    uint64_t cookie;
    uint64_t rsvd1;
} ChimneyL2TxDesc;

#define CHIMNEY_L2TX_EOP                (1u << 0)
#define CHIMNEY_L2_MAX_TX_SGE           16
#define CHIMNEY_L2_MAX_FRAME            9216
#define CHIMNEY_L2_MTU                  1500

/*
 * L2 RX descriptor: one buffer takes one frame.  The CHIMNEY_CQE_L2_RX
 * entry carries the frame length in bytes; a frame longer than the
 * buffer at the head of the ring is dropped and counted.
 */
typedef struct ChimneyL2RxDesc {
    uint64_t addr;
    uint32_t len;
    uint32_t rsvd0;
    uint64_t cookie;
    uint64_t rsvd1;
} ChimneyL2RxDesc;

/* Layout checks: these are the ABI. */
#define CHIMNEY_ABI_CHECK(c) _Static_assert(c, #c)
CHIMNEY_ABI_CHECK(sizeof(ChimneyCqe) == CHIMNEY_CQE_SIZE);
CHIMNEY_ABI_CHECK(offsetof(ChimneyCqe, cookie) == 8);
CHIMNEY_ABI_CHECK(offsetof(ChimneyCqe, queue) == 24);
CHIMNEY_ABI_CHECK(offsetof(ChimneyCqe, type_status) == 28);
CHIMNEY_ABI_CHECK(sizeof(ChimneyAdminCmd) == CHIMNEY_ADMIN_CMD_SIZE);
CHIMNEY_ABI_CHECK(offsetof(ChimneyAdminCmd, addr) == 16);
CHIMNEY_ABI_CHECK(offsetof(ChimneyAdminCmd, param) == 28);
CHIMNEY_ABI_CHECK(sizeof(ChimneyIdentify) == CHIMNEY_IDENTIFY_SIZE);
CHIMNEY_ABI_CHECK(offsetof(ChimneyIdentify, max_frame) == 32);
CHIMNEY_ABI_CHECK(sizeof(ChimneyL2TxDesc) == CHIMNEY_L2_DESC_SIZE);
CHIMNEY_ABI_CHECK(sizeof(ChimneyL2RxDesc) == CHIMNEY_L2_DESC_SIZE);
CHIMNEY_ABI_CHECK(offsetof(ChimneyL2TxDesc, cookie) == 16);
CHIMNEY_ABI_CHECK(offsetof(ChimneyL2RxDesc, cookie) == 16);

#endif /* HW_NET_CHIMNEY_ABI_H */
