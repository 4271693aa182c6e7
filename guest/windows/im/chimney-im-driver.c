/*
 * chimney-im: driver entry, the two registrations and the counters device
 *
 * The miniport half registers as an intermediate driver, the protocol
 * half binds below it, NdisIMAssociateMiniport ties the two, and a
 * control device (\\.\ChimneyIm) hands the counters to
 * chimney-im-stat.exe.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-im.h"

NDIS_HANDLE chimney_im_miniport_driver;
NDIS_HANDLE chimney_im_protocol;
ChimneyImCounters chimney_im_counters;

static NDIS_HANDLE chimney_im_device;
static PDRIVER_DISPATCH chimney_im_dispatch_table[IRP_MJ_MAXIMUM_FUNCTION + 1];

static NTSTATUS chimney_im_complete_irp(PIRP irp, NTSTATUS status,
                                        ULONG_PTR info)
{
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = info;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return status;
}

/* Open and close always work; the device only answers two requests */
static NTSTATUS chimney_im_dispatch(PDEVICE_OBJECT dev, PIRP irp)
{
    PIO_STACK_LOCATION sp = IoGetCurrentIrpStackLocation(irp);
    ULONG code, out_len;

    if (sp->MajorFunction != IRP_MJ_DEVICE_CONTROL) {
        return chimney_im_complete_irp(irp, STATUS_SUCCESS, 0);
    }
    code = sp->Parameters.DeviceIoControl.IoControlCode;
    out_len = sp->Parameters.DeviceIoControl.OutputBufferLength;
    switch (code) {
    case CHIMNEY_IM_GET_COUNTERS: {
        ChimneyImCounters *out = irp->AssociatedIrp.SystemBuffer;
        ChimneyImCounter *src = (ChimneyImCounter *)&chimney_im_counters;
        ULONG n = sizeof(ChimneyImCounters) / sizeof(LONG64);

        if (out_len < sizeof(*out)) {
            return chimney_im_complete_irp(irp, STATUS_BUFFER_TOO_SMALL, 0);
        }
        for (ULONG i = 0; i < n; i++) {
            ((LONG64 *)out)[i] = InterlockedCompareExchange64(&src[i], 0, 0);
        }
        return chimney_im_complete_irp(irp, STATUS_SUCCESS, sizeof(*out));
    }
    case CHIMNEY_IM_RESET: {
        ChimneyImCounter *c = (ChimneyImCounter *)&chimney_im_counters;

        for (ULONG i = 0; i < sizeof(chimney_im_counters) / sizeof(*c); i++) {
            InterlockedExchange64(&c[i], 0);
        }
        return chimney_im_complete_irp(irp, STATUS_SUCCESS, 0);
    }
    default:
        return chimney_im_complete_irp(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}

static VOID chimney_im_register_device(VOID)
{
    static UNICODE_STRING name = RTL_CONSTANT_STRING(CHIMNEY_IM_DEVICE);
    static UNICODE_STRING link = RTL_CONSTANT_STRING(CHIMNEY_IM_LINK);
    /* SYSTEM and administrators only */
    static UNICODE_STRING sddl =
        RTL_CONSTANT_STRING(L"D:P(A;;GA;;;SY)(A;;GA;;;BA)");
    NDIS_DEVICE_OBJECT_ATTRIBUTES attrs = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
            .Revision = NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
            .Size = sizeof(attrs),
        },
        .DeviceName = &name,
        .SymbolicName = &link,
        .MajorFunctions = chimney_im_dispatch_table,
        .DefaultSDDLString = &sddl,
    };
    PDEVICE_OBJECT dev;

    chimney_im_dispatch_table[IRP_MJ_CREATE] = chimney_im_dispatch;
    chimney_im_dispatch_table[IRP_MJ_CLEANUP] = chimney_im_dispatch;
    chimney_im_dispatch_table[IRP_MJ_CLOSE] = chimney_im_dispatch;
    chimney_im_dispatch_table[IRP_MJ_DEVICE_CONTROL] = chimney_im_dispatch;
    if (NdisRegisterDeviceEx(chimney_im_miniport_driver, &attrs, &dev,
                             &chimney_im_device) != NDIS_STATUS_SUCCESS) {
        DbgPrint("chimney-im: no control device; counters unreadable\n");
        chimney_im_device = NULL;
    }
}

static VOID chimney_im_unload(PDRIVER_OBJECT driver)
{
    if (chimney_im_device) {
        NdisDeregisterDeviceEx(chimney_im_device);
    }
    NdisDeregisterProtocolDriver(chimney_im_protocol);
    NdisMDeregisterMiniportDriver(chimney_im_miniport_driver);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registry)
{
    NDIS_STATUS st;

    chimney_im_miniport_chars.UnloadHandler = chimney_im_unload;
    st = NdisMRegisterMiniportDriver(driver, registry, NULL,
                                     &chimney_im_miniport_chars,
                                     &chimney_im_miniport_driver);
    if (st != NDIS_STATUS_SUCCESS) {
        return st;
    }
    st = NdisRegisterProtocolDriver(NULL, &chimney_im_protocol_chars,
                                    &chimney_im_protocol);
    if (st == NDIS_STATUS_SUCCESS) {
        /* VOID: nothing to check, nothing that can fail */
        NdisIMAssociateMiniport(chimney_im_miniport_driver,
                                chimney_im_protocol);
    }
    if (st != NDIS_STATUS_SUCCESS) {
        NdisMDeregisterMiniportDriver(chimney_im_miniport_driver);
        return st;
    }
    chimney_im_register_device();
    return STATUS_SUCCESS;
}
