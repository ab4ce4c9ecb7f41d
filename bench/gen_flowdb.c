/*
 * gen_flowdb - generate a large egresswatch database for the dashboard
 * benchmark: N flows spread over D days, with the per-minute rollups, DNS
 * answers, workloads and alerts that a node of that size would have.
 *
 *   gen_flowdb --db FILE [--flows N] [--days D] [--workloads W]
 *              [--remotes R] [--alerts A] [--end UNIX_SECONDS] [--seed S]
 *
 * Defaults: 10,000,000 flows over 7 days ending now, 200 workloads, 20,000
 * remote addresses, 2,000 alerts.  The schema is the store's own: the file is
 * created by store_open(), then filled with SQLite directly (the store's
 * writer, at its real-time pace, would take far longer for a benchmark
 * fixture).  To load fast, the flow and rollup indices are dropped, the rows
 * inserted in id order in large transactions, and the indices created again
 * from their own SQL text as sqlite_master held it, so the file ends with
 * exactly the store's schema.
 *
 * Traffic shape: each workload has a few destinations (HTTPS to the internet,
 * DNS to the cluster resolver, a database, a peer service) and a share of the
 * flows following a skewed distribution, 80% egress; durations are mostly
 * seconds with a tail up to an hour; bytes are heavy-tailed.  Deterministic for
 * a given --seed.  Prints the time it took and the row counts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

#define NS ((uint64_t)1000000000)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: fast, good enough for synthetic traffic. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static double unif(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static void check(int rc, sqlite3 *db, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "gen_flowdb: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "gen_flowdb: %s: %s\n", sql, msg);
		exit(1);
	}
}

struct dest {
	uint8_t ip[16];
	uint16_t port;
	uint8_t proto;
	char name[64];
	char country[4];
	uint32_t asn;
	int workload;			/* a cluster peer, or -1 */
};

