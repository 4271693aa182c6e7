/*
 * chimney-nic: TCP segments of offloaded connections on the wire
 *
 * Building an outgoing Ethernet/IPv4/TCP frame from a connection's state
 * and the guest memory behind its requests, and parsing received frames
 * and segments.  Part of the TCP engine (see chimney-tcp.h).
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/eth.h"
#include "net/checksum.h"
#include "hw/net/chimney/chimney-tcp-int.h"

#define IP6_HDR_LEN     40

/*
 * Ethernet, with an 802.1Q tag when the neighbor has a VLAN id or the
 * connection a user priority (a priority-tagged frame has VLAN id 0).
 * Returns the bytes written, ethertype included.
 */
static size_t chimney_tcp_write_l2(const ChimneyTcpConn *c, uint8_t *f)
{
    const ChimneyTcpRoute *r = c->route;
    size_t l2 = ETH_HLEN;

    memcpy(f, r->dst_mac, 6);
    memcpy(f + 6, r->src_mac, 6);
    if (r->vlan || c->st.user_priority) {
        stw_be_p(f + 12, ETH_P_VLAN);
        stw_be_p(f + 14, (c->st.user_priority & 7) << 13 | (r->vlan & 0xfff));
        l2 += 4;
    }
    stw_be_p(f + l2 - 2, r->ipv6 ? ETH_P_IPV6 : ETH_P_IP);
    return l2;
}

/* The unfolded sum of an IPv6 pseudo-header for @len bytes of @proto */
uint32_t chimney_tcp_ip6_pseudo_sum(const uint8_t *ip6, uint8_t proto,
                                    uint32_t len)
{
    return chimney_tcp_csum(ip6 + 8, 32, 0) + proto + len;
}

/*
 * The IP header of a segment of @tcp_len TCP bytes (a super-frame of
 * @segs); returns the sum of its TCP pseudo-header.  IPv4: DF, IDs from
 * the target's half of the space.  IPv6: traffic class, flow label and
 * hop limit from the cached state.
 */
static uint32_t chimney_tcp_write_ip(ChimneyTcpConn *c, uint8_t *ip,
                                     uint32_t tcp_len, uint32_t segs)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    uint32_t id;

    if (c->route->ipv6) {
        stl_be_p(ip, 6u << 28 | (uint32_t)c->st.tos << 20 |
                     (c->st.flow_label & CHIMNEY_TCP_FLOW_LABEL_MAX));
        stw_be_p(ip + 4, tcp_len);
        ip[6] = IP_PROTO_TCP;
        ip[7] = c->st.ttl;
        memcpy(ip + 8, c->route->src_ip6, 16);
        memcpy(ip + 24, c->route->dst_ip6, 16);
        return chimney_tcp_ip6_pseudo_sum(ip, IP_PROTO_TCP, tcp_len);
    }
    ip[0] = 0x45;
    ip[1] = c->st.tos;
    stw_be_p(ip + 2, IP_HDR_LEN + tcp_len);
    /* a super-frame's segments get consecutive IDs from the backend */
    id = s->ip_id + segs - 1 > 0xffff ? IP_ID_BASE : s->ip_id;
    s->ip_id = id + segs > 0xffff ? IP_ID_BASE : id + segs;
    stw_be_p(ip + 4, id);
    stw_be_p(ip + 6, IP_DF);
    ip[8] = c->st.ttl;
    ip[9] = IP_PROTO_TCP;
    stw_be_p(ip + 10, 0);
    memcpy(ip + 12, &c->route->src_ip, 4);
    memcpy(ip + 16, &c->route->dst_ip, 4);
    stw_be_p(ip + 10, net_checksum_finish(chimney_tcp_csum(ip, IP_HDR_LEN, 0)));
    return chimney_tcp_csum(ip + 12, 8, 0) + IP_PROTO_TCP + tcp_len;
}

/* The 64-bit word sums of chimney_tcp_csum*, folded, for @offset */
static uint16_t tcp_csum_fold(uint64_t lo, uint64_t hi, size_t offset)
{
    uint64_t sum = lo + hi;
    uint16_t r;

    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    /* Words were loaded in host order; the sum is of big-endian ones */
    r = be16_to_cpu(sum);
    /* Bytes at an odd offset are the other halves of their words */
    return offset & 1 ? bswap16(r) : r;
}

