/*
 * main.c - the egresswatch command line: parses arguments and wires the
 * modules together.  No packet, policy or SQL logic lives here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"replay", cmd_replay, "run capture files through the pipeline into a database"},
	{"flows", cmd_flows, "print flow history from a database"},
	{"alerts", cmd_alerts, "print alerts from a database"},
	{"dashboard", cmd_dashboard, "serve the web dashboard over a database"},
	{"policy", cmd_policy, "validate policy files (policy check FILE...)"},
	{"run", cmd_run, "the live agent: capture on container interfaces"},
	{"status", cmd_status, "print the running agent's counters"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch COMMAND [OPTIONS]\n"
		"\n"
		"Egress monitor for container hosts: flows per pod, policy, alerts.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < EW_ARRAY_LEN(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Run 'egresswatch COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("egresswatch %s\n", EW_VERSION);
		return 0;
	}
	for (size_t i = 0; i < EW_ARRAY_LEN(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			optind = 1;
			return commands[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "egresswatch: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
