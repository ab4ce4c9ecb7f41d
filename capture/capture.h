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
	uint64_t trailing_updates; /* of them, for a flow that fell silent
				      with packets unreported (flow.c) */
	uint64_t ended_shutdown;/* ended by flush (shutdown / iface gone) */
	uint64_t emergency_entered; /* times the table went into emergency */
	uint64_t emergency;	/* 1 while in emergency mode */
	uint64_t max_flows;	/* the configured cap */
	uint64_t peak;		/* most flows ever in the table at once */
	uint64_t memory_bytes;	/* bytes allocated for entries and buckets */
};

struct dns_stats;
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

/* ---- DNS ---------------------------------------------------------------- */

/*
 * Counters.  Each message handed to dns_parse_response lands in exactly one
 * of the outcome counters; the "of which" counters say why a message was
 * invalid, and the answer counters describe what was kept or dropped inside
 * responses that did produce an event.
 */
struct dns_stats {
	/* outcomes: exactly one per message */
	uint64_t responses;		/* complete responses turned into events */
	uint64_t partial;		/* cut short by the capture inside the
					 * answer section: event with the RRs
					 * complete before the cut */
	uint64_t queries_ignored;	/* QR = 0 */
	uint64_t opcode_ignored;	/* OPCODE other than QUERY (0) */
	uint64_t no_question;		/* QDCOUNT = 0: nothing to attribute */
	uint64_t truncated;		/* cut short by the capture before the
					 * question ended: no event */
	uint64_t invalid;		/* breaks RFC 1035 or our name bounds */
	/* of which invalid */
	uint64_t ptr_not_backward;	/* pointer not strictly before its name
					 * segment: forward, into itself, loop */
	uint64_t ptr_too_many_hops;	/* more than DNS_MAX_PTR_HOPS pointers */
	uint64_t name_too_long;		/* > 255 octets on the wire, or the
					 * escaped text does not fit DNS_NAME_MAX */
	uint64_t label_bad_type;	/* length octet 0x40-0xbf (RFC 6891 5) */
	uint64_t qdcount_not_one;	/* QDCOUNT > 1 (RFC 9619) */
	uint64_t bad_rdata;		/* A/AAAA/CNAME RDATA of the wrong size */
	/* answers */
	uint64_t answers_too_many;	/* messages with ANCOUNT > DNS_MAX_ANSWERS:
					 * the records after those are not read */
	/* inside responses that produced an event */
	uint64_t unrelated_answers;	/* A/AAAA whose owner is not on the chain
					 * from the question: ignored */
	uint64_t addrs_dropped;		/* chain addresses beyond DNS_EVENT_MAX_ADDRS */
	/* DNS over TCP (dns_parse_tcp_segment) */
	uint64_t tcp_partial;		/* segment does not hold its whole
					 * message: skipped (see below) */
};

/*
 * The per-workload address -> name cache (capture/dnscache.c).
 *
 * Each workload (a key such as "namespace/name", or an interface name when
 * no workload is known) has its own view: an address is named for a
 * workload only if that workload's own DNS traffic resolved it.  There is
 * deliberately no global fallback: when a workload never resolved an
 * address, a lookup says so rather than borrowing another workload's name,
 * so one pod's (or one hostile DNS server's) answers can never label
 * another pod's flows.
 *
 * Lifetime of an entry.  A response makes the entry live for its TTL, raised
 * to `ttl_floor_s` (clients such as the JVM or browsers keep answers longer
 * than the tiny TTLs CDNs hand out, and keep connecting to them) and cut to
 * `ttl_cap_s`.  Every lookup that hits extends the entry to at least
 * now + `grace_s`, and moves it to the recent end of the LRU lists.  The
 * pipeline looks the remote address up on each flow event (NEW, UPDATE,
 * END), so a name stays available for as long as a flow to the address
 * lives: consecutive events of a flow are never further apart than the flow
 * table's idle timeout plus its update interval, and the default grace
 * (600 s) covers the default TCP idle timeout (300 s).  Set `grace_s` above
 * the longest idle timeout in use.  The price of not counting references is
 * that a name outlives its last flow by up to `grace_s`; the gain is that a
 * lost or reordered flow event can never leak or strand an entry.
 *
 * Memory is fixed at open: `max_entries` slots of about 320 bytes (the name
 * is stored in the slot, DNS_NAME_MAX bytes), `max_workloads` key slots of
 * about 340 bytes, and the hash buckets - about 21.5 MiB at the defaults,
 * allocated once and touched only as they fill.  A full
 * cache evicts its least recently used entry; a workload holding
 * `max_per_workload` entries evicts its own least recently used one instead,
 * so a single pod resolving endlessly cannot flush the names of the others.
 * Every eviction is counted.  Keys and addresses are hashed with SipHash
 * under a random key.
 *
 * One address, several names (CDNs): the most recent response wins.  The
 * cache is not thread-safe: one owner thread calls everything.  All times
 * are the caller's clock in nanoseconds (packet time in replay).
 */
