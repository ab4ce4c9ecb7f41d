/*
 * test_flow.c - capture/flow.c: the bidirectional flow table.  Packets are
 * hand-built pkt_layer structs, time is given explicitly, and events are
 * collected from the emit callback.
 *
 * The table's source is included rather than linked so that the tests can
 * also pin its private layout (entry size, hash chains); nothing else from
 * the capture library is used, so its flow.o is never pulled in beside it.
 */
#include <unistd.h>

#include "t.h"
#include "flow.c"

#define S(x) ((uint64_t)(x) * 1000000000ull)
#define MS(x) ((uint64_t)(x) * 1000000ull)
#define T0 S(1764344180)	/* an arbitrary epoch time */

#define LOG_MAX 256
static struct flow_record ev[LOG_MAX];
static size_t nev;

static void log_emit(void *ctx, const struct flow_record *r)
{
	if (nev < LOG_MAX)
		ev[nev] = *r;
	nev++;
}

static struct capture_config cfg_small(uint32_t max_flows)
{
	struct capture_config c;

	memset(&c, 0, sizeof(c));
	c.max_flows = max_flows;
	c.tcp_idle_s = 300;
	c.tcp_syn_idle_s = 30;
	c.tcp_closed_s = 5;
	c.udp_idle_s = 60;
	c.other_idle_s = 30;
	c.update_interval_ms = 1000;
	c.frag_cache_size = 64;
	c.first_flow_id = 1000;
	c.emit = log_emit;
	return c;
}

static struct flow_table *mk(const struct capture_config *c)
{
	char err[160] = "";
	struct flow_table *ft = flow_table_create(c, err, sizeof(err));

	if (!ft) {
		fprintf(stderr, "flow_table_create: %s\n", err);
		exit(1);
	}
	nev = 0;
	return ft;
}

static struct pkt_layer pkt(const char *src, uint16_t sport, const char *dst,
			    uint16_t dport, uint8_t proto, uint8_t flags,
			    uint32_t bytes)
{
	struct pkt_layer pl;

	memset(&pl, 0, sizeof(pl));
	CHECK(ew_ip_parse(src, pl.src) == 0);
	CHECK(ew_ip_parse(dst, pl.dst) == 0);
	pl.family = strchr(src, ':') ? 6 : 4;
	pl.sport = sport;
	pl.dport = dport;
	pl.proto = proto;
	pl.tcp_flags = flags;
	pl.reply_hint = proto == PROTO_TCP &&
			(flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK);
	pl.ip_bytes = bytes;
	return pl;
}

/* The same packet going the other way. */
static struct pkt_layer rev(struct pkt_layer pl, uint8_t flags, uint32_t bytes)
{
	struct pkt_layer r = pl;

	memcpy(r.src, pl.dst, 16);
	memcpy(r.dst, pl.src, 16);
	r.sport = pl.dport;
	r.dport = pl.sport;
	r.tcp_flags = flags;
	r.reply_hint = pl.proto == PROTO_TCP &&
		       (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK);
	r.ip_bytes = bytes;
	return r;
}

static void put(struct flow_table *ft, struct pkt_layer pl, uint64_t t)
{
	flow_table_packet(ft, &pl, 0, 1, t);
}

static int ip_is(const uint8_t ip[16], const char *s)
{
	uint8_t b[16];

	return ew_ip_parse(s, b) == 0 && memcmp(ip, b, 16) == 0;
}

static struct capture_flow_stats stats(const struct flow_table *ft)
{
	struct capture_flow_stats st;

	flow_table_stats(ft, &st);
	return st;
}

static int invariant_holds(const struct flow_table *ft)
{
	struct capture_flow_stats st = stats(ft);

	return st.created == st.active + st.expired + st.evicted +
			     st.ended_shutdown;
}

/* ---------------------------------------------------------------------- */

static void entry_is_two_cache_lines(void)
{
	printf("     sizeof(struct flow_entry) = %zu, cold flow_rep = %zu\n",
	       sizeof(struct flow_entry), sizeof(struct flow_rep));
	CHECK_EQ_U(sizeof(struct flow_entry), 128);
	CHECK_EQ_U(sizeof(struct flow_rep), 48);
}

static void create_rejects_bad_config(void)
{
	struct capture_config c = cfg_small(16);
	char err[160];

	c.max_flows = 0;
	err[0] = '\0';
	CHECK(flow_table_create(&c, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "max_flows") != NULL);
	c = cfg_small(16);
	c.emit = NULL;
	CHECK(flow_table_create(&c, err, sizeof(err)) == NULL);
	c = cfg_small(16);
	c.tcp_closed_s = 0;
	CHECK(flow_table_create(&c, err, sizeof(err)) == NULL);
	flow_table_destroy(NULL);
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void create_costs_memory_only_as_flows_arrive(void)
{
	struct capture_config c = cfg_small(1u << 20);
	long before = rss_kib();
	struct flow_table *ft = mk(&c);
	long after = rss_kib();
	struct capture_flow_stats st = stats(ft);

	CHECK_EQ_U(st.max_flows, 1u << 20);
	CHECK(st.memory_bytes >= (uint64_t)(1u << 20) * (128 + 32 + 8));
	CHECK(before > 0 && after > 0);
	CHECK(after - before < 4096);	/* 168 MiB mapped, < 4 MiB resident */
	flow_table_destroy(ft);
}

static void both_directions_count_in_one_flow(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	/* The client has the higher address: the key orders the ends. */
	struct pkt_layer syn = pkt("10.0.0.9", 40000, "10.0.0.1", 80, PROTO_TCP,
				   TH_SYN, 60);

	put(ft, syn, T0);
	put(ft, rev(syn, TH_SYN | TH_ACK, 60), T0 + MS(1));
	put(ft, rev(rev(syn, 0, 0), TH_ACK, 52), T0 + MS(2));
	put(ft, rev(rev(syn, 0, 0), TH_ACK | 0x08, 1052), T0 + MS(3));
	put(ft, rev(syn, TH_ACK | 0x08, 2052), T0 + MS(4));
	flow_table_flush(ft, FLOW_END_SHUTDOWN);

	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[0].event, FLOW_EV_NEW);
	CHECK_EQ_U(ev[1].event, FLOW_EV_END);
	CHECK_EQ_U(ev[1].end_reason, FLOW_END_SHUTDOWN);
	CHECK_EQ_U(ev[1].id, 1000);
	CHECK(ip_is(ev[1].ip[0], "10.0.0.9"));
	CHECK(ip_is(ev[1].ip[1], "10.0.0.1"));
	CHECK_EQ_U(ev[1].port[0], 40000);
	CHECK_EQ_U(ev[1].port[1], 80);
	CHECK_EQ_U(ev[1].pkts[FLOW_FWD], 3);
	CHECK_EQ_U(ev[1].pkts[FLOW_REV], 2);
	CHECK_EQ_U(ev[1].bytes[FLOW_FWD], 60 + 52 + 1052);
	CHECK_EQ_U(ev[1].bytes[FLOW_REV], 60 + 2052);
	CHECK_EQ_U(ev[1].tcp_flags[FLOW_FWD], TH_SYN | TH_ACK | 0x08);
	CHECK_EQ_U(ev[1].tcp_flags[FLOW_REV], TH_SYN | TH_ACK | 0x08);
	CHECK_EQ_U(ev[1].first_ns, T0);
	CHECK_EQ_U(ev[1].last_ns, T0 + MS(4));
	CHECK_EQ_U(ev[1].family, 4);
	CHECK_EQ_U(ev[1].proto, PROTO_TCP);
	CHECK_EQ_U(ev[1].iface, 1);
	CHECK_EQ_U(ev[1].init_rule, FLOW_INIT_SYN);
	CHECK_EQ_U(ev[1].ifname[0], 0);
	CHECK_EQ_U(stats(ft).created, 1);
	CHECK_EQ_U(stats(ft).ended_shutdown, 1);
	CHECK_EQ_U(stats(ft).active, 0);
	flow_table_destroy(ft);
}

