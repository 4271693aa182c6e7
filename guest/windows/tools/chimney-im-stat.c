/*
 * chimney-im-stat: print (or reset) the counters of the chimney-im
 * intermediate driver, as administrator:
 *
 *   chimney-im-stat          the counters since load or the last reset
 *   chimney-im-stat reset    set them to zero
 *   chimney-im-stat --machine  the counters as key=value lines, for scripts
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <windows.h>
#include <stdio.h>
#include <string.h>
#include "chimney-im-ioctl.h"

/* One key=value line per counter, in the order of ChimneyImCounters */
static void print_machine(const ChimneyImCounters *c)
{
    printf("send_complete_calls=%llu\n", c->send_complete_calls);
    printf("send_complete_nbls=%llu\n", c->send_complete_nbls);
    printf("send_success=%llu\n", c->send_success);
    printf("send_upload_in_progress=%llu\n", c->send_upload_in_progress);
    printf("send_request_aborted=%llu\n", c->send_request_aborted);
    printf("send_other_status=%llu\n", c->send_other_status);
    printf("send_bytes=%llu\n", c->send_bytes);
    printf("sends=%llu\n", c->sends);
    printf("receive_complete_nbls=%llu\n", c->receive_complete_nbls);
    printf("receive_indications=%llu\n", c->receive_indications);
    printf("disconnect_complete_nbls=%llu\n", c->disconnect_complete_nbls);
    printf("forward_complete_nbls=%llu\n", c->forward_complete_nbls);
    printf("events=%llu\n", c->events);
    printf("offloads=%llu\n", c->offloads);
    printf("offload_failures=%llu\n", c->offload_failures);
    printf("terminates=%llu\n", c->terminates);
    printf("after_halt=%llu\n", c->after_halt);
}

int main(int argc, char **argv)
{
    int machine = argc > 1 && !strcmp(argv[1], "--machine");

    HANDLE h = CreateFileA(CHIMNEY_IM_USER_PATH, GENERIC_READ | GENERIC_WRITE,
                           0, NULL, OPEN_EXISTING, 0, NULL);
    ChimneyImCounters c;
    DWORD got = 0;

    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "chimney-im-stat: cannot open %s (error %lu): is "
                "chimney-im installed, and is this an administrator?\n",
                CHIMNEY_IM_USER_PATH, GetLastError());
        return 1;
    }
    if (argc > 1 && !strcmp(argv[1], "reset")) {
        if (!DeviceIoControl(h, CHIMNEY_IM_RESET, NULL, 0, NULL, 0, &got,
                             NULL)) {
            fprintf(stderr, "chimney-im-stat: reset failed (error %lu)\n",
                    GetLastError());
            return 1;
        }
        return 0;
    }
    if (!DeviceIoControl(h, CHIMNEY_IM_GET_COUNTERS, NULL, 0, &c, sizeof(c),
                         &got, NULL) || got != sizeof(c)) {
        fprintf(stderr, "chimney-im-stat: no counters (error %lu)\n",
                GetLastError());
        return 1;
    }
    if (machine) {
        print_machine(&c);
        CloseHandle(h);
        return 0;
    }
    printf("ProtocolTcpOffloadSendComplete calls  %llu\n",
           c.send_complete_calls);
    printf("  NBLs completed                      %llu\n",
           c.send_complete_nbls);
    printf("  SUCCESS                             %llu\n", c.send_success);
    printf("  UPLOAD_IN_PROGRESS                  %llu\n",
           c.send_upload_in_progress);
    printf("  REQUEST_ABORTED                     %llu\n",
           c.send_request_aborted);
    printf("  other status                        %llu\n",
           c.send_other_status);
    printf("  bytes (TcpOffloadBytesTransferred)  %llu\n", c.send_bytes);
    printf("send NBLs passed down                 %llu\n", c.sends);
    printf("receive NBLs completed                %llu\n",
           c.receive_complete_nbls);
    printf("receive indications                   %llu\n",
           c.receive_indications);
    printf("disconnect NBLs completed             %llu\n",
           c.disconnect_complete_nbls);
    printf("forward NBLs completed                %llu\n",
           c.forward_complete_nbls);
    printf("connection events                     %llu\n", c.events);
    printf("connections offloaded                 %llu\n", c.offloads);
    printf("offloads failed                       %llu\n", c.offload_failures);
    printf("connections terminated                %llu\n", c.terminates);
    printf("completions after the adapter halted  %llu\n", c.after_halt);
    CloseHandle(h);
    return 0;
}