#define DNSCACHE_KEY_MAX 320	/* "namespace/name": 63 + 1 + 253, plus NUL */

struct dnscache_config {
	uint32_t max_entries;		/* address -> name entries, all workloads */
	uint32_t max_per_workload;	/* entries one workload may hold */
	uint32_t max_workloads;		/* distinct keys with entries */
	uint32_t ttl_floor_s;		/* shortest life a response gives */
	uint32_t ttl_cap_s;		/* longest life a response gives */
	uint32_t grace_s;		/* life a hit extends to, from now */
};
/* Defaults: 65536 entries, 8192 per workload, 4096 workloads, TTL floor
 * 60 s, cap 24 h, grace 600 s. */
void dnscache_config_defaults(struct dnscache_config *cfg);

struct dnscache_stats {
	uint64_t entries;		/* live and dead entries held now */
	uint64_t workloads;		/* keys holding at least one entry */
	uint64_t inserts;		/* new (workload, address) entries */
	uint64_t renames;		/* an address re-resolved: name replaced */
	uint64_t refreshes;		/* re-resolved to the same name */
	uint64_t lookups, hits, misses;
	uint64_t hits_after_ttl;	/* hits kept alive by the grace only */
	uint64_t expired;		/* dead entries reclaimed */
	uint64_t evicted;		/* live entries dropped: cache full */
	uint64_t evicted_quota;		/* live entries dropped: workload full */
	uint64_t forgotten;		/* entries dropped by dnscache_forget */
	uint64_t refused_workloads;	/* inserts dropped: max_workloads keys
					 * already hold entries */
	uint64_t refused_bad;		/* inserts dropped: key or name unusable */
};

struct dnscache;

/* NULL with a reason in `err` on a bad config or ENOMEM. */
struct dnscache *dnscache_open(const struct dnscache_config *cfg, char *err,
			       size_t errlen);
/* Free everything.  NULL is a no-op. */
void dnscache_close(struct dnscache *c);

/*
 * Remember that workload `key` resolved `addr` (16-byte mapped form) to
 * `name` (presentation form as in struct dns_event, at most DNS_NAME_MAX - 1
 * bytes) with `ttl_s`, at `now_ns`.  An entry for the same address is
 * overwritten: the name is replaced and the TTL restarts, but a grace
 * extension a live flow earned is kept.  Returns 0, -EINVAL (empty or
 * over-long key or name), or -ENOSPC (max_workloads keys busy); failures are
 * counted.
 */
int dnscache_put(struct dnscache *c, const char *key, const uint8_t addr[16],
		 const char *name, uint32_t ttl_s, uint64_t now_ns);

/*
 * dnscache_put for every address of a parsed response, named after its
 * question (what the workload asked for).  Returns the number of addresses
 * stored.
 */
int dnscache_add_event(struct dnscache *c, const char *key,
		       const struct dns_event *ev, uint64_t now_ns);

/*
 * The name workload `key` last resolved `addr` to.  On a hit, copies the
 * name into `name` (DNS_NAME_MAX bytes), extends the entry's life to at
 * least now + grace_s and returns 0.  Returns -ENOENT when the workload has
 * no live entry for the address; `name` is then "".
 */
int dnscache_lookup(struct dnscache *c, const char *key, const uint8_t addr[16],
		    uint64_t now_ns, char name[DNS_NAME_MAX]);

/* Drop every entry of workload `key` (pod deleted, interface removed).
 * Returns the number of entries dropped. */
size_t dnscache_forget(struct dnscache *c, const char *key);

void dnscache_get_stats(const struct dnscache *c, struct dnscache_stats *out);

/* ---- all capture counters ------------------------------------------------ */