/* First packet `first` starts a flow; check who the initiator is. */
static void check_initiator(struct pkt_layer first, const char *ini_ip,
			    uint16_t ini_port, uint8_t rule)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);

	put(ft, first, T0);
	CHECK_EQ_U(nev, 1);
	CHECK(ip_is(ev[0].ip[0], ini_ip));
	CHECK_EQ_U(ev[0].port[0], ini_port);
	CHECK_EQ_U(ev[0].init_rule, rule);
	/* The first packet counts in the direction it actually went. */
	if (ip_is(first.src, ini_ip) && first.sport == ini_port)
		CHECK_EQ_U(ev[0].pkts[FLOW_FWD], 1);
	else
		CHECK_EQ_U(ev[0].pkts[FLOW_REV], 1);
	flow_table_destroy(ft);
}

static void initiator_follows_the_documented_rules(void)
{
	/* SYN: its sender. */
	check_initiator(pkt("10.0.0.1", 80, "10.0.0.9", 45000, PROTO_TCP,
			    TH_SYN, 60), "10.0.0.1", 80, FLOW_INIT_SYN);
	/* SYN+ACK seen first: its receiver. */
	check_initiator(pkt("10.0.0.1", 80, "10.0.0.9", 45000, PROTO_TCP,
			    TH_SYN | TH_ACK, 60), "10.0.0.9", 45000,
			FLOW_INIT_SYNACK);
	/* Mid-stream, server port < 1024, both orders. */
	check_initiator(pkt("10.0.0.9", 45000, "10.0.0.1", 443, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 45000, FLOW_INIT_PORT);
	check_initiator(pkt("10.0.0.1", 443, "10.0.0.9", 45000, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 45000, FLOW_INIT_PORT);
	/* Mid-stream, listed server port above 1024 (redis), both orders. */
	check_initiator(pkt("10.0.0.1", 6379, "10.0.0.9", 2000, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 2000, FLOW_INIT_PORT);
	check_initiator(pkt("10.0.0.9", 2000, "10.0.0.1", 6379, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 2000, FLOW_INIT_PORT);
	/* Mid-stream, ephemeral against an unlisted fixed port, both orders. */
	check_initiator(pkt("10.0.0.1", 7777, "10.0.0.9", 50000, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 50000, FLOW_INIT_PORT);
	check_initiator(pkt("10.0.0.9", 50000, "10.0.0.1", 7777, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 50000, FLOW_INIT_PORT);
	/* UDP: a DNS answer seen first still makes the client the initiator. */
	check_initiator(pkt("10.0.0.53", 53, "10.0.0.9", 33333, PROTO_UDP, 0,
			    120), "10.0.0.9", 33333, FLOW_INIT_PORT);
	/* No rule decides: the first sender. */
	check_initiator(pkt("10.0.0.1", 40000, "10.0.0.9", 50000, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.1", 40000, FLOW_INIT_FIRST);
	check_initiator(pkt("10.0.0.9", 443, "10.0.0.1", 80, PROTO_TCP,
			    TH_ACK, 52), "10.0.0.9", 443, FLOW_INIT_FIRST);
	check_initiator(pkt("10.0.0.9", 5353, "10.0.0.1", 5353, PROTO_UDP, 0,
			    80), "10.0.0.9", 5353, FLOW_INIT_FIRST);
	check_initiator(pkt("10.0.0.9", 0, "10.0.0.1", 0, 47, 0, 100),
			"10.0.0.9", 0, FLOW_INIT_FIRST);
}

static void icmp_echo_request_and_reply_are_one_flow(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer req = pkt("10.0.0.9", 0x1234, "192.0.2.1", 0x0800, 1,
				   0, 84);
	struct pkt_layer rep = rev(req, 0, 84);
	struct pkt_layer req6 = pkt("2001:db8::9", 0x77, "2001:db8::1", 0x8000,
				    58, 0, 104);
	struct pkt_layer rep6 = rev(req6, 0, 104);

	rep.reply_hint = 1;
	rep6.reply_hint = 1;
	put(ft, req, T0);
	put(ft, rep, T0 + MS(1));
	put(ft, req, T0 + MS(1000));
	put(ft, rep, T0 + MS(1001));
	/* A reply seen before its request: the receiver asked. */
	put(ft, rep6, T0 + MS(1002));
	put(ft, req6, T0 + MS(1500));
	flow_table_flush(ft, FLOW_END_SHUTDOWN);

	CHECK_EQ_U(stats(ft).created, 2);
	CHECK_EQ_U(nev, 5);	/* NEW, UPDATE, NEW, END, END */
	for (size_t i = 0; i < nev && i < LOG_MAX; i++) {
		if (ev[i].event != FLOW_EV_END)
			continue;
		if (ev[i].family == 4) {
			CHECK(ip_is(ev[i].ip[0], "10.0.0.9"));
			CHECK_EQ_U(ev[i].port[0], 0x1234);
			CHECK_EQ_U(ev[i].port[1], 0x0800);
			CHECK_EQ_U(ev[i].pkts[FLOW_FWD], 2);
			CHECK_EQ_U(ev[i].pkts[FLOW_REV], 2);
			CHECK_EQ_U(ev[i].init_rule, FLOW_INIT_FIRST);
		} else {
			CHECK(ip_is(ev[i].ip[0], "2001:db8::9"));
			CHECK_EQ_U(ev[i].port[0], 0x77);
			CHECK_EQ_U(ev[i].port[1], 0x8000);
			CHECK_EQ_U(ev[i].pkts[FLOW_FWD], 1);
			CHECK_EQ_U(ev[i].pkts[FLOW_REV], 1);
			CHECK_EQ_U(ev[i].bytes[FLOW_REV], 104);
			CHECK_EQ_U(ev[i].init_rule, FLOW_INIT_SYNACK);
			CHECK_EQ_U(ev[i].proto, 58);
		}
	}
	flow_table_destroy(ft);
}

static void events_come_new_update_end_with_deltas(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "198.51.100.7", 6379,
				 PROTO_TCP, TH_SYN, 60);
	struct pkt_layer b = rev(a, TH_SYN | TH_ACK, 60);

	put(ft, a, T0);					/* NEW */
	CHECK_EQ_U(nev, 1);
	CHECK_EQ_U(ev[0].event, FLOW_EV_NEW);
	CHECK_EQ_U(ev[0].end_reason, FLOW_END_NONE);
	CHECK_EQ_U(ev[0].pkts[FLOW_FWD], 1);
	CHECK_EQ_U(ev[0].dpkts[FLOW_FWD], 1);
	CHECK_EQ_U(ev[0].dbytes[FLOW_FWD], 60);
	CHECK_EQ_U(ev[0].first_ns, T0);
	CHECK_EQ_U(ev[0].last_ns, T0);

	put(ft, b, T0 + MS(500));
	a.tcp_flags = TH_ACK;
	a.ip_bytes = 1000;
	put(ft, a, T0 + MS(999));
	CHECK_EQ_U(nev, 1);
	put(ft, a, T0 + MS(1000));			/* UPDATE */
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[1].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[1].id, ev[0].id);
	CHECK_EQ_U(ev[1].pkts[FLOW_FWD], 3);
	CHECK_EQ_U(ev[1].pkts[FLOW_REV], 1);
	CHECK_EQ_U(ev[1].dpkts[FLOW_FWD], 2);
	CHECK_EQ_U(ev[1].dpkts[FLOW_REV], 1);
	CHECK_EQ_U(ev[1].dbytes[FLOW_FWD], 2000);
	CHECK_EQ_U(ev[1].dbytes[FLOW_REV], 60);
	CHECK_EQ_U(ev[1].last_ns, T0 + MS(1000));

	b.tcp_flags = TH_ACK;
	b.ip_bytes = 400;
	put(ft, b, T0 + MS(1500));
	put(ft, a, T0 + MS(2100));			/* UPDATE */
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(ev[2].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[2].dpkts[FLOW_FWD], 1);
	CHECK_EQ_U(ev[2].dpkts[FLOW_REV], 1);
	CHECK_EQ_U(ev[2].dbytes[FLOW_REV], 400);
	CHECK_EQ_U(ev[2].bytes[FLOW_FWD], 3060);

	put(ft, b, T0 + MS(2200));
	flow_table_flush(ft, FLOW_END_SHUTDOWN);	/* END */
	CHECK_EQ_U(nev, 4);
	CHECK_EQ_U(ev[3].event, FLOW_EV_END);
	CHECK_EQ_U(ev[3].dpkts[FLOW_FWD], 0);
	CHECK_EQ_U(ev[3].dpkts[FLOW_REV], 1);
	CHECK_EQ_U(ev[3].pkts[FLOW_FWD], 4);
	CHECK_EQ_U(ev[3].pkts[FLOW_REV], 3);
	CHECK_EQ_U(ev[3].last_ns, T0 + MS(2200));
	CHECK_EQ_U(stats(ft).updates, 2);
	flow_table_destroy(ft);
}

static void update_waits_a_full_interval_after_the_previous_event(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "10.0.0.1", 53, PROTO_UDP,
				 0, 80);
	uint64_t when[8];
	size_t n = 0;

	for (int k = 0; k <= 10; k++)		/* every 400 ms */
		put(ft, a, T0 + MS(400 * k));
	for (size_t i = 1; i < nev && i < LOG_MAX && n < 8; i++)
		when[n++] = ev[i].last_ns - T0;
	/* NEW at 0, then the first packet at least 1000 ms after each event. */
	CHECK_EQ_U(n, 3);
	CHECK_EQ_U(when[0], MS(1200));
	CHECK_EQ_U(when[1], MS(2400));
	CHECK_EQ_U(when[2], MS(3600));
	flow_table_destroy(ft);
}

/* A burst over a connection that is then held open: what came after the NEW
 * is reported one interval after the first unreported packet, by advance
 * alone, not minutes later at the idle timeout; then nothing more until
 * there is something new.  With an interval of 0 nothing is ever pending. */
static void trailing_update_reports_a_burst_then_silence(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "203.0.113.66", 6379,
				 PROTO_TCP, TH_SYN, 60);
	struct pkt_layer d = rev(rev(a, 0, 0), TH_ACK, 1500);

	put(ft, a, T0);					/* NEW */
	put(ft, rev(a, TH_SYN | TH_ACK, 60), T0 + MS(1));
	for (int k = 0; k < 50; k++)
		put(ft, d, T0 + MS(100 + k * 10));	/* 75,000 bytes */
	CHECK_EQ_U(nev, 1);
	flow_table_advance(ft, T0 + MS(1001) - 1);
	CHECK_EQ_U(nev, 1);
	flow_table_advance(ft, T0 + MS(1001));
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[1].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[1].dbytes[FLOW_FWD], 50 * 1500);
	CHECK_EQ_U(ev[1].dpkts[FLOW_REV], 1);
	CHECK_EQ_U(ev[1].last_ns, T0 + MS(590));
	CHECK_EQ_U(stats(ft).trailing_updates, 1);
	/* Silence: nothing to report, however long. */
	for (int k = 2; k < 290; k++)
		flow_table_advance(ft, T0 + S(k));
	CHECK_EQ_U(nev, 2);
	/* A packet long after the last event is reported at once, as before,
	 * and leaves nothing pending. */
	put(ft, d, T0 + S(290));
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(ev[2].dbytes[FLOW_FWD], 1500);
	flow_table_advance(ft, T0 + S(292));
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(stats(ft).trailing_updates, 1);
	CHECK_EQ_U(stats(ft).updates, 2);
	flow_table_destroy(ft);

	c.update_interval_ms = 0;			/* every packet */
	ft = mk(&c);
	put(ft, a, T0);
	put(ft, rev(a, TH_SYN | TH_ACK, 60), T0 + MS(1));
	flow_table_advance(ft, T0 + S(10));
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(stats(ft).trailing_updates, 0);
	flow_table_destroy(ft);
}

/* The pending list moves with a clock step, and stays whole through an
 * eviction and a flush: each unreported packet is reported exactly once. */
static void pending_list_survives_step_evict_and_flush(void)
{
	struct capture_config c = cfg_small(4);
	struct flow_table *ft = mk(&c);
	struct pkt_layer f[5];
	int updates = 0;

	for (int k = 0; k < 5; k++)
		f[k] = pkt("10.0.0.9", (uint16_t)(41000 + k), "10.0.0.1", 53,
			   PROTO_UDP, 0, 80);
	for (int k = 0; k < 4; k++) {
		put(ft, f[k], T0 + MS(k));		/* NEW */
		put(ft, f[k], T0 + MS(100 + k));	/* unreported */
	}
	CHECK_EQ_U(nev, 4);
	/* A step forward of 30 s moves the pending times too: 0.4 s later
	 * nothing is due yet. */
	flow_table_rebase(ft, (int64_t)S(30));
	flow_table_advance(ft, T0 + S(30) + MS(500));
	CHECK_EQ_U(nev, 4);
	/* Table full: the oldest flow (idle over a second) is evicted, and
	 * its unreported packet goes out with its END. */
	put(ft, f[4], T0 + S(32));
	CHECK_EQ_U(stats(ft).evicted, 1);
	CHECK_EQ_U(ev[4].event, FLOW_EV_END);
	CHECK_EQ_U(ev[4].port[0], 41000);
	CHECK_EQ_U(ev[4].dpkts[FLOW_FWD], 1);
	flow_table_advance(ft, T0 + S(32));
	for (size_t i = 5; i < nev && i < LOG_MAX; i++) {
		if (ev[i].event != FLOW_EV_UPDATE)
			continue;
		CHECK_EQ_U(ev[i].port[0], 41000 + 1 + updates);	/* in order */
		CHECK_EQ_U(ev[i].dpkts[FLOW_FWD], 1);
		updates++;
	}
	CHECK_EQ_U(updates, 3);
	CHECK_EQ_U(stats(ft).trailing_updates, 3);
	put(ft, f[4], T0 + S(32) + MS(10));		/* unreported */
	flow_table_flush(ft, FLOW_END_SHUTDOWN);
	CHECK_EQ_U(ev[nev - 1].event, FLOW_EV_END);
	CHECK_EQ_U(stats(ft).active, 0);
	CHECK(invariant_holds(ft));
	flow_table_advance(ft, T0 + S(40));		/* nothing left */
	CHECK_EQ_U(stats(ft).trailing_updates, 3);
	flow_table_destroy(ft);
}

/* End reason of the flow whose initiator port is `port`, 0 if not ended. */
static int ended_with(uint16_t port)
{
	for (size_t i = 0; i < nev && i < LOG_MAX; i++)
		if (ev[i].event == FLOW_EV_END && ev[i].port[0] == port)
			return ev[i].end_reason;
	return 0;
}

static void each_state_has_its_idle_timeout(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft;
	struct pkt_layer syn = pkt("10.0.0.9", 40001, "10.0.0.1", 443,
				   PROTO_TCP, TH_SYN, 60);
	struct pkt_layer est = pkt("10.0.0.9", 40002, "10.0.0.1", 443,
				   PROTO_TCP, TH_SYN, 60);
	struct pkt_layer udp1 = pkt("10.0.0.9", 40003, "10.0.0.1", 53,
				    PROTO_UDP, 0, 60);
	struct pkt_layer udp2 = pkt("10.0.0.9", 40004, "10.0.0.1", 53,
				    PROTO_UDP, 0, 60);
	struct pkt_layer icmp = pkt("10.0.0.9", 7, "10.0.0.1", 0x0800, 1, 0, 84);
	struct {
		uint16_t port;
		uint64_t at;
	} want[] = {
		{ 40001, S(3) },	/* tcp_syn_idle_s */
		{ 7, S(5) },		/* other_idle_s */
		{ 40003, S(7) },	/* udp_idle_s, unanswered */
		{ 40004, S(8) },	/* udp_idle_s, answered */
		{ 40002, S(20) },	/* tcp_idle_s */
	};

	c.tcp_syn_idle_s = 3;
	c.tcp_idle_s = 20;
	c.tcp_closed_s = 2;
	c.udp_idle_s = 7;
	c.other_idle_s = 5;
	ft = mk(&c);
	put(ft, syn, T0);
	put(ft, est, T0);
	put(ft, rev(est, TH_SYN | TH_ACK, 60), T0);
	put(ft, udp1, T0);
	put(ft, udp2, T0);
	put(ft, icmp, T0);
	put(ft, rev(udp2, 0, 60), T0 + S(1));
	nev = 0;

	for (size_t w = 0; w < EW_ARRAY_LEN(want); w++) {
		flow_table_advance(ft, T0 + want[w].at - 1);
		CHECK(ended_with(want[w].port) == 0);
		flow_table_advance(ft, T0 + want[w].at);
		CHECK_EQ_U(ended_with(want[w].port), FLOW_END_IDLE);
	}
	/* Five ENDs, and before them the trailing UPDATE of the answered TCP
	 * flow, whose SYN-ACK came in the same instant as its NEW. */
	CHECK_EQ_U(nev, 6);
	CHECK_EQ_U(ev[0].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[0].port[0], 40002);
	CHECK_EQ_U(ev[0].dpkts[FLOW_REV], 1);
	CHECK_EQ_U(stats(ft).expired, 5);
	CHECK_EQ_U(stats(ft).active, 0);
	flow_table_destroy(ft);
}

static void fin_both_ways_or_rst_closes_quickly(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer f1 = pkt("10.0.0.9", 40001, "10.0.0.1", 443, PROTO_TCP,
				  TH_SYN, 60);
	struct pkt_layer f2 = pkt("10.0.0.9", 40002, "10.0.0.1", 443, PROTO_TCP,
				  TH_SYN, 60);
	struct pkt_layer f3 = pkt("10.0.0.9", 40003, "10.0.0.1", 443, PROTO_TCP,
				  TH_SYN, 60);

	for (int k = 0; k < 3; k++) {
		struct pkt_layer *p = k == 0 ? &f1 : k == 1 ? &f2 : &f3;
		put(ft, *p, T0);
		put(ft, rev(*p, TH_SYN | TH_ACK, 60), T0);
	}
	/* f1: FIN both ways and the last ACK. */
	put(ft, rev(rev(f1, 0, 0), TH_FIN | TH_ACK, 52), T0 + S(1));
	put(ft, rev(f1, TH_FIN | TH_ACK, 52), T0 + S(1));
	put(ft, rev(rev(f1, 0, 0), TH_ACK, 52), T0 + S(1));
	/* f2: a FIN one way only is not a close. */
	put(ft, rev(rev(f2, 0, 0), TH_FIN | TH_ACK, 52), T0 + S(1));
	/* f3: RST from the server. */
	put(ft, rev(f3, TH_RST, 40), T0 + S(1));
	nev = 0;

	flow_table_advance(ft, T0 + S(6) - 1);
	CHECK_EQ_U(nev, 0);
	flow_table_advance(ft, T0 + S(6));
	CHECK_EQ_U(nev, 2);
	for (size_t i = 0; i < nev && i < LOG_MAX; i++) {
		CHECK_EQ_U(ev[i].event, FLOW_EV_END);
		if (ev[i].port[0] == 40001)
			CHECK_EQ_U(ev[i].end_reason, FLOW_END_TCP_FIN);
		else
			CHECK(ev[i].port[0] == 40003 &&
			      ev[i].end_reason == FLOW_END_TCP_RST);
	}
	CHECK_EQ_U(stats(ft).active, 1);
	flow_table_advance(ft, T0 + S(301));
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(ev[2].port[0], 40002);
	CHECK_EQ_U(ev[2].end_reason, FLOW_END_IDLE);
	CHECK_EQ_U(stats(ft).expired, 3);
	flow_table_destroy(ft);
}

/* The packet that closes a TCP flow (FIN both ways, or RST) brings an UPDATE
 * with the final counters at once, within the update interval: the END comes
 * tcp_closed_s later, and the volume detector must not wait for it.  Once. */
static void closing_packet_reports_final_counters_at_once(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40001, "203.0.113.66", 6379,
				 PROTO_TCP, TH_SYN, 60);
	struct pkt_layer r = pkt("10.0.0.9", 40002, "203.0.113.66", 6379,
				 PROTO_TCP, TH_SYN, 60);
	struct pkt_layer d = rev(rev(a, 0, 0), TH_ACK, 1500);

	put(ft, a, T0);					/* NEW */
	put(ft, rev(a, TH_SYN | TH_ACK, 60), T0 + MS(1));
	for (int k = 0; k < 100; k++)
		put(ft, d, T0 + MS(2 + k));
	put(ft, rev(d, TH_ACK, 52), T0 + MS(110));
	put(ft, rev(rev(a, 0, 0), TH_FIN | TH_ACK, 52), T0 + MS(120));
	CHECK_EQ_U(nev, 1);		/* one FIN is not a close */
	put(ft, rev(a, TH_FIN | TH_ACK, 52), T0 + MS(121));	/* UPDATE */
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[1].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[1].bytes[FLOW_FWD], 60 + 100 * 1500 + 52);
	CHECK_EQ_U(ev[1].dbytes[FLOW_FWD], 100 * 1500 + 52);
	CHECK_EQ_U(ev[1].last_ns, T0 + MS(121));
	put(ft, rev(rev(a, 0, 0), TH_ACK, 52), T0 + MS(122));	/* last ACK */
	put(ft, rev(a, TH_RST, 40), T0 + MS(130));	/* still closed */
	CHECK_EQ_U(nev, 2);

	put(ft, r, T0 + MS(200));			/* NEW */
	put(ft, rev(r, TH_RST | TH_ACK, 40), T0 + MS(201));	/* UPDATE */
	CHECK_EQ_U(nev, 4);
	CHECK_EQ_U(ev[3].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[3].pkts[FLOW_REV], 1);

	flow_table_advance(ft, T0 + MS(130) + S(5));
	CHECK_EQ_U(nev, 5);
	CHECK_EQ_U(ev[4].event, FLOW_EV_END);
	CHECK_EQ_U(ev[4].end_reason, FLOW_END_TCP_FIN);
	CHECK_EQ_U(ev[4].dbytes[FLOW_FWD], 52);	/* the last ACK only */
	CHECK_EQ_U(stats(ft).updates, 2);
	flow_table_destroy(ft);
}

static void new_syn_on_closed_flow_starts_a_new_flow(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer syn = pkt("10.0.0.9", 40001, "10.0.0.1", 443,
				   PROTO_TCP, TH_SYN, 60);

	put(ft, syn, T0);
	put(ft, rev(syn, TH_SYN | TH_ACK, 60), T0);
	put(ft, rev(syn, TH_RST | TH_ACK, 40), T0 + MS(10));	/* UPDATE */
	/* Not a SYN: still the closed flow. */
	put(ft, rev(rev(syn, 0, 0), TH_ACK, 40), T0 + MS(20));
	CHECK_EQ_U(stats(ft).created, 1);
	put(ft, syn, T0 + MS(30));
	CHECK_EQ_U(stats(ft).created, 2);
	CHECK_EQ_U(nev, 4);
	CHECK_EQ_U(ev[1].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[2].event, FLOW_EV_END);
	CHECK_EQ_U(ev[2].end_reason, FLOW_END_TCP_RST);
	CHECK_EQ_U(ev[2].id, 1000);
	CHECK_EQ_U(ev[2].pkts[FLOW_FWD], 2);
	CHECK_EQ_U(ev[3].event, FLOW_EV_NEW);
	CHECK_EQ_U(ev[3].id, 1001);
	CHECK_EQ_U(ev[3].pkts[FLOW_FWD], 1);
	CHECK_EQ_U(ev[3].pkts[FLOW_REV], 0);
	CHECK_EQ_U(ev[3].init_rule, FLOW_INIT_SYN);

	/* Same again after a FIN close, reused from the other end. */
	put(ft, rev(syn, TH_SYN | TH_ACK, 60), T0 + MS(40));
	put(ft, rev(rev(syn, 0, 0), TH_FIN | TH_ACK, 52), T0 + MS(50));
	put(ft, rev(syn, TH_FIN | TH_ACK, 52), T0 + MS(60));	/* UPDATE */
	put(ft, rev(syn, TH_SYN, 60), T0 + MS(70));
	CHECK_EQ_U(nev, 7);
	CHECK_EQ_U(ev[4].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[5].end_reason, FLOW_END_TCP_FIN);
	CHECK_EQ_U(ev[5].id, 1001);
	CHECK_EQ_U(ev[6].id, 1002);
	CHECK(ip_is(ev[6].ip[0], "10.0.0.1"));
	CHECK_EQ_U(ev[6].port[0], 443);
	CHECK(invariant_holds(ft));
	CHECK_EQ_U(stats(ft).expired, 2);
	flow_table_destroy(ft);
}

static void packet_after_idle_timeout_starts_a_new_flow(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "10.0.0.1", 53, PROTO_UDP,
				 0, 80);

	put(ft, a, T0);
	put(ft, a, T0 + S(60));	/* advance was never called */
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(ev[1].event, FLOW_EV_END);
	CHECK_EQ_U(ev[1].end_reason, FLOW_END_IDLE);
	CHECK_EQ_U(ev[1].last_ns, T0);
	CHECK_EQ_U(ev[2].event, FLOW_EV_NEW);
	CHECK_EQ_U(ev[2].id, 1001);
	CHECK_EQ_U(stats(ft).expired, 1);
	flow_table_destroy(ft);
}

