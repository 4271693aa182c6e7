/*
 * chimney-nic: interrupt delivery and the fatal latch
 *
 * The one place that touches MSI-X and INTx state: the queue layer
 * signals its completion queues through here, and so does fault
 * injection when it delays or drops an interrupt.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "hw/pci/msix.h"
#include "hw/net/chimney/chimney.h"
#include "trace.h"

void chimney_irq_update_intx(ChimneyState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = !msix_enabled(pdev) && (s->intr_cause & ~s->intr_mask);

    pci_set_irq(pdev, level);
}

void chimney_irq_notify(ChimneyState *s, uint32_t cqid, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    trace_chimney_cq_irq(cqid, vector, msix_enabled(pdev));
    if (msix_enabled(pdev)) {
        msix_notify(pdev, vector);
    } else {
        s->intr_cause |= 1u << cqid;
        chimney_irq_update_intx(s);
    }
}

void chimney_irq_mark_pending(ChimneyState *s, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (msix_enabled(pdev)) {
        msix_set_pending(pdev, vector);
    }
}

void chimney_fatal(ChimneyState *s, uint32_t code, uint32_t info)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (s->status & CHIMNEY_STATUS_FATAL) {
        return;
    }
    CHIMNEY_GUEST_ERR(chimney_err_fatal, "fatal error %" PRIu32 " (info 0x%"
                      PRIx32 "); the device stops until disabled or reset",
                      code, info);
    s->status |= CHIMNEY_STATUS_FATAL;
    s->fatal_code = code;
    s->fatal_info = info;
    /* Tell the driver on the admin vector. */
    if (msix_enabled(pdev)) {
        msix_notify(pdev, s->cq[CHIMNEY_ADMIN_CQ_ID].vector);
    } else {
        s->intr_cause |= 1u << CHIMNEY_ADMIN_CQ_ID;
        chimney_irq_update_intx(s);
    }
}
