/*
 * flow.c - the bidirectional flow table (contract in flow.h).
 *
 * Layout.  One pool of cfg->max_flows hot entries (128 bytes: key, links,
 * everything a packet touches) and a parallel pool of cold 32-byte records of
 * the counters last reported, both mapped once with MAP_NORESERVE so that the
 * kernel backs a page only when the table first grows into it.  Entries are
 * handed out in order from a high-water index and recycled through a free
 * list; index 0 is never used, so 0 means "none" in every link and a fresh
 * zero page is an empty bucket array.  Buckets are a power of two at least
 * twice max_flows, each the index of its first entry, chained through `hnext`.
 * Nothing is allocated after flow_table_create.
 *
 * Key.  The two ends are ordered (lower address, then lower port, first) so
 * both directions of a flow find the same entry; interface, outermost VLAN,
 * tunnel depth, protocol and family complete the key.  SipHash-1-3 under a
 * key drawn at create covers 24 bytes of an IPv4 key (the mapped prefix
 * carries nothing) and all 48 of an IPv6 key.
 *
 * Initiator, decided on the flow's first packet and never changed:
 *   1. TCP SYN without ACK: its sender (FLOW_INIT_SYN).
 *   2. TCP SYN+ACK: its receiver (FLOW_INIT_SYNACK).  Any other packet the
 *      decoder marks as an answer (reply_hint: ICMP/ICMPv6 echo reply) counts
 *      the same way and carries the same rule.
 *   3. TCP without SYN, UDP or SCTP (a flow seen mid-stream): when exactly one
 *      port is a server port (1..1023, or one of server_ports[] below), that
 *      end is the responder; otherwise, when exactly one port is ephemeral
 *      (>= 32768, Linux's default ip_local_port_range starts there), the other
 *      end is the responder (FLOW_INIT_PORT).
 *   4. Otherwise the sender of the first packet (FLOW_INIT_FIRST).
 * A SYN without ACK on a TCP flow that is closed (FIN both ways, or RST) ends
 * that flow (END with FLOW_END_TCP_FIN or _RST) and starts a new one: the
 * 5-tuple is being reused.
 *
 * Events.  NEW on a flow's first packet, its counters including that packet;
 * UPDATE when a packet arrives update_interval_ms or more after the flow's
 * previous event (0 means every packet), and on the packet that closes a TCP
 * flow (FIN both ways, or RST), so its final counters are known at once
 * rather than tcp_closed_s later at its END; END exactly once.  Each carries
 * the totals and their increase since the flow's previous event.
 *
 * Trailing UPDATE.  A packet that comes sooner than update_interval_ms after
 * the previous event is counted but not reported, and a flow that then falls
 * silent would keep it unreported until its idle timeout (TCP: 5 minutes):
 * a burst sent over a connection that is then held open would reach the
 * store and the detectors minutes late.  So the first unreported packet of
 * an open flow puts it on the pending list, in time order, and
 * flow_table_advance reports every flow whose first unreported packet is
 * update_interval_ms old: nothing seen stays unreported longer than the
 * interval plus one advance.  A packet-driven event takes the flow off the
 * list (the list costs nothing per packet beyond a flag test), and so does
 * END.  Closed TCP flows are left off: what follows a close is the last ACK,
 * and their END comes tcp_closed_s later anyway.
 *
 * Expiry.  Every entry sits on the LRU list of its state, ordered by last
 * packet, so the oldest is at the head:
 *   TCP unanswered (packets one way only)  tcp_syn_idle_s  END idle
 *   TCP answered                           tcp_idle_s      END idle
 *   TCP closed (FIN both ways, or RST)     tcp_closed_s    END fin / rst
 *   UDP unanswered, UDP answered           udp_idle_s      END idle
 *   other unanswered, other answered       other_idle_s    END idle
 * flow_table_advance pops heads while they are due, so it costs one look per
 * list when nothing is.  A packet that finds its flow already due (advance
 * was late) ends it first and starts a new flow, so expiry never depends on
 * how often advance is called.
 *
 * Clock.  The table's clock is the latest time it has been given and never
 * goes backwards: a packet or advance stamped earlier counts as "no time
 * passed", which keeps the LRU lists sorted, first_ns <= last_ns, and every
 * difference of times non-negative.  The one exception is a step of the
 * wall clock in live capture: flow_table_rebase moves the clock and every
 * timer by the step, which keeps the lists sorted and the differences
 * as they were; only a step back can leave last_ns below first_ns, and
 * events report last_ns as at least first_ns.
 *
 * Cap.  A new flow arriving when max_flows are in use puts the table in
 * emergency mode: idle timeouts shrink to a tenth, and if that frees nothing
 * one flow is evicted (END evicted) to make room, chosen in this order:
 *   1. the oldest unanswered flow, if idle for at least EVICT_MIN_IDLE_NS;
 *   2. the oldest closed TCP flow (it has finished; only its close wait is cut);
 *   3. the oldest other flow, if idle for at least EVICT_MIN_IDLE_NS.
 * When none qualifies the table is full of live flows, and the packet is
 * refused (counted, no event) rather than churning a live flow for a new one.
 * Emergency ends when occupancy falls below 90% of max_flows.
 *
 * Counters: created == active + expired + evicted + ended_shutdown always.
 * The emit callback runs synchronously and must not call into the table.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "flow.h"
#include "util.h"

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define MAX_FLOWS_LIMIT (1u << 27)	/* keeps indices and bucket math in 32 bits */
#define EVICT_MIN_IDLE_NS NS_PER_S	/* younger flows are live: refuse instead */
#define EMERGENCY_DIV 10		/* idle timeouts are cut to 1/10 */

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_SCTP 132

