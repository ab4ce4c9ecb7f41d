/*
 * conntrack.h - where a connection really went: the kernel's connection
 * tracking table, asked over ctnetlink, for the destination a DNAT rule gave
 * a connection (a Kubernetes Service's ClusterIP or node port rewritten by
 * kube-proxy to one of its pods, a Docker published port, any other DNAT).
 *
 * A container's veth sees a connection to a Service before the host
 * translates it: the remote address is the Service's virtual IP, which no
 * pod owns, so the flow would name no remote workload and a NetworkPolicy
 * that allows the Service's pods could not match it.  The conntrack entry of
 * the connection, made when its first packet went through the host's
 * netfilter hooks (right after the capture saw it on the veth), says where
 * it was sent: the source of its reply tuple.
 *
 * One query is one netlink round trip on a socket of our own, bounded by
 * CT_TIMEOUT_MS, in the network namespace the agent runs in (the node's, for
 * a DaemonSet with hostNetwork).  The kernel asks for CAP_NET_ADMIN, which
 * the agent keeps.  Not thread-safe: one caller (the pipeline thread).
 */
#ifndef EW_CAPTURE_CONNTRACK_H
#define EW_CAPTURE_CONNTRACK_H

#include <stdint.h>

#define CT_TIMEOUT_MS 50

struct conntrack;

struct conntrack_stats {
	uint64_t queries;
	uint64_t translated;	/* the destination had been rewritten */
	uint64_t untranslated;	/* an entry, and the destination as sent */
	uint64_t not_found;	/* no entry (not tracked, or gone already) */
	uint64_t errors;	/* anything else: no reply in time, refused */
	uint64_t skipped;	/* not asked: paused after failures (.c) */
};

/* 0 with *out set, or -errno (the socket could not be made). */
int conntrack_open(struct conntrack **out);
void conntrack_close(struct conntrack *ct);

/*
 * The connection proto (6 TCP, 17 UDP, 132 SCTP) from src:sport to
 * dst:dport, as its first packet had it (addresses IPv4-mapped when
 * `family` is 4).  Returns 1 with *to and *to_port set to where it was
 * really sent when the destination was rewritten, 0 when it was not (or
 * there is no entry, or the protocol has no ports), -errno on a failure.
 */
int conntrack_dnat(struct conntrack *ct, int family, uint8_t proto,
		   const uint8_t src[16], uint16_t sport,
		   const uint8_t dst[16], uint16_t dport,
		   uint8_t to[16], uint16_t *to_port);

void conntrack_get_stats(const struct conntrack *ct, struct conntrack_stats *out);

#endif
