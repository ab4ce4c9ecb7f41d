/*
 * dash_serve - the dashboard started in-process the way the live agent
 * starts it (`egresswatch run`): with the store's writer for
 * acknowledgements and a provider of live counters and policy rules.  The
 * counters here are fixed made-up values, so that tests can check that they
 * reach /api/health, /api/policy and /metrics.
 *
 *   dash_serve --db FILE [--listen ADDR:PORT] [--token-file F]
 *              [--metrics-text] [--bad-provider]
 *
 * Prints "url=http://ADDR:PORT/" once serving, then runs until SIGTERM or
 * SIGINT.  --metrics-text gives a metrics() callback (else /metrics derives
 * gauges from health()); --bad-provider makes health() return malformed JSON
 * and metrics() an error, to check that the dashboard copes.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "dashboard.h"
#include "store.h"
#include "util.h"

static int bad;

static int health(void *ctx, struct ew_buf *out)
{
	(void)ctx;
	if (bad)
		return ew_buf_puts(out, "{\"interfaces\":[{\"name\":\"veth0\",");
	return ew_buf_puts(out,
		"{\"version\":\"0.1.0\",\"pid\":4242,\"state\":\"running\","
		"\"uptime_s\":3600,"
		"\"interfaces\":["
		"{\"name\":\"cali1a2b3c4d5e\",\"state\":\"capturing\","
		"\"received\":123456,\"kernel_drops\":7,\"if_drops\":0},"
		"{\"name\":\"<script>alert(1)</script>\",\"state\":\"capturing\","
		"\"received\":42,\"kernel_drops\":0,\"if_drops\":1}],"
		"\"capture\":{\"interfaces_capturing\":2,\"received\":123498,"
		"\"kernel_drops\":7},"
		"\"decode_errors\":{\"ipv4_truncated\":3,\"tcp_invalid\":2},"
		"\"flows\":{\"created\":900,\"active\":12,\"evicted\":1},"
		"\"pipeline\":{\"queue_depth\":0,\"dropped\":0},"
		"\"store\":{\"written\":1800,\"queue_depth\":4,"
		"\"last_commit_us\":850}}");
}

static int metrics(void *ctx, struct ew_buf *out)
{
	(void)ctx;
	if (bad)
		return -EIO;
	return ew_buf_puts(out,
		"# HELP egresswatch_packets_total Packets captured.\n"
		"# TYPE egresswatch_packets_total counter\n"
		"egresswatch_packets_total 123498\n");
}

static int policy(void *ctx, struct ew_buf *out)
{
	(void)ctx;
	return ew_buf_puts(out,
		"{\"source\":\"/etc/egresswatch/policy.yaml\",\"mode\":\"enforce\","
		"\"rules\":[{\"name\":\"builtin/datastore-egress\",\"hits\":3,"
		"\"action\":\"alert\"},{\"name\":\"prod/web-egress\",\"hits\":120,"
		"\"action\":\"allow\"}]}");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"token-file", required_argument, NULL, 't'},
		{"metrics-text", no_argument, NULL, 'm'},
		{"bad-provider", no_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	struct dashboard_provider prov = {.health = health, .policy = policy};
	struct dashboard_config cfg;
	struct store_config scfg;
	struct dashboard *d;
	struct store *st;
	sigset_t set;
	char err[512];
	int c, sig;

	dashboard_config_defaults(&cfg);
	store_config_defaults(&scfg);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.db_path = scfg.path = optarg; break;
		case 'l': cfg.listen = optarg; break;
		case 't': cfg.token_file = optarg; break;
		case 'm': prov.metrics = metrics; break;
		case 'b': bad = 1; prov.metrics = metrics; break;
		default: return 1;
		}
	}
	if (!cfg.db_path) {
		fprintf(stderr, "usage: dash_serve --db FILE [--listen ADDR:PORT] "
			"[--token-file F] [--metrics-text] [--bad-provider]\n");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The agent's order: the store first, then the dashboard over it. */
	scfg.retention_s = 0;
	scfg.max_bytes = 0;
	st = store_open(&scfg, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "dash_serve: %s\n", err);
		return 1;
	}
	cfg.store = st;
	cfg.provider = &prov;
	d = dashboard_start(&cfg, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "dash_serve: %s\n", err);
		store_close(st);
		return 1;
	}
	printf("url=%s\n", dashboard_url(d));
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	/* And the reverse order to stop: no request may use a closed store. */
	dashboard_stop(d);
	return store_close(st) ? 1 : 0;
}
