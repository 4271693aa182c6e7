/*
 * libqos chimney-nic streams: bulk data through offloaded connections
 *
 * See chimney-stream.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "../libqtest.h"
#include "chimney-stream.h"

#define CHUNK   QCHIMNEY_STREAM_CHUNK
#define SBUF    QCHIMNEY_STREAM_BUF
#define CONNS   QCHIMNEY_STREAM_CONNS
#define SQ_SIZE QCHIMNEY_STREAM_SQ
#define RQ_SIZE QCHIMNEY_ECHO_RQ
#define RBUF    QCHIMNEY_ECHO_RBUF

uint8_t qchimney_stream_byte(int i, uint64_t off)
{
    return (off % SBUF) * 13 + i * 7 + (off % SBUF) / 251;
}

char *qchimney_stream_sha(int i, uint32_t sends)
{
    g_autofree uint8_t *pattern = g_malloc(CHUNK);
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    char *sha;

    for (uint32_t c = 0; c < sends; c++) {
        for (uint32_t b = 0; b < CHUNK; b++) {
            pattern[b] = qchimney_stream_byte(i, (uint64_t)c * CHUNK + b);
        }
        g_checksum_update(sum, pattern, CHUNK);
    }
    sha = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    return sha;
}

void qchimney_stream_buffer(QChimneyFixture *f, int i, uint64_t *buf,
                            uint64_t *sgl)
{
    g_autofree uint8_t *pattern = g_malloc(SBUF);

    for (uint32_t k = 0; k < SBUF; k++) {
        pattern[k] = qchimney_stream_byte(i, k);
    }
    *buf = guest_alloc(&f->alloc, SBUF);
    qtest_memwrite(f->qts, *buf, pattern, SBUF);
    *sgl = guest_alloc(&f->alloc, SQ_SIZE * sizeof(ChimneySge));
}

/* At most twice a second, at progress_at, and at the end */
static void stream_progress(QChimneyStreamStats *st, bool last)
{
    gint64 now = g_get_monotonic_time();
    bool mark = st->progress_at && st->acked >= st->progress_at;

    if (!last && !mark && now - st->last_report < G_USEC_PER_SEC / 2) {
        return;
    }
    if (mark) {
        st->progress_at = 0;    /* once */
    }
    st->last_report = now;
    if (st->progress) {
        st->progress(st, last);
    }
}

void qchimney_stream_sq_init(QChimneyStreamSq *sq, QChimneyConn *hc)
{
    g_assert_cmpuint(hc->sq_size, ==, SQ_SIZE);
    chimney_guest_sq_init(&sq->q, hc->sq_base, SQ_SIZE, sq->cookie);
    sq->q.ring.tail = sq->q.ring.head = hc->sq_tail;
}

/* Every SEND and DISCONNECT completion: the oldest request, in order */
static void stream_sq_completed(QChimneyStreamSq *sq, const ChimneyCqe *cqe)
{
    g_assert_cmpint(chimney_guest_sq_complete(&sq->q, cqe), >=, 0);
}

/*
 * Keep connection @i's send queue full: chunk k of its stream is CHUNK
 * bytes of @buf from (k * CHUNK) % SBUF, with cookie i << 32 | k.  Once
 * all @sends are acknowledged, a graceful disconnect follows (*posted
 * becomes UINT32_MAX).  Returns whether the queue has new entries.
 */
static bool stream_feed(QChimneyFixture *f, QChimneyConn *hc,
                        QChimneyStreamSq *sq, int i, uint32_t sends,
                        uint64_t buf, uint64_t sgl, uint32_t *posted,
                        uint32_t done, QChimneyStreamStats *st)
{
    bool kick = false;
    uint32_t tail;

    while (*posted < sends && *posted - done < SQ_SIZE - 2) {
        uint32_t k = (*posted)++;
        uint64_t sge = sgl + sq->q.ring.tail * sizeof(ChimneySge);
        ChimneySge e;

        chimney_guest_sge(&e, buf + (uint64_t)k * CHUNK % SBUF, CHUNK);
        qtest_memwrite(f->qts, sge, &e, sizeof(e));
        g_assert_cmpint(chimney_guest_sq_post(&sq->q, &f->c.mem,
                                              CHIMNEY_SQ_SEND,
                                              CHIMNEY_SQF_PUSH, 1, CHUNK,
                                              (uint64_t)i << 32 | k, sge),
                        >=, 0);
        if (st) {
            st->posted_at[(uint64_t)i * sends + k] = g_get_monotonic_time();
        }
        kick = true;
    }
    if (*posted == sends && done == sends) {
        g_assert_cmpint(chimney_guest_sq_post(&sq->q, &f->c.mem,
                                              CHIMNEY_SQ_DISCONNECT, 0, 0, 0,
                                              (uint64_t)i << 32 | 0xffffffff,
                                              0), >=, 0);
        *posted = UINT32_MAX;
        kick = true;
    }
    if (kick) {
        hc->sq_tail = sq->q.ring.tail;
        tail = cpu_to_le32(hc->sq_tail);
        qtest_memwrite(f->qts, hc->db_record, &tail, 4);
    }
    return kick;
}