/*
 * Sixteen bytes at a time, in the host's vector registers where it has
 * them (SSE2 on x86-64, NEON on AArch64; plain words elsewhere): each
 * 32-bit lane adds the two 16-bit halves of its word, which cannot
 * overflow the lane within TCP_CSUM_VEC_RUN blocks.
 */
typedef uint32_t TcpCsumVec __attribute__((vector_size(16)));

#define TCP_CSUM_VEC_RUN 32768      /* blocks: 32768 * 2 * 0xffff < 2^32 */

/*
 * The folded sum of @len bytes at @src, for @offset, copied to @dst when
 * it is not NULL: 16-byte blocks, then the tail a 64-bit word at a time,
 * its two 32-bit halves into separate sums that cannot overflow below
 * 2^32 words; folded once at the end.  Instead of net_checksum_add_cont's
 * byte at a time.
 */
static inline uint16_t tcp_csum_span(uint8_t *dst, const void *src,
                                     size_t len, size_t offset)
{
    const uint8_t *p = src;
    uint8_t *d = dst;
    uint64_t lo = 0, hi = 0, w;

    while (len >= 16) {
        size_t n = MIN(len / 16, TCP_CSUM_VEC_RUN);
        TcpCsumVec acc = { 0 }, v;

        len -= n * 16;
        for (; n; n--, p += 16) {
            memcpy(&v, p, 16);
            if (d) {
                memcpy(d, &v, 16);
                d += 16;
            }
            acc += (v & 0xffff) + (v >> 16);
        }
        lo += (uint64_t)acc[0] + acc[1] + acc[2] + acc[3];
    }
    for (; len >= 8; len -= 8, p += 8) {
        memcpy(&w, p, 8);
        if (d) {
            memcpy(d, &w, 8);
            d += 8;
        }
        lo += (uint32_t)w;
        hi += w >> 32;
    }
    if (len) {
        w = 0;
        memcpy(&w, p, len);
        if (d) {
            memcpy(d, &w, len);
        }
        lo += (uint32_t)w;
        hi += w >> 32;
    }
    return tcp_csum_fold(lo, hi, offset);
}

uint16_t chimney_tcp_csum(const void *buf, size_t len, size_t offset)
{
    return tcp_csum_span(NULL, buf, len, offset);
}

uint16_t chimney_tcp_csum_copy(void *dst, const void *src, size_t len,
                               size_t offset)
{
    return tcp_csum_span(dst, src, len, offset);
}

/* Parts of a frame: the headers, then payload mapped or copied */
#define TCP_TX_IOV  CHIMNEY_TCP_TX_IOV

typedef struct TcpTxParts {
    struct iovec *iov;          /* the stack's tx_iov */
    bool *mapped;               /* the stack's tx_mapped */
    int n;
    uint32_t sum;               /* of the payload copied */
} TcpTxParts;

/*
 * The stack's arrays, with only part 0, which the headers take last,
 * set: QEMU builds with -ftrivial-auto-var-init=zero, which zeroed the
 * kilobyte of a frame's parts on the stack for every segment sent, and a
 * frame uses a few entries, each written as it is added.
 */
static void tcp_tx_init(ChimneyTcpStack *s, TcpTxParts *tx)
{
    tx->iov = s->tx_iov;
    tx->mapped = s->tx_mapped;
    tx->iov[0] = (struct iovec) { 0 };
    tx->mapped[0] = false;
    tx->n = 1;
    tx->sum = 0;
}

static void tcp_tx_add(TcpTxParts *tx, const void *p, uint32_t len,
                       bool mapped)
{
    struct iovec *last = &tx->iov[tx->n - 1];

    if (!mapped && !tx->mapped[tx->n - 1] &&
        (const uint8_t *)last->iov_base + last->iov_len == p) {
        last->iov_len += len;
        return;
    }
    tx->iov[tx->n].iov_base = (void *)p;
    tx->iov[tx->n].iov_len = len;
    tx->mapped[tx->n++] = mapped;
}

static void tcp_tx_release(ChimneyTcpStack *s, TcpTxParts *tx)
{
    for (int i = 0; i < tx->n; i++) {
        if (tx->mapped[i]) {
            s->ops->unmap_data(s->opaque, tx->iov[i].iov_base,
                               tx->iov[i].iov_len);
        }
    }
    tx->n = 0;
}