static void iface_vlan_and_tunnel_depth_separate_flows(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "10.0.0.1", 443, PROTO_TCP,
				 TH_ACK, 52);
	struct pkt_layer inner = a;

	inner.tunnel_depth = 1;
	flow_table_packet(ft, &a, 0, 1, T0);
	flow_table_packet(ft, &a, 0, 2, T0);
	flow_table_packet(ft, &a, 100, 1, T0);
	flow_table_packet(ft, &inner, 0, 1, T0);
	a.proto = PROTO_UDP;
	flow_table_packet(ft, &a, 0, 1, T0);
	CHECK_EQ_U(stats(ft).created, 5);
	/* And each one is found again, from either end. */
	struct pkt_layer r = rev(a, 0, 52), ri = rev(inner, TH_ACK, 52);
	r.proto = PROTO_TCP;
	r.tcp_flags = TH_ACK;
	flow_table_packet(ft, &r, 0, 1, T0 + 1);
	flow_table_packet(ft, &r, 0, 2, T0 + 1);
	flow_table_packet(ft, &r, 100, 1, T0 + 1);
	flow_table_packet(ft, &ri, 0, 1, T0 + 1);
	CHECK_EQ_U(stats(ft).created, 5);
	flow_table_flush(ft, FLOW_END_SHUTDOWN);
	int seen_vlan = 0, seen_tunnel = 0, seen_if2 = 0;
	for (size_t i = 5; i < nev && i < LOG_MAX; i++) {
		CHECK_EQ_U(ev[i].event, FLOW_EV_END);
		if (ev[i].proto == PROTO_TCP)
			CHECK_EQ_U(ev[i].pkts[FLOW_REV], 1);
		seen_vlan += ev[i].vlan == 100;
		seen_tunnel += ev[i].tunnel_depth == 1;
		seen_if2 += ev[i].iface == 2;
	}
	CHECK_EQ_U(nev, 10);
	CHECK_EQ_U(seen_vlan, 1);
	CHECK_EQ_U(seen_tunnel, 1);
	CHECK_EQ_U(seen_if2, 1);
	flow_table_destroy(ft);
}

