/*
 * capture.h - the capture module's whole public interface.
 *
 * The capture module turns packets into flow events.  It owns the packet
 * sources (capture files for replay; live interfaces come later), the decoder
 * and the bidirectional flow table, all on one thread with no locks and no
 * allocation per packet.  It does not know about workloads, policy or SQLite:
 * it emits `struct flow_record` events through a callback and counts
 * everything it could not do.
 *
 * Bytes: a flow's byte counters count IP bytes (the IPv4 total length, or the
 * IPv6 payload length plus the 40-byte fixed header) of every packet as it
 * appeared on the wire, whether or not the capture truncated it.  Link-layer
 * headers, VLAN tags and the Ethernet FCS are not counted.
 */
#ifndef EW_CAPTURE_H
#define EW_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#define CAPTURE_IFNAME_MAX 16

enum flow_event {
	FLOW_EV_NEW = 1,	/* first packet of the flow */
	FLOW_EV_UPDATE = 2,	/* flow still active, update interval elapsed */
	FLOW_EV_END = 3,	/* flow finished; final counters */
};

enum flow_end_reason {
	FLOW_END_NONE = 0,	/* not ended (NEW / UPDATE) */
	FLOW_END_IDLE,		/* idle timeout of its protocol/state */
	FLOW_END_TCP_FIN,	/* FIN seen both ways */
	FLOW_END_TCP_RST,	/* RST seen */
	FLOW_END_EVICTED,	/* table full: emergency eviction */
	FLOW_END_SHUTDOWN,	/* agent stopping / end of replay */
	FLOW_END_IFACE_GONE,	/* its interface was removed */
	FLOW_END__COUNT
};
const char *flow_end_reason_name(enum flow_end_reason r);

/* How the initiator of a flow was decided (see capture/flow.c). */
enum flow_init_rule {
	FLOW_INIT_SYN = 1,	/* TCP SYN without ACK */
	FLOW_INIT_SYNACK,	/* TCP SYN+ACK seen first: its receiver */
	FLOW_INIT_PORT,		/* mid-stream: the well-known/lower port is the server */
	FLOW_INIT_FIRST,	/* sender of the first packet seen */
};

enum flow_dir { FLOW_FWD = 0, FLOW_REV = 1 }; /* FWD = initiator -> responder */

/*
 * One flow event.  Addresses are 16 bytes (IPv4 as ::ffff:a.b.c.d).
 * ip[0]/port[0] is the initiator, ip[1]/port[1] the responder.  For ICMP and
 * ICMPv6, port[0] is the echo identifier (0 for other messages) and port[1]
 * is type << 8 | code of the initiator's first message.
 */
struct flow_record {
	uint64_t id;			/* unique, stable for the flow's life */
	uint64_t first_ns, last_ns;	/* packet time of first/last packet */
	uint64_t pkts[2], bytes[2];	/* totals, indexed by enum flow_dir */
	uint64_t dpkts[2], dbytes[2];	/* since this flow's previous event */
	uint8_t ip[2][16];
	uint16_t port[2];
	uint16_t vlan;			/* outermost VLAN ID, 0 when untagged */
	uint8_t family;			/* 4 or 6 */
	uint8_t proto;			/* IP protocol number */
	uint8_t tcp_flags[2];		/* OR of TCP flags seen each way */
	uint8_t event;			/* enum flow_event */
	uint8_t end_reason;		/* enum flow_end_reason */
	uint8_t init_rule;		/* enum flow_init_rule */
	uint8_t tunnel_depth;		/* 0 = outermost IP, 1 = inside a tunnel */
	uint32_t iface;			/* interface index in this capture */
	char ifname[CAPTURE_IFNAME_MAX];
};

/* Decoder counters, per layer: `truncated` (the capture cut the packet short)
 * is kept apart from `invalid` (the bytes break the protocol's rules). */
