/*
 * chimney-nic: libFuzzer targets for the device's host-side inputs
 *
 *   chimney-fault-rules  the input is the text of the "x-fault-rules"
 *       property, set as qom-set would set it (chimney_fault_parse and the
 *       rule replacement), then a fixed rule set replaces it again.
 *   chimney-vmstate  the input is the device's migration state (the fields
 *       of its VMStateDescription as vmstate_save_state writes them, no
 *       section header), loaded into a brought-up device: pre_load,
 *       post_load, the subsections, then the main loop runs on the state.
 *       With CHIMNEY_FUZZ_VMSTATE_SEED=FILE the target first writes the
 *       state of its brought-up device to FILE, a seed for the corpus.
 *
 * The device's guest-visible inputs (BAR0, MSI-X, DMA) are fuzzed by the
 * generic-fuzz-chimney-nic configs of generic_fuzz_configs.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/qdev-core.h"
#include "hw/pci/pci_device.h"
#include "io/channel-buffer.h"
#include "migration/vmstate.h"
#include "../migration/qemu-file.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/pci-pc.h"
#include "tests/qtest/libqos/malloc-pc.h"
#include "hw/net/chimney/chimney-abi.h"
#include "fuzz.h"

#define CHIMNEY_FUZZ_ARGS TARGET_NAME " -machine q35,accel=qtest " \
    "-display none -nodefaults -m 512M " \
    "-device chimney-nic,netdev=net0 -netdev user,id=net0"

static Object *chimney_dev;

static GString *chimney_fuzz_cmdline(FuzzTarget *t)
{
    return g_string_new(CHIMNEY_FUZZ_ARGS);
}

static Object *chimney_find(void)
{
    Object *o = object_resolve_path_type("", "chimney-nic", NULL);

    g_assert(o);
    return o;
}

/* --- fault rules --- */

static void chimney_rules_pre_fuzz(QTestState *s)
{
    chimney_dev = chimney_find();
}

static void chimney_rules_fuzz(QTestState *s, const unsigned char *data,
                               size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    Error *err = NULL;

    object_property_set_str(chimney_dev, "x-fault-rules", text, &err);
    error_free(err);
    err = NULL;
    object_property_set_str(chimney_dev, "x-fault-rules",
                            "type=send delay=1ms", &err);
    error_free(err);
    flush_events(s);
}

/* --- migration state --- */

/*
 * The bring-up a driver does, by hand: libqos' driver waits with
 * clock_step, which does not run the device's bottom half in-process.
 */
static void chimney_admin_cmd(QTestState *s, QPCIDevice *d, QPCIBar bar,
                              uint32_t *tail, ChimneyAdminCmd *cmd)
{
    qtest_memwrite(s, 0x100000 + *tail * CHIMNEY_ADMIN_CMD_SIZE, cmd,
                   sizeof(*cmd));
    *tail += 1;
    qpci_io_writel(d, bar, CHIMNEY_DB_ASQ_TAIL, *tail);
    flush_events(s);
}

static void chimney_bring_up(QTestState *s)
{
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *d;
    QPCIBar bar;
    uint32_t tail = 0;
    ChimneyAdminCmd cmd;
    ChimneyL2RxDesc rx = {
        .addr = cpu_to_le64(0x120000), .len = cpu_to_le32(2048),
    };

    pc_alloc_init(&alloc, s, ALLOC_NO_FLAGS);
    bus = qpci_new_pc(s, &alloc);
    d = qpci_device_find(bus, QPCI_DEVFN(1, 0));
    g_assert(d);
    bar = qpci_iomap(d, CHIMNEY_BAR_MMIO, NULL);
    qpci_device_enable(d);
    qpci_io_writel(d, bar, CHIMNEY_REG_ASQ_BASE_LO, 0x100000);
    qpci_io_writel(d, bar, CHIMNEY_REG_ASQ_SIZE, 16);
    qpci_io_writel(d, bar, CHIMNEY_REG_ACQ_BASE_LO, 0x101000);
    qpci_io_writel(d, bar, CHIMNEY_REG_ACQ_SIZE, 16);
    qpci_io_writel(d, bar, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_ENABLE);
    flush_events(s);
    g_assert(qpci_io_readl(d, bar, CHIMNEY_REG_STATUS) &
             CHIMNEY_STATUS_READY);

    cmd = (ChimneyAdminCmd) { .opcode = CHIMNEY_CMD_SET_PARAMS };
    cmd.param[CHIMNEY_PARAM_TICKS_PER_SECOND] = cpu_to_le32(100);
    cmd.param[CHIMNEY_PARAM_ACK_FREQUENCY] = cpu_to_le32(2);
    cmd.param[CHIMNEY_PARAM_MAX_RETRANSMIT] = cpu_to_le32(5);
    cmd.param[CHIMNEY_PARAM_DOUBT_REACH] = cpu_to_le32(3);
    cmd.param[CHIMNEY_PARAM_DUP_ACK_THRESH] = cpu_to_le32(3);
    chimney_admin_cmd(s, d, bar, &tail, &cmd);
    cmd = (ChimneyAdminCmd) {
        .opcode = CHIMNEY_CMD_CREATE_CQ, .id = cpu_to_le32(1),
        .addr = cpu_to_le64(0x104000), .len = cpu_to_le32(64),
    };
    chimney_admin_cmd(s, d, bar, &tail, &cmd);
    for (uint32_t q = CHIMNEY_QUEUE_L2_TX; q <= CHIMNEY_QUEUE_L2_RX; q++) {
        cmd = (ChimneyAdminCmd) {
            .opcode = CHIMNEY_CMD_CREATE_L2Q, .id = cpu_to_le32(q),
            .addr = cpu_to_le64(0x105000 + 0x1000 * (q - 1)),
            .len = cpu_to_le32(64),
        };
        cmd.param[CHIMNEY_L2Q_PARAM_CQ] = cpu_to_le32(1);
        chimney_admin_cmd(s, d, bar, &tail, &cmd);
    }
    for (int i = 0; i < 8; i++) {
        qtest_memwrite(s, 0x106000 + i * sizeof(rx), &rx, sizeof(rx));
    }
    qpci_io_writel(d, bar, CHIMNEY_DB_L2_RXQ_TAIL, 8);
    flush_events(s);
    g_free(d);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
}

