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
int cmd_alerts(int argc, char **argv);
int cmd_dashboard(int argc, char **argv);
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

/* Alert sinks from flags: --alerts-json, --syslog[=F], --webhook (each may
 * repeat, SINK_MAX in all). */
struct sink_spec;
struct sinks;
struct cli_sinks {
	struct sink_spec *spec;		/* SINK_MAX entries, the caller's */
	size_t n;
};
/* `storage` holds SINK_MAX specs and outlives `s` (a static array). */
void cli_sinks_init(struct cli_sinks *s, struct sink_spec *storage);
/* Add one flag's value; prints the error and returns -EINVAL when bad.
 * `kind` is enum sink_kind. */
int cli_sinks_add(struct cli_sinks *s, int kind, const char *opt,
		  const char *arg);
/* Start the sinks (NULL *out when none were asked for).  0 or -errno. */
int cli_sinks_open(const struct cli_sinks *s, struct sinks **out);

/* Parse an unsigned decimal within [min, max] for option `opt`; prints a
 * message and returns -EINVAL on error. */
int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out);

#endif