/*
 * The payload [seq, seq + len) from the requests that hold it.  Where it
 * can be mapped it stays in guest memory (with emitv to send it), summed
 * in place unless @offload leaves that to the backend; without emitv it
 * is copied to @data and summed in the same pass.  What cannot be mapped
 * is copied with read_data.  Returns false when the guest memory behind
 * a request could not be read, or no request holds the bytes; nothing
 * is then left mapped.
 */
static bool tcp_tx_gather(ChimneyTcpConn *c, uint32_t seq, uint32_t len,
                          uint8_t *data, bool offload, TcpTxParts *tx)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    const ChimneyTcpOps *ops = s->ops;
    bool parts = offload || ops->emitv;
    uint32_t done = 0;

    for (uint32_t i = 0; i < c->count && done < len; i++) {
        ChimneyTcpReq *r = chimney_tcp_req(c, i);
        uint32_t start = chimney_tcp_req_start(r);
        uint32_t off, end;

        if (chimney_seq_leq(start + r->len, seq + done)) {
            continue;
        }
        off = seq + done - start;
        end = off + MIN(r->len - off, len - done);
        while (off < end) {
            uint32_t n = end - off;
            const void *p = NULL;

            /* one part is kept for a copied tail */
            if (ops->map_data && (!parts || tx->n < TCP_TX_IOV - 1)) {
                p = ops->map_data(s->opaque, c, r, off, &n);
            }
            if (p && parts) {
                /* the guest may change it meanwhile: its own frame's loss */
                if (!offload) {
                    tx->sum += chimney_tcp_csum(p, n, done);
                }
                tcp_tx_add(tx, p, n, true);
            } else if (p) {
                tx->sum += chimney_tcp_csum_copy(data + done, p, n, done);
                ops->unmap_data(s->opaque, p, n);
            } else {
                n = end - off;
                if (!ops->read_data(s->opaque, c, r, off, data + done, n)) {
                    tcp_tx_release(s, tx);
                    chimney_tcp_fail_from(c, i);
                    return false;
                }
                if (!offload) {
                    tx->sum += chimney_tcp_csum(data + done, n, done);
                }
                if (parts) {
                    tcp_tx_add(tx, data + done, n, false);
                }
            }
            off += n;
            done += n;
        }
    }
    /*
     * The queued requests must cover [seq, seq + len).  OFFLOAD_TCP
     * refuses states where they could not (SndMax beyond the handed-over
     * data, 2^31 or more outstanding); should it happen anyway, it is a
     * failure of the connection, never of QEMU.
     */
    if (done < len) {
        uint32_t i = 0;

        tcp_tx_release(s, tx);
        while (i < c->count &&
               chimney_seq_leq(chimney_tcp_req(c, i)->end_seq, seq)) {
            i++;
        }
        chimney_tcp_fail_from(c, i);
        return false;
    }
    return true;
}

/*
 * Build and emit one frame: @len payload bytes from @seq, with the given
 * flags.  More than an MSS goes out as one super-frame that the backend
 * segments (only when the stack's tx_offload is set).  Returns false
 * when the guest memory behind a request could not be read, or no
 * request holds the bytes.
 */