struct capture_decode_stats {
	uint64_t packets, bytes;	/* frames offered to the decoder */
	uint64_t ip_packets;		/* frames that yielded an IP flow key */
	uint64_t non_ip;		/* ARP, LLDP, STP, ...: not counted as errors */
	uint64_t unsupported_link;	/* link types we do not decode */
	uint64_t l2_truncated, l2_invalid;
	uint64_t vlan_too_deep;
	uint64_t ipv4_truncated, ipv4_invalid;
	uint64_t ipv6_truncated, ipv6_invalid, ipv6_ext_too_deep;
	uint64_t tcp_truncated, tcp_invalid;
	uint64_t udp_truncated, udp_invalid;
	uint64_t icmp_truncated, icmp_invalid;
	uint64_t sctp_truncated, sctp_invalid;
	uint64_t frag_first, frag_later, frag_matched, frag_orphan;
	uint64_t frag_cache_full;
	uint64_t tunnel_vxlan, tunnel_geneve, tunnel_gre, tunnel_ipip;
	uint64_t tunnel_too_deep, tunnel_inner_invalid;
	uint64_t tunnel_inner_non_ip;	/* tunnel carries ARP, MPLS, PPTP, ... */
};

struct capture_flow_stats {
	uint64_t created;	/* flows inserted */
	uint64_t active;	/* flows in the table now */
	uint64_t expired;	/* ended by idle timeout or TCP close */
	uint64_t evicted;	/* ended early to make room */
	uint64_t refused;	/* packets of new flows not tracked: table full */
	uint64_t updates;	/* UPDATE events emitted */
	uint64_t ended_shutdown;/* ended by flush (shutdown / iface gone) */
	uint64_t emergency_entered; /* times the table went into emergency */
	uint64_t emergency;	/* 1 while in emergency mode */
	uint64_t max_flows;	/* the configured cap */
	uint64_t peak;		/* most flows ever in the table at once */
	uint64_t memory_bytes;	/* bytes allocated for entries and buckets */
};

struct capture_stats {
	struct capture_decode_stats decode;
	struct capture_flow_stats flow;
	uint64_t files, file_errors;	/* replay */
};

typedef void (*capture_emit_fn)(void *ctx, const struct flow_record *rec);

/*
 * One DNS response seen on an interface (UDP or TCP port 53), for the
 * per-workload address -> name cache.  Names are in presentation form with
 * every byte outside printable ASCII (and '\\', '"', '<', '>', '&') escaped
 * as \DDD, so they are safe to log; the dashboard escapes again on output.
 */
#define DNS_NAME_MAX 256	/* 253 + margin; longer names are refused */
#define DNS_EVENT_MAX_ADDRS 16	/* A/AAAA answers kept per response */
struct dns_event {
	uint64_t ts_ns;
	uint32_t iface;
	char ifname[CAPTURE_IFNAME_MAX];
	uint8_t client_ip[16];		/* who received the answer */
	uint8_t server_ip[16];
	uint16_t qtype;
	uint8_t rcode;
	uint8_t n_addrs;		/* entries in addr[] / ttl[] */
	uint8_t truncated_answers;	/* 1: more answers than DNS_EVENT_MAX_ADDRS */
	char qname[DNS_NAME_MAX];	/* the question */
	char cname[DNS_NAME_MAX];	/* last CNAME target in the chain, or "" */
	uint8_t addr[DNS_EVENT_MAX_ADDRS][16];
	uint32_t ttl[DNS_EVENT_MAX_ADDRS];
};
typedef void (*capture_dns_fn)(void *ctx, const struct dns_event *ev);

struct capture_config {
	uint32_t max_flows;		/* hard cap on concurrent flows */
	uint32_t tcp_idle_s;		/* established TCP with no packets */
	uint32_t tcp_syn_idle_s;	/* TCP never answered */
	uint32_t tcp_closed_s;		/* after FIN both ways or RST */
	uint32_t udp_idle_s;
	uint32_t other_idle_s;		/* ICMP and other protocols */
	uint32_t update_interval_ms;	/* UPDATE for an active flow at most this often */
	uint32_t frag_cache_size;	/* entries in the IPv4/IPv6 fragment cache */
	uint64_t first_flow_id;		/* ids are handed out from here upwards */
	capture_emit_fn emit;		/* called on the capture thread */
	capture_dns_fn emit_dns;	/* DNS responses; NULL: not parsed */
	void *emit_ctx;			/* passed to both callbacks */
};
/* Defaults: 262144 flows, TCP 300 s / SYN 30 s / closed 5 s, UDP 60 s,
 * other 30 s, updates every 1000 ms, 8192 fragment entries. */