#define EPHEMERAL_MIN 32768

enum lru_list {
	L_TCP_UNANS,
	L_TCP,
	L_TCP_CLOSED,
	L_UDP_UNANS,
	L_UDP,
	L_OTHER_UNANS,
	L_OTHER,
	L__COUNT
};

/*
 * The flow key as six words, so that building, hashing and comparing it are
 * whole-word operations (hashing narrow fields just stored would stall on
 * store forwarding):
 *   w[0..1]  address of end 0, the lower (address, port)
 *   w[2..3]  address of end 1
 *   w[4]     port[0] | port[1] << 16 | iface << 32
 *   w[5]     vlan | proto << 16 | family << 24 | tunnel_depth << 32
 */
struct flow_key {
	uint64_t w[6];
};

#define FE_INIT_HI 0x08		/* flags: initiator is key end 1 */
#define FE_PENDING 0x10		/* flags: on the pending list */
#define FE_RULE_MASK 0x07	/* flags: enum flow_init_rule */

/* Everything a packet touches, in two cache lines.  Counters are indexed by
 * enum flow_dir; the key by ordered end. */
struct flow_entry {
	struct flow_key k;
	uint32_t hnext;		/* next in the bucket chain, or in the free list */
	uint32_t prev, next;	/* neighbours on the LRU list `list` */
	uint8_t list;		/* enum lru_list */
	uint8_t flags;		/* FE_* */
	uint8_t tcp_flags[2];	/* OR of the flags seen each way */
	uint64_t last_ns;	/* time of the last packet: the LRU order */
	uint64_t last_ev_ns;	/* time of the last NEW/UPDATE */
	uint64_t pkts[2], bytes[2];
	uint64_t first_ns;
	uint64_t id;
};

/* Counters as of the flow's previous event, and the pending list (see
 * "Trailing UPDATE" at the top); touched only when emitting or listing. */
struct flow_rep {
	uint64_t pkts[2], bytes[2];
	uint64_t pend_ns;	/* time of the first unreported packet */
	uint32_t pprev, pnext;	/* neighbours on the pending list */
};

struct lru {
	uint32_t head, tail;
};

struct flow_table {
	struct flow_entry *ent;		/* ent[1 .. max] */
	struct flow_rep *rep;		/* parallel to ent */
	uint32_t *bucket;
	size_t ent_len, rep_len, bucket_len;	/* mapped bytes */
	uint32_t mask;			/* buckets - 1 */
	uint32_t max;
	uint32_t high_water;		/* next never-used index */
	uint32_t free_head;
	struct lru lru[L__COUNT];
	struct lru pend;		/* the pending list, oldest first */
	uint64_t timeout_ns[L__COUNT];	/* as configured */
	uint64_t to_ns[L__COUNT];	/* in force now (shortened in emergency) */
	uint64_t interval_ns;
	uint64_t clock;
	uint64_t next_id;
	uint8_t hkey[16];
	capture_emit_fn emit;
	void *emit_ctx;
	struct capture_flow_stats st;
};

_Static_assert(sizeof(struct flow_entry) == 128, "flow_entry is two cache lines");

/*
 * Well-known server ports at or above 1024, sorted (kept short on purpose:
 * it only decides which end of a mid-stream flow is the server).
 */
