/*
 * chimney-nic: interrupt delivery and the fatal latch
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_IRQ_H
#define HW_NET_CHIMNEY_IRQ_H

typedef struct ChimneyState ChimneyState;

/* Signal completion queue @cqid: its MSI-X vector, or its INTx cause bit */
void chimney_irq_notify(ChimneyState *s, uint32_t cqid, uint32_t vector);
/* An interrupt that is lost on purpose still shows in the MSI-X PBA */
void chimney_irq_mark_pending(ChimneyState *s, uint32_t vector);
/* Recompute the INTx level from the cause and mask registers */
void chimney_irq_update_intx(ChimneyState *s);
/* Stop the device until it is disabled or reset, and tell the driver */
void chimney_fatal(ChimneyState *s, uint32_t code, uint32_t info);

#endif /* HW_NET_CHIMNEY_IRQ_H */