/*
 * With @st tolerant, connection @i ends early: a reset, an upload asked
 * for before both FINs, or a stream with no progress.  Returns whether it
 * was still going.
 */
static bool stream_stop(QChimneyStreamStats *st, int i, uint8_t event,
                        uint32_t info, bool finished)
{
    if (finished || st->stopped[i]) {
        return false;
    }
    st->stopped[i] = true;
    st->stop_event[i] = event;
    st->stop_info[i] = info;
    return true;
}

void qchimney_stream_run_stats(QChimneyFixture *f, QChimneyConn *hc,
                               int nconns, uint32_t sends,
                               const uint64_t *buf, const uint64_t *sgl,
                               bool step_clock, QChimneyStreamStats *st)
{
    uint32_t posted[CONNS] = { 0 }, done[CONNS] = { 0 };
    bool fin_done[CONNS] = { 0 }, peer_fin[CONNS] = { 0 };
    bool tolerant = st && st->tolerant;
    gint64 deadline = g_get_monotonic_time() +
                      (tolerant ? 30 : 120) * G_USEC_PER_SEC;
    g_autofree QChimneyStreamSq *sq = g_new0(QChimneyStreamSq, nconns);
    int left;

    for (int i = 0; i < nconns; i++) {
        qchimney_stream_sq_init(&sq[i], &hc[i]);
    }

    /* Keep every send queue full until all is acknowledged */
    left = nconns;
    while (left) {
        ChimneyCqe cqe;

        for (int i = 0; i < nconns; i++) {
            if (tolerant && st->stopped[i]) {
                continue;
            }
            if (stream_feed(f, &hc[i], &sq[i], i, sends, buf[i], sgl[i],
                            &posted[i], done[i], st)) {
                qchimney_sq_kick(&f->c, &hc[i]);
            }
        }
        if (!qchimney_cq_wait_timeout(&f->c, 2, &cqe,
                                      step_clock ? 20 * 1000 :
                                      QCHIMNEY_TIMEOUT_US)) {
            if (tolerant && (!step_clock ||
                             g_get_monotonic_time() > deadline)) {
                st->stalled = true;
                for (int i = 0; i < nconns; i++) {
                    stream_stop(st, i, 0, 0, fin_done[i] && peer_fin[i]);
                }
                return;
            }
            g_assert(step_clock);
            if (g_get_monotonic_time() > deadline) {
                g_autofree char *cs = qchimney_qom_str(f, "x-conn-stats");

                g_test_message("no progress: %s", cs);
                g_assert_not_reached();
            }
            qtest_clock_step(f->qts, 50 * QCHIMNEY_MS_NS);
            continue;
        }
        if (tolerant) {
            /* a long run: no progress for 30 s is what ends it */
            deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
        }
        if (st && st->completed) {
            st->completed(st, &cqe);
        }
        {
            int i = CHIMNEY_CONN_INDEX(cqe.obj);
            uint8_t status = CHIMNEY_CQE_STATUS(cqe.type_status);

            g_assert_cmpint(i, <, nconns);
            switch (CHIMNEY_CQE_TYPE(cqe.type_status)) {
            case CHIMNEY_CQE_SEND:
                if (st) {
                    st->statuses[status]++;
                    st->latency[st->nlat++] = g_get_monotonic_time() -
                        st->posted_at[(uint64_t)i * sends + done[i]];
                    st->acked += cqe.bytes;
                    stream_progress(st, false);
                }
                /* Each exactly once, in order, every byte acknowledged */
                if (!tolerant || status == CHIMNEY_ST_SUCCESS) {
                    g_assert_cmpuint(status, ==, CHIMNEY_ST_SUCCESS);
                    g_assert_cmpuint(cqe.bytes, ==, CHUNK);
                }
                g_assert_cmphex(cqe.cookie, ==, (uint64_t)i << 32 | done[i]);
                stream_sq_completed(&sq[i], &cqe);
                done[i]++;
                break;
            case CHIMNEY_CQE_DISCONNECT:
                if (!tolerant || status == CHIMNEY_ST_SUCCESS) {
                    g_assert_cmpuint(status, ==, CHIMNEY_ST_SUCCESS);
                }
                stream_sq_completed(&sq[i], &cqe);
                fin_done[i] = true;
                left -= peer_fin[i] && !(tolerant && st->stopped[i]);
                break;
            case CHIMNEY_CQE_EVENT:
                if (tolerant && (cqe.aux == CHIMNEY_EVENT_ABORT ||
                                 (cqe.aux == CHIMNEY_EVENT_UPLOAD_REQUEST &&
                                  !(peer_fin[i] && fin_done[i])))) {
                    left -= stream_stop(st, i, cqe.aux, cqe.info,
                                        fin_done[i] && peer_fin[i]);
                    break;
                }
                if (cqe.aux == CHIMNEY_EVENT_UPLOAD_REQUEST) {
                    /* TIME_WAIT after both FINs: the host takes over */
                    if (!peer_fin[i] || !fin_done[i]) {
                        g_autofree char *cs = qchimney_qom_str(f,
                                                               "x-conn-stats");

                        g_test_message("conn %d: upload requested (reason "
                                       "%u) at %u/%u sends: %s", i, cqe.info,
                                       done[i], sends, cs);
                    }
                    g_assert(peer_fin[i] && fin_done[i]);
                    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
                    break;
                }
                g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
                peer_fin[i] = true;
                left -= fin_done[i] && !(tolerant && st->stopped[i]);
                break;
            default:
                g_assert_not_reached();
            }
        }
    }
}