struct capture_stats {
	struct capture_decode_stats decode;
	struct capture_flow_stats flow;
	struct dns_stats dns;		/* responses parsed on port 53 */
	uint64_t files, file_errors;	/* replay */
};

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
	uint32_t snaplen;		/* bytes kept of DNS (port 53) packets;
					   others keep at most 512: only their
					   headers are decoded */
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
	CAPTURE_IFACE_OPENING,		/* matched and up: handle being set up */
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
	uint64_t clock_steps;		/* wall-clock steps the flow table followed */
	uint64_t stamps_clamped;	/* packets stamped later than the wall
					   clock (before a step was seen) */
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

/* ==== attribution ==========================================================
 *
 * Which workload (pod or container) owns an interface or an address.  A
 * registry merges what several metadata sources say about each workload:
 *
 *   - the host scan, attrib_rescan(): every link of ours whose peer sits in
 *     another network namespace (IFLA_LINK_NETNSID), mapped to that
 *     namespace by asking the kernel for the nsid of each distinct
 *     /proc/PID/ns/net (RTM_GETNSID); the namespace's processes and their
 *     /proc/PID/cgroup (kubelet, containerd, CRI-O, Docker, Podman layouts,
 *     cgroup v1 or v2) give the pod uid and container ids; its addresses
 *     come from RTM_GETADDR with IFA_TARGET_NETNSID; pod names from the
 *     kubelet's log directories (<podlog_root>/<namespace>_<name>_<uid>);
 *   - the inventory file, attrib_load_inventory();
 *   - API clients (Kubernetes, Docker/CRI), through attrib_set_pod() and
 *     friends, bracketed by attrib_sync_begin/end for full re-lists;
 *   - addresses learned from traffic, attrib_learn_ip().
 *
 * A source's statement about a workload replaces what the same source said
 * before; a workload lives while at least one source other than "learned"
 * asserts it.  Names come from, in order: Kubernetes API, runtime API,
 * inventory, pod log directories; a pod nobody names yet is "pod-<uid>" and
 * a plain container "<runtime>-<first 12 of id>", flagged ATTRIB_F_UNNAMED,
 * so that a flow is never shown without an owner the scan could identify.
 *
 * Address ownership follows churn: every (workload, address) mapping has a
 * generation, taken when the address first appears for that workload; the
 * newest mapping wins, so an address reused by a new pod maps to it from the
 * moment a source reports it, and a removed pod takes its addresses along
 * unless a newer pod holds them already.  A learned address never displaces
 * one a source asserted (a pod forging a source address cannot steal it).
 * Interfaces are owned by source rank: scan, then Kubernetes, runtime,
 * inventory.
 *
 * Threads: one pthread rwlock (writers preferred).  Lookups take it shared,
 * hash once (SipHash, random key) and copy a small result: no allocation, no
 * I/O.  Everything that changes the registry takes it exclusively, and only
 * after its I/O is done: a rescan reads /proc and netlink unlocked, then
 * applies the result in one short critical section, so readers never see a
 * half-applied scan.  attrib_rescan() calls are serialised among themselves.
 * Every function may be called from any thread.
 */

#define ATTRIB_NS_MAX 64		/* DNS label: 63 + NUL */
#define ATTRIB_NAME_MAX 254		/* DNS subdomain: 253 + NUL */
#define ATTRIB_REF_MAX (ATTRIB_NS_MAX + ATTRIB_NAME_MAX) /* "ns/name" + NUL */
#define ATTRIB_KIND_MAX 32
#define ATTRIB_RUNTIME_MAX 16
#define ATTRIB_QOS_MAX 16
#define ATTRIB_CID_LEN 64		/* container ids: 64 lowercase hex */
#define ATTRIB_UID_MAX 37		/* pod uid: UUID + NUL */
#define ATTRIB_NETNS_MAX 64		/* netns name (/run/netns entry) */
#define ATTRIB_MAX_CONTAINERS 16	/* per workload; more are counted */
#define ATTRIB_MAX_IPS 16		/* per workload, learned included */
#define ATTRIB_MAX_IFACES 4		/* host-side interfaces per workload */
#define ATTRIB_MAX_LABELS 64
#define ATTRIB_LABEL_KEY_MAX 318	/* prefix 253 + '/' + name 63 + NUL */
#define ATTRIB_LABEL_VALUE_MAX 256	/* Kubernetes: 63; Docker: longer */
#define ATTRIB_LABEL_TEXT 4096		/* bytes of keys and values together */

