/*
 * cmd_dashboard.c - `egresswatch dashboard`: the web dashboard on its own,
 * over an existing database (a copy taken off a node, a replayed capture,
 * or the live agent's file next to it).  Capture is not running in this
 * process, and the pages say so; the live agent serves the same dashboard
 * in-process with its counters (`egresswatch run --listen`).
 *
 * Runs until SIGINT or SIGTERM.  The signals are blocked before the server
 * starts, so that its threads inherit the mask and only sigwait() here sees
 * them.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dashboard.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch dashboard --db FILE [OPTIONS]\n"
		"\n"
		"Serve the web dashboard and its HTTP API (README: \"HTTP API\")\n"
		"over a database, read-only except for acknowledging alerts.\n"
		"\n"
		"options:\n"
		"  --db FILE            database to show\n"
		"  --listen ADDR:PORT   address to listen on (default 127.0.0.1:8080;\n"
		"                       [::1]:8080 for IPv6; port 0 picks a free one)\n"
		"  --token-file FILE    require the token on the first line of FILE\n"
		"                       (16..256 printable characters) as a bearer\n"
		"                       token or through the login page; needed to\n"
		"                       listen on anything but loopback\n"
		"  --threads N          HTTP threads (default 4)\n"
		"  --max-connections N  open connections at most (default 1024)\n"
		"  --max-per-ip N       connections per client address (default 64)\n"
		"  --timeout S          close idle connections after S seconds\n"
		"                       (default 30)\n"
		"  -v, --verbose        log each server-level event\n"
		"  -h, --help           this text\n");
}

int cmd_dashboard(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"token-file", required_argument, NULL, 't'},
		{"threads", required_argument, NULL, 'T'},
		{"max-connections", required_argument, NULL, 'c'},
		{"max-per-ip", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 'o'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct dashboard_config cfg;
	struct dashboard *d;
	sigset_t set;
	char err[512];
	uint64_t v;
	int c, sig = 0;

	dashboard_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.db_path = optarg; break;
		case 'l': cfg.listen = optarg; break;
		case 't': cfg.token_file = optarg; break;
		case 'T':
			if (cli_parse_u64("--threads", optarg, 1, 14, &v))
				return 2;
			cfg.threads = (unsigned)v;
			break;
		case 'c':
			if (cli_parse_u64("--max-connections", optarg, 16, 65536, &v))
				return 2;
			cfg.max_connections = (unsigned)v;
			break;
		case 'p':
			if (cli_parse_u64("--max-per-ip", optarg, 1, 65536, &v))
				return 2;
			cfg.max_per_ip = (unsigned)v;
			break;
		case 'o':
			if (cli_parse_u64("--timeout", optarg, 1, 3600, &v))
				return 2;
			cfg.timeout_s = (unsigned)v;
			break;
		case 'v': ew_log_set_level(EW_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg.db_path || optind != argc) {
		fprintf(stderr, "egresswatch dashboard: %s\n\n",
			!cfg.db_path ? "--db FILE is required" :
				       "unexpected argument");
		usage(stderr);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	d = dashboard_start(&cfg, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "egresswatch dashboard: %s\n", err);
		return 1;
	}
	log_info("dashboard: serving %s on %s (standalone: capture is not "
		 "running in this process)%s", cfg.db_path, dashboard_url(d),
		 cfg.token_file ? "; token required" : "");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			continue;	/* nothing to reload: it reads the file */
		break;
	}
	log_info("dashboard: %s: stopping", strsignal(sig));
	dashboard_stop(d);
	return 0;
}