bool chimney_tcp_send_segment(ChimneyTcpConn *c, uint32_t seq, uint32_t len,
                              uint8_t flags)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    uint8_t *f = s->frame;
    size_t l2 = chimney_tcp_write_l2(c, f);
    uint8_t *ip = f + l2;
    uint32_t opt = c->st.ts_enabled ? TCP_TS_OPT_LEN : 0;
    uint32_t ip_hlen = chimney_tcp_ip_hlen(c->route->ipv6);
    uint8_t *th = ip + ip_hlen;
    uint8_t *data = th + TCP_HDR_LEN + opt;
    uint32_t tcp_len = TCP_HDR_LEN + opt + len;
    uint32_t sum = 0, segs = 1;
    uint8_t gso_type;
    /* Checksums left to the backend only for data, not for bare ACKs */
    bool offload = s->tx_offload && len;
    TcpTxParts tx;

    /* Payload first, so a failed read emits nothing */
    tcp_tx_init(s, &tx);
    if (!tcp_tx_gather(c, seq, len, data, offload, &tx)) {
        return false;
    }
    if (offload && len > c->mss) {
        segs = DIV_ROUND_UP(len, c->mss);
    }

    /* TCP header and options */
    stw_be_p(th, c->st.local_port);
    stw_be_p(th + 2, c->st.remote_port);
    stl_be_p(th + 4, seq);
    stl_be_p(th + 8, c->st.rcv_nxt);
    stw_be_p(th + 12, ((TCP_HDR_LEN + opt) / 4) << 12 | flags);
    stw_be_p(th + 14, chimney_tcp_rx_window(c));
    stw_be_p(th + 16, 0);
    stw_be_p(th + 18, 0);
    if (opt) {
        th[20] = TCPOPT_NOP;
        th[21] = TCPOPT_NOP;
        th[22] = TCPOPT_TS;
        th[23] = 10;
        stl_be_p(th + 24, chimney_tcp_ts_now(c));
        stl_be_p(th + 28, c->st.ts_recent);
    }

    /* IP header and pseudo-header */
    sum += chimney_tcp_write_ip(c, ip, tcp_len, segs);
    gso_type = c->route->ipv6 ? CHIMNEY_TCP_GSO_TCPV6 : CHIMNEY_TCP_GSO_TCPV4;

    /*
     * Only what follows the headers: attach the payload, and segment and
     * sum it or leave that to the backend.
     */

    chimney_tcp_count(c, CHIMNEY_TCP_SEGS_OUT, segs);
    /* Every segment carries the ACK a delayed one was waiting for */
    c->segs_unacked = 0;
    if (c->delack_ns >= 0) {
        c->delack_ns = -1;
        chimney_tcp_timers_sync(c);
    }
    if (offload) {
        ChimneyTcpTxInfo info = {
            .hdr_len = data - f,
            .csum_start = th - f,
            .csum_offset = 16,
            .gso_size = segs > 1 ? c->mss : 0,
            .gso_type = segs > 1 ? gso_type : CHIMNEY_TCP_GSO_NONE,
        };

        /* the field holds the pseudo-header sum, not inverted */
        stw_be_p(th + 16, (uint16_t)~net_checksum_finish(sum));
        tx.iov[0].iov_base = f;
        tx.iov[0].iov_len = data - f;
        s->ops->emitv(s->opaque, c, tx.iov, tx.n, &info);
        tcp_tx_release(s, &tx);
        return true;
    }
    sum += chimney_tcp_csum(th, TCP_HDR_LEN + opt, 0) + tx.sum;
    stw_be_p(th + 16, net_checksum_finish(sum));
    if (s->ops->emitv) {
        /* a finished frame, its payload where tcp_tx_gather left it */
        tx.iov[0].iov_base = f;
        tx.iov[0].iov_len = data - f;
        s->ops->emitv(s->opaque, c, tx.iov, tx.n, NULL);
        tcp_tx_release(s, &tx);
        return true;
    }
    s->ops->emit(s->opaque, c, f, l2 + ip_hlen + tcp_len);
    return true;
}

/*
 * The TCP header at @th of a segment of @len bytes (header and payload),
 * its checksum already checked.  Returns false when it is malformed.
 */
bool chimney_tcp_parse_header(const uint8_t *th, uint32_t len,
                              ChimneyTcpSegment *seg, uint32_t *doff)
{
    uint32_t hl;

    if (len < TCP_HDR_LEN) {
        return false;
    }
    hl = (th[12] >> 4) * 4;
    if (hl < TCP_HDR_LEN || hl > len) {
        return false;
    }
    memset(seg, 0, sizeof(*seg));
    seg->seq = ldl_be_p(th + 4);
    seg->ack = ldl_be_p(th + 8);
    seg->flags = th[13];
    seg->wnd = lduw_be_p(th + 14);
    seg->urg = lduw_be_p(th + 18);
    seg->len = len - hl;
    for (uint32_t i = TCP_HDR_LEN; i < hl;) {
        uint8_t kind = th[i];
        uint8_t olen;

        if (kind == TCPOPT_EOL) {
            break;
        }
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= hl) {
            return false;
        }
        olen = th[i + 1];
        if (olen < 2 || i + olen > hl) {
            return false;
        }
        if (kind == TCPOPT_TS && olen == 10) {
            seg->has_ts = true;
            seg->ts_val = ldl_be_p(th + i + 2);
            seg->ts_ecr = ldl_be_p(th + i + 6);
        }
        i += olen;
    }
    *doff = hl;
    return true;
}