enum attrib_source {
	ATTRIB_SRC_SCAN = 0,	/* attrib_rescan: this host's kernel and /proc */
	ATTRIB_SRC_PODLOGS,	/* kubelet log directories: names only */
	ATTRIB_SRC_INVENTORY,	/* attrib_load_inventory */
	ATTRIB_SRC_KUBE,	/* a Kubernetes API client */
	ATTRIB_SRC_RUNTIME,	/* a container runtime API client */
	ATTRIB_SRC_LEARNED,	/* addresses seen in traffic */
	ATTRIB_SRC__COUNT
};
/* "scan", "podlogs", "inventory", "kube", "runtime", "learned". */
const char *attrib_source_name(enum attrib_source src);

/* Labels as offsets into one bounded text block, so a copy is one memcpy
 * and needs no pointer fix-up.  Use the accessors below. */
struct attrib_labels {
	uint16_t n;
	uint16_t truncated;		/* 1: some did not fit and were dropped */
	struct { uint16_t key, value; } at[ATTRIB_MAX_LABELS];
	uint16_t used;			/* bytes of text in use */
	char text[ATTRIB_LABEL_TEXT];
};
static inline const char *attrib_label_key(const struct attrib_labels *l,
					   size_t i)
{
	return l->text + l->at[i].key;
}
static inline const char *attrib_label_value(const struct attrib_labels *l,
					     size_t i)
{
	return l->text + l->at[i].value;
}
/* The value of `key`, or NULL. */
const char *attrib_labels_get(const struct attrib_labels *l, const char *key);

struct attrib_iface {
	char name[CAPTURE_IFNAME_MAX];
	int32_t ifindex;		/* 0 when only the name is known */
};

struct attrib_ip {
	uint8_t addr[16];		/* IPv4-mapped for IPv4 */
	uint32_t sources;		/* 1 << enum attrib_source, per claimant */
	uint64_t gen;			/* mapping generation: newer wins */
	uint64_t since_ns;		/* when it appeared (learned: packet time) */
};

#define ATTRIB_F_UNNAMED 0x1		/* name made up from the uid or id */
#define ATTRIB_F_LEARNED 0x2		/* lookup by IP hit a learned address */
#define ATTRIB_F_LABELS_TRUNCATED 0x4	/* some labels did not fit */

/* Everything known about one workload. */
struct attrib_workload {
	uint64_t id;			/* > 0, never reused in this process */
	uint64_t version;		/* changes whenever anything below does */
	uint32_t sources;		/* 1 << enum attrib_source, per source */
	uint32_t flags;			/* ATTRIB_F_* */
	char namespace[ATTRIB_NS_MAX];	/* "" for plain containers / unnamed */
	char name[ATTRIB_NAME_MAX];
	char kind[ATTRIB_KIND_MAX];	/* "Pod", "Container", or a source's */
	char runtime[ATTRIB_RUNTIME_MAX]; /* "containerd", "cri-o", ... or "" */
	char qos[ATTRIB_QOS_MAX];	/* "guaranteed", ... or "" */
	char pod_uid[ATTRIB_UID_MAX];	/* "" when not a pod */
	char netns[ATTRIB_NETNS_MAX];	/* "" when unknown */
	uint8_t n_containers, n_ips, n_ifaces;
	char containers[ATTRIB_MAX_CONTAINERS][ATTRIB_CID_LEN + 1];
	struct attrib_ip ips[ATTRIB_MAX_IPS];
	struct attrib_iface ifaces[ATTRIB_MAX_IFACES];
	struct attrib_labels labels;
};

/* What a lookup returns: small enough to copy on every flow event. */
struct attrib_ref {
	uint64_t id;			/* of the workload (attrib_get) */
	uint64_t version;		/* its version at the lookup */
	uint32_t flags;			/* ATTRIB_F_* */
	char workload[ATTRIB_REF_MAX];	/* "namespace/name", or "name" */
	char kind[ATTRIB_KIND_MAX];
};

struct attrib_config {
	const char *proc_root;		/* "/proc" */
	const char *cgroup_root;	/* "/sys/fs/cgroup": reported, not read */
	const char *podlog_root;	/* "/var/log/pods"; NULL or "": off */
	const char *netns_root;		/* "/run/netns": netns names; NULL: off */
	uint32_t max_workloads;		/* 16384 */
	uint32_t max_learned_ips;	/* per workload, 4 */
	uint32_t max_procs;		/* /proc entries per scan, 65536 */
	uint32_t max_procs_per_netns;	/* cgroups read per netns, 64 */
	uint32_t max_podlogs;		/* pod log dirs per scan, 65536 */
	uint32_t max_namespaces;	/* namespaces with labels, 4096 */
};
void attrib_config_defaults(struct attrib_config *cfg);

