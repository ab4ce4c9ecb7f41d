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
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* ---- enrich.c: what the pipeline judges and enriches with ---- */
#define CLI_MAX_POLICY_FILES 64
struct policy;
struct geo;
/* Load `n` policy files (none: the built-in policy) into *out; errors are
 * printed as file:line:col: message.  0 or -errno. */
int cli_load_policy(const char *const *files, int n, struct policy **out);
struct cli_geo_opts {
	const char *country;	/* NULL: the default database; "none": off */
	const char *geoip2;	/* GeoIP2/GeoLite2 Country or City, or NULL */
	const char *asn;	/* GeoLite2/GeoIP2 ASN, or NULL */
};
/* Open the geo databases; *out is NULL when none could be used (logged).
 * Never fails the command: missing enrichment is not fatal. */
int cli_open_geo(const struct cli_geo_opts *o, struct geo **out);

/* Parse an unsigned decimal within [min, max] for option `opt`; prints a
 * message and returns -EINVAL on error. */
int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out);

#endif
