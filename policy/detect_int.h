/*
 * detect_int.h - private to the detectors (policy/detect*.c, alert.c):
 * the bounded table every piece of detector state lives in, the detector
 * object, and the helpers that build alerts.
 *
 *   detect_tab.c     dtab: fixed-capacity hash table with a global LRU and a
 *                    per-owner LRU and cap, allocated once
 *   detect.c         detect_open/close, workloads, flows, the first-event
 *                    detectors (policy-violation, listen-only-egress,
 *                    unexpected-port from the policy), alert emission and
 *                    dedup
 *   detect_volume.c  exfil-volume: sliding windows and the learned p95
 *   detect_learn.c   unexpected-port from the learned baseline, and
 *                    new-destination
 *   detect_dns.c     dns-tunnel
 *   detect_beacon.c  beaconing
 *   detect_scan.c    scan: failed connections to many distinct targets
 *   alert.c          names, text helpers, dedup keys, the alert's JSON
 *
 * Nothing here is visible outside the module; policy.h is the interface.
 */
#ifndef EW_POLICY_DETECT_INT_H
#define EW_POLICY_DETECT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

/* ---- dtab: a bounded table ----------------------------------------------
 * `cap` slots of (header, key, value), allocated zeroed at init and never
 * grown.  Keys are `key_len` bytes compared with memcmp (callers zero any
 * padding) and belong to an owner (a workload slot; 0 for tables without
 * owners), hashed together with SipHash under a random key.  Every lookup
 * that finds an entry makes it the most recently used, globally and within
 * its owner.  Inserting into a full table evicts the global LRU entry;
 * inserting for an owner that holds `per_owner` entries evicts that owner's
 * LRU entry instead, so one owner cannot push the others out.  Both are
 * counted.  Values are 16-byte aligned. */

#define DTAB_NIL UINT32_MAX
#define DTAB_KEY_MAX 32

struct dtab {
	uint8_t *mem;			/* cap slots of slot_size bytes */
	uint32_t *bucket;		/* chain heads, nbucket (power of 2) */
	uint32_t *own_head, *own_tail, *own_n; /* per owner LRU, n_owners */
	size_t slot_size, key_off, val_off, key_len, val_size;
	uint32_t cap, per_owner, n_owners, nbucket;
	_Atomic uint32_t used;		/* read by detect_get_stats anywhere */
	uint32_t free_head;		/* slots given back */
	uint32_t fresh;			/* slots [fresh, cap) never used yet */
	size_t bytes;			/* allocated at init */
	uint32_t lru_head, lru_tail;	/* head = most recently used */
	uint8_t sipkey[16];
	/* Called for each entry about to be evicted (not for dtab_del). */
	void (*on_evict)(void *ctx, struct dtab *t, void *val);
	void *ctx;
	_Atomic uint64_t evicted;	/* table full */
	_Atomic uint64_t evicted_quota;	/* owner at per_owner */
};

/* 0 or -ENOMEM / -EINVAL (zero cap, key too long). */
int dtab_init(struct dtab *t, uint32_t cap, uint32_t per_owner,
	      uint32_t n_owners, size_t key_len, size_t val_size);
void dtab_free(struct dtab *t);
/* The value of (owner, key), made most recent; NULL if absent. */
void *dtab_find(struct dtab *t, uint32_t owner, const void *key);
/* The value of (owner, key); a new entry (zeroed, *created = 1) when absent,
 * evicting as described above.  Never NULL. */
void *dtab_get(struct dtab *t, uint32_t owner, const void *key, int *created);
void dtab_del(struct dtab *t, void *val);
/* Remove every entry of `owner`; returns how many. */
uint32_t dtab_del_owner(struct dtab *t, uint32_t owner);
const void *dtab_key(const struct dtab *t, const void *val);
uint32_t dtab_index(const struct dtab *t, const void *val);
void *dtab_at(struct dtab *t, uint32_t index);
/* An owner's entries, most recent first: start with DTAB_NIL; returns the
 * next value or NULL.  The table must not change during the walk. */
void *dtab_owner_next(struct dtab *t, uint32_t owner, const void *prev);