static void ipv4_and_ipv6_live_side_by_side(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer v4 = pkt("10.0.0.9", 40000, "203.0.113.66", 6379,
				  PROTO_TCP, TH_SYN, 60);
	struct pkt_layer v6 = pkt("2001:db8::9", 40000, "2001:db8:1::66", 6379,
				  PROTO_TCP, TH_SYN, 80);
	/* An IPv6 packet between v4-mapped addresses is not the IPv4 flow. */
	struct pkt_layer mapped = pkt("::ffff:10.0.0.9", 40000,
				      "::ffff:203.0.113.66", 6379, PROTO_TCP,
				      TH_SYN, 80);

	put(ft, v4, T0);
	put(ft, v6, T0);
	put(ft, mapped, T0);
	put(ft, rev(v6, TH_SYN | TH_ACK, 80), T0 + 1);
	put(ft, rev(v4, TH_SYN | TH_ACK, 60), T0 + 1);
	CHECK_EQ_U(stats(ft).created, 3);
	flow_table_flush(ft, FLOW_END_SHUTDOWN);
	CHECK_EQ_U(nev, 6);
	for (size_t i = 3; i < nev && i < LOG_MAX; i++) {
		if (ev[i].family == 4) {
			CHECK(ip_is(ev[i].ip[1], "203.0.113.66"));
			CHECK_EQ_U(ev[i].pkts[FLOW_REV], 1);
			CHECK_EQ_U(ev[i].bytes[FLOW_REV], 60);
		} else if (ip_is(ev[i].ip[0], "2001:db8::9")) {
			CHECK(ip_is(ev[i].ip[1], "2001:db8:1::66"));
			CHECK_EQ_U(ev[i].pkts[FLOW_REV], 1);
			CHECK_EQ_U(ev[i].bytes[FLOW_REV], 80);
		} else {
			CHECK(ip_is(ev[i].ip[0], "::ffff:10.0.0.9"));
			CHECK_EQ_U(ev[i].family, 6);
			CHECK_EQ_U(ev[i].pkts[FLOW_REV], 0);
		}
	}
	flow_table_destroy(ft);
}

