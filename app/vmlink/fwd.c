/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include "fwd.h"

void
fwd_init(struct fwd_table *t, const struct vmlink_cfg *cfg)
{
	unsigned int i;

	for (i = 0; i < CFG_MAX_PORTS; i++)
		t->xconnect[i] = FWD_DROP;
	for (i = 0; i < cfg->n_ports; i++)
		if (cfg->port[i].peer >= 0)
			t->xconnect[i] = (uint16_t)cfg->port[i].peer;
}

uint32_t
fwd_reachable(const struct fwd_table *t, uint16_t in_port)
{
	uint16_t to = t->xconnect[in_port];

	return to == FWD_DROP ? 0 : UINT32_C(1) << to;
}
