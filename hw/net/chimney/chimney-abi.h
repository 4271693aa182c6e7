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
#define CHIMNEY_VERSION_MINOR           4
#define CHIMNEY_VERSION \
    ((CHIMNEY_VERSION_MAJOR << 16) | CHIMNEY_VERSION_MINOR)

/* BAR numbers and sizes */
#define CHIMNEY_BAR_MMIO                0   /* registers + doorbells */
#define CHIMNEY_BAR_MSIX                2   /* MSI-X table and PBA */
#define CHIMNEY_MMIO_SIZE               0x2000
#define CHIMNEY_DOORBELL_BASE           0x1000

/*
 * BAR0 registers, 32 bits each; 64-bit addresses are LO/HI pairs.  An
 * aligned 32-bit access reaches one register or doorbell; an
 * 8-byte-aligned 64-bit access is two 32-bit accesses, lower address
 * first; any other width or alignment is ignored (reads 0).  RO registers
 * ignore writes; reserved offsets read as zero.
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

/*
 * Doorbells (BAR0, write-only, read as zero).  Values are ring indices;
 * an index beyond its ring or a doorbell of a ring that does not exist
 * latches CHIMNEY_FATAL_DOORBELL.  CONN_SQ takes a CHIMNEY_CONN_ID; one
 * that names no live connection is ignored and counted, never fatal.
 */
#define CHIMNEY_DB_ASQ_TAIL             0x1000  /* admin SQ producer index */
#define CHIMNEY_DB_L2_TXQ_TAIL          0x1004  /* L2 TX queue producer */
#define CHIMNEY_DB_L2_RXQ_TAIL          0x1008  /* L2 RX queue producer */
#define CHIMNEY_DB_CONN_SQ              0x100c  /* CHIMNEY_CONN_ID: SQ + RQ */
#define CHIMNEY_DB_IND_TAIL             0x1010  /* generic-buffer queue */
#define CHIMNEY_DB_CQ_HEAD(n)           (0x1100 + 4 * (n)) /* CQ n head */

#define CHIMNEY_ID_MAGIC                0x594d4843u   /* "CHMY" */

#define CHIMNEY_CAPQ_CQS(v)             ((v) & 0xff)          /* incl. admin */
#define CHIMNEY_CAPQ_VECTORS(v)         (((v) >> 8) & 0xff)   /* MSI-X */
#define CHIMNEY_CAPR_LOG2_MAX(v)        ((v) & 0xff)          /* ring size */
#define CHIMNEY_CAPR_LOG2_MIN(v)        (((v) >> 8) & 0xff)

#define CHIMNEY_FEAT_L2                 (1u << 0)   /* L2 TX/RX queues */
#define CHIMNEY_FEAT_INTX               (1u << 1)   /* INTx fallback */
#define CHIMNEY_FEAT_MODERATION         (1u << 2)   /* per-CQ moderation */
#define CHIMNEY_FEAT_TCP_OFFLOAD        (1u << 3)   /* IPv4 TCP chimney */
#define CHIMNEY_FEAT_TCP_RECEIVE        (1u << 4)   /* RQ, indications */
#define CHIMNEY_FEAT_TCP_IPV6           (1u << 5)   /* IPv6 paths (1.3) */
#define CHIMNEY_FEAT_8021Q              (1u << 6)   /* tag priority, RX */
                                                    /* 802.1Q rules (1.3) */
#define CHIMNEY_FEAT_IRQ_HOLDOFF        (1u << 7)   /* CHIMNEY_CQF_HOLDOFF */
#define CHIMNEY_FEAT_DB_HINT            (1u << 8)   /* CHIMNEY_TCPO_DB_HINT */
#define CHIMNEY_FEAT_LAZY_CQ            (1u << 9)   /* CHIMNEY_CQF_LAZY */

#define CHIMNEY_CTRL_ENABLE             (1u << 0)
#define CHIMNEY_CTRL_RESET              (1u << 1)   /* self-clearing */

