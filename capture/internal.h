/*
 * internal.h - private to capture/: what live.c uses of the capture context
 * that capture.c owns.  The packet path is the one replay uses, so a live
 * capture and a replay of the same packets produce the same flow events.
 * All of it runs on the capture thread.
 */
#ifndef EW_CAPTURE_INTERNAL_H
#define EW_CAPTURE_INTERNAL_H

#include <pcap/pcap.h>
#include <stdint.h>
#include "capture.h"

/*
 * Take a free interface index (one released earlier, or a new one) for
 * `name`.  Live interfaces come and go with random names for the life of the
 * agent, so indices are reused rather than looked up by name as replay does.
 * Returns the index or -ENOSPC when MAX_IFACES are in use.
 */
int capture_iface_acquire(struct capture *c, const char *name);
/* Events of the interface's flows carry `name` from now on. */
void capture_iface_rename(struct capture *c, uint32_t idx, const char *name);
/* Give the index back.  Call only once every flow on it has ended. */
void capture_iface_release(struct capture *c, uint32_t idx);

/* Decode one frame of link type `dlt` and account it to interface `iface`
 * at kernel time `ts_ns`: exactly what replay does with each record. */
void capture_packet(struct capture *c, int dlt, uint32_t iface,
		    const struct pcap_pkthdr *h, const uint8_t *data,
		    uint64_t ts_ns);

/* Advance the flow table's clock to `now_ns` (never backwards), ending idle
 * flows, when no packet does it. */
void capture_clock(struct capture *c, uint64_t now_ns);

/* The wall clock was stepped by `delta_ns`: move the flow table's clock and
 * timers with it (flow_table_rebase). */
void capture_rebase(struct capture *c, int64_t delta_ns);

/* End every flow of interface `iface` with `reason`. */
void capture_flush_iface(struct capture *c, uint32_t iface,
			 enum flow_end_reason reason);

#endif