/* ---- sliding byte windows ----------------------------------------------- */

#define VRING_BUCKETS 20	/* a window is 20 buckets: 15 s of 5 min */

/* Bytes over the last `window_ns`, kept in VRING_BUCKETS buckets: the sum
 * covers the current bucket and the 19 before it, so data leaves the
 * window within one bucket (1/20 of the window) of its age. */
struct vring {
	uint64_t window_ns;
	uint64_t last_idx;		/* bucket index (now / bucket width) */
	uint64_t sum;
	uint64_t b[VRING_BUCKETS];
};

/* ---- detector state ----------------------------------------------------- */

#define VHIST_BINS 50		/* log2 histogram of per-window bytes */
#define SCAN_SET_WORDS 8	/* 512 bits: scan targets of a window */
#define BEACON_KEEP 16		/* connection starts kept per series */
#define DNS_SET_SLOTS 256	/* distinct names remembered per domain */
#define DNS_DOMAIN_MAX 128
#define DNS_EXAMPLE_MAX 96
#define REMOTE_NAME_MAX 64

/* A workload, or an unknown local address ("ip:<addr>" key). */
struct dwl {
	uint64_t key_hash;
	char name[POLICY_WORKLOAD_MAX];	/* "namespace/name", or the address */
	uint8_t known;			/* a named workload */
	uint64_t first_seen_ns;		/* first event: learning starts */
	uint64_t port_since_ns;		/* earliest loaded baseline, else 0 */
	uint64_t dest_since_ns;		/* first flow event in this process:
					   destinations are not persisted */
	/* exfil-volume */
	struct vring total;
	uint64_t total_alert_until_ns;
	uint64_t vwin_start_ns, vwin_bytes; /* tumbling window being learned */
	uint64_t vwin_ns;
	uint32_t vhist[VHIST_BINS];	/* completed windows by log2(bytes) */
	uint32_t vhist_n;
	/* scan: the window's failed targets (detect_scan.c) */
	uint64_t scan_win_start_ns;
	uint64_t scan_set[SCAN_SET_WORDS];
	uint32_t scan_failed;
	uint8_t scan_alerted;
};

enum { FLOW_JUDGED = 1, FLOW_SCAN_COUNTED = 2 };
struct dflow {
	uint8_t flags;
};

/* exfil-volume per remote address of a workload. */
struct dremote {
	struct vring ring;
	uint64_t alert_until_ns;
	uint32_t asn;
	uint16_t port;			/* of the latest flow */
	uint8_t proto;
	char country[4];
	char name[REMOTE_NAME_MAX];	/* cut; for messages only */
};

struct dport {
	uint64_t first_seen_ns, last_seen_ns;
	uint64_t count;
};

struct ddest {
	uint8_t present;
};
enum { DEST_ADDR = 1, DEST_NAME, DEST_ASN, DEST_COUNTRY };

struct dbeacon {
	uint64_t start[BEACON_KEEP];	/* ring of connection start times */
	uint32_t n, head;		/* stored, next write position */
	uint64_t alert_until_ns;
};

struct ddomain {
	char domain[DNS_DOMAIN_MAX];
	uint64_t win_start_ns;
	uint64_t alert_until_ns;
	uint32_t unique, suspicious;
	uint32_t longest;		/* longest subdomain seen (chars) */
	double max_entropy;
	char example[2][DNS_EXAMPLE_MAX]; /* suspicious names, for evidence */
	uint32_t set[DNS_SET_SLOTS];	/* name hashes, 0 = empty */
};

struct drecent {
	uint32_t count;
};

struct detect {
	struct detect_config cfg;
	uint8_t sipkey[16];
	struct dtab wl, flows, remotes, dests, ports, beacons, domains, recent;
	uint64_t newest_ns;		/* for clock_backwards */
	struct ew_buf ev;		/* evidence scratch, allocated at open */
	struct policy_alert alert;	/* scratch */
	_Atomic uint64_t events, dns_answers, repeats, suppressed;
	_Atomic uint64_t clock_backwards, invalid;
	_Atomic uint64_t alerts[DETECT__COUNT];
	_Atomic uint64_t domain_names_full;
	_Atomic uint64_t baseline_emitted, baseline_loaded, baseline_refused;
};

