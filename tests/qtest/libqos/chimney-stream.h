/*
 * libqos chimney-nic streams: bulk data through offloaded connections
 *
 * Every send queue kept full with 64-KiB sends of a per-connection
 * pattern until a given count is acknowledged, then a graceful close;
 * optionally the peer's echo taken through posted receives and checked
 * byte for byte.  Whoever is the peer (libslirp, the Linux kernel) hashes
 * what arrives and compares with qchimney_stream_sha().
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_STREAM_H
#define LIBQOS_CHIMNEY_STREAM_H

#include "chimney-host.h"

#define QCHIMNEY_STREAM_CHUNK   (64 * 1024)
#define QCHIMNEY_STREAM_BUF     (1024 * 1024)
#define QCHIMNEY_STREAM_CONNS   16  /* at most */
#define QCHIMNEY_STREAM_SQ      32
#define QCHIMNEY_ECHO_RQ        16
#define QCHIMNEY_ECHO_RBUF      (16 * 1024)

/* The pattern byte at @off of connection @i's stream */
uint8_t qchimney_stream_byte(int i, uint64_t off);
/* What connection @i's stream of @sends chunks hashes to */
char *qchimney_stream_sha(int i, uint32_t sends);
/* Connection @i's pattern in guest memory (*buf), room for its SGLs */
void qchimney_stream_buffer(QChimneyFixture *f, int i, uint64_t *buf,
                            uint64_t *sgl);

/*
 * What the demo measures: latency from post to completion, statuses,
 * progress.  With @tolerant a send that fails and a connection that is
 * reset or asked to upload end that connection's stream, and a stream
 * with no progress ends the run, instead of failing an assertion.
 */
typedef struct QChimneyStreamStats QChimneyStreamStats;
struct QChimneyStreamStats {
    gint64 *posted_at;          /* [conn * sends + k] */
    gint64 *latency;            /* completion latencies, in order */
    uint32_t nlat;
    uint64_t statuses[256];
    uint64_t total, acked;
    gint64 start, last_report;
    /*
     * called at most twice a second, once when acked first reaches
     * progress_at (if set), and once with @last at the end
     */
    void (*progress)(QChimneyStreamStats *st, bool last);
    uint64_t progress_at;
    bool tolerant;
    /* sees every completion of the run, before it is checked */
    void (*completed)(QChimneyStreamStats *st, const ChimneyCqe *cqe);
    bool stalled;               /* nothing completed for too long */
    bool stopped[QCHIMNEY_STREAM_CONNS];    /* ended early, and why */
    uint8_t stop_event[QCHIMNEY_STREAM_CONNS];
    uint32_t stop_info[QCHIMNEY_STREAM_CONNS];
};

/* A stream's send queue, kept by the driver core's tracker */
typedef struct QChimneyStreamSq {
    ChimneyGuestSq q;
    uint64_t cookie[QCHIMNEY_STREAM_SQ];
} QChimneyStreamSq;

void qchimney_stream_sq_init(QChimneyStreamSq *sq, QChimneyConn *hc);

/*
 * Keep every connection's send queue full until @sends chunks each are
 * acknowledged, then close gracefully; returns when each connection saw
 * its own FIN acknowledged and the peer's FIN.  Each send must complete
 * exactly once, in order, with every byte.  With @step_clock the virtual
 * clock moves on while nothing completes, so retransmission and persist
 * timers run against a peer that loses segments or closes its window.
 * Completions go on CQ 2; @st (or NULL) gathers the demo's figures.
 */
void qchimney_stream_run_stats(QChimneyFixture *f, QChimneyConn *hc,
                               int nconns, uint32_t sends,
                               const uint64_t *buf, const uint64_t *sgl,
                               bool step_clock, QChimneyStreamStats *st);
void qchimney_stream_run(QChimneyFixture *f, QChimneyConn *hc, int nconns,
                         uint32_t sends, const uint64_t *buf,
                         const uint64_t *sgl, bool step_clock);

/* What an echo run needs per connection, in guest memory */
typedef struct QChimneyEchoConn {
    uint64_t buf, sgl;          /* the stream to send */
    uint64_t rbuf, rsgl;        /* receive buffers and their SGLs */
    QChimneyStreamSq sq;
    ChimneyGuestRecvFifo recvs; /* posted receives, oldest first */
    uint64_t recv_cookie[QCHIMNEY_ECHO_RQ];
} QChimneyEchoConn;

/* @hc has QCHIMNEY_ECHO_RQ receive queue entries: fill all but one */
void qchimney_echo_prepare(QChimneyFixture *f, QChimneyConn *hc,
                           QChimneyEchoConn *ec, int i);
/*
 * Stream @sends chunks on each connection and take the echo through
 * posted receives, checking every byte, until both FINs crossed.  With
 * @step_clock the virtual clock moves on while nothing completes, so the
 * timers run against a lossy wire.
 */
void qchimney_echo_run(QChimneyFixture *f, QChimneyConn *hc,
                       QChimneyEchoConn *ec, int nconns, uint32_t sends,
                       bool step_clock);

#endif /* LIBQOS_CHIMNEY_STREAM_H */