void qchimney_stream_run(QChimneyFixture *f, QChimneyConn *hc, int nconns,
                         uint32_t sends, const uint64_t *buf,
                         const uint64_t *sgl, bool step_clock)
{
    qchimney_stream_run_stats(f, hc, nconns, sends, buf, sgl, step_clock,
                              NULL);
}

/* Post receive buffer @k of connection @hc again (its SGL is at @sgl). */
static void echo_post_recv(QChimneyFixture *f, QChimneyConn *hc,
                           uint64_t sgl, uint32_t k)
{
    ChimneySqDesc d = {
        .type = CHIMNEY_RQ_RECEIVE, .nsge = cpu_to_le16(1),
        .len = cpu_to_le32(RBUF), .cookie = cpu_to_le64(k),
        .sgl = cpu_to_le64(sgl + k * sizeof(ChimneySge)),
    };
    uint32_t tail;

    qtest_memwrite(f->qts, hc->rq_base + hc->rq_tail * sizeof(d), &d,
                   sizeof(d));
    hc->rq_tail = (hc->rq_tail + 1) % RQ_SIZE;
    tail = cpu_to_le32(hc->rq_tail);
    qtest_memwrite(f->qts, hc->db_record + 4, &tail, 4);
}

void qchimney_echo_prepare(QChimneyFixture *f, QChimneyConn *hc,
                                  QChimneyEchoConn *ec, int i)
{
    qchimney_stream_buffer(f, i, &ec->buf, &ec->sgl);
    ec->rbuf = guest_alloc(&f->alloc, RQ_SIZE * RBUF);
    ec->rsgl = guest_alloc(&f->alloc, RQ_SIZE * sizeof(ChimneySge));
    qchimney_stream_sq_init(&ec->sq, hc);
    chimney_guest_recv_init(&ec->recvs, ec->recv_cookie, RQ_SIZE);
    for (uint32_t k = 0; k + 1 < RQ_SIZE; k++) {
        ChimneySge e = {
            .addr = cpu_to_le64(ec->rbuf + k * RBUF),
            .len = cpu_to_le32(RBUF),
        };

        qtest_memwrite(f->qts, ec->rsgl + k * sizeof(e), &e, sizeof(e));
        echo_post_recv(f, hc, ec->rsgl, k);
        g_assert(chimney_guest_recv_posted(&ec->recvs, k));
    }
}

