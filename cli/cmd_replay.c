/*
 * cmd_replay.c - `egresswatch replay`: capture files through exactly the
 * pipeline the live agent runs, with packet time as the clock, into SQLite.
 *
 * Offline nothing may be lost, so every queue blocks instead of dropping.
 * A damaged file stops at the damage; what was read before it is kept, the
 * remaining files are still replayed, and the exit status is 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "cli.h"
#include "pipeline.h"
#include "policy.h"
#include "store.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch replay --db FILE [OPTIONS] CAPTURE...\n"
		"\n"
		"Replay pcap/pcapng files (in the order given; '-' is stdin) through\n"
		"the decoder, flow table and store, using packet timestamps as the\n"
		"clock, then print a summary.  Flows continue across files.\n"
		"\n"
		"options:\n"
		"  --db FILE              SQLite database to write (created if absent)\n"
		"  --inventory FILE       workloads (YAML: interfaces, IPs -> namespace/\n"
		"                         name and labels), e.g. from 'scripts/lab inventory'\n"
		"  --policy FILE          policy or NetworkPolicy file (repeatable;\n"
		"                         default: the built-in policy, docs/policy.md)\n"
		"  --geoip-country FILE   country database (default: the bundled\n"
		"                         geo-whois-asn-country.mmdb; 'none' disables)\n"
		"  --geoip2-country FILE  GeoIP2/GeoLite2 Country or City database\n"
		"  --geoip-asn FILE       GeoLite2/GeoIP2 ASN database\n"
		"  --alerts-json FILE     also write alerts as JSON lines ('-': stdout)\n"
		"  --syslog[=FACILITY]    also send alerts to syslog\n"
		"  --webhook SPEC         also post alerts: URL[,format=json|slack|\n"
		"                         alertmanager] (docs/alerts.md); repeatable\n"
		"  --interface NAME       interface name recorded for the flows\n"
		"                         (default: pcap)\n"
		"  --max-flows N          flow table cap (default 262144)\n"
		"  --update-interval MS   UPDATE events for active flows (default 1000)\n"
		"  -q, --quiet            no summary\n"
		"  -h, --help             this text\n"
		"\n"
		"exit status: 0 all files read, 1 a file was damaged or unreadable\n"
		"(everything before the damage is stored), 2 usage error.\n");
}

int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "egresswatch: %s: expected a number from %" PRIu64
		" to %" PRIu64 ", got '%s'\n", opt, min, max, s);
	return -EINVAL;
}

/*
 * `cs` is taken after the final flush, `at_end` just before it: what was
 * still active, and whether the table was still in emergency mode, when the
 * input ran out.
 */