#define CNT(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)

/* detect.c */
struct dwl *detect_workload(struct detect *d, const char *workload,
			    const uint8_t ip[16], uint64_t now_ns);
uint32_t detect_wl_index(struct detect *d, const struct dwl *w);
/* Start an alert in d->alert from a flow event (times, workload, remote,
 * bytes, rule of the verdict); the caller sets the rest and calls
 * detect_emit(). */
struct policy_alert *detect_alert_flow(struct detect *d, enum detect_kind k,
				       enum policy_severity sev,
				       const struct detect_event *ev,
				       const struct dwl *w);
/* Finish d->alert (dedup key from w's name - "ip:<addr>" for an unknown
 * workload, so two unknown pods never merge - and `remote` text and
 * port/proto; evidence from d->ev), count it and hand it to on_alert. */
void detect_emit(struct detect *d, const struct dwl *w, const char *remote,
		 uint16_t port, uint8_t proto);
/* "prod/redis-0", or the address of an unknown workload. */
const char *detect_wl_display(const struct dwl *w);
/* 1 when the verdict is an explicit allow (a rule of ours or a
 * NetworkPolicy rule named the flow): expected by definition. */
int detect_explicit_allow(const struct detect_event *ev);

/* detect_volume.c */
void vring_reset(struct vring *r, uint64_t window_ns, uint64_t now_ns);
uint64_t vring_add(struct vring *r, uint64_t window_ns, uint64_t now_ns,
		   uint64_t bytes);
int detect_volume(struct detect *d, const struct detect_event *ev,
		  struct dwl *w);

/* detect_learn.c */
/* `quiet`: the flow already alerted; learn, but raise nothing. */
int detect_learned_port(struct detect *d, const struct detect_event *ev,
			struct dwl *w, int quiet);
int detect_new_destination(struct detect *d, const struct detect_event *ev,
			   struct dwl *w, int quiet);
int detect_port_load(struct detect *d, struct dwl *w,
		     const struct detect_baseline *b);

/* detect_beacon.c */
int detect_beacon(struct detect *d, const struct detect_event *ev,
		  struct dwl *w, int quiet);

/* detect_dns.c */
int detect_dns_query(struct detect *d, const struct detect_dns *q,
		     struct dwl *w);

/* detect_scan.c: every event; `flow_flags` marks the flow counted. */
int detect_scan(struct detect *d, const struct detect_event *ev, struct dwl *w,
		uint8_t *flow_flags);

/* ---- alert.c: text ------------------------------------------------------ */

/* "4.8 MiB", "512 B". */
void alert_fmt_bytes(uint64_t n, char *out, size_t len);
/* "5m", "1h", "90s", "1d". */
void alert_fmt_duration(uint64_t s, char *out, size_t len);
/* "203.0.113.66:6379", "[2001:db8::1]:443", or the address alone when
 * port is 0 and the protocol has none. */
void alert_fmt_endpoint(const uint8_t ip[16], uint8_t proto, uint16_t port,
			char *out, size_t len);
/* "tcp/6379", "udp/53", "icmp". */
void alert_fmt_port(uint8_t proto, uint16_t port, char *out, size_t len);
/* " (sink.evil.example, NL, AS64500)" or "" when nothing is known. */
void alert_fmt_remote_info(const char *name, const char *country,
			   uint32_t asn, char *out, size_t len);
/* 1 for protocols with ports (TCP, UDP, SCTP, UDP-Lite). */
int alert_proto_has_ports(uint8_t proto);
/* dedup_key for (kind, workload, remote, port, proto, window index); keys
 * longer than POLICY_DEDUP_MAX - 1 keep the kind and window and hash the
 * rest (a fixed key: the same alert maps to the same row across restarts). */
void alert_dedup_key(char out[POLICY_DEDUP_MAX], const char *kind,
		     const char *workload, const char *remote, uint16_t port,
		     uint8_t proto, uint64_t window_idx);
/* snprintf that always terminates and never warns about truncation. */
void alert_snprintf(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