void capture_config_defaults(struct capture_config *cfg);

struct capture;

/* Create a capture context.  NULL on failure with a reason in `err`. */
struct capture *capture_open(const struct capture_config *cfg, char *err,
			     size_t errlen);
/* Free everything.  Does not emit: call capture_flush first.  NULL is a no-op. */
void capture_close(struct capture *c);

/*
 * Replay one capture file (pcap or pcapng; "-" is stdin) through the decoder
 * and flow table, with packet timestamps as the clock.  Several files may be
 * replayed in order into the same context; their flows continue across files
 * under the interface name `ifname`.  A corrupt or truncated file stops at the
 * damage: everything before it has been processed, and `err` names the file
 * and byte offset.  Returns 0, or -EIO / -ENOENT / -EINVAL with `err` set.
 */
int capture_replay_file(struct capture *c, const char *path,
			const char *ifname, char *err, size_t errlen);

/* End every flow (event END with `reason`), e.g. at the end of a replay or on
 * shutdown. */
void capture_flush(struct capture *c, enum flow_end_reason reason);

/* Copy of the counters; safe to call from the capture thread only (live mode
 * publishes snapshots for other threads). */
void capture_get_stats(struct capture *c, struct capture_stats *out);

/* ==== live capture ========================================================
 *
 * Live mode captures on the host side of container interfaces, one libpcap
 * handle (TPACKET_V3 ring, kernel BPF filter for IPv4/IPv6, VLAN-tagged or
 * not) per interface, all served by one epoll loop on the capture thread
 * together with a netlink socket that reports links appearing, changing and
 * disappearing.  Which interfaces are captured:
 *
 *   - the host side of every veth whose peer lives in another network
 *     namespace (the kernel reports IFLA_LINK_NETNSID for it), and
 *   - every interface whose name matches an `include` glob (fnmatch(3));
 *   - except interfaces whose name matches an `exclude` glob, loopback
 *     devices, and the uplink (every interface holding a default route in
 *     the main table when the link list was last read).
 *
 * A new matching interface is captured as soon as it is up; one that goes
 * down keeps its handle (the kernel resumes delivery when it comes back up);
 * a renamed one keeps its flows under its new name; a removed (or newly
 * excluded) one is read to the end, its flows are ended with
 * FLOW_END_IFACE_GONE, and its handle is closed.
 *
 * Clock: packet timestamps come from the kernel, and the flow table's clock
 * also follows the wall clock, so idle flows end when no packets arrive.
 *
 * Threads: everything below runs on the thread that calls capture_live_run(),
 * except capture_live_stop() and capture_live_snapshot(), which any thread may
 * call.  Counters are 64-bit and monotonic for the life of the context.
 */

#define CAPTURE_LIVE_SNAPLEN_DEFAULT 65535	/* whole DNS messages over TCP */
#define CAPTURE_LIVE_BUFFER_DEFAULT (2u << 20)	/* kernel ring per interface */
#define CAPTURE_LIVE_BUFFER_MIN (256u << 10)	/* one ring block */
#define CAPTURE_LIVE_BUFFER_MAX (1u << 30)
#define CAPTURE_LIVE_SNAPLEN_MIN 128
#define CAPTURE_LIVE_SNAPLEN_MAX 262144

struct capture_live_config {
	/* NULL-terminated arrays of globs, borrowed for the call; NULL = none. */
	const char *const *include;
	const char *const *exclude;
	uint32_t snaplen;		/* bytes kept per packet */
	uint32_t buffer_bytes;		/* kernel ring per interface */
};
/* No include or exclude patterns, CAPTURE_LIVE_* defaults. */
void capture_live_config_defaults(struct capture_live_config *cfg);

enum capture_iface_state {
	CAPTURE_IFACE_CAPTURING = 1,	/* handle open */
	CAPTURE_IFACE_WAITING,		/* matched, but down: opened when up */
	CAPTURE_IFACE_FAILED,		/* could not open; retried on its next
					   link event or configuration reload */
	CAPTURE_IFACE_CLOSING,		/* removed or excluded: being read to
					   the end, then its flows end */
};
const char *capture_iface_state_name(enum capture_iface_state s);