static const uint16_t server_ports[] = {
	1433,	/* mssql */
	1521,	/* oracle */
	1883,	/* mqtt */
	2049,	/* nfs */
	2181,	/* zookeeper */
	2379,	/* etcd client */
	2380,	/* etcd peer */
	3000,	/* grafana and many web apps */
	3306,	/* mysql */
	3389,	/* rdp */
	4222,	/* nats */
	5000,	/* docker registry */
	5044,	/* beats */
	5432,	/* postgresql */
	5601,	/* kibana */
	5672,	/* amqp */
	6379,	/* redis */
	6443,	/* kubernetes api */
	7000,	/* cassandra */
	8000,	/* http-alt */
	8080,	/* http-alt */
	8443,	/* https-alt */
	8500,	/* consul */
	8883,	/* mqtt over tls */
	9000,	/* minio, php-fpm */
	9042,	/* cassandra cql */
	9090,	/* prometheus */
	9092,	/* kafka */
	9093,	/* alertmanager */
	9200,	/* elasticsearch */
	9300,	/* elasticsearch transport */
	10250,	/* kubelet */
	11211,	/* memcached */
	15672,	/* rabbitmq management */
	27017,	/* mongodb */
};

static int is_server_port(uint16_t p)
{
	size_t lo = 0, hi = EW_ARRAY_LEN(server_ports);

	if (p > 0 && p < 1024)
		return 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (server_ports[mid] == p)
			return 1;
		if (server_ports[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static inline uint64_t load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t load_be64(const uint8_t *p)
{
	return be64toh(load64(p));
}

/* <0, 0, >0 as end (a, ap) orders before, equal to, after (b, bp). */
static inline int end_cmp(const uint8_t a[16], uint16_t ap,
			  const uint8_t b[16], uint16_t bp)
{
	uint64_t x = load_be64(a), y = load_be64(b);

	if (x == y) {
		x = load_be64(a + 8);
		y = load_be64(b + 8);
		if (x == y) {
			x = ap;
			y = bp;
		}
	}
	return (x > y) - (x < y);
}

static inline void key_ip(const struct flow_key *k, int end, uint8_t out[16])
{
	memcpy(out, &k->w[2 * end], 16);
}

static inline uint16_t key_port(const struct flow_key *k, int end)
{
	return (uint16_t)(k->w[4] >> (16 * end));
}

static inline uint32_t key_iface(const struct flow_key *k)
{
	return (uint32_t)(k->w[4] >> 32);
}

static inline uint16_t key_vlan(const struct flow_key *k)
{
	return (uint16_t)k->w[5];
}

static inline uint8_t key_proto(const struct flow_key *k)
{
	return (uint8_t)(k->w[5] >> 16);
}

static inline uint8_t key_family(const struct flow_key *k)
{
	return (uint8_t)(k->w[5] >> 24);
}

static inline uint8_t key_depth(const struct flow_key *k)
{
	return (uint8_t)(k->w[5] >> 32);
}

static inline int key_eq(const struct flow_key *a, const struct flow_key *b)
{
	uint64_t d = 0;

	for (int i = 0; i < 6; i++)
		d |= a->w[i] ^ b->w[i];
	return d == 0;
}

/* Fills `k` from the packet; returns the key end (0/1) that sent it. */
static inline int key_build(struct flow_key *k, const struct pkt_layer *pl,
			    uint16_t vlan, uint32_t iface)
{
	int side = end_cmp(pl->src, pl->sport, pl->dst, pl->dport) > 0;
	const uint8_t *lo = side ? pl->dst : pl->src;
	const uint8_t *hi = side ? pl->src : pl->dst;
	uint16_t plo = side ? pl->dport : pl->sport;
	uint16_t phi = side ? pl->sport : pl->dport;

	k->w[0] = load64(lo);
	k->w[1] = load64(lo + 8);
	k->w[2] = load64(hi);
	k->w[3] = load64(hi + 8);
	k->w[4] = plo | (uint64_t)phi << 16 | (uint64_t)iface << 32;
	k->w[5] = vlan | (uint64_t)pl->proto << 16 |
		  (uint64_t)pl->family << 24 | (uint64_t)pl->tunnel_depth << 32;
	return side;
}

static inline uint32_t key_bucket(const struct flow_table *ft,
				  const struct flow_key *k)
{
	uint64_t h;

	if (key_family(k) == 4) {
		uint64_t in[3];
		uint32_t a, b;

		memcpy(&a, (const uint8_t *)k->w + 12, 4);
		memcpy(&b, (const uint8_t *)k->w + 28, 4);
		in[0] = a | (uint64_t)b << 32;
		in[1] = k->w[4];
		in[2] = k->w[5];
		h = ew_siphash(ft->hkey, in, sizeof(in));
	} else {
		h = ew_siphash(ft->hkey, k->w, sizeof(k->w));
	}
	return (uint32_t)h & ft->mask;
}

static int is_closed(const struct flow_entry *e)
{
	uint8_t both = e->tcp_flags[0] & e->tcp_flags[1];
	uint8_t any = e->tcp_flags[0] | e->tcp_flags[1];

	return (both & TH_FIN) || (any & TH_RST);
}

/* The list a flow belongs on given what it has seen so far. */
static inline uint8_t list_of(const struct flow_entry *e)
{
	int answered = e->pkts[FLOW_FWD] && e->pkts[FLOW_REV];

	switch (key_proto(&e->k)) {
	case PROTO_TCP:
		if (is_closed(e))
			return L_TCP_CLOSED;
		return answered ? L_TCP : L_TCP_UNANS;
	case PROTO_UDP:
		return answered ? L_UDP : L_UDP_UNANS;
	default:
		return answered ? L_OTHER : L_OTHER_UNANS;
	}
}

/* FIN both ways counts as a graceful close even if an RST followed it. */
static enum flow_end_reason closed_reason(const struct flow_entry *e)
{
	return (e->tcp_flags[0] & e->tcp_flags[1] & TH_FIN) ?
		       FLOW_END_TCP_FIN : FLOW_END_TCP_RST;
}

static enum flow_end_reason expiry_reason(const struct flow_entry *e)
{
	return e->list == L_TCP_CLOSED ? closed_reason(e) : FLOW_END_IDLE;
}

static inline void lru_unlink(struct flow_table *ft, struct flow_entry *e)
{
	struct lru *l = &ft->lru[e->list];

	if (e->prev)
		ft->ent[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next)
		ft->ent[e->next].prev = e->prev;
	else
		l->tail = e->prev;
}

static inline void lru_append(struct flow_table *ft, struct flow_entry *e,
			      uint32_t i, uint8_t list)
{
	struct lru *l = &ft->lru[list];

	e->list = list;
	e->next = 0;
	e->prev = l->tail;
	if (l->tail)
		ft->ent[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
}

static void set_emergency(struct flow_table *ft, int on)
{
	ft->st.emergency = (uint64_t)on;
	for (int l = 0; l < L__COUNT; l++)
		ft->to_ns[l] = on ? ft->timeout_ns[l] / EMERGENCY_DIV :
				    ft->timeout_ns[l];
}

/* ---- the pending list (see "Trailing UPDATE" at the top) ------------------ */

static void pend_unlink(struct flow_table *ft, struct flow_entry *e, uint32_t i)
{
	struct flow_rep *r = &ft->rep[i];

	if (r->pprev)
		ft->rep[r->pprev].pnext = r->pnext;
	else
		ft->pend.head = r->pnext;
	if (r->pnext)
		ft->rep[r->pnext].pprev = r->pprev;
	else
		ft->pend.tail = r->pprev;
	r->pprev = r->pnext = 0;
	e->flags &= (uint8_t)~FE_PENDING;
}

/* `now` is the table's clock, which never goes backwards: appending keeps
 * the list in time order. */
static void pend_append(struct flow_table *ft, struct flow_entry *e,
			uint32_t i, uint64_t now)
{
	struct flow_rep *r = &ft->rep[i];

	r->pend_ns = now;
	r->pprev = ft->pend.tail;
	r->pnext = 0;
	if (ft->pend.tail)
		ft->rep[ft->pend.tail].pnext = i;
	else
		ft->pend.head = i;
	ft->pend.tail = i;
	e->flags |= FE_PENDING;
}

/* Build and emit one event; NEW and UPDATE make the counters "reported". */
static void emit(struct flow_table *ft, uint32_t i, enum flow_event ev,
		 enum flow_end_reason reason)
{
	struct flow_entry *e = &ft->ent[i];
	struct flow_rep *r = &ft->rep[i];
	struct flow_record rec;
	int ini = (e->flags & FE_INIT_HI) ? 1 : 0;

	memset(&rec, 0, sizeof(rec));
	rec.id = e->id;
	rec.first_ns = e->first_ns;
	/* Below first_ns only after a step back of the wall clock. */
	rec.last_ns = e->last_ns > e->first_ns ? e->last_ns : e->first_ns;
	for (int d = 0; d < 2; d++) {
		rec.pkts[d] = e->pkts[d];
		rec.bytes[d] = e->bytes[d];
		rec.dpkts[d] = e->pkts[d] - r->pkts[d];
		rec.dbytes[d] = e->bytes[d] - r->bytes[d];
		rec.tcp_flags[d] = e->tcp_flags[d];
		r->pkts[d] = e->pkts[d];
		r->bytes[d] = e->bytes[d];
	}
	key_ip(&e->k, ini, rec.ip[0]);
	key_ip(&e->k, ini ^ 1, rec.ip[1]);
	rec.port[0] = key_port(&e->k, ini);
	rec.port[1] = key_port(&e->k, ini ^ 1);
	rec.vlan = key_vlan(&e->k);
	rec.family = key_family(&e->k);
	rec.proto = key_proto(&e->k);
	rec.event = (uint8_t)ev;
	rec.end_reason = (uint8_t)reason;
	rec.init_rule = e->flags & FE_RULE_MASK;
	rec.tunnel_depth = key_depth(&e->k);
	rec.iface = key_iface(&e->k);
	if (ev != FLOW_EV_END)
		e->last_ev_ns = e->last_ns;
	if (e->flags & FE_PENDING)
		pend_unlink(ft, e, i);
	ft->emit(ft->emit_ctx, &rec);
}

/*
 * Emit END for entry `i` and return it to the free list.  The caller counts
 * it as expired, evicted or ended_shutdown.
 */
static void end_flow(struct flow_table *ft, uint32_t i,
		     enum flow_end_reason reason)
{
	struct flow_entry *e = &ft->ent[i];
	uint32_t *pp = &ft->bucket[key_bucket(ft, &e->k)];

	emit(ft, i, FLOW_EV_END, reason);
	while (*pp != i)
		pp = &ft->ent[*pp].hnext;
	*pp = e->hnext;
	lru_unlink(ft, e);
	e->hnext = ft->free_head;
	ft->free_head = i;
	ft->st.active--;
	/* An eviction frees the slot a new flow takes at once: not a recovery. */
	if (ft->st.emergency && reason != FLOW_END_EVICTED &&
	    ft->st.active * 10 < (uint64_t)ft->max * 9)
		set_emergency(ft, 0);
}

/* End every flow whose idle timeout has passed at `now` (>= every last_ns,
 * as the clock never goes backwards). */
static void expire(struct flow_table *ft, uint64_t now)
{
	for (int l = 0; l < L__COUNT; l++) {
		uint32_t i;

		/* to_ns is read each time: leaving emergency lengthens it. */
		while ((i = ft->lru[l].head) != 0 &&
		       now - ft->ent[i].last_ns >= ft->to_ns[l]) {
			end_flow(ft, i, expiry_reason(&ft->ent[i]));
			ft->st.expired++;
		}
	}
}

/* The oldest of the heads of `lists`, or 0 when they are all empty. */
static uint32_t oldest_head(const struct flow_table *ft, const int *lists,
			    size_t n)
{
	uint32_t best = 0;

	for (size_t j = 0; j < n; j++) {
		uint32_t i = ft->lru[lists[j]].head;
		if (i && (!best || ft->ent[i].last_ns < ft->ent[best].last_ns))
			best = i;
	}
	return best;
}

/* The flow to evict when the table is full, or 0 to refuse (see top). */
static uint32_t pick_victim(const struct flow_table *ft, uint64_t now)
{
	static const int unanswered[] = { L_TCP_UNANS, L_UDP_UNANS,
					  L_OTHER_UNANS };
	static const int answered[] = { L_TCP, L_UDP, L_OTHER };
	uint32_t i;

	i = oldest_head(ft, unanswered, EW_ARRAY_LEN(unanswered));
	if (i && now - ft->ent[i].last_ns >= EVICT_MIN_IDLE_NS)
		return i;
	if ((i = ft->lru[L_TCP_CLOSED].head) != 0)
		return i;
	i = oldest_head(ft, answered, EW_ARRAY_LEN(answered));
	if (i && now - ft->ent[i].last_ns >= EVICT_MIN_IDLE_NS)
		return i;
	return 0;
}

/* Make one entry free in a full table; 0 when the new flow must be refused. */
static int make_room(struct flow_table *ft, uint64_t now)
{
	uint32_t victim;

	if (!ft->st.emergency) {
		set_emergency(ft, 1);
		ft->st.emergency_entered++;
	}
	expire(ft, now);
	if (ft->st.active < ft->max)
		return 1;
	victim = pick_victim(ft, now);
	if (!victim)
		return 0;
	end_flow(ft, victim, FLOW_END_EVICTED);
	ft->st.evicted++;
	return 1;
}

/* Key end (0/1) of the initiator of a flow whose first packet is `pl`, sent
 * by end `side`; the rule used goes to *rule.  See the top of this file. */
static int pick_initiator(const struct pkt_layer *pl, int side, uint8_t *rule)
{
	int receiver = side ^ 1;

	if (pl->proto == PROTO_TCP) {
		uint8_t f = pl->tcp_flags & (TH_SYN | TH_ACK);
		if (f == TH_SYN) {
			*rule = FLOW_INIT_SYN;
			return side;
		}
		if (f == (TH_SYN | TH_ACK)) {
			*rule = FLOW_INIT_SYNACK;
			return receiver;
		}
	} else if (pl->reply_hint) {
		*rule = FLOW_INIT_SYNACK;
		return receiver;
	}
	if (pl->proto == PROTO_TCP || pl->proto == PROTO_UDP ||
	    pl->proto == PROTO_SCTP) {
		int ss = is_server_port(pl->sport), ds = is_server_port(pl->dport);
		int se = pl->sport >= EPHEMERAL_MIN, de = pl->dport >= EPHEMERAL_MIN;

		if (ss != ds) {
			*rule = FLOW_INIT_PORT;
			return ss ? receiver : side;
		}
		if (se != de) {
			*rule = FLOW_INIT_PORT;
			return se ? side : receiver;
		}
	}
	*rule = FLOW_INIT_FIRST;
	return side;
}

/* Count the packet in `e` and move it to the tail of its (new) list. */
static inline void account(struct flow_table *ft, struct flow_entry *e,
			   uint32_t i, const struct pkt_layer *pl, int side,
			   uint64_t now)
{
	int dir = side ^ ((e->flags & FE_INIT_HI) ? 1 : 0);
	uint8_t list;

	e->pkts[dir]++;
	e->bytes[dir] += pl->ip_bytes;
	if (key_proto(&e->k) == PROTO_TCP)
		e->tcp_flags[dir] |= pl->tcp_flags;
	e->last_ns = now;
	list = list_of(e);
	if (list != e->list || ft->lru[list].tail != i) {
		lru_unlink(ft, e);
		lru_append(ft, e, i, list);
	}
}

/* Insert a new flow for the packet in bucket `b`, or count it refused. */
static void flow_start(struct flow_table *ft, uint32_t b,
			   const struct flow_key *k, const struct pkt_layer *pl,
			   int side, uint64_t now)
{
	struct flow_entry *e;
	uint8_t rule;
	uint32_t i;

	if (ft->st.active >= ft->max && !make_room(ft, now)) {
		ft->st.refused++;
		return;
	}
	if (ft->free_head) {
		i = ft->free_head;
		ft->free_head = ft->ent[i].hnext;
	} else {
		i = ft->high_water++;
	}
	e = &ft->ent[i];
	e->k = *k;
	e->hnext = ft->bucket[b];
	ft->bucket[b] = i;
	e->flags = pick_initiator(pl, side, &rule) ? FE_INIT_HI : 0;
	e->flags |= rule;
	e->tcp_flags[0] = e->tcp_flags[1] = 0;
	e->pkts[0] = e->pkts[1] = e->bytes[0] = e->bytes[1] = 0;
	e->first_ns = now;
	e->id = ft->next_id++;
	memset(&ft->rep[i], 0, sizeof(ft->rep[i]));
	ft->st.created++;
	ft->st.active++;
	if (ft->st.active > ft->st.peak)
		ft->st.peak = ft->st.active;

	/* account() unlinks before appending; give it a list to leave. */
	e->list = list_of(e);
	lru_append(ft, e, i, e->list);
	account(ft, e, i, pl, side, now);
	emit(ft, i, FLOW_EV_NEW, FLOW_END_NONE);
}

/* Account a packet whose key `k` (sent by key end `side`) hashes to bucket
 * `b`: flow_table_packet once the key is known. */
static inline void packet_keyed(struct flow_table *ft,
				const struct pkt_layer *pl,
				const struct flow_key *k, uint32_t b, int side,
				uint64_t ts_ns)
{
	struct flow_entry *e = NULL;
	uint32_t i;
	uint64_t now;
	uint8_t was;

	if (ts_ns > ft->clock)
		ft->clock = ts_ns;
	now = ft->clock;
	for (i = ft->bucket[b]; i; i = e->hnext) {
		e = &ft->ent[i];
		if (key_eq(&e->k, k))
			break;
	}
	if (i) {
		if (now - e->last_ns >= ft->to_ns[e->list]) {
			end_flow(ft, i, expiry_reason(e));
			ft->st.expired++;
			i = 0;
		} else if (e->list == L_TCP_CLOSED &&
			   (pl->tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN) {
			end_flow(ft, i, closed_reason(e));
			ft->st.expired++;
			i = 0;
		}
	}
	if (!i) {
		flow_start(ft, b, k, pl, side, now);
		return;
	}
	was = e->list;
	account(ft, e, i, pl, side, now);
	/* A TCP flow that has just closed reports its counters at once: its
	 * END comes only tcp_closed_s later. */
	if (now - e->last_ev_ns >= ft->interval_ns ||
	    (e->list == L_TCP_CLOSED && was != L_TCP_CLOSED)) {
		emit(ft, i, FLOW_EV_UPDATE, FLOW_END_NONE);
		ft->st.updates++;
	} else if (!(e->flags & FE_PENDING) && e->list != L_TCP_CLOSED) {
		pend_append(ft, e, i, now);
	}
}

void flow_table_packet(struct flow_table *ft, const struct pkt_layer *pl,
		       uint16_t vlan, uint32_t iface, uint64_t ts_ns)
{
	struct flow_key k;
	int side = key_build(&k, pl, vlan, iface);

	packet_keyed(ft, pl, &k, key_bucket(ft, &k), side, ts_ns);
}

/*
 * Batches are worked in groups of PREFETCH_GROUP packets, in three passes:
 * hash every key and prefetch its bucket; read each bucket's first entry
 * index and prefetch that entry; then account the packets in order, exactly
 * as flow_table_packet would.  The first two passes only warm the cache (an
 * index they read may be stale by the time its packet's turn comes, when an
 * earlier packet of the group inserted or ended a flow: the third pass looks
 * everything up again), so the cache misses of a group overlap instead of
 * following one another, bucket then entry, packet after packet.  A group is
 * small enough that what it prefetched is still in L1 when it is used.
 */
#define PREFETCH_GROUP 8

void flow_table_packets(struct flow_table *ft, const struct flow_input *in,
			size_t n)
{
	struct flow_key k[PREFETCH_GROUP];
	uint32_t b[PREFETCH_GROUP];
	int side[PREFETCH_GROUP];

	for (size_t g = 0; g < n; g += PREFETCH_GROUP) {
		size_t m = n - g < PREFETCH_GROUP ? n - g : PREFETCH_GROUP;

		for (size_t j = 0; j < m; j++) {
			const struct flow_input *x = &in[g + j];

			side[j] = key_build(&k[j], x->pl, x->vlan, x->iface);
			b[j] = key_bucket(ft, &k[j]);
			__builtin_prefetch(&ft->bucket[b[j]]);
		}
		for (size_t j = 0; j < m; j++) {
			uint32_t i = ft->bucket[b[j]];

			if (i) {
				/* Both lines: key in the first, counters
				 * and LRU links in the second. */
				__builtin_prefetch(&ft->ent[i], 1);
				__builtin_prefetch((const char *)&ft->ent[i] + 64, 1);
			}
		}
		for (size_t j = 0; j < m; j++)
			packet_keyed(ft, in[g + j].pl, &k[j], b[j], side[j],
				     in[g + j].ts_ns);
	}
}

void flow_table_advance(struct flow_table *ft, uint64_t now_ns)
{
	uint32_t i;

	if (now_ns > ft->clock)
		ft->clock = now_ns;
	/* Expiry first: a flow that is due for both needs only its END. */
	expire(ft, ft->clock);
	while ((i = ft->pend.head) != 0 &&
	       ft->clock - ft->rep[i].pend_ns >= ft->interval_ns) {
		emit(ft, i, FLOW_EV_UPDATE, FLOW_END_NONE);	/* unlinks */
		ft->st.updates++;
		ft->st.trailing_updates++;
	}
}

void flow_table_rebase(struct flow_table *ft, int64_t delta_ns)
{
	uint64_t d = (uint64_t)delta_ns;	/* modulo 2^64: adds a negative */

	for (int l = 0; l < L__COUNT; l++)
		for (uint32_t i = ft->lru[l].head; i; i = ft->ent[i].next) {
			ft->ent[i].last_ns += d;
			ft->ent[i].last_ev_ns += d;
		}
	for (uint32_t i = ft->pend.head; i; i = ft->rep[i].pnext)
		ft->rep[i].pend_ns += d;
	ft->clock += d;
}

void flow_table_flush(struct flow_table *ft, enum flow_end_reason reason)
{
	for (int l = 0; l < L__COUNT; l++) {
		uint32_t i;

		while ((i = ft->lru[l].head) != 0) {
			end_flow(ft, i, reason);
			ft->st.ended_shutdown++;
		}
	}
}

void flow_table_flush_iface(struct flow_table *ft, uint32_t iface,
			    enum flow_end_reason reason)
{
	for (int l = 0; l < L__COUNT; l++) {
		uint32_t i = ft->lru[l].head;

		while (i) {
			uint32_t next = ft->ent[i].next;
			if (key_iface(&ft->ent[i].k) == iface) {
				end_flow(ft, i, reason);
				ft->st.ended_shutdown++;
			}
			i = next;
		}
	}
}

void flow_table_stats(const struct flow_table *ft,
		      struct capture_flow_stats *out)
{
	*out = ft->st;
	out->max_flows = ft->max;
	out->memory_bytes = sizeof(*ft) + ft->ent_len + ft->rep_len +
			    ft->bucket_len;
}

/* Anonymous zeroed memory whose pages cost nothing until touched. */
static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint64_t secs(uint32_t s)
{
	return (uint64_t)s * NS_PER_S;
}

struct flow_table *flow_table_create(const struct capture_config *cfg,
				     char *err, size_t errlen)
{
	struct flow_table *ft = NULL;
	uint64_t nbuckets = 1;
	int rc;

	if (!cfg->emit) {
		snprintf(err, errlen, "flow table: no event callback");
		return NULL;
	}
	if (cfg->max_flows == 0 || cfg->max_flows > MAX_FLOWS_LIMIT) {
		snprintf(err, errlen, "flow table: max_flows must be 1..%u, not %u",
			 MAX_FLOWS_LIMIT, cfg->max_flows);
		return NULL;
	}
	if (!cfg->tcp_idle_s || !cfg->tcp_syn_idle_s || !cfg->tcp_closed_s ||
	    !cfg->udp_idle_s || !cfg->other_idle_s) {
		snprintf(err, errlen, "flow table: idle timeouts must be at least 1 s");
		return NULL;
	}
	ft = calloc(1, sizeof(*ft));
	if (!ft) {
		snprintf(err, errlen, "flow table: out of memory");
		return NULL;
	}
	ft->max = cfg->max_flows;
	while (nbuckets < 2 * (uint64_t)cfg->max_flows)
		nbuckets <<= 1;
	ft->mask = (uint32_t)(nbuckets - 1);
	ft->ent_len = ((size_t)cfg->max_flows + 1) * sizeof(struct flow_entry);
	ft->rep_len = ((size_t)cfg->max_flows + 1) * sizeof(struct flow_rep);
	ft->bucket_len = (size_t)nbuckets * sizeof(uint32_t);
	ft->ent = map_zeroed(ft->ent_len);
	ft->rep = map_zeroed(ft->rep_len);
	ft->bucket = map_zeroed(ft->bucket_len);
	if (!ft->ent || !ft->rep || !ft->bucket) {
		snprintf(err, errlen, "flow table: out of memory for %u flows",
			 cfg->max_flows);
		goto err;
	}
	rc = ew_random_bytes(ft->hkey, sizeof(ft->hkey));
	if (rc < 0) {
		snprintf(err, errlen, "flow table: no random hash key: %s",
			 strerror(-rc));
		goto err;
	}
	ft->high_water = 1;
	ft->timeout_ns[L_TCP_UNANS] = secs(cfg->tcp_syn_idle_s);
	ft->timeout_ns[L_TCP] = secs(cfg->tcp_idle_s);
	ft->timeout_ns[L_TCP_CLOSED] = secs(cfg->tcp_closed_s);
	ft->timeout_ns[L_UDP_UNANS] = secs(cfg->udp_idle_s);
	ft->timeout_ns[L_UDP] = secs(cfg->udp_idle_s);
	ft->timeout_ns[L_OTHER_UNANS] = secs(cfg->other_idle_s);
	ft->timeout_ns[L_OTHER] = secs(cfg->other_idle_s);
	set_emergency(ft, 0);
	ft->interval_ns = (uint64_t)cfg->update_interval_ms * NS_PER_MS;
	ft->next_id = cfg->first_flow_id;
	ft->emit = cfg->emit;
	ft->emit_ctx = cfg->emit_ctx;
	return ft;
err:
	flow_table_destroy(ft);
	return NULL;
}

void flow_table_destroy(struct flow_table *ft)
{
	if (!ft)
		return;
	if (ft->ent)
		munmap(ft->ent, ft->ent_len);
	if (ft->rep)
		munmap(ft->rep, ft->rep_len);
	if (ft->bucket)
		munmap(ft->bucket, ft->bucket_len);
	free(ft);
}