struct attrib_stats {
	uint64_t workloads, namespaces, ips, ifaces;	/* now */
	uint64_t podlog_pods;			/* names known from pod log dirs */
	uint64_t inventory_workloads;		/* in the last loaded inventory */
	uint64_t scans, scan_errors, scan_last_ns;	/* duration of the last */
	uint64_t scan_procs, scan_procs_capped, scan_proc_errors;
	uint64_t scan_netns, scan_links, scan_links_attributed;
	uint64_t scan_uid_conflicts;		/* processes of another pod in a netns */
	uint64_t created, removed;		/* workloads, ever */
	uint64_t ip_moves;			/* an address changed owner */
	uint64_t learned, learn_known, learn_refused, learn_ignored,
		 learn_no_workload, learn_asserted;
	uint64_t dropped_containers, dropped_ips, dropped_ifaces,
		 dropped_labels, full;		/* caps reached */
	uint64_t lookups, lookup_misses;
};

struct attrib;

/* Create an empty registry; nothing is read yet.  Paths are copied.  NULL
 * with a reason in `err`. */
struct attrib *attrib_open(const struct attrib_config *cfg, char *err,
			   size_t errlen);
/* Free everything.  No other call may be running.  NULL is a no-op. */
void attrib_close(struct attrib *a);

/*
 * Scan the host (see above) and apply the result: workloads found replace
 * what the previous scan said, and those no longer found lose the scan's
 * claim.  Cost: one link dump, one readlink per process in /proc (up to
 * max_procs), one RTM_GETNSID per distinct netns, one address dump and up to
 * max_procs_per_netns cgroup reads per netns behind a link, one readdir of
 * the pod log root; a host without links into other namespaces costs the
 * link dump only.  Needs CAP_SYS_PTRACE (or root) for /proc/PID/ns/net and
 * CAP_NET_ADMIN for the addresses; without them it attributes less, and
 * says so once.  0, or -errno when netlink is unusable (`err` set).
 */
int attrib_rescan(struct attrib *a, char *err, size_t errlen);

/*
 * Load the inventory at `path` (YAML; the format is described at the top of
 * capture/inventory.c) and make it the inventory source's statement:
 * workloads it no longer lists lose its claim.  A file that cannot be read
 * or does not parse changes nothing: -ENOENT, -EFBIG, -EINVAL... with `err`
 * reading "path:line:col: message".  -ENOSPC (or -ENOMEM) when the registry
 * filled up part-way: what fit is applied.
 */
int attrib_load_inventory(struct attrib *a, const char *path, char *err,
			  size_t errlen);

/*
 * Lookups: 0 with `out` filled, or -ENOENT.  No allocation.  The IP lookup
 * sets ATTRIB_F_LEARNED when the mapping was learned from traffic.
 * Container ids must be complete (64 hex).
 */
int attrib_lookup_iface(struct attrib *a, const char *ifname,
			struct attrib_ref *out);
int attrib_lookup_ifindex(struct attrib *a, int32_t ifindex,
			  struct attrib_ref *out);
int attrib_lookup_ip(struct attrib *a, const uint8_t ip[16],
		     struct attrib_ref *out);
int attrib_lookup_pod(struct attrib *a, const char *uid,
		      struct attrib_ref *out);
int attrib_lookup_container(struct attrib *a, const char *id,
			    struct attrib_ref *out);
/* By "namespace/name" (or "name" when the namespace is empty). */
int attrib_lookup_name(struct attrib *a, const char *ref,
		       struct attrib_ref *out);
/* By id (attrib_ref.id): the workload's current name and version, or
 * -ENOENT once it is gone (ids are never reused). */
int attrib_lookup_id(struct attrib *a, uint64_t id, struct attrib_ref *out);
/* Copy the whole record of workload `id` (about 6 KiB).  0 or -ENOENT. */
int attrib_get(struct attrib *a, uint64_t id, struct attrib_workload *out);
/* Copy a namespace's labels (Kubernetes API over inventory).  0 or -ENOENT. */
int attrib_namespace_labels(struct attrib *a, const char *ns,
			    struct attrib_labels *out);
