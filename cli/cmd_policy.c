/*
 * cmd_policy.c - `egresswatch policy check FILE...`: load policy files the
 * way the agent loads them (all together, as one policy) and report every
 * problem as "file:line:col: message" on stderr.  Exit status 0 when the
 * policy is valid, 1 when it is not (or a file cannot be read), 2 for bad
 * usage.  Nothing is evaluated and nothing else is opened.
 *
 * `egresswatch policy suggest --db FILE`: read the workloads and flows a
 * database holds and print a policy that allows exactly what was observed
 * (policy/suggest.c builds it; this file only reads the store).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "policy.h"
#include "store.h"
#include "util.h"

/* Declared in cli.h once the command is registered; repeated here so this
 * file builds with -Wmissing-prototypes on its own. */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch policy check [OPTIONS] FILE...\n"
		"       egresswatch policy suggest --db FILE [OPTIONS]\n"
		"\n"
		"Validate policy files: egresswatch/v1 policies and Kubernetes\n"
		"NetworkPolicy manifests (single, multi-document, or List), loaded\n"
		"together as the agent loads them.  FILE '-' is standard input.\n"
		"Errors go to stderr as file:line:col: message.\n"
		"\n"
		"exit status: 0 valid, 1 invalid or unreadable, 2 bad usage\n"
		"\n"
		"options:\n"
		"  -q, --quiet        print nothing when the policy is valid\n"
		"  -h, --help         this text\n"
		"\n"
		"The format is described in docs/policy.md.\n"
		"\n"
		"suggest: print a policy allowing exactly the flows in the database\n"
		"(plus DNS to kube-dns), to review and then enforce:\n"
		"  --db FILE          database written by `run` or `replay`\n"
		"  --namespace NS     only workloads of this namespace\n"
		"  --since T          only flows active since T (RFC 3339, Unix\n"
		"                     seconds, or -2h, -7d, ...)\n"
		"  --format F         networkpolicy (default: Kubernetes\n"
		"                     NetworkPolicy YAML) or egresswatch\n"
		"                     (egresswatch/v1, see docs/policy.md)\n"
		"  -o, --output FILE  write there instead of standard output\n");
}

static int check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct policy_source src[256];
	struct policy_errors errs;
	struct policy_info info;
	struct policy *p = NULL;
	size_t n;
	int c, quiet = 0, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	n = (size_t)(argc - optind);
	if (n == 0) {
		fprintf(stderr, "egresswatch policy check: no FILE given\n\n");
		usage(stderr);
		return 2;
	}
	if (n > EW_ARRAY_LEN(src)) {
		fprintf(stderr, "egresswatch policy check: at most %zu files at once\n",
			EW_ARRAY_LEN(src));
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		src[i] = (struct policy_source){.name = argv[optind + (int)i]};

	rc = policy_load(src, n, &p, &errs);
	if (rc == -ENOMEM) {
		fprintf(stderr, "egresswatch policy check: out of memory\n");
		return 1;
	}
	if (rc) {
		for (unsigned i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.total > errs.n)
			fprintf(stderr, "(%u more error%s not shown)\n",
				errs.total - errs.n, errs.total - errs.n == 1 ? "" : "s");
		return 1;
	}
	policy_get_info(p, &info);
	if (!quiet)
		printf("ok: %zu file%s, %u policy document%s, %u workload entr%s, "
		       "%u network%s, %u zone%s, %u NetworkPolic%s; mode %s, "
		       "datastore guard %s\n",
		       n, n == 1 ? "" : "s",
		       info.documents, info.documents == 1 ? "" : "s",
		       info.workloads, info.workloads == 1 ? "y" : "ies",
		       info.networks, info.networks == 1 ? "" : "s",
		       info.zones, info.zones == 1 ? "" : "s",
		       info.netpols, info.netpols == 1 ? "y" : "ies",
		       info.mode == POLICY_MODE_AUDIT ? "audit" : "enforce",
		       info.datastore_guard ? "on" : "off");
	policy_close(p);
	return 0;
}

/* ---- suggest ---------------------------------------------------------- */

#define SUGGEST_OUT_MAX (512u << 20)	/* bytes of YAML at most */

struct sg_read {
	struct suggest *sg;
	uint64_t rows, last_start, last_id;
	int oom;
};

static int sg_workload(void *ctx, const struct store_workload *w)
{
	struct sg_read *r = ctx;

	if (suggest_add_workload(r->sg, w->namespace, w->name, w->labels) == -ENOMEM)
		r->oom = 1;
	return r->oom;
}

