/*
 * fuzz_events.h - the flow-event and DNS-event contracts of capture.h,
 * checked on every event the capture targets (fuzz_decode, fuzz_pcap) see:
 *
 *  - each flow id gets NEW first, then UPDATEs, then exactly one END, and
 *    nothing after it; ids are handed out in order from first_flow_id;
 *  - totals never go down, and each event's totals are the previous
 *    event's totals plus its deltas;
 *  - first_ns <= last_ns; NEW counts exactly its first packet; family,
 *    event, end reason and initiator rule are in range;
 *  - at the end: created == expired + evicted + ended_shutdown (+ active,
 *    0 after the flush), NEW events == END events == created, peak <= cap;
 *  - DNS events: at most DNS_EVENT_MAX_ADDRS addresses, names NUL-
 *    terminated and in presentation form with every byte other than
 *    [A-Za-z0-9_-] escaped as \DDD (DDD <= 255), '.' between labels.
 *
 * A running hash of every event lets two runs of the same packets (the
 * batched pcap-file path and libpcap's one-record path) be compared.
 */
#ifndef EW_FUZZ_EVENTS_H
#define EW_FUZZ_EVENTS_H

#include <string.h>

#include "capture.h"
#include "fuzz.h"
#include "util.h"

#define FUZZ_FIRST_ID 1000

/* FUZZ_DUMP=1 in the environment: print every flow event (reproducing a
 * finding by hand). */
static int fuzz_dump;

struct fuzz_flow {
	uint8_t state;			/* 0 unseen, 1 live, 2 ended */
	uint64_t pkts[2], bytes[2];
};

struct fuzz_events {
	struct fuzz_flow *flows;	/* by id - FUZZ_FIRST_ID */
	size_t cap;			/* ids this input may use */
	size_t alloc;			/* entries allocated */
	size_t used;			/* entries touched: reset by the next init */
	uint64_t news, updates, ends, dns;
	uint64_t hash;			/* FNV-1a over the events */
};

/*
 * Ready `fe` (static storage, zero the first time) for up to `max_ids` flow
 * ids.  The table is kept from one input to the next and only the entries
 * the previous input touched are cleared: a fresh allocation per input
 * would cost more than most inputs.
 */
static inline void fuzz_events_init(struct fuzz_events *fe, size_t max_ids)
{
	struct fuzz_flow *flows = fe->flows;
	size_t alloc = fe->alloc;

	if (max_ids > alloc) {
		free(flows);
		alloc = max_ids;
		flows = calloc(alloc, sizeof(*flows));
		if (!flows)
			abort();
	} else {
		memset(flows, 0, fe->used * sizeof(*flows));
	}
	memset(fe, 0, sizeof(*fe));
	fe->flows = flows;
	fe->alloc = alloc;
	fe->cap = max_ids;		/* ids beyond what this input can make are a finding */
	fe->hash = 1469598103934665603ull;
}

static inline void fuzz_hash(struct fuzz_events *fe, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		fe->hash ^= b[i];
		fe->hash *= 1099511628211ull;
	}
}

