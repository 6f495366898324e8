/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Transport-independent part of the ivshmem v2 device: accessors and the
 * register interface dispatched to the transport.
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>

#include "ivshm_transport.h"
#include "ivshm_log.h"

RTE_LOG_REGISTER(ivshm_logtype, vmlink.ivshm, NOTICE);

struct ivshm_map *
ivshm_map_get(struct ivshm_map *map)
{
	__atomic_add_fetch(&map->refcnt, 1, __ATOMIC_RELAXED);
	return map;
}

void
ivshm_map_put(struct ivshm_map *map)
{
	if (map == NULL)
		return;
	if (__atomic_sub_fetch(&map->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (map->base != NULL)
		munmap(map->base, map->len);
	if (map->state_rw != NULL)
		munmap(map->state_rw, map->state_rw_len);
	free(map);
}

const struct ivshm_info *
ivshm_dev_info(const struct ivshm_dev *dev)
{
	return &dev->info;
}

const volatile uint32_t *
ivshm_state_table(const struct ivshm_dev *dev)
{
	return dev->state_table;
}

void *
ivshm_rw_section(const struct ivshm_dev *dev)
{
	return dev->rw;
}

void *
ivshm_own_section(const struct ivshm_dev *dev)
{
	return dev->own;
}

const void *
ivshm_peer_section(const struct ivshm_dev *dev, uint32_t id)
{
	if (id >= dev->info.max_peers || dev->info.output_section_size == 0)
		return NULL;
	return dev->outs + (uint64_t)id * dev->info.output_section_size;
}

uint32_t
ivshm_peer_state(const struct ivshm_dev *dev, uint32_t id)
{
	if (id >= dev->info.max_peers)
		return 0;
	return __atomic_load_n(&dev->state_table[id], __ATOMIC_ACQUIRE);
}

uint32_t
ivshm_reg_read(struct ivshm_dev *dev, uint32_t reg)
{
	return dev->ops->reg_read(dev, reg);
}

void
ivshm_reg_write(struct ivshm_dev *dev, uint32_t reg, uint32_t val)
{
	dev->ops->reg_write(dev, reg, val);
}

void
ivshm_set_oneshot(struct ivshm_dev *dev, bool on)
{
	dev->ops->set_oneshot(dev, on);
}

int
ivshm_vector_fd(const struct ivshm_dev *dev, uint32_t vector)
{
	if (vector >= dev->info.vectors)
		return -1;
	return dev->vec_fd[vector];
}

int
ivshm_vector_ack(struct ivshm_dev *dev, uint32_t vector)
{
	if (vector >= dev->info.vectors)
		return -EINVAL;
	return dev->ops->vector_ack(dev, vector);
}

void
ivshm_vector_raise_local(struct ivshm_dev *dev, uint32_t vector)
{
	uint64_t one = 1;

	if (vector >= dev->info.vectors)
		return;
	if (write(dev->vec_fd[vector], &one, sizeof(one)) < 0)
		IVSHM_LOG(DEBUG, "raise vector %u: %d", vector, errno);
}

int
ivshm_dev_ctrl_fd(const struct ivshm_dev *dev)
{
	return dev->ctrl_fd;
}

unsigned int
ivshm_dev_process(struct ivshm_dev *dev)
{
	return dev->ops->process(dev);
}

bool
ivshm_peer_present(const struct ivshm_dev *dev, uint32_t id)
{
	if (id >= dev->info.max_peers)
		return false;
	return dev->ops->peer_present(dev, id);
}

uint32_t
ivshm_peer_generation(const struct ivshm_dev *dev, uint32_t id)
{
	if (id >= dev->info.max_peers)
		return 0;
	return __atomic_load_n(&dev->peer_gen[id], __ATOMIC_ACQUIRE);
}

void
ivshm_dev_stats_get(const struct ivshm_dev *dev, struct ivshm_dev_stats *st)
{
	st->msgs = __atomic_load_n(&dev->stats.msgs, __ATOMIC_RELAXED);
	st->bad_msgs = __atomic_load_n(&dev->stats.bad_msgs, __ATOMIC_RELAXED);
	st->peers_up = __atomic_load_n(&dev->stats.peers_up, __ATOMIC_RELAXED);
	st->peers_gone = __atomic_load_n(&dev->stats.peers_gone,
		__ATOMIC_RELAXED);
	st->doorbells = __atomic_load_n(&dev->stats.doorbells,
		__ATOMIC_RELAXED);
	st->doorbells_absent = __atomic_load_n(&dev->stats.doorbells_absent,
		__ATOMIC_RELAXED);
	st->irqs_delivered = __atomic_load_n(&dev->stats.irqs_delivered,
		__ATOMIC_RELAXED);
	st->irqs_masked = __atomic_load_n(&dev->stats.irqs_masked,
		__ATOMIC_RELAXED);
}

void
ivshm_dev_close(struct ivshm_dev *dev)
{
	if (dev == NULL)
		return;
	dev->ops->close(dev);
}
