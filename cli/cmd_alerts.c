/*
 * cmd_alerts.c - `egresswatch alerts`: the alerts a database holds, as a
 * table or one JSON object per line (the fields of DESIGN.md's contract).
 * Opens the database read-only.
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
		"usage: egresswatch alerts --db FILE [OPTIONS]\n"
		"\n"
		"Print alerts, most recently seen first.\n"
		"\n"
		"options:\n"
		"  --db FILE          database to read\n"
		"  --json             one JSON object per line, with evidence\n"
		"  --since T          alerts seen at or after T (RFC 3339, Unix\n"
		"                     seconds, or a time ago: -15m, -2h, -7d)\n"
		"  --workload NS/NAME alerts of one workload\n"
		"  --unacknowledged   only alerts nobody acknowledged\n"
		"  --limit N          at most N alerts (default 1000)\n"
		"  -h, --help         this text\n");
}

struct ctx {
	int json;
	struct ew_buf buf;
	uint64_t rows;
	uint64_t last_id, last_seen;
};

static int print_alert(void *arg, const struct store_alert *a)
{
	struct ctx *c = arg;
	char seen[EW_TIME_STRLEN], ip[EW_IPSTR_MAX];
	static const uint8_t zero[16];

	c->rows++;
	c->last_id = a->id;
	c->last_seen = a->last_seen_ns;
	if (c->json) {
		ew_buf_reset(&c->buf);
		if (store_alert_json(a, 1, &c->buf) == 0)
			printf("%s\n", c->buf.data);
		return 0;
	}
	ew_fmt_time(a->last_seen_ns, seen);
	seen[19] = '\0';
	if (memcmp(a->remote_ip, zero, 16) == 0)
		snprintf(ip, sizeof(ip), "-");
	else
		ew_ip_to_str(a->remote_ip, ip);
	printf("%-19s %-8s %-18s %6" PRIu64 " %-22s %s:%u%s\n    %s\n", seen,
	       a->severity, a->kind, a->count,
	       a->workload[0] ? a->workload : "-", ip, a->remote_port,
	       a->acknowledged ? "  (acknowledged)" : "", a->message);
	return 0;
}

int cmd_alerts(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"since", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"unacknowledged", no_argument, NULL, 'u'},
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct store_alert_filter flt = {0};
	struct ctx c = {0};
	const char *db = NULL;
	uint64_t v, want = 1000;
	char err[512];
	int ch, n = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': db = optarg; break;
		case 'j': c.json = 1; break;
		case 's':
			if (ew_parse_time(optarg, ew_now_ns(), &flt.since_ns)) {
				fprintf(stderr, "egresswatch alerts: --since: not a time: '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'w': flt.workload = optarg; break;
		case 'u': flt.unacknowledged_only = 1; break;
		case 'l':
			if (cli_parse_u64("--limit", optarg, 1, 100000000, &v))
				return 2;
			want = v;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!db || optind != argc) {
		fprintf(stderr, "egresswatch alerts: %s\n\n",
			!db ? "--db FILE is required" : "unexpected argument");
		usage(stderr);
		return 2;
	}
	struct store_reader *r = store_reader_open(db, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "egresswatch alerts: %s\n", err);
		return 1;
	}
	ew_buf_init(&c.buf, 1 << 20);
	if (!c.json)
		printf("%-19s %-8s %-18s %6s %-22s %s\n", "LAST SEEN (UTC)",
		       "SEVERITY", "DETECTOR", "COUNT", "WORKLOAD", "REMOTE");
	/* Paged: the store answers at most STORE_QUERY_LIMIT_MAX per query. */
	while (c.rows < want) {
		uint64_t before = c.rows, left = want - c.rows;

		flt.limit = (uint32_t)(left < STORE_QUERY_LIMIT_MAX ?
				       left : STORE_QUERY_LIMIT_MAX);
		n = store_query_alerts(r, &flt, print_alert, &c, err, sizeof(err));
		if (n <= 0 || c.rows - before < flt.limit)
			break;
		flt.before_id = c.last_id;
		flt.before_last_seen_ns = c.last_seen;
	}
	ew_buf_free(&c.buf);
	store_reader_close(r);
	if (n < 0) {
		fprintf(stderr, "egresswatch alerts: %s\n", err);
		return 1;
	}
	return 0;
}
