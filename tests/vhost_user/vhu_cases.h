/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test cases, one per line: meson.build reads this list and registers
 * one test per case (and one per case in the sanitizer suite).
 */

#ifndef VMLINK_TEST_VHU_CASES_H
#define VMLINK_TEST_VHU_CASES_H

#define VHU_CASES(X) \
	X(handshake) \
	X(offload_dequeue) \
	X(offload_enqueue) \
	X(read_guest_memory) \
	X(ring_enable_protocol) \
	X(ring_enable_legacy) \
	X(get_vring_base) \
	X(nofd_polling) \
	X(migrate_log) \
	X(migrate_log_complete) \
	X(reconnect_server) \
	X(reconnect_client) \
	X(unknown_request) \
	X(signal_during_wait) \
	X(mq_two_pairs) \
	X(mem_slots) \
	X(mtu_rarp_status) \
	X(destroy_fd_leak) \
	X(tx_copy) \
	X(tx_chains) \
	X(rx_basic) \
	X(rx_mrg) \
	X(indirect_both) \
	X(event_idx) \
	X(no_interrupt) \
	X(region_crossing) \
	X(notify_enable) \
	X(legacy_header) \
	X(zc_used_after_free) \
	X(zc_log_replaced_disabled) \
	X(zc_budget) \
	X(zc_threshold) \
	X(zc_chain) \
	X(zc_memtable_wait) \
	X(zc_memtable_timeout) \
	X(zc_get_vring_base) \
	X(zc_disconnect) \
	X(zc_wakeup) \
	X(bad_vring_index) \
	X(payload_size) \
	X(extra_fds) \
	X(fd_replace_no_leak) \
	X(log_overflow) \
	X(region_fd_too_small) \
	X(region_overlap) \
	X(desc_loop) \
	X(addr_past_region) \
	X(zero_len_bad_addr) \
	X(hdr_split_3) \
	X(chain_short) \
	X(chain_too_long) \
	X(indirect_too_long) \
	X(indirect_nested) \
	X(indirect_misaligned) \
	X(indirect_span) \
	X(indirect_not_negotiated) \
	X(double_fetch) \
	X(csum_bad) \
	X(gso_type) \
	X(hdr_ignored_no_offload) \
	X(frame_too_long) \
	X(avail_idx_jump) \
	X(avail_idx_jump_rx) \
	X(head_index_oob) \
	X(next_index_oob) \
	X(tx_writable_desc) \
	X(rx_readonly_desc) \
	X(rx_addr_outside) \
	X(fault_restart) \
	X(reset_owner) \
	X(status_driver_ok) \
	X(reset_device) \
	X(config_space) \
	X(suspend_resume) \
	X(state_transfer) \
	X(state_hostile) \
	X(state_slow_peer) \
	X(hotplug_traffic) \
	X(hotplug_zc_held) \
	X(hotplug_509) \
	X(mem_shrunk) \
	X(log_rate_limit) \
	X(lifecycle_log) \
	X(base_reconcile) \
	X(base_ahead_of_used) \
	X(migrate_switch) \
	X(second_takes_over) \
	X(inflight_restart) \
	X(inflight_torn_batch) \
	X(inflight_bad_msgs) \
	X(inflight_bad_region) \
	X(inflight_resubmit_fault) \
	X(inflight_region_shrunk) \
	X(pk_inflight_restart) \
	X(pk_inflight_torn_batch) \
	X(pk_inflight_bad_region) \
	X(pk_inflight_laps) \
	X(pk_laps) \
	X(throughput) \
	X(pk_wrap) \
	X(pk_events) \
	X(pk_vring_base) \
	X(pk_migrate_log) \
	X(pk_zc_order) \
	X(pk_chain_loop) \
	X(pk_chain_too_long) \
	X(pk_addr_past_region) \
	X(pk_zero_len_bad_addr) \
	X(pk_hdr_split_3) \
	X(pk_chain_short) \
	X(pk_id_oob) \
	X(pk_indirect_too_long) \
	X(pk_indirect_nested) \
	X(pk_indirect_misaligned) \
	X(pk_indirect_span) \
	X(pk_indirect_flags) \
	X(pk_tx_writable_desc) \
	X(pk_tx_indirect_write_flag) \
	X(pk_rx_readonly_desc) \
	X(pk_rx_addr_outside) \
	X(pk_region_crossing) \
	X(pk_double_fetch) \
	X(pk_csum_bad) \
	X(pk_gso_type) \
	X(pk_hdr_ignored_no_offload) \

/* Cases that do not depend on the ring format: run again on packed rings
 * (test "vhu_<case>_packed", argument "packed"). */
#define VHU_PACKED_CASES(P) \
	P(handshake) \
	P(offload_dequeue) \
	P(offload_enqueue) \
	P(ring_enable_protocol) \
	P(nofd_polling) \
	P(reconnect_server) \
	P(reconnect_client) \
	P(mq_two_pairs) \
	P(mtu_rarp_status) \
	P(tx_copy) \
	P(rx_mrg) \
	P(indirect_both) \
	P(legacy_header) \
	P(zc_threshold) \
	P(zc_disconnect) \
	P(zc_wakeup) \
	P(mem_shrunk) \
	P(reset_owner) \
	P(status_driver_ok) \
	P(reset_device) \
	P(hotplug_traffic) \
	P(hotplug_zc_held) \
	P(hotplug_509) \
	P(migrate_log_complete) \

#define VHU_CASE_DECL(name) int case_ ## name(void);
VHU_CASES(VHU_CASE_DECL)

#endif /* VMLINK_TEST_VHU_CASES_H */