struct capture_iface_stats {
	uint32_t iface;			/* index used in flow records */
	int32_t ifindex;		/* kernel interface index */
	char name[CAPTURE_IFNAME_MAX];
	uint8_t state;			/* enum capture_iface_state */
	uint64_t since_ns;		/* when it was first matched */
	uint64_t received;		/* packets that passed the filter (ps_recv),
					   including those dropped below */
	uint64_t kernel_drops;		/* ring full (ps_drop) */
	uint64_t if_drops;		/* dropped by the interface before capture
					   could see them (its rx_dropped) */
};

struct capture_live_stats {
	uint64_t ifaces_capturing, ifaces_waiting, ifaces_failed;
	/* Totals over every interface ever captured, including removed ones. */
	uint64_t received, kernel_drops, if_drops;
	uint64_t attached;		/* handles opened */
	uint64_t detached;		/* interfaces removed or excluded */
	uint64_t open_errors;		/* handle opens that failed */
	uint64_t read_errors;		/* pcap_dispatch failures */
	uint64_t renames;
	uint64_t link_events;		/* netlink link messages read */
	uint64_t resyncs;		/* full re-reads of the link list (start,
					   event overflow, reload) */
	uint64_t table_full;		/* interfaces not captured: no free index */
	uint64_t snapshot_ns;		/* wall time the snapshot was taken */
};

struct capture_live;

/*
 * Start live capture into `c` (borrowed; it must outlive the live context and
 * is used only on the capture thread from now on): read the link list,
 * subscribe to link events and open a handle on every matching interface that
 * is up.  Opening handles needs CAP_NET_RAW; nothing else here needs a
 * capability.  NULL with a reason in `err` when netlink cannot be used.  An
 * interface that cannot be opened is not an error: it is counted, logged once
 * and left in state FAILED.
 */
struct capture_live *capture_live_open(struct capture *c,
				       const struct capture_live_config *cfg,
				       char *err, size_t errlen);
/* Close every handle and socket.  Flows are not ended: capture_live_run()
 * does that when it returns.  NULL is a no-op. */
void capture_live_close(struct capture_live *l);

/*
 * Also watch `fd` for input in the capture loop: `cb(ctx)` runs on the
 * capture thread whenever it is readable (level-triggered: cb must read what
 * is there).  For a signalfd, for example.  0 or -errno.
 */
int capture_live_watch(struct capture_live *l, int fd, void (*cb)(void *ctx),
		       void *ctx);

/*
 * The capture loop.  Returns after capture_live_stop(): it keeps reading for
 * one ring block timeout so that packets still in the kernel rings are
 * counted, then ends every flow (FLOW_END_SHUTDOWN; FLOW_END_IFACE_GONE for
 * interfaces being removed) and publishes a last snapshot.  0, or -errno when
 * epoll itself fails.
 */
int capture_live_run(struct capture_live *l);

/* Ask capture_live_run() to return.  Any thread; async-signal-safe. */
void capture_live_stop(struct capture_live *l);

/*
 * Replace the include/exclude patterns, snaplen and buffer size (the last two
 * apply to handles opened from now on) and re-read the link list: newly
 * matching interfaces are opened, no longer matching ones are closed as if
 * removed.  Flows of interfaces that stay captured are untouched.  Capture
 * thread only.  0 or -ENOMEM (the old configuration stays).
 */
int capture_live_reconfigure(struct capture_live *l,
			     const struct capture_live_config *cfg);

/*
 * The counters as of the last snapshot, which the capture thread takes every
 * second (and when capture_live_run returns).  Any thread.  `cs` and `ls` may
 * be NULL.  Up to `max` interfaces (in index order) go to `ifs`; `*n_ifs`
 * gets how many there are in all, which may be more than `max`.
 */
void capture_live_snapshot(struct capture_live *l, struct capture_stats *cs,
			   struct capture_live_stats *ls,
			   struct capture_iface_stats *ifs, size_t max,
			   size_t *n_ifs);

#endif
