/*
 * libqos qgraph node for chimney-nic
 *
 * The device as a driver node on a PCI bus that produces "pci-device",
 * so that qos-test runs the generic PCI device tests on it, as it does
 * for e1000e and igb.  The qtests of the device itself drive it through
 * the model driver (chimney.h) instead.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/module.h"
#include "qgraph.h"
#include "pci.h"
#include "hw/net/chimney/chimney-abi.h"

typedef struct QChimneyPci {
    QOSGraphObject obj;
    QPCIDevice dev;
} QChimneyPci;

static void *chimney_pci_get_driver(void *obj, const char *interface)
{
    QChimneyPci *d = obj;

    if (!g_strcmp0(interface, "pci-device")) {
        return &d->dev;
    }
    fprintf(stderr, "%s not present in chimney-nic\n", interface);
    g_assert_not_reached();
}

static void *chimney_pci_create(void *pci_bus, QGuestAllocator *alloc,
                                void *addr)
{
    QChimneyPci *d = g_new0(QChimneyPci, 1);

    qpci_device_init(&d->dev, pci_bus, addr);
    d->obj.get_driver = chimney_pci_get_driver;
    return &d->obj;
}

static void chimney_register_nodes(void)
{
    QOSGraphEdgeOptions opts = { 0 };

    add_qpci_address(&opts, &(QPCIAddress) {
        .devfn = QPCI_DEVFN(4, 0),
        .vendor_id = CHIMNEY_PCI_VENDOR_ID,
        .device_id = CHIMNEY_PCI_DEVICE_ID,
    });
    opts.extra_device_opts = "addr=04.0";
    qos_node_create_driver("chimney-nic", chimney_pci_create);
    qos_node_consumes("chimney-nic", "pci-bus", &opts);
    qos_node_produces("chimney-nic", "pci-device");
}

libqos_init(chimney_register_nodes);
