/*
 * config.h - private to cli/: the live agent's configuration, from a file
 * and from command-line flags, with the same keys and the same checks.
 *
 * File format (/etc/egresswatch/egresswatch.conf by default):
 *
 *     # Lines whose first non-blank character is '#' are comments.
 *     db = /var/lib/egresswatch/flows.db
 *     include = cali*
 *     include = eni*
 *     exclude = veth-debug*
 *     buffer-size = 2M
 *
 * One `key = value` per line; blanks around key and value are ignored; there
 * is no quoting and no comment after a value (a value runs to the end of the
 * line, and a glob may contain '#').  Keys are the long
 * flags of `egresswatch run` without the dashes.  `include`, `exclude`,
 * `policy`, `alerts-json`, `syslog` and `webhook` may be repeated and add
 * up; the others may appear once.  A flag replaces the
 * file's value of its key (for include/exclude: the whole list).  Errors say
 * `file:line: message` and nothing of a file with an error is used.
 */
#ifndef EW_CLI_CONFIG_H
#define EW_CLI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/egresswatch/egresswatch.conf"
#define CONFIG_DEFAULT_DB "/var/lib/egresswatch/flows.db"
#define CONFIG_DEFAULT_STATUS_FILE "/run/egresswatch/status.json"
#define CONFIG_MAX_PATTERNS 256		/* per list */
#define CONFIG_MAX_POLICIES 64		/* policy files */
#define CONFIG_MAX_SINKS 16		/* alert sinks (SINK_MAX) */
#define CONFIG_MAX_LINE 4096
#define CONFIG_MAX_FILE (1 << 20)

enum config_key {
	CONFIG_DB,
	CONFIG_INCLUDE,
	CONFIG_EXCLUDE,
	CONFIG_BUFFER_SIZE,
	CONFIG_SNAPLEN,
	CONFIG_MAX_FLOWS,
	CONFIG_USER,
	CONFIG_STATUS_FILE,
	CONFIG_POLICY,
	CONFIG_INVENTORY,
	CONFIG_GEOIP_COUNTRY,
	CONFIG_GEOIP2_COUNTRY,
	CONFIG_GEOIP_ASN,
	CONFIG_KUBECONFIG,
	CONFIG_NODE_NAME,
	CONFIG_DOCKER_SOCKET,
	CONFIG_POD_LOGS_DIR,
	CONFIG_ALERTS_JSON,
	CONFIG_SYSLOG,
	CONFIG_WEBHOOK,
	CONFIG_LISTEN,
	CONFIG_TOKEN_FILE,
	CONFIG__COUNT
};

struct config {
	char *db;			/* SQLite file */
	char *status_file;		/* status JSON, rewritten every second */
	char *user;			/* run as this user; NULL: stay root */
	char **include;			/* NULL-terminated globs (never NULL) */
	char **exclude;
	size_t n_include, n_exclude;
	char **policy;			/* NULL-terminated policy files */
	size_t n_policy;
	char *inventory;		/* workloads file, or NULL */
	char *geoip_country;		/* NULL: the bundled database */
	char *geoip2_country, *geoip_asn;	/* NULL: none */
	char *kubeconfig;		/* NULL: $KUBECONFIG, in-cluster; "none" */
	char *node_name;		/* NULL: $NODE_NAME, else the hostname */
	char *docker_socket;		/* NULL: the usual sockets; "none" */
	char *pod_logs_dir;		/* NULL: /var/log/pods; "none": not read */
	/* Alert sinks in the order given, each "J:FILE", "S:FACILITY" or
	 * "W:SPEC" (alerts-json, syslog, webhook; see cli_sinks_add). */
	char **sinks;
	size_t n_sinks;
	char *listen;			/* dashboard "ADDR:PORT", NULL: none */
	char *token_file;		/* dashboard access token, NULL: none */
	uint32_t buffer_size;		/* kernel ring per interface, bytes */
	uint32_t snaplen;
	uint32_t max_flows;
	uint32_t set;			/* 1 << key for every key given */
};

/* Defaults: the paths above, include cali* lxc* vnet* tap*, no exclude,
 * CAPTURE_LIVE_* ring and snaplen, 262144 flows; no key marked as given.
 * 0 or -ENOMEM. */
int config_init(struct config *c);
void config_free(struct config *c);

/* Key by its name ("buffer-size"), or -1. */
int config_key_parse(const char *name);
const char *config_key_name(enum config_key k);

/*
 * Set `key` from the text `value`.  The first include (exclude) given in `c`
 * replaces the default list, later ones add to it.  Errors are written to
 * `err` as "WHERE: message" (`where` is "file:line" or "--flag").  0, or
 * -EINVAL (bad value, key given twice) / -ENOMEM.
 */
int config_set(struct config *c, int key, const char *value,
	       const char *where, char *err, size_t errlen);

/* Read a configuration file into `c` (normally fresh from config_init).
 * 0, or -errno with "path:line: message" (or "path: message") in `err`. */
int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen);

/* Every key given in `over` replaces the one in `dst`.  0 or -ENOMEM. */
int config_merge(struct config *dst, const struct config *over);

#endif