static void flush_and_flush_iface_end_flows_with_the_reason(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "10.0.0.1", 53, PROTO_UDP,
				 0, 80);
	struct pkt_layer b = pkt("10.0.0.9", 40001, "10.0.0.1", 80, PROTO_TCP,
				 TH_SYN, 60);

	for (uint32_t ifc = 1; ifc <= 3; ifc++) {
		flow_table_packet(ft, &a, 0, ifc, T0);
		flow_table_packet(ft, &b, 0, ifc, T0);
	}
	nev = 0;
	flow_table_flush_iface(ft, 2, FLOW_END_IFACE_GONE);
	CHECK_EQ_U(nev, 2);
	for (size_t i = 0; i < nev && i < LOG_MAX; i++) {
		CHECK_EQ_U(ev[i].event, FLOW_EV_END);
		CHECK_EQ_U(ev[i].end_reason, FLOW_END_IFACE_GONE);
		CHECK_EQ_U(ev[i].iface, 2);
	}
	CHECK_EQ_U(stats(ft).active, 4);
	CHECK_EQ_U(stats(ft).ended_shutdown, 2);
	flow_table_flush_iface(ft, 7, FLOW_END_IFACE_GONE);
	CHECK_EQ_U(nev, 2);
	flow_table_flush(ft, FLOW_END_SHUTDOWN);
	CHECK_EQ_U(nev, 6);
	for (size_t i = 2; i < nev && i < LOG_MAX; i++)
		CHECK_EQ_U(ev[i].end_reason, FLOW_END_SHUTDOWN);
	CHECK_EQ_U(stats(ft).active, 0);
	CHECK_EQ_U(stats(ft).ended_shutdown, 6);
	CHECK(invariant_holds(ft));
	/* The table is usable afterwards, and ids keep counting up. */
	put(ft, a, T0 + S(1));
	CHECK_EQ_U(ev[6].id, 1006);
	CHECK_EQ_U(stats(ft).peak, 6);
	flow_table_destroy(ft);
}

static struct pkt_layer udp_n(int n)
{
	char ip[32];

	snprintf(ip, sizeof(ip), "10.0.%d.%d", n / 250, n % 250 + 1);
	return pkt(ip, (uint16_t)(40000 + n), "10.1.0.1", 53, PROTO_UDP, 0, 80);
}

