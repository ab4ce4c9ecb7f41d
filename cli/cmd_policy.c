/*
 * cmd_policy.c - `egresswatch policy check FILE...`: load policy files the
 * way the agent loads them (all together, as one policy) and report every
 * problem as "file:line:col: message" on stderr.  Exit status 0 when the
 * policy is valid, 1 when it is not (or a file cannot be read), 2 for bad
 * usage.  Nothing is evaluated and nothing else is opened.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "policy.h"
#include "util.h"

/* Declared in cli.h once the command is registered; repeated here so this
 * file builds with -Wmissing-prototypes on its own. */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch policy check [OPTIONS] FILE...\n"
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
		"The format is described in docs/policy.md.\n");
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
	fprintf(stderr, "egresswatch policy: unknown subcommand '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
