/*
 * flowmemo.h - private to cli/: what the pipeline decided about each open
 * flow's attribution, so that every event of a flow is seen the same way.
 *
 * The attribution registry changes under running flows: a pod is deleted
 * and its interface and addresses leave the registry (the END events of its
 * flows may be handled after that), another pod takes the address, a new
 * veth is attributed a moment after its first packets.  Looking both ends up
 * afresh on each event would then turn a flow around between two of its
 * events (the store keeps the orientation of its first write, so sent and
 * received would swap) or hand a finished pod's flows to its successor.
 * Instead the pipeline decides at a flow's first event which end is local
 * and which workloads the two ends are (by registry id, never reused), and
 * keeps that: later events only fill in an end that was not known yet, and
 * follow the same workload's renames (an unnamed pod named later).
 *
 * One entry per open flow, keyed by flow id, dropped at its END event.  An
 * entry whose flow's END never arrived (a dropped event) goes when no event
 * touched it for two epochs of FLOWMEMO_EPOCH_NS of packet time, well beyond
 * the longest gap between two events of a live flow (the flow table's idle
 * timeouts: TCP 300 s).  Open addressing, doubling at half load; 32 bytes
 * per slot.  When memory runs out, get() returns NULL and the caller decides
 * without a memo (counted).  Pipeline thread only.
 *
 * It also keeps the last owner of each interface (flowmemo_owner below).
 */
#ifndef EW_CLI_FLOWMEMO_H
#define EW_CLI_FLOWMEMO_H

#include <stdint.h>
#include "capture.h"

#define FLOWMEMO_EPOCH_NS (900ull * 1000000000)	/* 15 min of packet time */
#define FLOWMEMO_MAX_SLOTS (1u << 26)
#define FLOWMEMO_OWNER_SLOTS 1024	/* interfaces whose owner is kept */
#define FLOWMEMO_OWNER_LINGER_NS (10ull * 1000000000) /* packet time */

struct flowmemo_entry {
	uint64_t flow_id;		/* 0: free slot */
	uint64_t local_id;		/* registry id, 0: not known (yet) */
	uint64_t remote_id;
	uint32_t epoch;			/* of its last event */
	uint8_t swapped;		/* the responder is the local side */
};

struct flowmemo_stats {
	uint64_t entries, slots;	/* now */
	uint64_t inserted, deleted, expired, full;
	uint64_t owners_used;		/* events given a forgotten owner */
};

/*
 * The last owner the registry gave an interface, with that workload's
 * addresses.  When a pod is deleted, the registry forgets it at the
 * link-event rescan, but the capture ends the flows of its veth only after
 * the kernel handed over the last packets (a ring block timeout later), and
 * some of those flows are new then: for FLOWMEMO_OWNER_LINGER_NS after the
 * registry stopped knowing an interface, its events still find the owner
 * here (and which of their addresses were the owner's).
 */
struct flowmemo_owner {
	char ifname[CAPTURE_IFNAME_MAX];	/* "": free slot */
	struct attrib_ref ref;
	uint64_t missing_ns;		/* packet time the registry first did
					   not know it; 0: it does */
	uint8_t n_ips;
	uint8_t ips[ATTRIB_MAX_IPS][16];
};

struct flowmemo;

/* NULL when out of memory. */
struct flowmemo *flowmemo_open(void);
void flowmemo_close(struct flowmemo *m);
/*
 * The entry of flow `id` (> 0), created zeroed when absent (*fresh = 1).
 * `ts_ns` is the event's packet time, the memo's clock.  The pointer is
 * valid until the next call.  NULL when the table is full or out of memory.
 */
struct flowmemo_entry *flowmemo_get(struct flowmemo *m, uint64_t id,
				    uint64_t ts_ns, int *fresh);
void flowmemo_del(struct flowmemo *m, uint64_t id);

/* The registry says `ref` owns `ifname`: remember it (and, when the owner or
 * its version changed, its addresses, read from `a`). */
void flowmemo_owner_seen(struct flowmemo *m, struct attrib *a,
			 const char *ifname, const struct attrib_ref *ref);
/* The registry does not know `ifname` at packet time `ts_ns`: the owner it
 * had until less than FLOWMEMO_OWNER_LINGER_NS before, or NULL.  Valid
 * until the next call. */
const struct flowmemo_owner *flowmemo_owner_gone(struct flowmemo *m,
						 const char *ifname,
						 uint64_t ts_ns);
/* Is `ip` one of the owner's addresses? */
int flowmemo_owner_has_ip(const struct flowmemo_owner *o, const uint8_t ip[16]);
void flowmemo_get_stats(const struct flowmemo *m, struct flowmemo_stats *out);

#endif