#define CHIMNEY_STATUS_READY            (1u << 0)
#define CHIMNEY_STATUS_FATAL            (1u << 1)
#define CHIMNEY_STATUS_LINK_UP          (1u << 2)

/* Why CHIMNEY_STATUS_FATAL was latched; FATAL_INFO says where. */
#define CHIMNEY_FATAL_NONE              0
/* info: the register found bad, CHIMNEY_REG_A?Q_SIZE or _BASE_LO */
#define CHIMNEY_FATAL_ADMIN_CONFIG      1
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
#define CHIMNEY_CQE_SEND                2   /* an offloaded send request */
#define CHIMNEY_CQE_RECV                3   /* an offloaded receive request */
#define CHIMNEY_CQE_INDICATE            4   /* data in a generic buffer */
#define CHIMNEY_CQE_EVENT               5   /* device or connection event */
#define CHIMNEY_CQE_L2_TX               7   /* an L2 frame was sent */
#define CHIMNEY_CQE_L2_RX               8   /* an L2 frame was received */
#define CHIMNEY_CQE_DISCONNECT          9   /* an offloaded disconnect */

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
#define CHIMNEY_ST_STALE_GENERATION     0x09
#define CHIMNEY_ST_REQUEST_ABORTED      0x10    /* NDIS: REQUEST_ABORTED */
#define CHIMNEY_ST_UPLOAD_IN_PROGRESS   0x11    /* NDIS: UPLOAD_IN_PROGRESS */

/* The NDIS_STATUS a Windows driver reports for each status */
#define CHIMNEY_NDIS_STATUS_SUCCESS             0x00000000u
#define CHIMNEY_NDIS_STATUS_REQUEST_ABORTED     0xc001000cu
#define CHIMNEY_NDIS_STATUS_UPLOAD_IN_PROGRESS  0xc0231001u
#define CHIMNEY_NDIS_STATUS_INVALID_STATE       0xc0000184u
#define CHIMNEY_NDIS_STATUS_FAILURE             0xc0000001u /* the rest */

/* Queues named in ChimneyCqe.queue */
#define CHIMNEY_QUEUE_ADMIN             0
#define CHIMNEY_QUEUE_L2_TX             1
#define CHIMNEY_QUEUE_L2_RX             2
#define CHIMNEY_QUEUE_CONN_SQ           3   /* a connection's send queue */
#define CHIMNEY_QUEUE_CONN_RQ           4   /* its receive queue */
#define CHIMNEY_QUEUE_INDICATE          5   /* the generic-buffer queue */

/* CHIMNEY_CQE_EVENT codes (in aux) */
#define CHIMNEY_EVENT_LINK              1   /* info: 1 up, 0 down */
#define CHIMNEY_EVENT_ABORT             2   /* peer RST: TcpIndicateAbort */
#define CHIMNEY_EVENT_UPLOAD_REQUEST    3   /* info: CHIMNEY_UPLOAD_* */
#define CHIMNEY_EVENT_DISCONNECT        4   /* peer FIN */
#define CHIMNEY_EVENT_PATH_MTU          5   /* 1.3: see OFFLOAD_PATH */

/* Upload reasons (TCP_UPLOAD_REASON) in CHIMNEY_EVENT_UPLOAD_REQUEST */
#define CHIMNEY_UPLOAD_URGENT_DATA      5
#define CHIMNEY_UPLOAD_TIMEOUT          8   /* rexmit, persist, keepalive, */
                                            /* FIN_WAIT_2, TIME_WAIT */