static void full_table_evicts_unanswered_first_then_closed_then_oldest(void)
{
	struct capture_config c = cfg_small(4);
	struct flow_table *ft = mk(&c);
	struct pkt_layer est = pkt("10.0.0.1", 40001, "10.0.0.2", 443,
				   PROTO_TCP, TH_SYN, 60);
	struct pkt_layer syn = pkt("10.0.0.1", 40002, "10.0.0.2", 443,
				   PROTO_TCP, TH_SYN, 60);
	struct pkt_layer ans = udp_n(3), one = udp_n(4);
	struct capture_flow_stats st;

	put(ft, est, T0);
	put(ft, rev(est, TH_SYN | TH_ACK, 60), T0);
	put(ft, syn, T0 + MS(100));
	put(ft, ans, T0 + MS(200));
	put(ft, rev(ans, 0, 80), T0 + MS(200));
	put(ft, one, T0 + MS(300));
	CHECK_EQ_U(stats(ft).emergency, 0);
	nev = 0;

	/* Oldest unanswered first: the SYN, then the one-way UDP flow. */
	put(ft, udp_n(5), T0 + MS(2000));
	st = stats(ft);
	CHECK_EQ_U(st.emergency, 1);
	CHECK_EQ_U(st.emergency_entered, 1);
	CHECK_EQ_U(st.evicted, 1);
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[0].event, FLOW_EV_END);
	CHECK_EQ_U(ev[0].end_reason, FLOW_END_EVICTED);
	CHECK_EQ_U(ev[0].port[0], 40002);
	CHECK_EQ_U(ev[1].event, FLOW_EV_NEW);
	put(ft, udp_n(6), T0 + MS(2100));
	CHECK_EQ_U(ev[2].port[0], 40004);
	CHECK_EQ_U(ev[2].end_reason, FLOW_END_EVICTED);
	/* Unanswered flows left are younger than a second: the oldest of the
	 * rest goes. */
	put(ft, udp_n(7), T0 + MS(2200));
	CHECK_EQ_U(ev[4].port[0], 40001);
	put(ft, udp_n(8), T0 + MS(2300));
	CHECK_EQ_U(ev[6].port[0], 40003);
	CHECK_EQ_U(nev, 8);
	/* Now every flow is under a second old: refuse, count, stay quiet. */
	put(ft, udp_n(9), T0 + MS(2400));
	put(ft, udp_n(9), T0 + MS(2500));
	st = stats(ft);
	CHECK_EQ_U(nev, 8);
	CHECK_EQ_U(st.refused, 2);
	CHECK_EQ_U(st.evicted, 4);
	CHECK_EQ_U(st.active, 4);
	CHECK_EQ_U(st.emergency_entered, 1);
	/* A second later the oldest has aged enough to give way. */
	put(ft, udp_n(9), T0 + MS(3000));
	CHECK_EQ_U(nev, 10);
	CHECK_EQ_U(ev[8].port[0], 40005);
	CHECK_EQ_U(ev[9].port[0], 40009);
	CHECK(invariant_holds(ft));
	flow_table_destroy(ft);
}

static void closed_flows_give_way_before_live_ones(void)
{
	struct capture_config c = cfg_small(3);
	struct flow_table *ft = mk(&c);
	struct pkt_layer old = udp_n(1), fresh = udp_n(2);
	struct pkt_layer cl = pkt("10.0.0.1", 40009, "10.0.0.2", 443,
				  PROTO_TCP, TH_SYN, 60);

	put(ft, old, T0);
	put(ft, rev(old, 0, 80), T0);
	put(ft, cl, T0 + MS(1800));
	put(ft, rev(cl, TH_RST | TH_ACK, 40), T0 + MS(1800));
	put(ft, fresh, T0 + MS(1900));
	nev = 0;
	/* The one-way flow is fresh; the closed flow goes before the old
	 * answered one, however young it is. */
	put(ft, udp_n(3), T0 + MS(2000));
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[0].port[0], 40009);
	CHECK_EQ_U(ev[0].end_reason, FLOW_END_EVICTED);
	CHECK_EQ_U(stats(ft).evicted, 1);
	flow_table_destroy(ft);
}

static void emergency_ends_below_ninety_percent(void)
{
	struct capture_config c = cfg_small(10);
	struct flow_table *ft = mk(&c);
	struct pkt_layer p;

	for (int n = 0; n < 10; n++) {
		p = udp_n(n);
		flow_table_packet(ft, &p, 0, (uint32_t)n, T0 + MS(n));
	}
	p = udp_n(10);
	flow_table_packet(ft, &p, 0, 10, T0 + S(2));
	CHECK_EQ_U(stats(ft).emergency, 1);
	CHECK_EQ_U(stats(ft).active, 10);
	flow_table_flush_iface(ft, 1, FLOW_END_IFACE_GONE);
	CHECK_EQ_U(stats(ft).emergency, 1);		/* 9 of 10 */
	flow_table_flush_iface(ft, 2, FLOW_END_IFACE_GONE);
	CHECK_EQ_U(stats(ft).emergency, 0);		/* 8 of 10 */
	CHECK_EQ_U(stats(ft).emergency_entered, 1);
	flow_table_destroy(ft);
}

static void emergency_shortens_idle_timeouts_until_it_ends(void)
{
	struct capture_config c = cfg_small(10);
	struct flow_table *ft = mk(&c);
	struct capture_flow_stats st;

	for (int n = 0; n < 10; n++)
		put(ft, udp_n(n), T0 + MS(n));
	put(ft, udp_n(10), T0 + S(2));		/* evicts udp_n(0) */
	nev = 0;
	/* udp_idle_s is 60: a tenth of it has passed for the oldest two. */
	flow_table_advance(ft, T0 + S(6) + MS(2));
	st = stats(ft);
	CHECK_EQ_U(st.expired, 2);		/* 10 -> 8: emergency over */
	CHECK_EQ_U(st.emergency, 0);
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[0].end_reason, FLOW_END_IDLE);
	CHECK_EQ_U(ev[0].port[0], 40001);
	CHECK_EQ_U(ev[1].port[0], 40002);
	/* Back to normal timeouts: nothing more ends before 60 s. */
	flow_table_advance(ft, T0 + S(59));
	CHECK_EQ_U(stats(ft).expired, 2);
	flow_table_advance(ft, T0 + S(60) + MS(9));
	CHECK_EQ_U(stats(ft).expired, 9);
	CHECK(invariant_holds(ft));
	flow_table_destroy(ft);
}

static void clock_going_backwards_means_no_time_passed(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "10.0.0.1", 53, PROTO_UDP,
				 0, 80);
	struct pkt_layer b = pkt("10.0.0.9", 40001, "10.0.0.1", 53, PROTO_UDP,
				 0, 80);

	put(ft, a, T0 + S(100));
	flow_table_advance(ft, T0);
	flow_table_advance(ft, 0);
	CHECK_EQ_U(nev, 1);
	/* A packet stamped in the past is accounted at the table's clock. */
	put(ft, a, T0 + S(50));
	put(ft, b, T0 + S(10));
	CHECK_EQ_U(nev, 2);
	CHECK_EQ_U(ev[1].first_ns, T0 + S(100));
	/* a's second packet, unreported, gets its trailing UPDATE one
	 * interval after the table's clock passed it. */
	flow_table_advance(ft, T0 + S(101) - 1);
	CHECK_EQ_U(nev, 2);
	flow_table_advance(ft, T0 + S(101));
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(ev[2].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[2].pkts[FLOW_FWD], 2);
	CHECK_EQ_U(ev[2].dpkts[FLOW_FWD], 1);
	flow_table_advance(ft, T0 + S(160) - 1);
	CHECK_EQ_U(nev, 3);
	flow_table_advance(ft, T0 + S(160));
	CHECK_EQ_U(nev, 5);
	CHECK_EQ_U(ev[3].end_reason, FLOW_END_IDLE);
	CHECK(ev[3].first_ns <= ev[3].last_ns);
	CHECK_EQ_U(ev[3].pkts[FLOW_FWD], 2);
	CHECK_EQ_U(ev[3].dpkts[FLOW_FWD], 0);
	flow_table_advance(ft, 1);
	CHECK_EQ_U(stats(ft).active, 0);
	CHECK(invariant_holds(ft));
	flow_table_destroy(ft);
}

