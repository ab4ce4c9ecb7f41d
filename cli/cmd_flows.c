/*
 * cmd_flows.c - `egresswatch flows`: flow history from the command line, as a
 * table or as one JSON object per line.  Opens the database read-only.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "store.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch flows --db FILE [OPTIONS]\n"
		"\n"
		"Print recorded flows, newest first.\n"
		"\n"
		"options:\n"
		"  --db FILE          database to read\n"
		"  --json             one JSON object per line (fields in README)\n"
		"  --since T          flows active at or after T\n"
		"  --until T          flows that started before T\n"
		"                     T: RFC 3339 (2026-11-28T15:00:00Z), a date,\n"
		"                     Unix seconds, or a time ago (-15m, -2h, -7d)\n"
		"  --remote CIDR      remote address in CIDR (198.51.100.0/24, 2001:db8::/32)\n"
		"  --port N           local or remote port N\n"
		"  --proto P          tcp, udp, icmp, ipv6-icmp or a number\n"
		"  --workload NS/NAME flows of one workload\n"
		"  --limit N          at most N flows (default 1000)\n"
		"  -h, --help         this text\n");
}

struct print_ctx {
	int json;
	struct ew_buf buf;
	uint64_t rows;
	uint64_t last_id, last_start_ns;	/* the paging cursor */
};

static int print_row(void *arg, const struct store_flow *f)
{
	struct print_ctx *pc = arg;

	pc->rows++;
	pc->last_id = f->id;
	pc->last_start_ns = f->start_ns;
	if (pc->json) {
		ew_buf_reset(&pc->buf);
		if (store_flow_json(f, &pc->buf) == 0)
			printf("%s\n", pc->buf.data);
		return 0;
	}
	char start[EW_TIME_STRLEN], lip[EW_IPSTR_MAX], rip[EW_IPSTR_MAX];
	char local[EW_IPSTR_MAX + 8], remote[EW_IPSTR_MAX + 8];
	const char *pn = ew_proto_name(f->proto);
	char pnum[4];

	if (!pn) {
		snprintf(pnum, sizeof(pnum), "%u", f->proto);
		pn = pnum;
	}
	ew_fmt_time(f->start_ns, start);
	start[19] = '\0'; /* seconds are enough for the table */
	ew_ip_to_str(f->local_ip, lip);
	ew_ip_to_str(f->remote_ip, rip);
	snprintf(local, sizeof(local), f->family == 6 ? "[%s]:%u" : "%s:%u", lip,
		 f->local_port);
	snprintf(remote, sizeof(remote), f->family == 6 ? "[%s]:%u" : "%s:%u",
		 rip, f->remote_port);
	printf("%-19s %-10s %-5s %-7s %-27s %-27s %12" PRIu64 " %12" PRIu64
	       " %-20s %s\n",
	       start, f->interface, pn,
	       f->direction == STORE_INGRESS ? "ingress" : "egress", local,
	       remote, f->bytes_sent, f->bytes_received,
	       f->workload[0] ? f->workload : "-",
	       f->remote_name[0] ? f->remote_name : "-");
	return 0;
}

int cmd_flows(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"since", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'u'},
		{"remote", required_argument, NULL, 'r'},
		{"port", required_argument, NULL, 'p'},
		{"proto", required_argument, NULL, 'P'},
		{"workload", required_argument, NULL, 'w'},
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct store_flow_filter flt = {.port = -1, .proto = -1};
	struct print_ctx pc = {0};
	const char *db = NULL;
	uint64_t now = ew_now_ns(), v;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'j': pc.json = 1; break;
		case 's':
		case 'u':
			if (ew_parse_time(optarg, now, c == 's' ? &flt.since_ns :
								  &flt.until_ns)) {
				fprintf(stderr, "egresswatch flows: --%s: not a time: '%s'\n",
					c == 's' ? "since" : "until", optarg);
				return 2;
			}
			break;
		case 'r': {
			struct ew_cidr cidr;
			if (ew_cidr_parse(optarg, &cidr)) {
				fprintf(stderr, "egresswatch flows: --remote: not an address or CIDR: '%s'\n",
					optarg);
				return 2;
			}
			flt.has_cidr = 1;
			memcpy(flt.cidr_lo, cidr.lo, 16);
			memcpy(flt.cidr_hi, cidr.hi, 16);
			break;
		}
		case 'p':
			if (cli_parse_u64("--port", optarg, 0, 65535, &v))
				return 2;
			flt.port = (int)v;
			break;
		case 'P': {
			uint8_t pr;
			if (ew_proto_parse(optarg, &pr)) {
				fprintf(stderr, "egresswatch flows: --proto: unknown protocol '%s'\n",
					optarg);
				return 2;
			}
			flt.proto = pr;
			break;
		}
		case 'w': flt.workload = optarg; break;
		case 'l':
			if (cli_parse_u64("--limit", optarg, 1, 100000000, &v))
				return 2;
			flt.limit = (uint32_t)v;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!db || optind != argc) {
		fprintf(stderr, "egresswatch flows: %s\n\n",
			!db ? "--db FILE is required" : "unexpected argument");
		usage(stderr);
		return 2;
	}
	struct store_reader *r = store_reader_open(db, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "egresswatch flows: %s\n", err);
		return 1;
	}
	ew_buf_init(&pc.buf, 1 << 20);
	if (!pc.json)
		printf("%-19s %-10s %-5s %-7s %-27s %-27s %12s %12s %-20s %s\n",
		       "START (UTC)", "INTERFACE", "PROTO", "DIR", "LOCAL",
		       "REMOTE", "SENT", "RECEIVED", "WORKLOAD", "REMOTE NAME");
	/* The store answers at most STORE_QUERY_LIMIT_MAX rows per query:
	 * page through with its cursor until --limit rows are printed. */
	uint64_t want = flt.limit ? flt.limit : 1000;
	int n = 0;

	while (pc.rows < want) {
		uint64_t before = pc.rows;
		uint64_t left = want - pc.rows;

		flt.limit = (uint32_t)(left < STORE_QUERY_LIMIT_MAX ?
				       left : STORE_QUERY_LIMIT_MAX);
		n = store_query_flows(r, &flt, print_row, &pc, err, sizeof(err));
		if (n <= 0 || pc.rows - before < flt.limit)
			break;
		flt.before_id = pc.last_id;
		flt.before_start_ns = pc.last_start_ns;
	}
	ew_buf_free(&pc.buf);
	store_reader_close(r);
	if (n < 0) {
		fprintf(stderr, "egresswatch flows: %s\n", err);
		return 1;
	}
	return 0;
}