#define CHIMNEY_UPLOAD_INVALID_STATE    9   /* its neighbor/path invalidated */
#define CHIMNEY_UPLOAD_REQUESTED        10  /* e.g. data it cannot take yet */
#define CHIMNEY_UPLOAD_HW_FAILURE       11  /* its memory became unreadable */

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
#define CHIMNEY_CMD_OFFLOAD_NEIGHBOR    0x10
#define CHIMNEY_CMD_OFFLOAD_PATH        0x11
#define CHIMNEY_CMD_OFFLOAD_TCP         0x12
#define CHIMNEY_CMD_UPDATE              0x13
#define CHIMNEY_CMD_QUERY_TCP           0x14
#define CHIMNEY_CMD_INVALIDATE          0x15
#define CHIMNEY_CMD_TERMINATE           0x16
#define CHIMNEY_CMD_FORWARD             0x17
#define CHIMNEY_CMD_QUERY_STATS         0x18

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
    uint32_t max_neighbors;
    uint32_t max_paths;
    uint32_t rsvd[21];
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
#define CHIMNEY_CQ_PARAM_FLAGS          3   /* CHIMNEY_CQF_* (1.3) */
/*
 * With MOD_COUNT 0 or 1: while the driver has not consumed every entry of
 * the CQ's last interrupt, new entries wait, and the CQ_HEAD write that
 * shows it caught up raises one interrupt for them (none when that write
 * consumed them all).  For a driver that drains on its interrupt and then
 * writes CQ_HEAD: one interrupt per drain under load, one per entry when
 * idle.  Other flag bits are refused with INVALID_PARAM.
 *
 * LAZY (1.4, with HOLDOFF): a SEND completion with SUCCESS that leaves at
 * least two requests on its connection does not interrupt at once; it
 * waits until CHIMNEY_CQ_LAZY_ENTRIES entries (at most half the CQ) wait,
 * CHIMNEY_CQ_LAZY_USEC pass, or an entry that is not lazy interrupts.
 */
#define CHIMNEY_CQF_HOLDOFF             (1u << 0)
#define CHIMNEY_CQF_LAZY                (1u << 1)
#define CHIMNEY_CQ_LAZY_ENTRIES         32
#define CHIMNEY_CQ_LAZY_USEC            2000
#define CHIMNEY_CQ_MOD_USEC_MAX         100000

/*
 * DESTROY_CQ: id = CQ id.  Fails with IN_USE while something posts to it:
 * the L2 TX or RX queue bound to it, or a connection on it (a terminated
 * one until its last completion is written).
 */

/*
 * CREATE_L2Q: id = CHIMNEY_QUEUE_L2_TX, CHIMNEY_QUEUE_L2_RX or
 * CHIMNEY_QUEUE_INDICATE, addr = ring base, len = entries (power of two),
 * and param[CHIMNEY_L2Q_PARAM_CQ]: for TX and RX the CQ that gets their
 * completions (not CQ 0), for INDICATE 0 (its entries complete on each
 * connection's own CQ).
 */
#define CHIMNEY_L2Q_PARAM_CQ            0

/*
 * The generic-buffer queue (CHIMNEY_QUEUE_INDICATE) takes ChimneyL2RxDesc
 * buffers, shared by every connection.  A connection with data and no
 * receive request posted copies it into the buffer at the queue's head and
 * posts a CHIMNEY_CQE_INDICATE entry on its own CQ (its L2Q_PARAM_CQ must
 * be 0 and is not used).  One indication of a connection is outstanding
 * at a time: the driver answers it with a CHIMNEY_RQ_INDICATE_DONE entry.
 */

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
/*
 * While connections are offloaded, host frames that find no L2 RX buffer
 * wait in the device, up to this many; more are dropped and counted, so
 * that the offloaded connections' segments never wait behind them.
 */
#define CHIMNEY_L2_RX_BACKLOG           64
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

/*
 * Offload objects.  Neighbors and paths are named by an index below
 * max_neighbors / max_paths (IDENTIFY); a connection by CHIMNEY_CONN_ID:
 * an index below max_conns and an 8-bit generation that the driver bumps
 * each time it reuses the index, so that a stale id is refused.
 */
#define CHIMNEY_OBJ_NEIGHBOR            1
#define CHIMNEY_OBJ_PATH                2
#define CHIMNEY_OBJ_TCP                 3
#define CHIMNEY_CONN_ID(index, gen)     ((index) | ((uint32_t)(gen) << 24))
#define CHIMNEY_CONN_INDEX(id)          ((id) & 0xfffff)
#define CHIMNEY_CONN_GEN(id)            ((id) >> 24)