/* A wall-clock step in live capture (flow_table_rebase): after a step back
 * of an hour, updates and idle expiry keep their pace (without the rebase
 * they would wait an hour); after a step forward, nothing ends at once.
 * Events never report a last packet before the first. */
static void clock_step_moves_timers_with_it(void)
{
	struct capture_config c = cfg_small(16);
	struct flow_table *ft = mk(&c);
	struct pkt_layer a = pkt("10.0.0.9", 40000, "10.0.0.1", 6379, PROTO_UDP,
				 0, 80);
	struct pkt_layer b = pkt("10.0.0.9", 40001, "10.0.0.1", 6379, PROTO_UDP,
				 0, 80);
	const uint64_t H = S(3600);
	uint64_t t;

	put(ft, a, T0);				/* NEW */
	put(ft, b, T0 + S(1));			/* NEW */
	CHECK_EQ_U(nev, 2);
	/* The clock steps back by an hour at T0 + 2 s. */
	flow_table_rebase(ft, -(int64_t)H);
	t = T0 + S(2) - H;
	put(ft, a, t);				/* an UPDATE is due (1 s) */
	CHECK_EQ_U(nev, 3);
	CHECK_EQ_U(ev[2].event, FLOW_EV_UPDATE);
	CHECK_EQ_U(ev[2].first_ns, T0);
	CHECK_EQ_U(ev[2].last_ns, T0);		/* not before first_ns */
	CHECK_EQ_U(ev[2].pkts[FLOW_FWD], 2);
	/* b idles out 60 s after its last packet, in the new time. */
	flow_table_advance(ft, T0 + S(61) - H - 1);
	CHECK_EQ_U(ended_with(40001), 0);
	flow_table_advance(ft, T0 + S(61) - H);
	CHECK_EQ_U(ended_with(40001), FLOW_END_IDLE);
	/* Now a step forward by a day: a (last packet 59 s of idle before the
	 * step) is not ended by it, and ends 60 s after its last packet. */
	flow_table_rebase(ft, (int64_t)(24 * H));
	t = T0 + S(61) - H + 24 * H;
	flow_table_advance(ft, t);
	CHECK_EQ_U(ended_with(40000), 0);
	flow_table_advance(ft, t + S(1));
	CHECK_EQ_U(ended_with(40000), FLOW_END_IDLE);
	CHECK_EQ_U(stats(ft).active, 0);
	for (size_t i = 0; i < nev && i < LOG_MAX; i++)
		CHECK(ev[i].first_ns <= ev[i].last_ns);
	CHECK(invariant_holds(ft));
	flow_table_destroy(ft);
}

/* ---- random traffic against a small table ----------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define RAND_FLOWS_MAX 200000
struct shadow {
	uint8_t state;		/* 0 unseen, 1 live, 2 ended */
	uint64_t pkts[2], bytes[2];	/* sums of the deltas */
};
static struct shadow *shadow;
static uint64_t shadow_bad, shadow_events;

static void shadow_emit(void *ctx, const struct flow_record *r)
{
	uint64_t k = r->id - 1;
	struct shadow *s;

	shadow_events++;
	if (k >= RAND_FLOWS_MAX) {
		shadow_bad++;
		return;
	}
	s = &shadow[k];
	if ((r->event == FLOW_EV_NEW) != (s->state == 0) || s->state == 2 ||
	    r->first_ns > r->last_ns)
		shadow_bad++;
	for (int d = 0; d < 2; d++) {
		s->pkts[d] += r->dpkts[d];
		s->bytes[d] += r->dbytes[d];
		if (s->pkts[d] != r->pkts[d] || s->bytes[d] != r->bytes[d])
			shadow_bad++;
	}
	s->state = r->event == FLOW_EV_END ? 2 : 1;
}

static void counters_balance_under_random_traffic(void)
{
	static const uint8_t flagset[] = { TH_SYN, TH_SYN | TH_ACK, TH_ACK,
					   TH_ACK | 0x08, TH_FIN | TH_ACK,
					   TH_RST, TH_ACK, TH_ACK };
	struct capture_config c = cfg_small(64);
	struct flow_table *ft;
	uint64_t t = T0, ended = 0, live = 0;
	int ok = 1;

	shadow = calloc(RAND_FLOWS_MAX, sizeof(*shadow));
	CHECK(shadow != NULL);
	if (!shadow)
		return;
	shadow_bad = shadow_events = 0;
	rng_state = 42;
	c.emit = shadow_emit;
	c.first_flow_id = 1;
	c.tcp_syn_idle_s = 2;
	c.tcp_idle_s = 10;
	c.tcp_closed_s = 1;
	c.udp_idle_s = 5;
	c.other_idle_s = 3;
	ft = mk(&c);
	for (int n = 0; n < 100000; n++) {
		struct pkt_layer pl;
		uint64_t r = rng();
		uint8_t protos[] = { PROTO_TCP, PROTO_TCP, PROTO_UDP, 1 };

		memset(&pl, 0, sizeof(pl));
		pl.family = (r & 0x10) ? 4 : 6;
		pl.src[15] = (uint8_t)(r >> 8) % 12;
		pl.dst[15] = (uint8_t)(r >> 16) % 12;
		if (pl.family == 4) {
			pl.src[10] = pl.src[11] = pl.dst[10] = pl.dst[11] = 0xff;
		}
		pl.sport = (uint16_t)(r >> 24) % 3 + 80;
		pl.dport = (uint16_t)(r >> 28) % 3 + 80;
		pl.proto = protos[(r >> 32) & 3];
		pl.tcp_flags = pl.proto == PROTO_TCP ? flagset[(r >> 34) & 7] : 0;
		pl.reply_hint = (r >> 37) & 1;
		pl.tunnel_depth = (r >> 38) & 1;
		pl.ip_bytes = (uint32_t)(r >> 40) % 1500 + 20;
		if ((r & 0x3ff) == 0)
			t -= S(5);			/* clock steps back */
		else if ((r & 0x3f) == 3)
			t += MS(1500);			/* a lull */
		else
			t += MS((r >> 50) % 4);
		flow_table_packet(ft, &pl, (uint16_t)((r >> 39) & 1),
				  (uint32_t)(r >> 60) & 1, t);
		if ((r & 0xff) == 1)
			flow_table_advance(ft, t);
		if ((r & 0x1fff) == 2)
			flow_table_flush_iface(ft, 0, FLOW_END_IFACE_GONE);
		if (!invariant_holds(ft) || stats(ft).active > 64)
			ok = 0;
	}
	CHECK(ok);
	struct capture_flow_stats st = stats(ft);
	CHECK(st.evicted > 0);
	CHECK(st.refused > 0);
	CHECK(st.expired > 0);
	CHECK(st.emergency_entered > 0);
	CHECK_EQ_U(st.peak, 64);
	flow_table_flush(ft, FLOW_END_SHUTDOWN);
	CHECK(invariant_holds(ft));
	st = stats(ft);
	CHECK_EQ_U(st.active, 0);
	for (uint64_t k = 0; k < RAND_FLOWS_MAX; k++) {
		ended += shadow[k].state == 2;
		live += shadow[k].state == 1;
	}
	CHECK_EQ_U(ended, st.created);
	CHECK_EQ_U(live, 0);
	CHECK_EQ_U(shadow_bad, 0);
	printf("     %llu flows, %llu events, %llu evicted, %llu refused\n",
	       (unsigned long long)st.created,
	       (unsigned long long)shadow_events,
	       (unsigned long long)st.evicted, (unsigned long long)st.refused);
	flow_table_destroy(ft);
	free(shadow);
}

/* ---- batches -------------------------------------------------------------- */

/* Each table's events, reduced to a fingerprint per event. */
struct evlog {
	uint64_t *fp;
	size_t n, cap;
};