static inline void fuzz_on_flow(void *ctx, const struct flow_record *r)
{
	struct fuzz_events *fe = ctx;
	struct fuzz_flow *f;
	uint64_t id = r->id;

	FUZZ_CHECK(id >= FUZZ_FIRST_ID && id - FUZZ_FIRST_ID < fe->cap,
		   "flow id %llu out of the range handed out",
		   (unsigned long long)id);
	f = &fe->flows[id - FUZZ_FIRST_ID];
	if (id - FUZZ_FIRST_ID >= fe->used)
		fe->used = id - FUZZ_FIRST_ID + 1;
	FUZZ_CHECK(r->family == 4 || r->family == 6, "family %u", r->family);
	FUZZ_CHECK(r->first_ns <= r->last_ns, "first %llu > last %llu",
		   (unsigned long long)r->first_ns,
		   (unsigned long long)r->last_ns);
	FUZZ_CHECK(r->init_rule >= FLOW_INIT_SYN && r->init_rule <= FLOW_INIT_FIRST,
		   "init rule %u", r->init_rule);
	FUZZ_CHECK(r->ifname[CAPTURE_IFNAME_MAX - 1] == '\0', "ifname unterminated");
	for (int d = 0; d < 2; d++) {
		FUZZ_CHECK(r->pkts[d] == f->pkts[d] + r->dpkts[d],
			   "flow %llu dir %d: %llu packets, previous %llu + delta %llu",
			   (unsigned long long)id, d,
			   (unsigned long long)r->pkts[d],
			   (unsigned long long)f->pkts[d],
			   (unsigned long long)r->dpkts[d]);
		FUZZ_CHECK(r->bytes[d] == f->bytes[d] + r->dbytes[d],
			   "flow %llu dir %d: bytes do not add up",
			   (unsigned long long)id, d);
		f->pkts[d] = r->pkts[d];
		f->bytes[d] = r->bytes[d];
	}
	switch (r->event) {
	case FLOW_EV_NEW:
		FUZZ_CHECK(f->state == 0, "NEW for flow %llu in state %u",
			   (unsigned long long)id, f->state);
		FUZZ_CHECK(r->pkts[0] + r->pkts[1] == 1,
			   "NEW with %llu packets",
			   (unsigned long long)(r->pkts[0] + r->pkts[1]));
		FUZZ_CHECK(r->end_reason == FLOW_END_NONE, "NEW with end reason");
		f->state = 1;
		fe->news++;
		break;
	case FLOW_EV_UPDATE:
		FUZZ_CHECK(f->state == 1, "UPDATE for flow %llu in state %u",
			   (unsigned long long)id, f->state);
		FUZZ_CHECK(r->end_reason == FLOW_END_NONE, "UPDATE with end reason");
		fe->updates++;
		break;
	case FLOW_EV_END:
		FUZZ_CHECK(f->state == 1, "END for flow %llu in state %u",
			   (unsigned long long)id, f->state);
		FUZZ_CHECK(r->end_reason > FLOW_END_NONE &&
			   r->end_reason < FLOW_END__COUNT,
			   "END reason %u", r->end_reason);
		f->state = 2;
		fe->ends++;
		break;
	default:
		FUZZ_CHECK(0, "event %u", r->event);
	}
	fuzz_hash(fe, r, offsetof(struct flow_record, ifname));
	if (fuzz_dump)
		fprintf(stderr, "event %p: id %llu ev %u end %u first %llu last %llu "
			"pkts %llu/%llu bytes %llu/%llu proto %u ports %u/%u\n",
			(void *)fe, (unsigned long long)id, r->event, r->end_reason,
			(unsigned long long)r->first_ns, (unsigned long long)r->last_ns,
			(unsigned long long)r->pkts[0], (unsigned long long)r->pkts[1],
			(unsigned long long)r->bytes[0], (unsigned long long)r->bytes[1],
			r->proto, r->port[0], r->port[1]);
}

/* Presentation form as dns.h promises it. */
static inline void fuzz_check_dns_name(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_CHECK(n < cap, "DNS name not NUL-terminated");
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '\\') {
			FUZZ_CHECK(i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '2' &&
				   s[i + 2] >= '0' && s[i + 2] <= '9' &&
				   s[i + 3] >= '0' && s[i + 3] <= '9',
				   "bad escape in \"%s\"", s);
			FUZZ_CHECK((s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 +
				   (s[i + 3] - '0') <= 255, "escape > 255 in \"%s\"", s);
			i += 3;
			continue;
		}
		FUZZ_CHECK((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
			   ch == '.', "unescaped byte 0x%02x in a DNS name",
			   (unsigned)(uint8_t)ch);
	}
}

static inline void fuzz_check_dns_event(const struct dns_event *ev)
{
	FUZZ_CHECK(ev->n_addrs <= DNS_EVENT_MAX_ADDRS, "%u addresses", ev->n_addrs);
	fuzz_check_dns_name(ev->qname, sizeof(ev->qname));
	fuzz_check_dns_name(ev->cname, sizeof(ev->cname));
	for (unsigned i = 0; i < ev->n_addrs; i++)
		(void)ew_ip_is_v4(ev->addr[i]);
}

static inline void fuzz_on_dns(void *ctx, const struct dns_event *ev)
{
	struct fuzz_events *fe = ctx;

	fuzz_check_dns_event(ev);
	fe->dns++;
	fuzz_hash(fe, ev->qname, strlen(ev->qname));
	fuzz_hash(fe, ev->addr, sizeof(ev->addr[0]) * ev->n_addrs);
}

/* After capture_flush(): the counters add up and match the events. */
static inline void fuzz_check_flow_stats(const struct fuzz_events *fe,
					 const struct capture_flow_stats *s)
{
	FUZZ_CHECK(s->active == 0, "%llu flows still active after the flush",
		   (unsigned long long)s->active);
	FUZZ_CHECK(s->created == s->expired + s->evicted + s->ended_shutdown,
		   "created %llu != expired %llu + evicted %llu + shutdown %llu",
		   (unsigned long long)s->created, (unsigned long long)s->expired,
		   (unsigned long long)s->evicted,
		   (unsigned long long)s->ended_shutdown);
	FUZZ_CHECK(fe->news == s->created && fe->ends == s->created,
		   "%llu NEW, %llu END, %llu created", (unsigned long long)fe->news,
		   (unsigned long long)fe->ends, (unsigned long long)s->created);
	FUZZ_CHECK(fe->updates == s->updates, "%llu UPDATE events, counter %llu",
		   (unsigned long long)fe->updates, (unsigned long long)s->updates);
	FUZZ_CHECK(s->peak <= s->max_flows, "peak %llu above the cap %llu",
		   (unsigned long long)s->peak, (unsigned long long)s->max_flows);
}

#endif