/*
 * OFFLOAD_NEIGHBOR: id = neighbor, addr = ChimneyNeighborState.
 * UPDATE (param[0] = CHIMNEY_OBJ_NEIGHBOR) takes the same block and
 * changes dst_mac only.
 */
typedef struct ChimneyNeighborState {
    uint8_t  src_mac[6];    /* const */
    uint8_t  dst_mac[6];    /* cached */
    uint16_t vlan_id;       /* const, 0 = untagged */
    uint16_t rsvd0;
    uint32_t rsvd[4];
} ChimneyNeighborState;

/*
 * OFFLOAD_PATH: id = path, addr = ChimneyPathState.  UPDATE changes
 * path_mtu only, unless param[CHIMNEY_UPDATE_PARAM_FLAGS] has
 * CHIMNEY_UPDATE_PATH_RELINK (version 1.2): then the path also moves to
 * the neighbor in `neighbor` (a next-hop change), and every connection on
 * it sends to that neighbor's MAC from then on.  Any other flag bit on a
 * path or neighbor UPDATE is refused with INVALID_PARAM.
 */
#define CHIMNEY_UPDATE_PARAM_FLAGS      1
#define CHIMNEY_UPDATE_PATH_RELINK      (1u << 0)
typedef struct ChimneyPathState {
    uint32_t neighbor;      /* an offloaded neighbor */
    uint8_t  src_ip[4];     /* const, network order */
    uint8_t  dst_ip[4];
    uint32_t path_mtu;      /* cached, 68..9000 */
    uint32_t rsvd[4];
} ChimneyPathState;

/*
 * Version 1.3: OFFLOAD_PATH's param[CHIMNEY_PATH_PARAM_FAMILY] names the
 * block at addr: CHIMNEY_PATH_IPV4 (or 0, as a 1.2 driver leaves it) a
 * ChimneyPathState, CHIMNEY_PATH_IPV6 a ChimneyPath6State (only with
 * CHIMNEY_FEAT_TCP_IPV6); any other value is refused with INVALID_PARAM.
 * An UPDATE of a path takes the block of the path's own family.
 *
 * An ICMPv6 Packet Too Big that quotes a segment of an offloaded IPv6
 * connection (its 4-tuple and a sequence number in [SndUna, SndMax))
 * lowers that path's MTU (never below 1280, never raised) as the host
 * would, and posts a CHIMNEY_CQE_EVENT with aux CHIMNEY_EVENT_PATH_MTU on
 * the admin CQ: obj = the path, bytes = its new MTU.  The frame also
 * goes up the L2 RX queue, so the host stack sees it too.
 */
#define CHIMNEY_PATH_PARAM_FAMILY       0
#define CHIMNEY_PATH_IPV4               4
#define CHIMNEY_PATH_IPV6               6
#define CHIMNEY_IPV6_MIN_MTU            1280
typedef struct ChimneyPath6State {
    uint32_t neighbor;      /* an offloaded neighbor */
    uint32_t path_mtu;      /* cached, 1280..9000 */
    uint8_t  src_ip[16];    /* const, network order */
    uint8_t  dst_ip[16];
    uint32_t rsvd[6];
} ChimneyPath6State;

/* TCP_OFFLOAD_CONNECTION_STATE */
#define CHIMNEY_TCP_ESTABLISHED         4
#define CHIMNEY_TCP_FIN_WAIT1           5
#define CHIMNEY_TCP_FIN_WAIT2           6
#define CHIMNEY_TCP_CLOSE_WAIT          7
#define CHIMNEY_TCP_CLOSING             8
#define CHIMNEY_TCP_LAST_ACK            9

/*
 * TCP delegated state, as TCP_OFFLOAD_STATE_DELEGATED: given at OFFLOAD,
 * written back by QUERY_TCP and TERMINATE.  Timer deltas are in ticks
 * (SET_PARAMS TicksPerSecond), -1 when the timer is idle.
 */