static void evlog_emit(void *ctx, const struct flow_record *r)
{
	struct evlog *l = ctx;
	const uint8_t *p = (const uint8_t *)r;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*r); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	if (l->n < l->cap)
		l->fp[l->n] = h;
	l->n++;
}

/*
 * flow_table_packets() on random runs of packets (few keys, so a group often
 * holds the same flow twice, or a flow that ends and starts again, with
 * evictions and refusals in a small table) gives the events that
 * flow_table_packet() one by one gives, in the same order.
 */
static void batches_give_the_events_of_one_by_one(void)
{
	static const uint8_t flagset[] = { TH_SYN, TH_SYN | TH_ACK, TH_ACK,
					   TH_FIN | TH_ACK, TH_RST, TH_ACK };
	enum { N = 60000 };
	struct capture_config c = cfg_small(48);
	struct evlog one = {calloc(4 * N, 8), 0, 4 * N};
	struct evlog many = {calloc(4 * N, 8), 0, 4 * N};
	struct pkt_layer *pl = calloc(N, sizeof(*pl));
	struct flow_input *in = calloc(N, sizeof(*in));
	uint64_t t = T0;
	struct flow_table *a, *b;
	size_t i, j;

	CHECK(one.fp && many.fp && pl && in);
	if (!one.fp || !many.fp || !pl || !in)
		return;
	rng_state = 7;
	c.tcp_closed_s = 1;
	c.udp_idle_s = 2;
	c.emit = evlog_emit;
	c.emit_ctx = &one;
	a = mk(&c);
	c.emit_ctx = &many;
	b = mk(&c);
	for (i = 0; i < N; i++) {
		uint64_t r = rng();

		pl[i].family = 4;
		pl[i].src[10] = pl[i].src[11] = pl[i].dst[10] = 0xff;
		pl[i].dst[11] = 0xff;
		pl[i].src[15] = (uint8_t)(r % 3);
		pl[i].dst[15] = (uint8_t)((r >> 8) % 3);
		pl[i].sport = (uint16_t)(40000 + (r >> 16) % 3);
		pl[i].dport = (r >> 24) & 1 ? 443 : 53;
		pl[i].proto = (r >> 25) & 1 ? PROTO_TCP : PROTO_UDP;
		pl[i].tcp_flags = pl[i].proto == PROTO_TCP ?
					  flagset[(r >> 26) % 6] : 0;
		pl[i].ip_bytes = (uint32_t)(r >> 32) % 1500 + 40;
		t += (r >> 48) % 64 == 0 ? MS(700) : MS((r >> 50) % 5);
		in[i] = (struct flow_input){&pl[i], (uint16_t)((r >> 60) & 1),
					    (uint32_t)(r >> 61) & 1, t};
	}
	for (i = 0; i < N; i++)
		flow_table_packet(a, in[i].pl, in[i].vlan, in[i].iface,
				  in[i].ts_ns);
	for (i = 0; i < N; i += j) {
		j = 1 + rng() % 40;
		if (j > N - i)
			j = N - i;
		flow_table_packets(b, &in[i], j);
	}
	flow_table_flush(a, FLOW_END_SHUTDOWN);
	flow_table_flush(b, FLOW_END_SHUTDOWN);
	CHECK(one.n > (size_t)N / 10 && one.n <= one.cap);
	CHECK_EQ_U(many.n, one.n);
	CHECK(memcmp(one.fp, many.fp, one.n * 8) == 0);
	CHECK(stats(a).evicted > 0);
	printf("     %zu events, %llu flows, %llu evicted\n", one.n,
	       (unsigned long long)stats(a).created,
	       (unsigned long long)stats(a).evicted);
	flow_table_destroy(a);
	flow_table_destroy(b);
	free(one.fp);
	free(many.fp);
	free(pl);
	free(in);
}

/* ---- hashing ------------------------------------------------------------ */

static void null_emit(void *ctx, const struct flow_record *r)
{
}

static uint32_t longest_chain(const struct flow_table *ft)
{
	uint32_t longest = 0;

	for (uint64_t b = 0; b <= ft->mask; b++) {
		uint32_t len = 0;
		for (uint32_t i = ft->bucket[b]; i; i = ft->ent[i].hnext)
			len++;
		if (len > longest)
			longest = len;
	}
	return longest;
}

static void hash_spreads_random_and_sequential_keys(void)
{
	struct capture_config c = cfg_small(100000);
	struct flow_table *ft;
	uint32_t worst;

	c.emit = null_emit;
	/* Random IPv4 and IPv6 keys. */
	ft = mk(&c);
	rng_state = 7;
	for (int n = 0; n < 100000; n++) {
		struct pkt_layer pl;
		uint64_t r = rng(), s = rng();

		memset(&pl, 0, sizeof(pl));
		pl.family = (n & 1) ? 6 : 4;
		memcpy(pl.src + 8, &r, 8);
		memcpy(pl.dst + 8, &s, 8);
		if (pl.family == 4) {
			memset(pl.src, 0, 12);
			memset(pl.dst, 0, 12);
			pl.src[10] = pl.src[11] = pl.dst[10] = pl.dst[11] = 0xff;
		} else {
			memcpy(pl.src, &s, 8);
		}
		pl.sport = (uint16_t)(r >> 48);
		pl.dport = (uint16_t)(s >> 48);
		pl.proto = PROTO_UDP;
		flow_table_packet(ft, &pl, 0, 1, T0);
	}
	CHECK_EQ_U(stats(ft).active, 100000);
	worst = longest_chain(ft);
	printf("     random keys: longest chain %u over %u buckets\n", worst,
	       ft->mask + 1);
	CHECK(worst <= 10);
	flow_table_destroy(ft);

	/* One client, sequential source ports: what a scan looks like. */
	ft = mk(&c);
	for (int n = 0; n < 100000; n++) {
		struct pkt_layer pl = pkt("10.0.0.9", 0, "10.0.0.1", 0,
					  PROTO_TCP, TH_SYN, 60);
		pl.sport = (uint16_t)(n % 50000 + 10000);
		pl.dport = (uint16_t)(n / 50000 + 1);
		flow_table_packet(ft, &pl, 0, 1, T0);
	}
	CHECK_EQ_U(stats(ft).active, 100000);
	worst = longest_chain(ft);
	printf("     sequential keys: longest chain %u\n", worst);
	CHECK(worst <= 10);
	flow_table_destroy(ft);
}

int main(void)
{
	RUN(entry_is_two_cache_lines);
	RUN(create_rejects_bad_config);
	RUN(create_costs_memory_only_as_flows_arrive);
	RUN(both_directions_count_in_one_flow);
	RUN(initiator_follows_the_documented_rules);
	RUN(icmp_echo_request_and_reply_are_one_flow);
	RUN(events_come_new_update_end_with_deltas);
	RUN(update_waits_a_full_interval_after_the_previous_event);
	RUN(trailing_update_reports_a_burst_then_silence);
	RUN(pending_list_survives_step_evict_and_flush);
	RUN(each_state_has_its_idle_timeout);
	RUN(fin_both_ways_or_rst_closes_quickly);
	RUN(closing_packet_reports_final_counters_at_once);
	RUN(new_syn_on_closed_flow_starts_a_new_flow);
	RUN(packet_after_idle_timeout_starts_a_new_flow);
	RUN(iface_vlan_and_tunnel_depth_separate_flows);
	RUN(ipv4_and_ipv6_live_side_by_side);
	RUN(flush_and_flush_iface_end_flows_with_the_reason);
	RUN(full_table_evicts_unanswered_first_then_closed_then_oldest);
	RUN(closed_flows_give_way_before_live_ones);
	RUN(emergency_ends_below_ninety_percent);
	RUN(emergency_shortens_idle_timeouts_until_it_ends);
	RUN(clock_going_backwards_means_no_time_passed);
	RUN(clock_step_moves_timers_with_it);
	RUN(counters_balance_under_random_traffic);
	RUN(batches_give_the_events_of_one_by_one);
	RUN(hash_spreads_random_and_sequential_keys);
	return T_DONE();
}
