/*
 * dash_fill - write the dashboard's test scenario into a database through the
 * store module, and print what it wrote as key=value lines.
 *
 *   dash_fill --db FILE [--now UNIX_SECONDS] [--hostile] [--noise N]
 *
 * The scenario (times relative to --now, default the wall clock):
 *   - workloads prod/redis-0, prod/web-1, prod/api-0, kube-system/coredns-1;
 *   - redis-0 resolves exfil.example.net to 203.0.113.66 and, from 20 to 10
 *     minutes before now, sends 48 MiB to 203.0.113.66:6379 in one TCP flow
 *     (a row per minute, as the live agent's active-timeout updates);
 *   - a critical alert for it ("redis-0 in prod opened an outbound
 *     connection to 203.0.113.66:6379 and sent 48 MiB") with evidence;
 *   - ordinary traffic of the others over the last two hours (HTTPS to
 *     198.51.100.10, DNS to coredns, ingress to web-1), `--noise` flows;
 *   - with --hostile, a workload, DNS names, labels, an alert and flows
 *     whose strings are attacks on the page: <script>, an attribute
 *     break-out with onerror, U+2028, and invalid UTF-8.
 * Exit status 0, or 1 on an error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

#define NS ((uint64_t)1000000000)
#define MIN (60 * NS)
#define MiB ((uint64_t)1024 * 1024)

static struct store *st;
static uint64_t next_id;
static int failed;

static void put(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "dash_fill: %s: %s\n", what, strerror(-rc));
		failed = 1;
	}
}

static void ip4(uint8_t out[16], int a, int b, int c, int d)
{
	uint8_t v4[4] = {(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d};

	ew_ip_from_v4(out, v4);
}

struct flowspec {
	const char *workload, *remote_workload, *name, *country, *verdict;
	const uint8_t *lip, *rip;
	uint16_t lport, rport;
	uint8_t proto, direction;
	uint32_t asn;
	uint64_t start, minutes;	/* one row per minute */
	uint64_t sent, recv;		/* totals over the flow */
};

/* One flow as the agent writes it: a row per minute with the increase since
 * the last row, the last one ended. */
static uint64_t flow(const struct flowspec *s)
{
	struct store_flow f;
	uint64_t id = next_id++, steps = s->minutes ? s->minutes : 1;
	uint64_t ps = s->sent / 1400 + 1, pr = s->recv / 1400 + 1;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.start_ns = s->start;
	memcpy(f.local_ip, s->lip, 16);
	memcpy(f.remote_ip, s->rip, 16);
	f.local_port = s->lport;
	f.remote_port = s->rport;
	f.family = 4;
	f.proto = s->proto;
	f.direction = s->direction;
	f.remote_asn = s->asn;
	snprintf(f.interface, sizeof(f.interface), "veth%" PRIu64, id % 7);
	snprintf(f.workload, sizeof(f.workload), "%s", s->workload ? s->workload : "");
	snprintf(f.remote_workload, sizeof(f.remote_workload), "%s",
		 s->remote_workload ? s->remote_workload : "");
	snprintf(f.remote_name, sizeof(f.remote_name), "%s", s->name ? s->name : "");
	snprintf(f.remote_country, sizeof(f.remote_country), "%s",
		 s->country ? s->country : "");
	snprintf(f.verdict, sizeof(f.verdict), "%s", s->verdict ? s->verdict : "allow");
	for (uint64_t k = 1; k <= steps; k++) {
		uint64_t bs = s->sent * k / steps, br = s->recv * k / steps;
		uint64_t qs = ps * k / steps, qr = pr * k / steps;

		f.dbytes_sent = bs - f.bytes_sent;
		f.dbytes_received = br - f.bytes_received;
		f.dpackets_sent = qs - f.packets_sent;
		f.dpackets_received = qr - f.packets_received;
		f.bytes_sent = bs;
		f.bytes_received = br;
		f.packets_sent = qs;
		f.packets_received = qr;
		f.end_ns = s->start + (s->minutes ? k * MIN - NS : 2 * NS);
		f.tcp_flags_sent = s->proto == 6 ? 0x1a : 0;
		f.tcp_flags_received = s->proto == 6 ? 0x12 : 0;
		if (k == steps) {
			f.ended = 1;
			f.end_reason = s->proto == 6 ? 2 : 1;
			if (s->proto == 6)
				f.tcp_flags_sent |= 1;
		}
		put(store_put_flow(st, &f), "flow");
	}
	return id;
}