static void print_summary(const struct capture_stats *cs,
			  const struct capture_flow_stats *at_end,
			  const struct store_stats *ss,
			  const struct pipeline_stats *ps,
			  const struct detect_stats *ds, uint64_t wall_ns)
{
	const struct capture_decode_stats *d = &cs->decode;
	const struct capture_flow_stats *f = &cs->flow;
	double secs = (double)wall_ns / 1e9;
	struct { const char *name; uint64_t v; } errs[] = {
		{"unsupported-link", d->unsupported_link},
		{"l2-truncated", d->l2_truncated}, {"l2-invalid", d->l2_invalid},
		{"vlan-too-deep", d->vlan_too_deep},
		{"ipv4-truncated", d->ipv4_truncated}, {"ipv4-invalid", d->ipv4_invalid},
		{"ipv6-truncated", d->ipv6_truncated}, {"ipv6-invalid", d->ipv6_invalid},
		{"ipv6-ext-too-deep", d->ipv6_ext_too_deep},
		{"tcp-truncated", d->tcp_truncated}, {"tcp-invalid", d->tcp_invalid},
		{"udp-truncated", d->udp_truncated}, {"udp-invalid", d->udp_invalid},
		{"icmp-truncated", d->icmp_truncated}, {"icmp-invalid", d->icmp_invalid},
		{"fragment-orphan", d->frag_orphan},
		{"fragment-cache-full", d->frag_cache_full},
		{"tunnel-too-deep", d->tunnel_too_deep},
		{"tunnel-inner-invalid", d->tunnel_inner_invalid},
	};

	printf("files:    %" PRIu64 " read, %" PRIu64 " with errors\n",
	       cs->files, cs->file_errors);
	printf("packets:  %" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
	       " with an IP flow, %" PRIu64 " not IP\n",
	       d->packets, d->bytes, d->ip_packets, d->non_ip);
	printf("flows:    %" PRIu64 " (peak %" PRIu64 " at once), %" PRIu64
	       " evicted, %" PRIu64 " packets refused (table full)\n",
	       f->created, f->peak, f->evicted, f->refused);
	printf("flow table: cap=%" PRIu64 " memory_bytes=%" PRIu64 " peak=%"
	       PRIu64 " created=%" PRIu64 " expired=%" PRIu64 " evicted=%"
	       PRIu64 " shutdown=%" PRIu64 " refused=%" PRIu64 " updates=%"
	       PRIu64 " (trailing %" PRIu64 ") emergency_entered=%" PRIu64
	       " active_at_end=%" PRIu64 " emergency_at_end=%" PRIu64 "\n",
	       f->max_flows, f->memory_bytes, f->peak, f->created, f->expired,
	       f->evicted, f->ended_shutdown, f->refused, f->updates,
	       f->trailing_updates, f->emergency_entered, at_end->active,
	       at_end->emergency);
	printf("fragments: %" PRIu64 " first, %" PRIu64 " later (%" PRIu64
	       " matched to their flow, %" PRIu64 " orphans)\n",
	       d->frag_first, d->frag_later, d->frag_matched, d->frag_orphan);
	printf("tunnels:  vxlan %" PRIu64 ", geneve %" PRIu64 ", gre %" PRIu64
	       ", ip-in-ip %" PRIu64 "\n", d->tunnel_vxlan, d->tunnel_geneve,
	       d->tunnel_gre, d->tunnel_ipip);
	printf("errors:  ");
	int any = 0;
	for (size_t i = 0; i < EW_ARRAY_LEN(errs); i++)
		if (errs[i].v) {
			printf(" %s=%" PRIu64, errs[i].name, errs[i].v);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");
	printf("dns:      %" PRIu64 " responses (%" PRIu64 " cut short), %" PRIu64
	       " invalid, %" PRIu64 " truncated; %" PRIu64 " flows named\n",
	       cs->dns.responses + cs->dns.partial, cs->dns.partial,
	       cs->dns.invalid, cs->dns.truncated, ps->named);
	printf("policy:   %" PRIu64 " flow events judged alert, %" PRIu64
	       " audit; %" PRIu64 " alerts raised\n", ps->verdict_alert,
	       ps->verdict_audit, ps->alerts);
	/* What the detectors forgot for want of room: state they rebuild,
	 * so alerts that depend on history (new destination, volume,
	 * beaconing) may come late or not at all for what was evicted. */
	printf("detect:   %" PRIu64 " events; evicted: %" PRIu64 " workloads, %"
	       PRIu64 " flows, %" PRIu64 " remotes, %" PRIu64 " destinations, %"
	       PRIu64 " ports, %" PRIu64 " beacons, %" PRIu64 " domains, %"
	       PRIu64 " recent alerts\n", ds->events, ds->workloads_evicted,
	       ds->flows_evicted,
	       ds->remotes_evicted + ds->remotes_evicted_quota,
	       ds->destinations_evicted + ds->destinations_evicted_quota,
	       ds->ports_evicted + ds->ports_evicted_quota,
	       ds->beacons_evicted + ds->beacons_evicted_quota,
	       ds->domains_evicted + ds->domains_evicted_quota,
	       ds->recent_alerts_evicted);
	printf("store:    %" PRIu64 " rows written, %" PRIu64
	       " lost (queue %" PRIu64 ", write %" PRIu64 "), %" PRIu64
	       " events dropped before the store\n",
	       ss->written, ss->dropped_queue_full + ss->dropped_write_error,
	       ss->dropped_queue_full, ss->dropped_write_error, ps->dropped);
	printf("time:     %.3f s, %.0f packets/s\n", secs,
	       secs > 0 ? (double)d->packets / secs : 0.0);
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"policy", required_argument, NULL, 'p'},
		{"inventory", required_argument, NULL, 'I'},
		{"geoip-country", required_argument, NULL, 'C'},
		{"geoip2-country", required_argument, NULL, 'G'},
		{"geoip-asn", required_argument, NULL, 'A'},
		{"alerts-json", required_argument, NULL, 'J'},
		{"syslog", optional_argument, NULL, 'S'},
		{"webhook", required_argument, NULL, 'W'},
		{"interface", required_argument, NULL, 'i'},
		{"max-flows", required_argument, NULL, 'm'},
		{"update-interval", required_argument, NULL, 'u'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct capture_config ccfg;
	struct store_config scfg;
	struct pipeline_config pcfg = {0};
	const char *db = NULL, *ifname = "pcap";
	const char *policy_files[CLI_MAX_POLICY_FILES];
	int n_policy = 0;
	struct cli_geo_opts geo_opts = {0};
	struct policy *pol = NULL;
	struct geo *geo = NULL;
	const char *inventory = NULL;
	struct attrib *attrib = NULL;
	static struct sink_spec sinkspec_storage[SINK_MAX];
	struct cli_sinks sinkspec;
	struct sinks *sinks = NULL;
	int quiet = 0, c, status = 0;
	uint64_t v;
	char err[512];

	capture_config_defaults(&ccfg);
	store_config_defaults(&scfg);
	cli_sinks_init(&sinkspec, sinkspec_storage);
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'p':
			if (n_policy == CLI_MAX_POLICY_FILES) {
				fprintf(stderr, "egresswatch replay: at most %d --policy files\n",
					CLI_MAX_POLICY_FILES);
				return 2;
			}
			policy_files[n_policy++] = optarg;
			break;
		case 'I': inventory = optarg; break;
		case 'C': geo_opts.country = optarg; break;
		case 'G': geo_opts.geoip2 = optarg; break;
		case 'A': geo_opts.asn = optarg; break;
		case 'J':
		case 'S':
		case 'W':
			if (cli_sinks_add(&sinkspec, c == 'J' ? SINK_JSON :
					  c == 'S' ? SINK_SYSLOG : SINK_WEBHOOK,
					  c == 'J' ? "--alerts-json" : c == 'S' ?
					  "--syslog" : "--webhook",
					  optarg ? optarg : ""))
				return 2;
			break;
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) >= CAPTURE_IFNAME_MAX) {
				fprintf(stderr, "egresswatch: --interface: 1 to %d characters\n",
					CAPTURE_IFNAME_MAX - 1);
				return 2;
			}
			ifname = optarg;
			break;
		case 'm':
			if (cli_parse_u64("--max-flows", optarg, 16, 1u << 26, &v))
				return 2;
			ccfg.max_flows = (uint32_t)v;
			break;
		case 'u':
			if (cli_parse_u64("--update-interval", optarg, 10, 3600000, &v))
				return 2;
			ccfg.update_interval_ms = (uint32_t)v;
			break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!db || optind >= argc) {
		fprintf(stderr, "egresswatch replay: %s\n\n",
			!db ? "--db FILE is required" : "no capture file given");
		usage(stderr);
		return 2;
	}

	if (inventory) {
		struct attrib_config acfg;

		attrib_config_defaults(&acfg);
		acfg.podlog_root = NULL;	/* a file, not this host */
		acfg.netns_root = NULL;
		attrib = attrib_open(&acfg, err, sizeof(err));
		if (!attrib || attrib_load_inventory(attrib, inventory, err,
						     sizeof(err))) {
			fprintf(stderr, "egresswatch replay: %s\n", err);
			attrib_close(attrib);
			return 1;
		}
	}
	if (cli_load_policy(policy_files, n_policy, &pol)) {
		attrib_close(attrib);
		sink_close(sinks, NULL);
		return 1;
	}
	if (cli_sinks_open(&sinkspec, &sinks)) {
		policy_close(pol);
		attrib_close(attrib);
		sink_close(sinks, NULL);
		return 1;
	}
	cli_open_geo(&geo_opts, &geo);
	scfg.path = db;
	scfg.block_when_full = 1;
	struct store *st = store_open(&scfg, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "egresswatch replay: %s\n", err);
		policy_close(pol);
		geo_close(geo);
		attrib_close(attrib);
		sink_close(sinks, NULL);
		return 1;
	}
	pcfg.store = st;
	pcfg.blocking = 1;
	pcfg.geo = geo;
	pcfg.attrib = attrib;
	pcfg.sinks = sinks;
	pcfg.db_path = db;
	pcfg.wall_clock = 0;
	pcfg.max_flows = ccfg.max_flows;
	/* Replay blocks instead of dropping, so a queue need only be deep
	 * enough to keep both threads busy: an eighth of the live default,
	 * and 26 MiB less memory. */
	pcfg.queue_len = 8192;
	pcfg.policy = pol;	/* the pipeline owns it from here */
	struct pipeline *pl = pipeline_start(&pcfg, err, sizeof(err));
	if (!pl) {
		fprintf(stderr, "egresswatch replay: %s\n", err);
		store_close(st);
		geo_close(geo);
		attrib_close(attrib);
		sink_close(sinks, NULL);
		return 1;
	}
	ccfg.first_flow_id = store_next_flow_id(st);
	ccfg.emit = pipeline_emit;
	ccfg.emit_dns = pipeline_emit_dns;
	ccfg.emit_ctx = pl;
	struct capture *cap = capture_open(&ccfg, err, sizeof(err));
	if (!cap) {
		fprintf(stderr, "egresswatch replay: %s\n", err);
		pipeline_stop(pl, NULL, NULL);
		store_close(st);
		geo_close(geo);
		attrib_close(attrib);
		sink_close(sinks, NULL);
		return 1;
	}

	uint64_t t0 = ew_mono_ns();
	for (int i = optind; i < argc; i++) {
		if (capture_replay_file(cap, argv[i], ifname, err, sizeof(err))) {
			fprintf(stderr, "egresswatch replay: %s\n", err);
			status = 1;
		}
	}
	struct capture_stats cs;
	struct store_stats ss;
	struct pipeline_stats ps;
	struct detect_stats ds;

	capture_get_stats(cap, &cs);
	struct capture_flow_stats at_end = cs.flow;
	capture_flush(cap, FLOW_END_SHUTDOWN);
	pipeline_stop(pl, &ps, &ds);
	if (store_sync(st))
		status = 1;
	capture_get_stats(cap, &cs);
	store_get_stats(st, &ss);
	uint64_t wall = ew_mono_ns() - t0;
	if (store_close(st))
		status = 1;
	capture_close(cap);
	geo_close(geo);
	attrib_close(attrib);
	sink_close(sinks, NULL);
	if (ss.dropped_queue_full || ss.dropped_write_error || ps.dropped ||
	    ps.dns_dropped || ps.store_refused)
		status = 1;
	if (!quiet)
		print_summary(&cs, &at_end, &ss, &ps, &ds, wall);
	return status;
}