typedef struct ChimneyTcpDelegated {
    uint32_t state;
    uint32_t rcv_nxt;
    uint32_t rcv_wnd;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max;
    uint32_t snd_wnd;
    uint32_t max_snd_wnd;
    uint32_t snd_wl1;
    uint32_t cwnd;
    uint32_t ssthresh;
    uint16_t srtt;          /* ticks x 8 */
    uint16_t rttvar;        /* ticks x 4 */
    uint32_t ts_recent;
    uint32_t ts_recent_age;
    uint32_t ts_time;
    uint32_t total_rt;
    uint8_t  dup_ack_count;
    uint8_t  snd_wnd_probe_count;
    uint8_t  ka_probe_count;
    uint8_t  rexmit_count;
    int32_t  ka_timeout_delta;
    int32_t  rexmit_timeout_delta;
    uint32_t send_backlog;  /* written: 0xffffffff, not supported */
    uint32_t sq_head;       /* written: first SQ entry not completed */
    uint32_t rcv_held;      /* written: received bytes not delivered */
    uint32_t rsvd[2];
} ChimneyTcpDelegated;

#define CHIMNEY_TCPF_TIMESTAMPS         (1u << 0)   /* const flags */
#define CHIMNEY_TCPF_SACK               (1u << 1)
#define CHIMNEY_TCPF_WINDOW_SCALING     (1u << 2)
#define CHIMNEY_TCPC_KEEPALIVE          (1u << 0)   /* cached flags */
#define CHIMNEY_TCPC_NAGLE              (1u << 1)

/*
 * OFFLOAD_TCP: id = CHIMNEY_CONN_ID, addr = ChimneyTcpOffload.  SQ entries
 * [0, handover) are the requests outstanding at offload time (chimney's
 * NetBufferListChain): their data starts at snd_una.  On failure the
 * device neither touches nor completes them.  UPDATE (CHIMNEY_OBJ_TCP)
 * takes the same block and applies its cached part only.
 */
typedef struct ChimneyTcpOffload {
    uint32_t path;
    uint32_t cq;            /* CQ of every completion of the connection */
    uint64_t sq_base;
    uint32_t sq_size;       /* entries, power of two */
    uint32_t handover;      /* entries posted before the offload */
    uint64_t db_record;     /* ChimneyDbRecord, 4-aligned */
    /* const */
    uint16_t const_flags;   /* CHIMNEY_TCPF_* */
    uint16_t remote_port;   /* host order */
    uint16_t local_port;
    uint8_t  snd_wscale;
    uint8_t  rcv_wscale;
    uint16_t remote_mss;
    uint16_t offload_flags; /* CHIMNEY_TCPO_* (1.4), read at OFFLOAD only */
    /* cached */
    uint16_t cached_flags;  /* CHIMNEY_TCPC_* */
    uint8_t  ttl;
    uint8_t  tos;
    uint32_t initial_rcv_wnd;
    uint32_t rcv_indication_size;
    uint32_t ka_timeout;
    uint32_t ka_interval;
    uint32_t max_rt;        /* retransmissions, 0: SET_PARAMS value */
    uint8_t  ka_probe_count;
    uint8_t  rsvd1[3];
    ChimneyTcpDelegated delegated;
    uint64_t rq_base;       /* receive queue; rq_size 0: none */
    uint32_t rq_size;       /* entries, power of two */
    uint32_t buffered_len;  /* BufferedData: bytes just before rcv_nxt */
    uint64_t buffered_addr;
    /* version 1.3: read when the command's len is CHIMNEY_TCP_OFFLOAD_SIZE */
    uint32_t flow_label;    /* cached, IPv6 paths only, below 2^20 */
    uint8_t  user_priority; /* cached, 802.1p 0..7, tagged frames only */
    uint8_t  rsvd2[27];
} ChimneyTcpOffload;

/*
 * A connection's doorbell record: the producer indices the driver
 * publishes before it rings CHIMNEY_DB_CONN_SQ, and (version 1.4, for a
 * connection offloaded with CHIMNEY_TCPO_DB_HINT) a word the device
 * writes: CHIMNEY_HINT_RING while the driver must ring after it
 * publishes an index, CHIMNEY_HINT_SKIP while the device will read the
 * record itself before long (ACKs of data in flight are due, or its data
 * waits for the backend).
 * The driver writes the index, then a full barrier, then reads the hint;
 * the device writes RING, then a full barrier, then reads the record
 * again, so a post is either rung or seen.  Without the flag the record
 * is 8 bytes and its third word is never written.
 */
