/*
 * libqos chimney-nic programs: what the programs on the qtest libraries
 * share
 *
 * chimney-demo and chimney-soak are programs, not tests: they find the
 * QEMU of their build, keep libqtest's messages to themselves, say what
 * is wrong with a command line and exit 2, and name completion statuses
 * in their reports.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_PROG_H
#define LIBQOS_CHIMNEY_PROG_H

/*
 * Without QTEST_QEMU_BINARY, the qemu-system-x86_64 of the build the
 * program @argv0 is in; libqtest's g_test_message()s are dropped.
 */
void qchimney_prog_init(const char *argv0);
/* "PROGRAM: MESSAGE (see --help)" on stderr, exit status 2 */
G_NORETURN G_GNUC_PRINTF(1, 2) void qchimney_usage(const char *fmt, ...);
/* The name of a completion status, CHIMNEY_ST_* */
const char *qchimney_status_name(unsigned st);

#endif /* LIBQOS_CHIMNEY_PROG_H */
