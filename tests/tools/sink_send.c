/*
 * sink_send.c - open alert sinks from the same flag values the agent takes
 * and deliver synthetic alerts through them: the driver of
 * tests/e2e/webhook_sink.sh, which checks the bodies with an independent
 * receiver (Python's http.server and json).
 *
 *   sink_send [--alerts-json FILE|-] [--syslog[=FACILITY]] [--webhook SPEC]...
 *             [--count N] [--generator-url URL] [--drain-ms MS]
 *
 * Alert i (0-based) has severity i % 3 (info, warning, critical), kind
 * i % DETECT__COUNT, and "#i" at the end of its message; every 5th is a
 * repeat.  After submitting, the sinks are closed (pending deliveries get
 * drain_ms) and the final counters are printed as one JSON object.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "util.h"

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"alerts-json", required_argument, NULL, 'j'},
		{"syslog", optional_argument, NULL, 's'},
		{"webhook", required_argument, NULL, 'w'},
		{"count", required_argument, NULL, 'n'},
		{"generator-url", required_argument, NULL, 'g'},
		{"drain-ms", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct sink_spec specs[SINK_MAX];
	struct sink_config cfg;
	struct sink_stats st;
	struct sinks *s;
	size_t n = 0;
	int o, count = 6;
	char err[512];

	sink_config_defaults(&cfg);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		enum sink_kind k;

		switch (o) {
		case 'j': k = SINK_JSON; break;
		case 's': k = SINK_SYSLOG; break;
		case 'w': k = SINK_WEBHOOK; break;
		case 'n': count = atoi(optarg); continue;
		case 'g': cfg.generator_url = optarg; continue;
		case 'd': cfg.drain_ms = (uint32_t)atoi(optarg); continue;
		default:
			fprintf(stderr, "usage: see the top of sink_send.c\n");
			return 2;
		}
		if (n == SINK_MAX || sink_parse_spec(k, optarg, &specs[n], err,
						     sizeof(err)) != 0) {
			fprintf(stderr, "sink_send: %s\n", n == SINK_MAX ? "too many" : err);
			return 2;
		}
		n++;
	}
	cfg.specs = specs;
	cfg.n_specs = n;
	s = sink_open(&cfg, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "sink_send: %s\n", err);
		return 1;
	}
	for (int i = 0; i < count; i++) {
		struct policy_alert a;

		memset(&a, 0, sizeof(a));
		a.first_seen_ns = 1764000000ull * 1000000000ull + (uint64_t)i * 1000000000ull;
		a.last_seen_ns = a.first_seen_ns + 500000000ull;
		a.count = 1;
		a.severity = (uint8_t)(i % 3);
		a.kind = (uint8_t)(i % DETECT__COUNT);
		a.repeat = i % 5 == 4;
		a.occurrence = a.repeat ? 2 : 1;
		a.flow_id = 1000 + (uint64_t)i;
		if (a.kind != DETECT_DNS_TUNNEL) {
			ew_ip_parse(i % 2 ? "2001:db8::66" : "203.0.113.66", a.remote_ip);
			a.remote_port = 6379;
			a.proto = 6;
			a.remote_asn = 64500;
			snprintf(a.remote_country, sizeof(a.remote_country), "NL");
		}
		snprintf(a.remote_name, sizeof(a.remote_name), "sink.evil.example");
		snprintf(a.rule, sizeof(a.rule), "builtin/datastore-egress");
		snprintf(a.workload, sizeof(a.workload), i == 1 ? "" : "prod/redis-0");
		a.bytes_sent = 5033164;
		snprintf(a.message, sizeof(a.message),
			 "prod/redis-0 (listen-only datastore: serves redis/6379) opened "
			 "an outbound connection to 203.0.113.66:6379 "
			 "\"quoted\" <b>&amp; \xe2\x80\x94 4.8 MiB sent so far #%d", i);
		snprintf(a.dedup_key, sizeof(a.dedup_key), "%s|prod/redis-0|k%d",
			 detect_kind_name((enum detect_kind)a.kind), i);
		snprintf(a.evidence, sizeof(a.evidence),
			 "{\"flow_id\":%d,\"note\":\"x\\\"y\"}", 1000 + i);
		if (sink_submit(s, &a) != 0)
			fprintf(stderr, "sink_send: alert %d refused\n", i);
	}
	sink_close(s, &st);
	printf("{\"submitted\":%llu,\"dropped_queue_full\":%llu,\"sinks\":[",
	       (unsigned long long)st.submitted,
	       (unsigned long long)st.dropped_queue_full);
	for (size_t i = 0; i < st.n; i++)
		printf("%s{\"name\":\"%s\",\"delivered\":%llu,\"filtered\":%llu,"
		       "\"attempts\":%llu,\"failures\":%llu,\"rejected\":%llu,"
		       "\"dropped_shutdown\":%llu,\"last_status\":%d}",
		       i ? "," : "", st.sink[i].name,
		       (unsigned long long)st.sink[i].delivered,
		       (unsigned long long)st.sink[i].filtered,
		       (unsigned long long)st.sink[i].attempts,
		       (unsigned long long)st.sink[i].failures,
		       (unsigned long long)st.sink[i].rejected,
		       (unsigned long long)st.sink[i].dropped_shutdown,
		       st.sink[i].last_status);
	printf("]}\n");
	return 0;
}
