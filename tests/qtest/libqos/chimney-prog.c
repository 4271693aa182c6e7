/*
 * libqos chimney-nic programs: what the programs on the qtest libraries
 * share
 *
 * See chimney-prog.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "chimney.h"
#include "chimney-prog.h"

/* libqtest's g_test_message()s ("starting QEMU: ...") are not ours */
static void prog_drop_print(const gchar *string)
{
}

void qchimney_prog_init(const char *argv0)
{
    g_autofree char *dir = g_path_get_dirname(argv0);
    g_autofree char *qemu = g_build_filename(dir, "..", "..",
                                             "qemu-system-x86_64", NULL);
    g_autofree char *name = g_path_get_basename(argv0);

    g_set_prgname(name);        /* qchimney_usage names the program */
    g_set_print_handler(prog_drop_print);
    if (g_getenv("QTEST_QEMU_BINARY")) {
        return;
    }
    if (!g_file_test(qemu, G_FILE_TEST_IS_EXECUTABLE)) {
        fprintf(stderr, "%s: no QEMU: set QTEST_QEMU_BINARY to a "
                "qemu-system-x86_64 with chimney-nic\n", g_get_prgname());
        exit(1);
    }
    g_setenv("QTEST_QEMU_BINARY", qemu, true);
}

void qchimney_usage(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "%s: %s (see --help)\n", g_get_prgname(), msg);
    exit(2);
}

const char *qchimney_status_name(unsigned st)
{
    static const char *const names[] = {
        [CHIMNEY_ST_SUCCESS] = "SUCCESS",
        [CHIMNEY_ST_INVALID_OPCODE] = "INVALID_OPCODE",
        [CHIMNEY_ST_INVALID_PARAM] = "INVALID_PARAM",
        [CHIMNEY_ST_INVALID_ID] = "INVALID_ID",
        [CHIMNEY_ST_IN_USE] = "IN_USE",
        [CHIMNEY_ST_DMA_ERROR] = "DMA_ERROR",
        [CHIMNEY_ST_BAD_DESCRIPTOR] = "BAD_DESCRIPTOR",
        [CHIMNEY_ST_NO_RESOURCES] = "NO_RESOURCES",
        [CHIMNEY_ST_INVALID_STATE] = "INVALID_STATE",
        [CHIMNEY_ST_STALE_GENERATION] = "STALE_GENERATION",
        [CHIMNEY_ST_REQUEST_ABORTED] = "REQUEST_ABORTED",
        [CHIMNEY_ST_UPLOAD_IN_PROGRESS] = "UPLOAD_IN_PROGRESS",
    };

    return st < ARRAY_SIZE(names) && names[st] ? names[st] : "unknown";
}