void qchimney_echo_run(QChimneyFixture *f, QChimneyConn *hc,
                              QChimneyEchoConn *ec, int nconns,
                              uint32_t sends, bool step_clock)
{
    const uint64_t total = (uint64_t)sends * CHUNK;
    uint64_t rcvd[CONNS] = { 0 };
    uint32_t posted[CONNS] = { 0 }, done[CONNS] = { 0 };
    bool fin_done[CONNS] = { 0 }, peer_fin[CONNS] = { 0 };
    g_autofree uint8_t *got = g_malloc(RBUF);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    int left = nconns;

    while (left) {
        ChimneyCqe cqe;
        int i;

        /* New sends, and the receives reposted below */
        for (i = 0; i < nconns; i++) {
            stream_feed(f, &hc[i], &ec[i].sq, i, sends, ec[i].buf,
                        ec[i].sgl, &posted[i], done[i], NULL);
            qchimney_sq_kick(&f->c, &hc[i]);
        }
        if (!qchimney_cq_wait_timeout(&f->c, 2, &cqe,
                                      step_clock ? 20 * 1000 :
                                      QCHIMNEY_TIMEOUT_US)) {
            if (!step_clock || g_get_monotonic_time() > deadline) {
                g_autofree char *cs = qchimney_qom_str(f, "x-conn-stats");

                g_test_message("no progress: %s", cs);
                g_assert_not_reached();
            }
            /*
             * No faster than real time: the kernel's timers run on its own
             * clock, and a window update lost on the wire waits for its
             * zero-window probe, which must come before our FIN_WAIT_2
             * timer runs out.
             */
            qtest_clock_step(f->qts, 20 * QCHIMNEY_MS_NS);
            continue;
        }
        i = CHIMNEY_CONN_INDEX(cqe.obj);
        g_assert_cmpint(i, <, nconns);
        switch (CHIMNEY_CQE_TYPE(cqe.type_status)) {
        case CHIMNEY_CQE_SEND:
            g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                             CHIMNEY_ST_SUCCESS);
            g_assert_cmphex(cqe.cookie, ==, (uint64_t)i << 32 | done[i]);
            stream_sq_completed(&ec[i].sq, &cqe);
            done[i]++;
            break;
        case CHIMNEY_CQE_DISCONNECT:
            stream_sq_completed(&ec[i].sq, &cqe);
            fin_done[i] = true;
            left -= peer_fin[i];
            break;
        case CHIMNEY_CQE_RECV:
            /* In posting order, whatever the status */
            g_assert(chimney_guest_recv_complete(&ec[i].recvs, &cqe));
            /* Reposted as the FIN came in: refused, and that is all */
            if (peer_fin[i]) {
                g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                                 CHIMNEY_ST_INVALID_STATE);
                break;
            }
            /* The echo, in order, byte for byte */
            g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                             CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(cqe.bytes, <=, RBUF);
            if (cqe.bytes) {
                qtest_bufread(f->qts, ec[i].rbuf + cqe.cookie * RBUF,
                              got, cqe.bytes);
            }
            for (uint32_t b = 0; b < cqe.bytes; b++) {
                if (got[b] != qchimney_stream_byte(i, rcvd[i] + b)) {
                    g_test_message("conn %d: byte %" PRIu64 " is 0x%02x",
                                   i, rcvd[i] + b, got[b]);
                    g_assert_not_reached();
                }
            }
            rcvd[i] += cqe.bytes;
            echo_post_recv(f, &hc[i], ec[i].rsgl, cqe.cookie);
            g_assert(chimney_guest_recv_posted(&ec[i].recvs, cqe.cookie));
            break;
        case CHIMNEY_CQE_EVENT:
            if (cqe.aux == CHIMNEY_EVENT_UPLOAD_REQUEST) {
                /* TIME_WAIT after both FINs: the host takes over */
                if (!peer_fin[i] || !fin_done[i]) {
                    g_autofree char *cs = qchimney_qom_str(f, "x-conn-stats");

                    g_test_message("conn %d: upload requested (reason %u) "
                                   "at %u/%u sends, %" PRIu64 " bytes back: "
                                   "%s", i, cqe.info, done[i], sends,
                                   rcvd[i], cs);
                }
                g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
                g_assert(peer_fin[i] && fin_done[i]);
                break;
            }
            /* The server's FIN: only after all the echo was delivered */
            g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
            g_assert_cmpuint(rcvd[i], ==, total);
            peer_fin[i] = true;
            left -= fin_done[i];
            break;
        default:
            g_assert_not_reached();
        }
    }
}