static void workload(const char *ns, const char *name, const char *labels,
		     const char *ips, const char *ifname, uint64_t now)
{
	struct store_workload w;

	memset(&w, 0, sizeof(w));
	snprintf(w.namespace, sizeof(w.namespace), "%s", ns);
	snprintf(w.name, sizeof(w.name), "%s", name);
	snprintf(w.kind, sizeof(w.kind), "pod");
	snprintf(w.runtime, sizeof(w.runtime), "containerd");
	snprintf(w.container_id, sizeof(w.container_id),
		 "3f9a1c0e5b7d2a4c6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d");
	snprintf(w.pod_uid, sizeof(w.pod_uid), "6a3f2c1e-9b7d-4e5f-8a1b-2c3d4e5f6a7b");
	snprintf(w.interface, sizeof(w.interface), "%s", ifname);
	w.labels = labels;
	w.ips = ips;
	w.first_seen_ns = now - 3 * 3600 * NS;
	w.last_seen_ns = now - 30 * NS;
	put(store_put_workload(st, &w), "workload");
}

static void dns(const char *wl, const char *name, const uint8_t ip[16],
		uint64_t seen)
{
	struct store_dns_answer d;

	memset(&d, 0, sizeof(d));
	memcpy(d.address, ip, 16);
	d.ttl = 300;
	d.seen_ns = seen;
	snprintf(d.workload, sizeof(d.workload), "%s", wl);
	snprintf(d.name, sizeof(d.name), "%s", name);
	put(store_put_dns_answer(st, &d), "dns");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"now", required_argument, NULL, 'n'},
		{"hostile", no_argument, NULL, 'H'},
		{"noise", required_argument, NULL, 'N'},
		{NULL, 0, NULL, 0},
	};
	struct store_config cfg;
	const char *db = NULL;
	uint64_t now = ew_now_ns(), noise = 200;
	int hostile = 0, c;
	char err[512];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'n': now = strtoull(optarg, NULL, 10) * NS; break;
		case 'H': hostile = 1; break;
		case 'N': noise = strtoull(optarg, NULL, 10); break;
		default: return 1;
		}
	}
	if (!db) {
		fprintf(stderr, "usage: dash_fill --db FILE [--now S] [--hostile] "
			"[--noise N]\n");
		return 1;
	}
	store_config_defaults(&cfg);
	cfg.path = db;
	cfg.block_when_full = 1;
	cfg.retention_s = 0;
	cfg.max_bytes = 0;
	st = store_open(&cfg, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "dash_fill: %s\n", err);
		return 1;
	}
	next_id = store_next_flow_id(st);
	now -= now % MIN;	/* whole minutes keep the rollups readable */

	uint8_t redis_ip[16], web_ip[16], api_ip[16], dns_ip[16], exfil[16];
	uint8_t https[16], client[16], evil_ip[16], hostile_ip[16];

	ip4(redis_ip, 10, 244, 1, 10);
	ip4(web_ip, 10, 244, 1, 11);
	ip4(api_ip, 10, 244, 1, 12);
	ip4(dns_ip, 10, 96, 0, 10);
	ip4(exfil, 203, 0, 113, 66);
	ip4(https, 198, 51, 100, 10);
	ip4(client, 10, 244, 2, 5);
	ip4(evil_ip, 192, 0, 2, 99);
	ip4(hostile_ip, 10, 244, 9, 9);

	workload("prod", "redis-0",
		 "{\"app\":\"redis\",\"statefulset.kubernetes.io/pod-name\":\"redis-0\",\"tier\":\"data\"}",
		 "[\"10.244.1.10\"]", "cali1a2b3c4d5e", now);
	workload("prod", "web-1", "{\"app\":\"web\",\"tier\":\"frontend\"}",
		 "[\"10.244.1.11\"]", "cali2b3c4d5e6f", now);
	workload("prod", "api-0", "{\"app\":\"api\"}", "[\"10.244.1.12\"]",
		 "cali3c4d5e6f70", now);
	workload("kube-system", "coredns-1", "{\"k8s-app\":\"kube-dns\"}",
		 "[\"10.96.0.10\"]", "cali4d5e6f7081", now);

	/* The exfiltration: 48 MiB over ten minutes, a row a minute. */
	dns("prod/redis-0", "exfil.example.net", exfil, now - 21 * MIN);
	struct flowspec ex = {
		.workload = "prod/redis-0", .name = "exfil.example.net",
		.country = "NL", .verdict = "alert", .asn = 64500,
		.lip = redis_ip, .rip = exfil, .lport = 40312, .rport = 6379,
		.proto = 6, .direction = STORE_EGRESS, .start = now - 20 * MIN,
		.minutes = 10, .sent = 48 * MiB, .recv = 96 * 1024,
	};
	uint64_t exfil_id = flow(&ex);

	struct store_alert a;
	memset(&a, 0, sizeof(a));
	a.first_seen_ns = now - 20 * MIN;
	a.last_seen_ns = now - 10 * MIN - NS;
	a.count = 3;
	a.bytes_sent = 48 * MiB;
	memcpy(a.remote_ip, exfil, 16);
	a.remote_port = 6379;
	a.proto = 6;
	a.remote_asn = 64500;
	snprintf(a.severity, sizeof(a.severity), "critical");
	snprintf(a.kind, sizeof(a.kind), "datastore-egress");
	snprintf(a.rule, sizeof(a.rule), "builtin/datastore-egress");
	snprintf(a.workload, sizeof(a.workload), "prod/redis-0");
	snprintf(a.remote_name, sizeof(a.remote_name), "exfil.example.net");
	snprintf(a.remote_country, sizeof(a.remote_country), "NL");
	snprintf(a.message, sizeof(a.message), "redis-0 in prod opened an "
		 "outbound connection to 203.0.113.66:6379 and sent 48 MiB");
	snprintf(a.dedup_key, sizeof(a.dedup_key),
		 "datastore-egress/prod/redis-0/203.0.113.66/6379");
	char evidence[512];
	snprintf(evidence, sizeof(evidence),
		 "{\"flow_id\":%" PRIu64 ",\"datastore\":\"redis\","
		 "\"reason\":\"datastore port on an outside address\","
		 "\"bytes_sent\":%" PRIu64 ",\"budget_bytes\":10485760}",
		 exfil_id, 48 * MiB);
	a.evidence = evidence;
	put(store_put_alert(st, &a), "alert");

	/* A warning, acknowledged, and an info. */
	memset(&a, 0, sizeof(a));
	a.first_seen_ns = now - 90 * MIN;
	a.last_seen_ns = now - 80 * MIN;
	a.bytes_sent = 2 * MiB;
	memcpy(a.remote_ip, https, 16);
	a.remote_port = 443;
	a.proto = 6;
	snprintf(a.severity, sizeof(a.severity), "warning");
	snprintf(a.kind, sizeof(a.kind), "new-destination");
	snprintf(a.rule, sizeof(a.rule), "prod/web-egress");
	snprintf(a.workload, sizeof(a.workload), "prod/web-1");
	snprintf(a.message, sizeof(a.message),
		 "web-1 in prod talked to a destination never seen before: "
		 "api.example.com (198.51.100.10:443)");
	snprintf(a.dedup_key, sizeof(a.dedup_key), "new-destination/prod/web-1/198.51.100.10");
	put(store_put_alert(st, &a), "alert");
	memset(&a, 0, sizeof(a));
	a.first_seen_ns = a.last_seen_ns = now - 40 * MIN;
	snprintf(a.severity, sizeof(a.severity), "info");
	snprintf(a.kind, sizeof(a.kind), "workload-started");
	snprintf(a.workload, sizeof(a.workload), "prod/api-0");
	snprintf(a.message, sizeof(a.message), "api-0 in prod started on this node");
	snprintf(a.dedup_key, sizeof(a.dedup_key), "started/prod/api-0");
	put(store_put_alert(st, &a), "alert");

	/* Ordinary traffic over the last two hours. */
	dns("prod/web-1", "api.example.com", https, now - 119 * MIN);
	for (uint64_t i = 0; i < noise; i++) {
		uint64_t t = now - 120 * MIN + i * (119 * MIN / (noise ? noise : 1));
		struct flowspec s = {
			.lip = web_ip, .lport = (uint16_t)(40000 + i % 20000),
			.proto = 6, .direction = STORE_EGRESS, .start = t,
			.workload = "prod/web-1", .verdict = "allow",
		};

		switch (i % 4) {
		case 0:
			s.rip = https; s.rport = 443; s.name = "api.example.com";
			s.country = "US"; s.asn = 64501;
			s.sent = 20000 + i * 37 % 9000; s.recv = 150000 + i * 101 % 50000;
			break;
		case 1:
			s.rip = dns_ip; s.rport = 53; s.proto = 17;
			s.remote_workload = "kube-system/coredns-1";
			s.sent = 80; s.recv = 160;
			break;
		case 2:
			s.lip = api_ip; s.workload = "prod/api-0";
			s.rip = redis_ip; s.rport = 6379;
			s.remote_workload = "prod/redis-0";
			s.sent = 4000; s.recv = 64000;
			break;
		case 3:
			s.rip = client; s.rport = (uint16_t)(50000 + i);
			s.lport = 8080; s.direction = STORE_INGRESS;
			s.sent = 90000; s.recv = 3000;
			break;
		}
		flow(&s);
	}

	if (hostile) {
		/* Strings a hostile pod or DNS server controls. */
		static const char script[] = "<script>alert(1)</script>";
		static const char img[] = "\"><img src=x onerror=alert(1)>";
		static const char lsep[] = "line\xe2\x80\xa8separator\xe2\x80\xa9para";
		static const char badutf8[] = "bad\xff\xfe\xc3(utf8";
		char name[256], labels[1024], msg[512];

		snprintf(labels, sizeof(labels),
			 "{\"app\":\"%s\",\"x\":\"\\\"><img src=x onerror=alert(1)>\","
			 "\"ls\":\"a\\u2028b\",\"raw\":\"%s\"}",
			 "<script>alert(1)</script>", badutf8);
		workload("hostile", "xss-0", labels, "[\"10.244.9.9\"]",
			 "cali9e9e9e9e9e", now);
		snprintf(name, sizeof(name), "%s.evil.example", script);
		dns("hostile/xss-0", name, evil_ip, now - 30 * MIN);
		dns("hostile/xss-0", img, evil_ip, now - 29 * MIN);
		dns("hostile/xss-0", lsep, evil_ip, now - 28 * MIN);
		dns("hostile/xss-0", badutf8, evil_ip, now - 27 * MIN);
		const char *names[] = {name, img, lsep, badutf8};
		for (int i = 0; i < 4; i++) {
			struct flowspec s = {
				.workload = "hostile/xss-0", .name = names[i],
				.country = "ZZ", .verdict = "alert",
				.lip = hostile_ip, .rip = evil_ip,
				.lport = (uint16_t)(41000 + i), .rport = 443,
				.proto = 6, .direction = STORE_EGRESS,
				.start = now - (30 - (uint64_t)i) * MIN,
				.minutes = 2, .sent = 12345, .recv = 678,
			};
			flow(&s);
		}
		memset(&a, 0, sizeof(a));
		a.first_seen_ns = now - 30 * MIN;
		a.last_seen_ns = now - 26 * MIN;
		a.bytes_sent = 4 * 12345;
		memcpy(a.remote_ip, evil_ip, 16);
		a.remote_port = 443;
		a.proto = 6;
		snprintf(a.severity, sizeof(a.severity), "critical");
		snprintf(a.kind, sizeof(a.kind), "%s", "<b>kind</b>");
		snprintf(a.rule, sizeof(a.rule), "%s", img);
		snprintf(a.workload, sizeof(a.workload), "hostile/xss-0");
		snprintf(a.remote_name, sizeof(a.remote_name), "%s", name);
		snprintf(msg, sizeof(msg), "hostile %s %s %s %s", script, img,
			 lsep, badutf8);
		snprintf(a.message, sizeof(a.message), "%s", msg);
		snprintf(a.dedup_key, sizeof(a.dedup_key), "hostile/xss-0");
		char ev[1024];
		snprintf(ev, sizeof(ev), "{\"name\":\"%s\",\"img\":\"\\\"><img "
			 "src=x onerror=alert(1)>\",\"ls\":\"\\u2028\","
			 "\"nested\":[{\"k\":\"</script><script>alert(2)</script>\"}]}",
			 script);
		a.evidence = ev;
		put(store_put_alert(st, &a), "alert");
	}

	if (store_sync(st))
		failed = 1;
	struct store_stats ss;
	store_get_stats(st, &ss);
	if (store_close(st))
		failed = 1;
	printf("now=%" PRIu64 "\nexfil_flow=%" PRIu64 "\nrows=%" PRIu64
	       "\nlost=%" PRIu64 "\n", now / NS, exfil_id, ss.written,
	       ss.dropped_queue_full + ss.dropped_write_error + ss.dropped_invalid);
	return failed || ss.dropped_invalid ? 1 : 0;
}