/*
 * The IPv6 header at @ip, @avail bytes of frame behind it: the TCP bytes
 * and the sum of their pseudo-header.  Extension headers (and anything
 * but TCP) are left to the host.
 */
static bool chimney_tcp_parse_ip6(const uint8_t *ip, size_t avail,
                                  ChimneyTcpTuple *tuple, uint32_t *tcp_len,
                                  uint32_t *sum)
{
    if (avail < IP6_HDR_LEN + TCP_HDR_LEN || (ip[0] >> 4) != 6 ||
        ip[6] != IP_PROTO_TCP) {
        return false;
    }
    *tcp_len = lduw_be_p(ip + 4);
    if (*tcp_len < TCP_HDR_LEN || *tcp_len > avail - IP6_HDR_LEN) {
        return false;
    }
    *sum = chimney_tcp_ip6_pseudo_sum(ip, IP_PROTO_TCP, *tcp_len);
    tuple->ipv6 = true;
    memcpy(tuple->src_ip6, ip + 8, 16);
    memcpy(tuple->dst_ip6, ip + 24, 16);
    return true;
}

/* The IPv4 header at @ip: as above; options and fragments are the host's */
static bool chimney_tcp_parse_ip4(const uint8_t *ip, size_t avail,
                                  ChimneyTcpTuple *tuple, uint32_t *tcp_len,
                                  uint32_t *sum)
{
    uint32_t ip_len;

    if (avail < IP_HDR_LEN + TCP_HDR_LEN) {
        return false;
    }
    ip_len = lduw_be_p(ip + 2);
    if (ip[0] != 0x45 || ip[9] != IP_PROTO_TCP ||
        (lduw_be_p(ip + 6) & ~IP_DF) || ip_len < IP_HDR_LEN + TCP_HDR_LEN ||
        ip_len > avail ||
        net_checksum_finish(chimney_tcp_csum(ip, IP_HDR_LEN, 0))) {
        return false;
    }
    *tcp_len = ip_len - IP_HDR_LEN;
    *sum = chimney_tcp_csum(ip + 12, 8, 0) + IP_PROTO_TCP + *tcp_len;
    tuple->ipv6 = false;
    memcpy(&tuple->src_ip, ip + 12, 4);
    memcpy(&tuple->dst_ip, ip + 16, 4);
    return true;
}

/*
 * An Ethernet frame, untagged or with one 802.1Q tag, carrying IPv4 or
 * IPv6 and a TCP segment whose checksums hold.  Returns false for
 * anything else: it goes to the host.
 */
bool chimney_tcp_parse(const uint8_t *frame, size_t len,
                       ChimneyTcpTuple *tuple, ChimneyTcpSegment *seg,
                       const uint8_t **payload)
{
    size_t l2 = ETH_HLEN;
    const uint8_t *ip, *th;
    uint32_t tcp_len, doff, sum;
    uint16_t type;
    bool ok;

    if (len < ETH_HLEN + IP_HDR_LEN + TCP_HDR_LEN) {
        return false;
    }
    memset(tuple, 0, sizeof(*tuple));
    if (lduw_be_p(frame + 12) == ETH_P_VLAN) {
        tuple->vlan = lduw_be_p(frame + 14) & 0xfff;
        l2 += 4;
    }
    type = lduw_be_p(frame + l2 - 2);
    ip = frame + l2;
    if (type == ETH_P_IP) {
        ok = chimney_tcp_parse_ip4(ip, len - l2, tuple, &tcp_len, &sum);
    } else if (type == ETH_P_IPV6) {
        ok = chimney_tcp_parse_ip6(ip, len - l2, tuple, &tcp_len, &sum);
    } else {
        ok = false;
    }
    if (!ok) {
        return false;
    }
    th = ip + (tuple->ipv6 ? IP6_HDR_LEN : IP_HDR_LEN);
    sum += chimney_tcp_csum(th, tcp_len, 0);
    if (net_checksum_finish(sum) ||
        !chimney_tcp_parse_header(th, tcp_len, seg, &doff)) {
        return false;
    }
    tuple->src_port = lduw_be_p(th);
    tuple->dst_port = lduw_be_p(th + 2);
    if (payload) {
        *payload = th + doff;
    }
    return true;
}