typedef struct ChimneyDbRecord {
    uint32_t sq_tail;       /* SQ producer index */
    uint32_t rq_tail;       /* RQ producer index (receive queue only) */
    uint32_t hint;          /* device-written: CHIMNEY_HINT_* */
} ChimneyDbRecord;

#define CHIMNEY_TCPO_DB_HINT            (1u << 0)   /* device writes hint */
/* zero is RING: a word nobody wrote (an older device) asks for doorbells */
#define CHIMNEY_HINT_RING               0
#define CHIMNEY_HINT_SKIP               1

/*
 * OFFLOAD_TCP and UPDATE of a connection: len = CHIMNEY_TCP_OFFLOAD_SIZE
 * reads the whole block; len = 0 or CHIMNEY_TCP_OFFLOAD_SIZE_1_2 (what a
 * 1.2 driver leaves there) reads its first CHIMNEY_TCP_OFFLOAD_SIZE_1_2
 * bytes, and flow_label and user_priority are 0.  Any other len is
 * refused with INVALID_PARAM.  On
 * an IPv6 path ttl and tos are the hop limit and traffic class.  A
 * neighbor with a VLAN id, or a connection with a user_priority, sends
 * 802.1Q-tagged frames (with CHIMNEY_FEAT_8021Q the priority goes in the
 * tag; a connection whose neighbor has a VLAN id drops received segments
 * without that id, one without a VLAN id takes them tagged or not).
 */
#define CHIMNEY_TCP_OFFLOAD_SIZE_1_2    192
#define CHIMNEY_TCP_OFFLOAD_SIZE        224

/*
 * QUERY_TCP: id = connection, addr = a ChimneyTcpDelegated to fill; the
 * connection keeps running.  INVALIDATE / TERMINATE: param[0] = object
 * type, id = object; TERMINATE of a connection fills addr like QUERY_TCP
 * and first completes every outstanding request with UPLOAD_IN_PROGRESS.
 * Commands on a connection complete on its CQ, after its last data
 * completion; the others on the admin CQ.
 *
 * TERMINATE of a connection also returns the received bytes it has not
 * delivered (rcv_held of them, the ones just before rcv_nxt) into the
 * buffer at param[1..2] (address low, high) of param[3] bytes.  When that
 * buffer is too small the command fails with NO_RESOURCES, writes only
 * the delegated state (rcv_held says how much room is needed) and the
 * connection keeps running.
 */
#define CHIMNEY_TERM_PARAM_HELD_LO      1
#define CHIMNEY_TERM_PARAM_HELD_HI      2
#define CHIMNEY_TERM_PARAM_HELD_LEN     3

/*
 * FORWARD: id = connection, addr/len = one TCP segment (TCP header and
 * payload, no IP header) that the host received for it.  Completes on the
 * connection's CQ: SUCCESS once processed, INVALID_PARAM when malformed,
 * UPLOAD_IN_PROGRESS while the connection is being uploaded (the host
 * keeps the segment) and REQUEST_ABORTED once it was reset.
 */
#define CHIMNEY_FORWARD_MAX             65535

/*
 * QUERY_STATS (version 1.2): addr/len = a buffer of at least
 * CHIMNEY_STATS_SIZE bytes that receives a ChimneyOffloadStats: the
 * counters of the offloaded connections summed, those offloaded now and
 * those terminated since the device was enabled (TCP_OFFLOAD_STATS and
 * IP_OFFLOAD_STATS).  Completes on the admin CQ.
 */
#define CHIMNEY_STATS_SIZE              64
typedef struct ChimneyOffloadStats {
    uint64_t in_segments;   /* TCP segments received */
    uint64_t out_segments;  /* TCP segments sent, retransmissions too */
    uint64_t in_octets;     /* payload bytes received in order */
    uint64_t out_octets;    /* payload bytes the peers acknowledged */
    uint64_t retransmitted; /* segments retransmitted */
    uint32_t established;   /* connections offloaded now */
    uint32_t rsvd[5];
} ChimneyOffloadStats;