struct wl {
	char ref[64];
	uint8_t ip[16];
	struct dest dests[8];
	int ndests;
	uint16_t serves;		/* ingress port */
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"flows", required_argument, NULL, 'n'},
		{"days", required_argument, NULL, 'D'},
		{"workloads", required_argument, NULL, 'w'},
		{"remotes", required_argument, NULL, 'r'},
		{"alerts", required_argument, NULL, 'a'},
		{"end", required_argument, NULL, 'e'},
		{"seed", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	static const char *countries[] = {"US", "DE", "NL", "FR", "GB", "JP",
					  "SG", "BR", "IE", "SE"};
	static const char *namespaces[] = {"prod", "staging", "payments",
					   "monitoring", "data", "web"};
	static const char *sevs[] = {"critical", "warning", "info"};
	static const char *kinds[] = {"datastore-egress", "new-destination",
				      "volume", "policy", "port-scan"};
	const char *path = NULL;
	uint64_t nflows = 10000000, days = 7, nwl = 200, nrem = 20000;
	uint64_t nalerts = 2000, end = ew_now_ns() / NS;
	struct store_config cfg;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': path = optarg; break;
		case 'n': nflows = strtoull(optarg, NULL, 10); break;
		case 'D': days = strtoull(optarg, NULL, 10); break;
		case 'w': nwl = strtoull(optarg, NULL, 10); break;
		case 'r': nrem = strtoull(optarg, NULL, 10); break;
		case 'a': nalerts = strtoull(optarg, NULL, 10); break;
		case 'e': end = strtoull(optarg, NULL, 10); break;
		case 's': rng_state ^= strtoull(optarg, NULL, 10) * 0x100000001b3ull; break;
		default: return 2;
		}
	}
	if (!path || !nflows || !days || nwl < 2 || nwl > 100000 || nrem < 8) {
		fprintf(stderr, "usage: gen_flowdb --db FILE [--flows N] [--days D] "
			"[--workloads W>=2] [--remotes R>=8] [--alerts A] "
			"[--end UNIX_SECONDS] [--seed S]\n");
		return 2;
	}
	uint64_t t0 = ew_mono_ns();

	store_config_defaults(&cfg);
	cfg.path = path;
	struct store *st = store_open(&cfg, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "gen_flowdb: %s\n", err);
		return 1;
	}
	store_close(st);

	sqlite3 *db;
	check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), NULL,
	      "open");
	exec(db, "PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576;"
		 " PRAGMA temp_store = MEMORY");

	/* The indices to drop and make again, as the schema wrote them. */
	char *idx_sql[32];
	int nidx = 0;
	sqlite3_stmt *q;
	check(sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE"
				 " type = 'index' AND sql IS NOT NULL AND"
				 " tbl_name IN ('flows', 'traffic_minute')",
				 -1, &q, NULL), db, "indices");
	char drop[128];
	while (sqlite3_step(q) == SQLITE_ROW && nidx < 32) {
		idx_sql[nidx++] = strdup((const char *)sqlite3_column_text(q, 1));
		snprintf(drop, sizeof(drop), "DROP INDEX %s",
			 (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		exec(db, drop);
		check(sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master"
					 " WHERE type = 'index' AND sql IS NOT"
					 " NULL AND tbl_name IN ('flows',"
					 " 'traffic_minute')", -1, &q, NULL),
		      db, "indices");
	}
	sqlite3_finalize(q);

	/* Workloads and their destinations. */
	struct wl *w = calloc(nwl, sizeof(*w));
	struct dest *rem = calloc(nrem, sizeof(*rem));
	if (!w || !rem)
		return 1;
	for (uint64_t i = 0; i < nrem; i++) {
		uint8_t v4[4] = {(uint8_t)(1 + rnd() % 220), (uint8_t)rnd(),
				 (uint8_t)rnd(), (uint8_t)(1 + rnd() % 250)};

		ew_ip_from_v4(rem[i].ip, v4);
		snprintf(rem[i].name, sizeof(rem[i].name), "svc%" PRIu64 ".example%"
			 PRIu64 ".com", i, i % 97);
		memcpy(rem[i].country, countries[rnd() % 10], 3);
		rem[i].asn = 64500 + (uint32_t)(rnd() % 500);
		rem[i].workload = -1;
	}
	for (uint64_t i = 0; i < nwl; i++) {
		uint8_t v4[4] = {10, 244, (uint8_t)(i / 250), (uint8_t)(1 + i % 250)};

		snprintf(w[i].ref, sizeof(w[i].ref), "%s/app-%" PRIu64,
			 namespaces[i % 6], i);
		ew_ip_from_v4(w[i].ip, v4);
		w[i].serves = (uint16_t)(i % 3 == 0 ? 6379 : i % 3 == 1 ? 8080 : 5432);
	}
	uint8_t dns_ip[16], v4dns[4] = {10, 96, 0, 10};
	ew_ip_from_v4(dns_ip, v4dns);
	for (uint64_t i = 0; i < nwl; i++) {
		struct wl *x = &w[i];

		/* DNS, a peer service, and internet destinations. */
		memcpy(x->dests[0].ip, dns_ip, 16);
		x->dests[0].port = 53;
		x->dests[0].proto = 17;
		x->dests[0].workload = -1;
		int peer = (int)((i + 1 + rnd() % (nwl - 1)) % nwl);
		memcpy(x->dests[1].ip, w[peer].ip, 16);
		x->dests[1].port = w[peer].serves;
		x->dests[1].proto = 6;
		x->dests[1].workload = peer;
		x->ndests = 2 + (int)(rnd() % 6);
		for (int k = 2; k < x->ndests; k++) {
			x->dests[k] = rem[rnd() % nrem];
			x->dests[k].port = k == 2 || rnd() % 4 ? 443 : 80;
			x->dests[k].proto = 6;
		}
	}

	sqlite3_stmt *ins, *roll;
	check(sqlite3_prepare_v2(db,
		"INSERT INTO flows (id, start_ns, end_ns, interface, family,"
		" proto, direction, local_ip, local_port, remote_ip, remote_port,"
		" vlan, bytes_sent, bytes_received, packets_sent,"
		" packets_received, tcp_flags_sent, tcp_flags_received, ended,"
		" end_reason, workload, remote_workload, remote_name,"
		" remote_country, remote_asn, verdict) VALUES (?1, ?2, ?3, ?4, 4,"
		" ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12, ?13, ?14, ?15, ?16, 1, ?17,"
		" ?18, ?19, ?20, ?21, ?22, ?23)", -1, &ins, NULL), db, "insert");
	check(sqlite3_prepare_v2(db,
		"INSERT INTO traffic_minute (minute, workload, remote_ip, port,"
		" proto, direction, bytes_sent, bytes_received, packets_sent,"
		" packets_received, flows) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
		" ?9, ?10, 1) ON CONFLICT DO UPDATE SET"
		" bytes_sent = bytes_sent + excluded.bytes_sent,"
		" bytes_received = bytes_received + excluded.bytes_received,"
		" packets_sent = packets_sent + excluded.packets_sent,"
		" packets_received = packets_received + excluded.packets_received,"
		" flows = flows + 1", -1, &roll, NULL), db, "rollup");

	uint64_t span = days * 86400 * NS, first = end * NS - span;
	uint64_t step = span / nflows, max_dur = 0;
	exec(db, "BEGIN");
	for (uint64_t id = 1; id <= nflows; id++) {
		/* A skewed choice of workload: a few talk a lot. */
		double u = unif();
		uint64_t wi = (uint64_t)(u * u * u * (double)nwl) % nwl;
		struct wl *x = &w[wi];
		int egress = rnd() % 5 != 0;
		const struct dest *d = &x->dests[rnd() % (uint64_t)x->ndests];
		uint64_t start = first + (id - 1) * step + rnd() % (step ? step : 1);
		double r = unif();
		uint64_t dur = r < 0.90 ? (uint64_t)(unif() * 5.0 * 1e9) :
			       r < 0.999 ? (uint64_t)(unif() * 300.0 * 1e9) :
			       (uint64_t)(unif() * 3600.0 * 1e9);
		/* Heavy tails: a power of two times a uniform factor. */
		uint64_t bs = (200ull << (rnd() % 13)) + rnd() % 4096;
		uint64_t br = (400ull << (rnd() % 14)) + rnd() % 8192;
		uint64_t ps = bs / 1200 + 1, pr = br / 1200 + 1;
		uint8_t peer_ip[16];
		const uint8_t *rip = d->ip;
		uint16_t lport, rport;
		uint8_t proto = d->proto;
		const char *verdict = rnd() % 100 == 0 ? "alert" :
				      rnd() % 50 == 0 ? "audit" : "allow";
		char ifname[16];

		if (dur > max_dur)
			max_dur = dur;
		if (egress) {
			lport = (uint16_t)(32768 + rnd() % 28000);
			rport = d->port;
		} else {
			/* Someone from the cluster calls this workload. */
			int from = (int)(rnd() % nwl);

			memcpy(peer_ip, w[from].ip, 16);
			rip = peer_ip;
			lport = x->serves;
			rport = (uint16_t)(32768 + rnd() % 28000);
			proto = 6;
		}
		snprintf(ifname, sizeof(ifname), "cali%06" PRIx64, wi);
		sqlite3_bind_int64(ins, 1, (int64_t)id);
		sqlite3_bind_int64(ins, 2, (int64_t)start);
		sqlite3_bind_int64(ins, 3, (int64_t)(start + dur));
		sqlite3_bind_text(ins, 4, ifname, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ins, 5, proto);
		sqlite3_bind_int(ins, 6, egress ? 0 : 1);
		sqlite3_bind_blob(ins, 7, x->ip, 16, SQLITE_STATIC);
		sqlite3_bind_int(ins, 8, lport);
		sqlite3_bind_blob(ins, 9, rip, 16, SQLITE_STATIC);
		sqlite3_bind_int(ins, 10, rport);
		sqlite3_bind_int64(ins, 11, (int64_t)bs);
		sqlite3_bind_int64(ins, 12, (int64_t)br);
		sqlite3_bind_int64(ins, 13, (int64_t)ps);
		sqlite3_bind_int64(ins, 14, (int64_t)pr);
		sqlite3_bind_int(ins, 15, proto == 6 ? 0x1b : 0);
		sqlite3_bind_int(ins, 16, proto == 6 ? 0x1b : 0);
		sqlite3_bind_int(ins, 17, proto == 6 ? 2 : 1);
		sqlite3_bind_text(ins, 18, x->ref, -1, SQLITE_STATIC);
		if (egress && d->workload >= 0)
			sqlite3_bind_text(ins, 19, w[d->workload].ref, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 19);
		if (egress && d->workload < 0 && d->port != 53) {
			sqlite3_bind_text(ins, 20, d->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 21, d->country, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 22, d->asn);
		} else {
			sqlite3_bind_null(ins, 20);
			sqlite3_bind_null(ins, 21);
			sqlite3_bind_null(ins, 22);
		}
		sqlite3_bind_text(ins, 23, verdict, -1, SQLITE_STATIC);
		check(sqlite3_step(ins), db, "flow");
		sqlite3_reset(ins);

		sqlite3_bind_int64(roll, 1, (int64_t)((start + dur) / (60 * NS)));
		sqlite3_bind_text(roll, 2, x->ref, -1, SQLITE_STATIC);
		sqlite3_bind_blob(roll, 3, rip, 16, SQLITE_STATIC);
		sqlite3_bind_int(roll, 4, egress ? rport : lport);
		sqlite3_bind_int(roll, 5, proto);
		sqlite3_bind_int(roll, 6, egress ? 0 : 1);
		sqlite3_bind_int64(roll, 7, (int64_t)bs);
		sqlite3_bind_int64(roll, 8, (int64_t)br);
		sqlite3_bind_int64(roll, 9, (int64_t)ps);
		sqlite3_bind_int64(roll, 10, (int64_t)pr);
		check(sqlite3_step(roll), db, "rollup");
		sqlite3_reset(roll);
		if (id % 200000 == 0) {
			exec(db, "COMMIT; BEGIN");
			fprintf(stderr, "\rgen_flowdb: %" PRIu64 " flows", id);
		}
	}
	exec(db, "COMMIT");
	fprintf(stderr, "\n");
	sqlite3_finalize(ins);
	sqlite3_finalize(roll);

	/* Workloads, DNS answers, alerts. */
	exec(db, "BEGIN");
	sqlite3_stmt *ws, *ds, *as;
	check(sqlite3_prepare_v2(db, "INSERT INTO workloads (namespace, name,"
		" kind, runtime, labels, interface, ips, first_seen_ns,"
		" last_seen_ns) VALUES (?1, ?2, 'pod', 'containerd', ?3, ?4, ?5,"
		" ?6, ?7)", -1, &ws, NULL), db, "workloads");
	check(sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO dns_answers"
		" (workload, query_name, address, cname_chain, ttl, seen_ns,"
		" expires_ns) VALUES (?1, ?2, ?3, NULL, 300, ?4, ?4 + 300000000000)",
		-1, &ds, NULL), db, "dns");
	check(sqlite3_prepare_v2(db, "INSERT INTO alerts (first_seen_ns,"
		" last_seen_ns, count, severity, kind, rule, workload, remote_ip,"
		" remote_name, remote_country, remote_asn, remote_port, proto,"
		" bytes_sent, message, evidence, dedup_key, acknowledged, ack_ns,"
		" ack_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		" 6, ?13, ?14, '{\"generated\":true}', ?15, ?16, ?17, ?18)", -1, &as,
		NULL), db, "alerts");
	for (uint64_t i = 0; i < nwl; i++) {
		char labels[160], ips[64], ipstr[EW_IPSTR_MAX], ifname[16];
		const char *slash = strchr(w[i].ref, '/');

		ew_ip_to_str(w[i].ip, ipstr);
		snprintf(labels, sizeof(labels), "{\"app\":\"app-%" PRIu64
			 "\",\"team\":\"team-%" PRIu64 "\"}", i, i % 9);
		snprintf(ips, sizeof(ips), "[\"%s\"]", ipstr);
		snprintf(ifname, sizeof(ifname), "cali%06x", (unsigned)(i & 0xffffff));
		sqlite3_bind_text(ws, 1, w[i].ref, (int)(slash - w[i].ref), SQLITE_STATIC);
		sqlite3_bind_text(ws, 2, slash + 1, -1, SQLITE_STATIC);
		sqlite3_bind_text(ws, 3, labels, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ws, 4, ifname, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ws, 5, ips, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ws, 6, (int64_t)first);
		sqlite3_bind_int64(ws, 7, (int64_t)(end * NS));
		check(sqlite3_step(ws), db, "workload");
		sqlite3_reset(ws);
		for (int k = 2; k < w[i].ndests; k++) {
			sqlite3_bind_text(ds, 1, w[i].ref, -1, SQLITE_STATIC);
			sqlite3_bind_text(ds, 2, w[i].dests[k].name, -1, SQLITE_STATIC);
			sqlite3_bind_blob(ds, 3, w[i].dests[k].ip, 16, SQLITE_STATIC);
			sqlite3_bind_int64(ds, 4, (int64_t)(end * NS - rnd() % span));
			check(sqlite3_step(ds), db, "dns");
			sqlite3_reset(ds);
		}
	}
	for (uint64_t i = 0; i < nalerts; i++) {
		struct wl *x = &w[rnd() % nwl];
		const struct dest *d = &x->dests[2 + rnd() % (uint64_t)(x->ndests - 2 > 0 ? x->ndests - 2 : 1)];
		uint64_t fs = first + rnd() % span, ls = fs + rnd() % (3600 * NS);
		const char *sev = sevs[rnd() % 3];
		int acked = rnd() % 2;
		char msg[200], key[96], ipstr[EW_IPSTR_MAX];

		ew_ip_to_str(d->ip, ipstr);
		snprintf(msg, sizeof(msg), "%s opened an outbound connection to "
			 "%s:%u", x->ref, ipstr, d->port);
		snprintf(key, sizeof(key), "gen/%" PRIu64, i);
		sqlite3_bind_int64(as, 1, (int64_t)fs);
		sqlite3_bind_int64(as, 2, (int64_t)ls);
		sqlite3_bind_int64(as, 3, (int64_t)(1 + rnd() % 20));
		sqlite3_bind_text(as, 4, sev, -1, SQLITE_STATIC);
		sqlite3_bind_text(as, 5, kinds[rnd() % 5], -1, SQLITE_STATIC);
		sqlite3_bind_text(as, 6, "generated/rule", -1, SQLITE_STATIC);
		sqlite3_bind_text(as, 7, x->ref, -1, SQLITE_STATIC);
		sqlite3_bind_blob(as, 8, d->ip, 16, SQLITE_STATIC);
		sqlite3_bind_text(as, 9, d->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(as, 10, d->country, -1, SQLITE_STATIC);
		sqlite3_bind_int64(as, 11, d->asn);
		sqlite3_bind_int(as, 12, d->port);
		sqlite3_bind_int64(as, 13, (int64_t)(rnd() % (64u << 20)));
		sqlite3_bind_text(as, 14, msg, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(as, 15, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(as, 16, acked);
		if (acked) {
			sqlite3_bind_int64(as, 17, (int64_t)(ls + 60 * NS));
			sqlite3_bind_text(as, 18, "bench", -1, SQLITE_STATIC);
		} else {
			sqlite3_bind_null(as, 17);
			sqlite3_bind_null(as, 18);
		}
		check(sqlite3_step(as), db, "alert");
		sqlite3_reset(as);
	}
	sqlite3_finalize(ws);
	sqlite3_finalize(ds);
	sqlite3_finalize(as);
	char meta[128];
	snprintf(meta, sizeof(meta), "UPDATE meta SET value = %" PRIu64
		 " WHERE key = 'max_flow_ns'", max_dur);
	exec(db, meta);
	exec(db, "COMMIT");
	uint64_t t1 = ew_mono_ns();
	fprintf(stderr, "gen_flowdb: rows in %.1f s; making the indices\n",
		(double)(t1 - t0) / 1e9);
	for (int i = 0; i < nidx; i++) {
		exec(db, idx_sql[i]);
		free(idx_sql[i]);
	}
	exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
	free(w);
	free(rem);
	printf("flows=%" PRIu64 "\nworkloads=%" PRIu64 "\nalerts=%" PRIu64
	       "\nfirst=%" PRIu64 "\nend=%" PRIu64 "\nseconds=%.1f\n", nflows,
	       nwl, nalerts, first / NS, end, (double)(ew_mono_ns() - t0) / 1e9);
	return 0;
}
