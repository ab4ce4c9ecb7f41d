/*
 * flow.h - private to capture/: the bidirectional flow table.
 *
 * Flows are keyed by the normalized 5-tuple plus interface, VLAN and tunnel
 * depth.  The table is a fixed pool of `max_flows` entries allocated once (and
 * touched only as it fills), chained through 32-bit indices from a bucket
 * array hashed with SipHash under a random key, so inserting, finding and
 * expiring never allocate and an attacker cannot aim packets at one bucket.
 * Entries sit on per-state LRU lists, which makes idle expiry a walk from the
 * head of each list that stops at the first flow still in time.
 *
 * Events (NEW, UPDATE, END) go to the emit callback of capture_config, on the
 * caller's thread, with `ifname` left empty: capture.c fills it in.
 */
#ifndef EW_CAPTURE_FLOW_H
#define EW_CAPTURE_FLOW_H

#include <stdint.h>
#include "capture.h"
#include "decode.h"

struct flow_table;

/* NULL with a reason in `err` on failure (bad config, ENOMEM). */
struct flow_table *flow_table_create(const struct capture_config *cfg,
				     char *err, size_t errlen);
void flow_table_destroy(struct flow_table *ft);

/* Account one packet layer seen at `ts_ns` on `iface`. */
void flow_table_packet(struct flow_table *ft, const struct pkt_layer *pl,
		       uint16_t vlan, uint32_t iface, uint64_t ts_ns);

/* The arguments of one flow_table_packet() call. */
struct flow_input {
	const struct pkt_layer *pl;	/* borrowed for the call */
	uint16_t vlan;
	uint32_t iface;
	uint64_t ts_ns;
};

/*
 * Account `n` packet layers: the same as flow_table_packet() on each in
 * order (same state, same events in the same order), with the cache misses
 * of neighbouring packets overlapped (see flow.c).  Events are emitted during
 * the call; nothing else may run between two of the layers, so a caller that
 * must act between packets (advance the clock, parse a DNS answer) ends the
 * batch there.
 */
void flow_table_packets(struct flow_table *ft, const struct flow_input *in,
			size_t n);

/*
 * Move the table's clock to `now_ns`: end flows whose idle timeout has passed.
 * Costs O(1) when nothing expires; call it at least every 100 ms of clock.
 */
void flow_table_advance(struct flow_table *ft, uint64_t now_ns);

/*
 * The wall clock was stepped by `delta_ns` (live capture): move the clock and
 * every flow's timers (last packet, last event) with it, so that a step
 * neither freezes expiry and updates (back) nor ends every flow at once
 * (forward).  A flow's first_ns stays as it was first reported; an event
 * never reports a last packet before it.  O(active flows).
 */
void flow_table_rebase(struct flow_table *ft, int64_t delta_ns);

/* End every flow (on `iface` only, for the second form) with `reason`. */
void flow_table_flush(struct flow_table *ft, enum flow_end_reason reason);
void flow_table_flush_iface(struct flow_table *ft, uint32_t iface,
			    enum flow_end_reason reason);

void flow_table_stats(const struct flow_table *ft,
		      struct capture_flow_stats *out);

#endif