/* Send queue entries (per connection) */
#define CHIMNEY_SQ_SEND                 1
#define CHIMNEY_SQ_DISCONNECT           2
#define CHIMNEY_SQF_PUSH                (1u << 0)
#define CHIMNEY_SQF_URGENT              (1u << 1)
#define CHIMNEY_SQF_ABORTIVE            (1u << 2)   /* disconnect with RST */
#define CHIMNEY_MAX_SGE                 64
/*
 * Largest request (SEND, DISCONNECT data or RECEIVE) in bytes; a longer
 * one completes with BAD_DESCRIPTOR.  It keeps a connection's queued
 * bytes far below the 2^31 that TCP sequence arithmetic can order.
 */
#define CHIMNEY_MAX_REQUEST_LEN         0x40000000

typedef struct ChimneySqDesc {
    uint8_t  type;          /* CHIMNEY_SQ_* */
    uint8_t  flags;         /* CHIMNEY_SQF_* */
    uint16_t nsge;          /* entries at sgl, 0 only when len is 0 */
    uint32_t len;           /* bytes, the sum of the entries */
    uint64_t cookie;
    uint64_t sgl;           /* guest address of nsge ChimneySge */
    uint64_t rsvd;
} ChimneySqDesc;

/*
 * Receive queue entries (per connection) have the same layout.  A
 * RECEIVE is a buffer for the connection's data; INDICATE_DONE answers
 * the last CHIMNEY_CQE_INDICATE: len = bytes the driver took (nsge 0).
 * RECEIVE completes as CHIMNEY_CQE_RECV; INDICATE_DONE has no completion.
 * A CQE's sq_head for this queue is the RQ consumer index: entries before
 * it were fetched and their slots may be reused.
 */
#define CHIMNEY_RQ_RECEIVE              3
#define CHIMNEY_RQ_INDICATE_DONE        4
#define CHIMNEY_RQF_NO_PUSH             (1u << 0)   /* complete when full */

typedef struct ChimneySge {
    uint64_t addr;
    uint32_t len;
    uint32_t rsvd;
} ChimneySge;

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
CHIMNEY_ABI_CHECK(sizeof(ChimneyNeighborState) == 32);
CHIMNEY_ABI_CHECK(sizeof(ChimneyPathState) == 32);
CHIMNEY_ABI_CHECK(sizeof(ChimneyTcpDelegated) == 96);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpDelegated, srtt) == 44);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpDelegated, rexmit_timeout_delta) == 72);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpOffload, const_flags) == 32);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpOffload, offload_flags) == 42);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpOffload, cached_flags) == 44);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpOffload, delegated) == 72);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpOffload, rq_base) == 168);
CHIMNEY_ABI_CHECK(offsetof(ChimneyTcpOffload, flow_label) ==
                  CHIMNEY_TCP_OFFLOAD_SIZE_1_2);
CHIMNEY_ABI_CHECK(sizeof(ChimneyTcpOffload) == CHIMNEY_TCP_OFFLOAD_SIZE);
CHIMNEY_ABI_CHECK(sizeof(ChimneyPath6State) == 64);
CHIMNEY_ABI_CHECK(offsetof(ChimneyPath6State, src_ip) == 8);
CHIMNEY_ABI_CHECK(sizeof(ChimneyOffloadStats) == CHIMNEY_STATS_SIZE);
CHIMNEY_ABI_CHECK(offsetof(ChimneyOffloadStats, established) == 40);
CHIMNEY_ABI_CHECK(sizeof(ChimneySqDesc) == 32);
CHIMNEY_ABI_CHECK(sizeof(ChimneySge) == 16);
CHIMNEY_ABI_CHECK(offsetof(ChimneyDbRecord, hint) == 8);

#endif /* HW_NET_CHIMNEY_ABI_H */