/*
 * Call `cb` for every workload, in no particular order, under the read
 * lock: `cb` must not call into the registry.  A non-zero return from `cb`
 * stops the walk and is returned.
 */
int attrib_foreach(struct attrib *a,
		   int (*cb)(void *ctx, const struct attrib_workload *w),
		   void *ctx);
/* Changes with every change to the registry: compare to know when to
 * re-read workloads (e.g. to store them). */
uint64_t attrib_version(struct attrib *a);
void attrib_get_stats(struct attrib *a, struct attrib_stats *out);

/*
 * The workload on interface `ifname` sent a packet from `ip` at `ts_ns`:
 * remember `ip` as one of its addresses.  `ip` must be the source of a
 * packet the workload sent (one arriving at the host on its host-side
 * interface), not just either end of a flow seen there: for a server pod the
 * initiator is the remote.  Learning fills gaps only: when a source already
 * gave the workload an address of the same family, nothing is learned
 * (-EEXIST), so a mis-oriented flow on a scanned host changes nothing.
 * Cheap when already known (shared lock only).  Ignored (-EINVAL):
 * unspecified, loopback, multicast, broadcast, IPv4 and IPv6 link-local.
 * At most max_learned_ips per workload: beyond, -ENOSPC (counted; the first
 * ones stay, so a pod cycling through forged sources cannot flush its real
 * address).  Returns 1 when learned, 0 when already known, -ENOENT when no
 * workload owns `ifname`.
 */
int attrib_learn_ip(struct attrib *a, const char *ifname,
		    const uint8_t ip[16], uint64_t ts_ns);

/* ---- metadata sources (API clients plug in here) -------------------------
 *
 * Strings are borrowed for the call.  `src` is ATTRIB_SRC_KUBE,
 * ATTRIB_SRC_RUNTIME or ATTRIB_SRC_INVENTORY; anything else is -EINVAL.
 * A statement replaces the same source's previous one about the workload
 * (matched by pod uid, then container id, then name, then interface).
 * Returns 0, -EINVAL (bad uid, id, name or address; nothing changed),
 * -ENOSPC (registry full: max_workloads).  Labels beyond the caps are
 * dropped and flagged ATTRIB_F_LABELS_TRUNCATED, not refused.
 */
struct attrib_kv {
	const char *key, *value;
};

struct attrib_pod_meta {
	const char *uid;			/* required */
	const char *namespace, *name;		/* required */
	const char *kind;			/* NULL: "Pod" */
	const struct attrib_kv *labels;
	size_t n_labels;
	const uint8_t (*ips)[16];		/* status.podIPs */
	size_t n_ips;
	const char *const *container_ids;	/* bare 64-hex ids */
	size_t n_container_ids;
	const char *runtime;			/* NULL: unknown */
};
int attrib_set_pod(struct attrib *a, enum attrib_source src,
		   const struct attrib_pod_meta *m);
/* Withdraw the source's statement about pod `uid`.  0 or -ENOENT. */
int attrib_remove_pod(struct attrib *a, enum attrib_source src,
		      const char *uid);

struct attrib_container_meta {
	const char *id;				/* required, 64 hex */
	const char *name;			/* required (Docker's, no '/') */
	const char *namespace;			/* NULL: "" */
	const char *pod_uid;			/* NULL: not in a pod */
	const char *runtime;			/* NULL: unknown */
	const struct attrib_kv *labels;
	size_t n_labels;
	const uint8_t (*ips)[16];
	size_t n_ips;
};
int attrib_set_container(struct attrib *a, enum attrib_source src,
			 const struct attrib_container_meta *m);
int attrib_remove_container(struct attrib *a, enum attrib_source src,
			    const char *id);

/* Labels of a Kubernetes namespace (for namespaceSelectors).  Replaces the
 * source's previous labels for `ns`.  0, -EINVAL or -ENOSPC. */
int attrib_set_namespace(struct attrib *a, enum attrib_source src,
			 const char *ns, const struct attrib_kv *labels,
			 size_t n_labels);

/*
 * A full re-list: after attrib_sync_end(), every workload and namespace the
 * source asserted before attrib_sync_begin() and did not assert again in
 * between loses the source's claim.  One sync per source at a time.
 */
