/*
 * cli.h - private to cli/: one function per command, and the argument
 * helpers they share.  Each command returns the process exit status:
 * 0 success, 1 failure of the work, 2 bad usage.
 */
#ifndef EW_CLI_H
#define EW_CLI_H

#include <stdint.h>

#define EW_VERSION "0.1.0"

int cmd_replay(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_policy(int argc, char **argv);

/* Parse an unsigned decimal within [min, max] for option `opt`; prints a
 * message and returns -EINVAL on error. */
int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out);

#endif
