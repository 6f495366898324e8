/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * net_vmlink_vhost's private API: what a vhost-user port can do beyond
 * ethdev, by ethdev port id, as DPDK's rte_pmd_<driver>.h headers do.
 * Primary process only.
 *
 * Suspend (sleep) and resume (wake) a port's device without losing a
 * frame: while suspended no queue runs. Nothing is taken from the guest's
 * TX ring (what it queues waits there, and is taken after resume) and
 * nothing is put in its RX ring (tx bursts return 0: an application that
 * keeps sending should stop sending to the port instead). The link goes
 * down, and the state survives front-end reconnects. Unlike
 * rte_eth_dev_stop(), the device keeps its rings where they are and the
 * application keeps the port configured and started.
 */

#ifndef RTE_PMD_VMLINK_VHOST_H
#define RTE_PMD_VMLINK_VHOST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Suspend the device of @p port_id. Idempotent.
 * Returns the number of zero-copy buffers the application still holds
 * (they go back to the guest as they are freed; >= 0), -ENODEV for an
 * invalid port, -ENOTSUP for a port of another driver, or
 * -E_RTE_SECONDARY.
 */
int rte_pmd_vmlink_vhost_suspend(uint16_t port_id);

/**
 * Resume the device of @p port_id: its queues continue exactly where they
 * stopped. Idempotent. Returns 0, or an error as above.
 */
int rte_pmd_vmlink_vhost_resume(uint16_t port_id);

/**
 * 1 while the device of @p port_id is suspended, 0 if not, or an error as
 * above (which also tells whether a port is net_vmlink_vhost's).
 */
int rte_pmd_vmlink_vhost_suspended(uint16_t port_id);

#ifdef __cplusplus
}
#endif

#endif /* RTE_PMD_VMLINK_VHOST_H */
