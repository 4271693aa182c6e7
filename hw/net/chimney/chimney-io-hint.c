/*
 * chimney-nic: the doorbell hint (CHIMNEY_TCPO_DB_HINT, version 1.4)
 *
 * A connection that asked for it has a word in its doorbell record that
 * the device writes: SKIP while the device will read the record itself
 * before long, RING otherwise.  The device reads the record on every
 * burst of ACKs (chimney_io_rx_work) and when the backend takes frames
 * again after it held some back (the kick list), so SKIP is written only
 * while one of those is certain to come soon: at least two full segments
 * are in flight, so the peer ACKs without waiting for its delayed-ACK
 * timer, or the connection's data waits for the backend; and nothing
 * that the driver's next post could unblock waits (received data held
 * for buffers, an indication's answer).  A driver that sees SKIP leaves
 * the doorbell alone: its post costs no MMIO exit.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/log.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-io.h"
#include "hw/net/chimney/chimney-queue.h"
#include "trace.h"

/*
 * Whether the device reads the record before long on its own: ACKs are
 * due, or the connection waits for the backend to take frames again (the
 * kick list, which reads the record when it does).
 */
static bool chimney_io_hint_reads_soon(ChimneyConn *conn)
{
    const ChimneyTcpConn *c = &conn->tcp;

    if (conn->terminated || conn->rq_upload_asked || c->aborted ||
        c->frozen || c->send_failed || c->upload_requested || c->held ||
        c->ind_outstanding) {
        return false;
    }
    return conn->on_kick_list || c->st.snd_max - c->st.snd_una >= 2 * c->mss;
}

/* The hint word into the record; false when the DMA failed */
bool chimney_io_hint_store(ChimneyConn *conn, bool skip)
{
    uint32_t hint = cpu_to_le32(skip ? CHIMNEY_HINT_SKIP :
                                       CHIMNEY_HINT_RING);

    if (!chimney_dma_write(chimney_conn_dev(conn),
                           conn->db_record + offsetof(ChimneyDbRecord, hint),
                           &hint, sizeof(hint))) {
        return false;
    }
    conn->hint_known = true;
    conn->hint_skip = skip;
    trace_chimney_conn_db_hint(conn->index, skip);
    return true;
}

static bool chimney_io_hint_write(ChimneyConn *conn, bool skip)
{
    if (!chimney_io_hint_store(conn, skip)) {
        CHIMNEY_GUEST_ERR(chimney_err_db_hint, "connection %" PRIu32
                          ": doorbell record 0x%" PRIx64 " not writable",
                          conn->index, conn->db_record);
        /* as for a record it cannot read: nothing is fetched any more */
        conn->poisoned = true;
        chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                CHIMNEY_UPLOAD_HW_FAILURE);
        return false;
    }
    return true;
}

/*
 * The end of a connection's work: write the hint when it changes.  After
 * RING the record is read again, behind a full barrier, so that an index
 * the driver published while it still saw SKIP is taken now (the driver
 * writes its index, then reads the hint, behind a barrier of its own).
 * Two passes at most: the second can only write SKIP.
 */
void chimney_io_hint_update(ChimneyConn *conn)
{
    ChimneyState *s = chimney_conn_dev(conn);

    for (int pass = 0; pass < 2; pass++) {
        bool skip;

        if (!conn->db_hint || conn->poisoned || !chimney_running(s) ||
            conn->in_burst || conn->tcp.in_input) {
            return;
        }
        skip = chimney_io_hint_reads_soon(conn);
        if (conn->hint_known && conn->hint_skip == skip) {
            return;
        }
        if (!chimney_io_hint_write(conn, skip) || skip) {
            return;
        }
        smp_mb();   /* RING out before the record is read again */
        chimney_io_sq_process(conn);
        chimney_io_rq_process(conn);
    }
}
