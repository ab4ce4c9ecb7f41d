/*
 * detect_replay.c - replay capture files straight into the detectors and
 * print every alert as one JSON line: the test harness for false positives
 * on real traffic (tests/replay/detect_benign.sh) and for generated attack
 * traffic, independent of how the pipeline wires things.
 *
 *   detect_replay [--policy FILE]... [--budget BYTES] [--learn-s S]
 *                 [--dedup-s S] CAPTURE...
 *
 * Each file is replayed on its own (flows do not continue across files),
 * oriented as the pipeline does without workloads: the initiator is the
 * local side, every flow egress, local sides keyed by address.  The policy
 * (built-in unless given) judges each flow; remote_outside follows the
 * pipeline's rule (not a workload, not in cluster_networks, not loopback,
 * link-local, multicast, unspecified or broadcast); the remote name comes
 * from the client's own DNS answers.  Prints, per file, "# FILE" and its
 * alerts on stdout, and a summary ("FILE: N events, M DNS answers, span S s,
 * alerts k=v ...") on stderr, where the span is from the first to the last
 * event time.  Exit 0, 1 on a setup error, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "policy.h"
#include "util.h"

struct ctx {
	struct policy *pol;
	struct detect *det;
	struct dnscache *names;
	struct ew_buf line;
	uint64_t alerts[DETECT__COUNT];
	uint64_t first_ns, last_ns;		/* event times seen */
};

static void saw(struct ctx *c, uint64_t t)
{
	if (!c->first_ns || t < c->first_ns)
		c->first_ns = t;
	if (t > c->last_ns)
		c->last_ns = t;
}

static void on_alert(void *arg, const struct policy_alert *a)
{
	struct ctx *c = arg;

	c->alerts[a->kind]++;
	ew_buf_reset(&c->line);
	if (policy_alert_json(a, &c->line) == 0)
		printf("%s\n", c->line.data);
}

static void client_key(const uint8_t ip[16], char key[DNSCACHE_KEY_MAX])
{
	char a[EW_IPSTR_MAX];

	ew_ip_to_str(ip, a);
	snprintf(key, DNSCACHE_KEY_MAX, "ip:%s", a);
}

static int outside(const struct policy *p, const uint8_t ip[16])
{
	static const char *const local_scope[] = {
		"loopback", "link-local", "multicast", "unspecified", "broadcast",
	};
	const char *kind;

	if (policy_in_cluster(p, ip))
		return 0;
	kind = geo_reserved_kind(ip);
	for (size_t i = 0; kind && i < EW_ARRAY_LEN(local_scope); i++)
		if (strcmp(kind, local_scope[i]) == 0)
			return 0;
	return 1;
}

static void on_flow(void *arg, const struct flow_record *rec)
{
	struct ctx *c = arg;
	struct detect_event ev = {0};
	struct policy_flow pf = {0};
	struct policy_result r;
	char key[DNSCACHE_KEY_MAX], name[DNS_NAME_MAX];

	ev.kind = rec->event;
	ev.direction = POLICY_EGRESS;
	ev.proto = rec->proto;
	ev.local_port = rec->port[0];
	ev.remote_port = rec->port[1];
	ev.flow_id = rec->id;
	ev.first_ns = rec->first_ns;
	ev.last_ns = rec->last_ns;
	ev.now_ns = rec->last_ns;
	memcpy(ev.local_ip, rec->ip[0], 16);
	memcpy(ev.remote_ip, rec->ip[1], 16);
	ev.remote_outside = (uint8_t)outside(c->pol, rec->ip[1]);
	ev.bytes_sent = rec->bytes[FLOW_FWD];
	ev.bytes_received = rec->bytes[FLOW_REV];
	ev.packets_sent = rec->pkts[FLOW_FWD];
	ev.packets_received = rec->pkts[FLOW_REV];
	ev.tcp_flags_sent = rec->tcp_flags[FLOW_FWD];
	ev.tcp_flags_received = rec->tcp_flags[FLOW_REV];
	ev.dbytes_sent = rec->dbytes[FLOW_FWD];
	ev.dbytes_received = rec->dbytes[FLOW_REV];
	ev.dpackets_sent = rec->dpkts[FLOW_FWD];
	ev.dpackets_received = rec->dpkts[FLOW_REV];
	client_key(rec->ip[0], key);
	if (dnscache_lookup(c->names, key, rec->ip[1], rec->last_ns, name) == 0)
		ev.remote_name = name;

	pf.direction = POLICY_EGRESS;
	pf.proto = rec->proto;
	pf.remote_outside = ev.remote_outside;
	pf.local_port = ev.local_port;
	pf.remote_port = ev.remote_port;
	memcpy(pf.remote_ip, ev.remote_ip, 16);
	pf.remote_name = ev.remote_name;
	policy_eval(c->pol, &pf, &r);
	ev.verdict = &r;
	saw(c, ev.now_ns);
	detect_flow(c->det, &ev);
}