static int sg_flow(void *ctx, const struct store_flow *f)
{
	struct sg_read *r = ctx;
	struct suggest_flow sf = {
		.workload = f->workload,
		.remote_workload = f->remote_workload[0] ? f->remote_workload : NULL,
		.direction = f->direction == STORE_INGRESS ? POLICY_INGRESS :
							     POLICY_EGRESS,
		.proto = f->proto,
		.local_port = f->local_port,
		.remote_port = f->remote_port,
		.verdict = f->verdict,
		.start_ns = f->start_ns,
	};

	memcpy(sf.remote_ip, f->remote_ip, 16);
	r->rows++;
	r->last_start = f->start_ns;
	r->last_id = f->id;
	/* Flows of an unknown local side have nothing to select: skipped
	 * (suggest_add_flow refuses them). */
	if (f->workload[0] && suggest_add_flow(r->sg, &sf) == -ENOMEM)
		r->oom = 1;
	return r->oom;
}

static int suggest(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"namespace", required_argument, NULL, 'n'},
		{"since", required_argument, NULL, 's'},
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *db = NULL, *ns = NULL, *since = NULL, *output = NULL;
	enum suggest_format fmt = SUGGEST_NETWORKPOLICY;
	struct store_flow_filter flt;
	struct store_reader *rd = NULL;
	struct sg_read r = {0};
	struct ew_buf out;
	char err[512];
	int c, n, rc = 1;
	FILE *f;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'n': ns = optarg; break;
		case 's': since = optarg; break;
		case 'o': output = optarg; break;
		case 'f':
			if (strcmp(optarg, "networkpolicy") == 0)
				fmt = SUGGEST_NETWORKPOLICY;
			else if (strcmp(optarg, "egresswatch") == 0)
				fmt = SUGGEST_EGRESSWATCH;
			else {
				fprintf(stderr, "egresswatch policy suggest: --format is "
					"networkpolicy or egresswatch\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!db || optind != argc) {
		fprintf(stderr, "egresswatch policy suggest: %s\n\n",
			db ? "unexpected arguments" : "--db FILE is required");
		usage(stderr);
		return 2;
	}
	memset(&flt, 0, sizeof(flt));
	flt.port = -1;
	flt.proto = -1;
	flt.limit = STORE_QUERY_LIMIT_MAX;
	if (since && ew_parse_time(since, ew_now_ns(), &flt.since_ns)) {
		fprintf(stderr, "egresswatch policy suggest: --since: not a time: %s\n",
			since);
		return 2;
	}
	rd = store_reader_open(db, err, sizeof(err));
	if (!rd) {
		fprintf(stderr, "egresswatch policy suggest: %s\n", err);
		return 1;
	}
	ew_buf_init(&out, SUGGEST_OUT_MAX);
	r.sg = suggest_new();
	if (!r.sg)
		goto oom;
	if (store_query_workloads(rd, sg_workload, &r, err, sizeof(err)) < 0 && !r.oom)
		goto store_err;
	/* Page through every matching flow, newest first. */
	do {
		uint64_t before = r.rows;

		n = store_query_flows(rd, &flt, sg_flow, &r, err, sizeof(err));
		if (n < 0 && !r.oom)
			goto store_err;
		if (r.oom)
			goto oom;
		if (r.rows == before)
			break;
		flt.before_id = r.last_id;
		flt.before_start_ns = r.last_start;
	} while ((uint32_t)n == flt.limit);

	n = suggest_write(r.sg, fmt, ns, &out);
	if (n == -ENOMEM)
		goto oom;
	if (n) {
		fprintf(stderr, "egresswatch policy suggest: the policy is larger "
			"than %u MiB\n", SUGGEST_OUT_MAX >> 20);
		goto done;
	}
	f = output ? fopen(output, "w") : stdout;
	if (!f) {
		fprintf(stderr, "egresswatch policy suggest: %s: %s\n", output,
			strerror(errno));
		goto done;
	}
	if (out.len && fwrite(out.data, 1, out.len, f) != out.len)
		fprintf(stderr, "egresswatch policy suggest: write failed: %s\n",
			strerror(errno));
	else
		rc = 0;
	if ((output ? fclose(f) : fflush(f)) != 0 && rc == 0) {
		fprintf(stderr, "egresswatch policy suggest: write failed: %s\n",
			strerror(errno));
		rc = 1;
	}
	goto done;
store_err:
	fprintf(stderr, "egresswatch policy suggest: %s: %s\n", db, err);
	goto done;
oom:
	fprintf(stderr, "egresswatch policy suggest: out of memory\n");
done:
	suggest_free(r.sg);
	ew_buf_free(&out);
	store_reader_close(rd);
	return rc;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "check") == 0)
		return check(argc - 1, argv + 1);
	if (strcmp(argv[1], "suggest") == 0)
		return suggest(argc - 1, argv + 1);
	fprintf(stderr, "egresswatch policy: unknown subcommand '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