static void chimney_vmstate_pre_fuzz(QTestState *s)
{
    const char *seed = getenv("CHIMNEY_FUZZ_VMSTATE_SEED");

    chimney_dev = chimney_find();
    /* A device brought up as a driver does: the state worth mutating */
    chimney_bring_up(s);
    if (seed) {
        const VMStateDescription *vmsd = DEVICE_GET_CLASS(chimney_dev)->vmsd;
        QIOChannelBuffer *bioc = qio_channel_buffer_new(4096);
        QEMUFile *f = qemu_file_new_output(QIO_CHANNEL(bioc));

        g_assert(vmstate_save_state(f, vmsd, chimney_dev, NULL) == 0);
        qemu_fflush(f);
        g_assert(g_file_set_contents(seed, (const char *)bioc->data,
                                     bioc->usage, NULL));
        qemu_fclose(f);
        object_unref(OBJECT(bioc));
    }
    /* The guest memory (rings, buffers) stays; the device state is input */
}

static void chimney_vmstate_fuzz(QTestState *s, const unsigned char *data,
                                 size_t size)
{
    const VMStateDescription *vmsd = DEVICE_GET_CLASS(chimney_dev)->vmsd;
    QIOChannelBuffer *bioc = qio_channel_buffer_new(size);
    QEMUFile *f;
    bool loaded, intx;

    memcpy(bioc->data, data, size);
    bioc->usage = size;
    f = qemu_file_new_input(QIO_CHANNEL(bioc));
    /*
     * The stream's INTx state bypasses the bus's count, which only the
     * bus's own post_load derives again (it is not loaded here): lower
     * the line before, and raise it through the bus after
     */
    pci_device_deassert_intx(PCI_DEVICE(chimney_dev));
    loaded = vmstate_load_state(f, vmsd, chimney_dev, vmsd->version_id) == 0;
    intx = PCI_DEVICE(chimney_dev)->irq_state & 1;   /* its pin A */
    PCI_DEVICE(chimney_dev)->irq_state = 0;
    if (intx) {
        pci_set_irq(PCI_DEVICE(chimney_dev), 1);
    }
    if (loaded) {
        /* Loaded: let the device act on it, as on the destination */
        flush_events(s);
        for (int i = 0; i < 4; i++) {
            qtest_clock_step_next(s);
            flush_events(s);
        }
    }
    qemu_fclose(f);
    object_unref(OBJECT(bioc));
    fuzz_reset(s);
}

static void register_chimney_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "chimney-fault-rules",
        .description = "chimney-nic: the x-fault-rules text (qom-set)",
        .get_init_cmdline = chimney_fuzz_cmdline,
        .pre_fuzz = chimney_rules_pre_fuzz,
        .fuzz = chimney_rules_fuzz,
    });
    fuzz_add_target(&(FuzzTarget){
        .name = "chimney-vmstate",
        .description = "chimney-nic: a migration state loaded (post_load)",
        .get_init_cmdline = chimney_fuzz_cmdline,
        .pre_fuzz = chimney_vmstate_pre_fuzz,
        .fuzz = chimney_vmstate_fuzz,
    });
}

fuzz_target_init(register_chimney_fuzz_targets);