static void on_dns(void *arg, const struct dns_event *e)
{
	struct ctx *c = arg;
	struct detect_dns q = {0};
	char key[DNSCACHE_KEY_MAX];

	client_key(e->client_ip, key);
	dnscache_add_event(c->names, key, e, e->ts_ns);
	q.now_ns = e->ts_ns;
	memcpy(q.client_ip, e->client_ip, 16);
	q.qname = e->qname;
	q.qtype = e->qtype;
	q.rcode = e->rcode;
	saw(c, q.now_ns);
	detect_dns(c->det, &q);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: detect_replay [--policy FILE]... [--budget BYTES] "
		   "[--learn-s S] [--dedup-s S] CAPTURE...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"budget", required_argument, NULL, 'b'},
		{"learn-s", required_argument, NULL, 'l'},
		{"dedup-s", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct policy_source src[16];
	struct detect_config dc;
	struct dnscache_config nc;
	size_t n_src = 0;
	char err[512];
	int o;

	detect_config_defaults(&dc);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			if (n_src == EW_ARRAY_LEN(src)) {
				usage(stderr);
				return 2;
			}
			src[n_src++] = (struct policy_source){.name = optarg};
			break;
		case 'b':
			if (ew_parse_size(optarg, &dc.exfil_budget_bytes)) {
				usage(stderr);
				return 2;
			}
			break;
		case 'l':
			dc.port_learn_s = dc.new_dest_learn_s = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			dc.dedup_window_s = strtoull(optarg, NULL, 10);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	dnscache_config_defaults(&nc);
	nc.max_entries = 4096;
	nc.max_workloads = 256;
	for (int i = optind; i < argc; i++) {
		struct ctx c;
		struct capture_config cc;
		struct capture *cap;
		struct detect_stats st;
		struct policy_errors pe;

		memset(&c, 0, sizeof(c));
		if (policy_load(src, n_src, &c.pol, &pe) != 0) {
			for (unsigned k = 0; k < pe.n; k++)
				fprintf(stderr, "%s\n", pe.msg[k]);
			return 1;
		}
		dc.on_alert = on_alert;
		dc.ctx = &c;
		c.det = detect_open(&dc, err, sizeof(err));
		c.names = dnscache_open(&nc, err, sizeof(err));
		ew_buf_init(&c.line, 1 << 16);
		capture_config_defaults(&cc);
		cc.emit = on_flow;
		cc.emit_dns = on_dns;
		cc.emit_ctx = &c;
		cap = c.det && c.names ? capture_open(&cc, err, sizeof(err)) : NULL;
		if (!cap) {
			fprintf(stderr, "detect_replay: %s\n", err);
			return 1;
		}
		printf("# %s\n", argv[i]);
		if (capture_replay_file(cap, argv[i], "pcap", err, sizeof(err)) != 0) {
			/* Damaged files still count up to the damage. */
			fprintf(stderr, "%s: %s\n", argv[i], err);
		}
		capture_flush(cap, FLOW_END_SHUTDOWN);
		detect_get_stats(c.det, &st);
		fprintf(stderr, "%s: %llu events, %llu DNS answers, span %llu s, alerts",
			argv[i], (unsigned long long)st.events,
			(unsigned long long)st.dns_answers,
			(unsigned long long)((c.last_ns - c.first_ns) / 1000000000ull));
		for (int k = 0; k < DETECT__COUNT; k++)
			fprintf(stderr, " %s=%llu", detect_kind_name((enum detect_kind)k),
				(unsigned long long)c.alerts[k]);
		fprintf(stderr, "\n");
		fflush(stdout);
		capture_close(cap);
		detect_close(c.det);
		dnscache_close(c.names);
		policy_close(c.pol);
		ew_buf_free(&c.line);
	}
	return 0;
}
