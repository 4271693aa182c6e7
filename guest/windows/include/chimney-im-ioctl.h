/*
 * chimney-im: what the sample intermediate driver counts, and the control
 * device that hands the counters to user mode (chimney-im-stat.exe)
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_IM_IOCTL_H
#define CHIMNEY_IM_IOCTL_H

#define CHIMNEY_IM_DEVICE       L"\\Device\\ChimneyIm"
#define CHIMNEY_IM_LINK         L"\\DosDevices\\ChimneyIm"
#define CHIMNEY_IM_USER_PATH    "\\\\.\\ChimneyIm"

/* FILE_DEVICE_NETWORK, METHOD_BUFFERED, FILE_ANY_ACCESS */
#define CHIMNEY_IM_IOCTL(fn)    ((0x12u << 16) | ((fn) << 2))
#define CHIMNEY_IM_GET_COUNTERS CHIMNEY_IM_IOCTL(0x800)
#define CHIMNEY_IM_RESET        CHIMNEY_IM_IOCTL(0x801)

/*
 * Counted over every binding since load (or the last reset).  The send
 * completions are what NDIS hands ProtocolTcpOffloadSendComplete: calls,
 * NBLs, and each NBL's status and TcpOffloadBytesTransferred.
 */
typedef struct ChimneyImCounters {
    unsigned long long send_complete_calls;
    unsigned long long send_complete_nbls;
    unsigned long long send_success;
    unsigned long long send_upload_in_progress;
    unsigned long long send_request_aborted;
    unsigned long long send_other_status;
    unsigned long long send_bytes;
    unsigned long long sends;               /* NBLs passed down */
    unsigned long long receive_complete_nbls;
    unsigned long long receive_indications;
    unsigned long long disconnect_complete_nbls;
    unsigned long long forward_complete_nbls;
    unsigned long long events;
    unsigned long long offloads;            /* TCP blocks offloaded */
    unsigned long long offload_failures;
    unsigned long long terminates;          /* TCP blocks terminated */
    unsigned long long after_halt;          /* came back with no adapter */
} ChimneyImCounters;

#endif /* CHIMNEY_IM_IOCTL_H */