void attrib_sync_begin(struct attrib *a, enum attrib_source src);
void attrib_sync_end(struct attrib *a, enum attrib_source src);

/* ==== metadata sources: Kubernetes API, Docker/Podman Engine API ==========
 *
 * (capture/meta*.c) Started together by meta_open(); each feeds the
 * attribution registry from its own thread.
 */

#define META_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define META_DOCKER_SOCKET "/var/run/docker.sock"
#define META_PODMAN_SOCKET "/run/podman/podman.sock"

/* What a source reports to an observer, after the registry was updated. */
enum meta_ev_kind {
	META_EV_SYNC_BEGIN = 1,		/* a full re-list starts */
	META_EV_SYNC_END,		/* ...and succeeded: what it did not
					   report again is gone */
	META_EV_POD,			/* added or changed */
	META_EV_POD_GONE,
	META_EV_NAMESPACE,
	META_EV_NAMESPACE_GONE,
	META_EV_CONTAINER,		/* a running container, inspected */
	META_EV_CONTAINER_GONE,		/* died or removed: only `id` is set */
};

#define META_MAX_PORTS 32		/* named container ports per pod */
#define META_PORT_NAME_MAX 16		/* IANA_SVC_NAME: 15 + NUL */
#define META_IMAGE_MAX 512
#define META_PHASE_MAX 16

/* A named container port (NetworkPolicy named ports).  `proto` is the IP
 * protocol number: 6 TCP (the default), 17 UDP, 132 SCTP. */
struct meta_port {
	char name[META_PORT_NAME_MAX];
	uint8_t proto;
	uint16_t port;
};

/* One pod as the Kubernetes API (or, for pods under Docker, the
 * io.kubernetes.* container labels) describe it. */
struct meta_pod {
	char uid[ATTRIB_UID_MAX];
	char namespace[ATTRIB_NS_MAX];
	char name[ATTRIB_NAME_MAX];
	char node[ATTRIB_NAME_MAX];	/* spec.nodeName */
	char phase[META_PHASE_MAX];	/* Pending, Running, Succeeded, ... */
	/* ownerReferences: the controller (or else the first) reference, and
	 * the workload it stands for: a ReplicaSet named <deployment>-<hash>
	 * becomes that Deployment (see meta_k8s_owner_resolve). */
	char owner_kind[ATTRIB_KIND_MAX], owner_name[ATTRIB_NAME_MAX];
	char workload_kind[ATTRIB_KIND_MAX], workload_name[ATTRIB_NAME_MAX];
	char runtime[ATTRIB_RUNTIME_MAX];	/* from the container ids */
	uint8_t host_network;		/* shares the node's netns: no IPs */
	uint8_t terminal;		/* Succeeded or Failed: IPs released */
	uint8_t n_ips, n_containers, n_ports;
	uint8_t dropped;		/* ids, IPs or ports beyond the caps */
	uint8_t ips[ATTRIB_MAX_IPS][16];	/* status.podIPs, unless above */
	char containers[ATTRIB_MAX_CONTAINERS][ATTRIB_CID_LEN + 1];
	struct meta_port ports[META_MAX_PORTS];
	struct attrib_labels labels;
};

struct meta_namespace {
	char name[ATTRIB_NS_MAX];
	struct attrib_labels labels;
};

/* One container as the engine's inspect describes it. */
struct meta_container {
	char id[ATTRIB_CID_LEN + 1];
	char name[ATTRIB_NAME_MAX];	/* without Docker's leading '/' */
	char namespace[ATTRIB_NS_MAX];	/* workload namespace, see meta_docker.c */
	char image[META_IMAGE_MAX];
	char runtime[ATTRIB_RUNTIME_MAX];	/* "docker" or "podman" */
	/* Kubernetes-managed (io.kubernetes.pod.* labels): the pod. */
	char pod_uid[ATTRIB_UID_MAX];
	char pod_namespace[ATTRIB_NS_MAX];
	char pod_name[ATTRIB_NAME_MAX];
	uint8_t sandbox;		/* the pod's sandbox ("pause") container */
	uint8_t host_network;		/* NetworkMode host: no IPs */
	uint8_t running;
	uint8_t n_ips;
	int32_t pid;			/* State.Pid: its netns is /proc/PID/ns/net */
	uint8_t ips[ATTRIB_MAX_IPS][16];
	struct attrib_labels labels;
};

struct meta_event {
	uint8_t kind;			/* enum meta_ev_kind */
	uint8_t source;			/* ATTRIB_SRC_KUBE or ATTRIB_SRC_RUNTIME */
	int applied;			/* the registry's answer: 0 or -errno */
	const struct meta_pod *pod;
	const struct meta_namespace *ns;
	const struct meta_container *container;
};

/* Called on the source's thread, after the registry was updated, with
 * everything the source read, including what the registry does not keep
 * (owners, named ports, hostNetwork, pids).  Pointers are borrowed for the
 * call.  It must not block for long: the source reads nothing meanwhile. */
typedef void (*meta_observe_fn)(void *ctx, const struct meta_event *ev);

struct meta_config {
	/* Kubernetes */
	const char *kubeconfig;		/* NULL: $KUBECONFIG, else in-cluster;
					   "none": do not use the API */
	const char *node_name;		/* NULL: $NODE_NAME, else the hostname */
	const char *sa_dir;		/* NULL: META_K8S_SA_DIR */
	int kube_off;			/* 1: do not use the Kubernetes API */
	/* Docker / Podman: NULL tries META_DOCKER_SOCKET then
	 * META_PODMAN_SOCKET; "" or "none" turns the source off. */
	const char *docker_socket;
	/* Limits and timing (meta_config_defaults; tests shorten them). */
	uint32_t connect_timeout_ms;	/* 5000 */
	uint32_t request_timeout_ms;	/* one whole GET, 60000 */
	uint32_t watch_timeout_s;	/* timeoutSeconds of a watch, 300 */
	uint32_t backoff_min_ms;	/* 500 */
	uint32_t backoff_max_ms;	/* 30000 */
	uint32_t list_page;		/* items per list page, 500 */
	size_t max_list_bytes;		/* one list response, 64 MiB */
	size_t max_object_bytes;	/* one inspect / one event line, 4 MiB */
	meta_observe_fn observe;	/* NULL: none */
	void *observe_ctx;
};
void meta_config_defaults(struct meta_config *cfg);

enum meta_state {
	META_OFF = 0,			/* not configured / not available */
	META_STARTING,			/* configured, first list not done */
	META_IN_USE,			/* listing and watching work */
	META_FAILING,			/* retrying with back-off */
};
const char *meta_state_name(int state);

/* Counters of one source, monotonic for its life. */
struct meta_source_stats {
	uint8_t state;			/* enum meta_state */
	char endpoint[256];		/* "https://10.96.0.1:443", "unix:///..." */
	char last_error[256];		/* "" when none */
	uint64_t requests;		/* HTTP requests made */
	uint64_t errors;		/* requests or streams that failed */
	uint64_t timeouts;		/* ...of which timed out */
	uint64_t too_big;		/* ...of which hit a size cap */
	uint64_t malformed;		/* JSON that did not parse or fit */
	uint64_t http_errors;		/* non-2xx answers (410 excepted) */
	uint64_t lists;			/* full (re-)lists that succeeded */
	uint64_t gone;			/* 410 Gone: as a status or an event */
	uint64_t watches;		/* watch / event streams opened */
	uint64_t events;		/* watch / engine events applied */
	uint64_t bookmarks;
	uint64_t rejected;		/* objects not applied: invalid, or
					   refused by the registry */
	uint64_t objects;		/* pods or containers asserted now */
	uint64_t namespaces;		/* namespaces asserted now */
};

struct meta_stats {
	struct meta_source_stats kube, runtime;
};

struct meta;

/*
 * Find out which sources are configured and start a thread for each:
 * Kubernetes when a kubeconfig or a service account is there, the engine
 * API when its socket exists.  Each logs one line saying what it uses or
 * why it is off ("metadata: kubernetes API: not configured (no service
 * account, no kubeconfig)").  `a` is borrowed and must outlive the result.
 * A source that is configured but unreachable is not an error: it retries
 * with back-off.  NULL with `err` set only when a configuration given
 * explicitly (--kubeconfig, --docker-socket) cannot be used, or on ENOMEM.
 */
struct meta *meta_open(const struct meta_config *cfg, struct attrib *a,
		       char *err, size_t errlen);
/* Stop both threads (promptly: a watch in progress is abandoned) and free
 * everything.  The registry keeps what the sources said.  NULL is a no-op. */
void meta_close(struct meta *m);
/* Any thread. */
void meta_get_stats(struct meta *m, struct meta_stats *out);

#endif
