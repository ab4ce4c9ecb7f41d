/*
 * enrich.c - loading what the pipeline judges and enriches with, for every
 * command that runs the pipeline: policy files and the geo databases.
 * Messages go to stderr in the forms users grep for: policy errors as
 * "file:line:col: message", one log line per geo database.  Also the alert
 * sinks asked for on the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "policy.h"
#include "util.h"

int cli_load_policy(const char *const *files, int n, struct policy **out)
{
	struct policy_source src[CLI_MAX_POLICY_FILES];
	struct policy_errors errs;
	int rc;

	if (n > CLI_MAX_POLICY_FILES) {
		fprintf(stderr, "egresswatch: at most %d policy files\n",
			CLI_MAX_POLICY_FILES);
		return -E2BIG;
	}
	memset(src, 0, sizeof(src));
	for (int i = 0; i < n; i++)
		src[i].name = files[i];
	rc = policy_load(src, (size_t)n, out, &errs);
	if (rc) {
		for (unsigned i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.total > errs.n)
			fprintf(stderr, "(%u more errors)\n", errs.total - errs.n);
		return rc;
	}
	return 0;
}

int cli_open_geo(const struct cli_geo_opts *o, struct geo **out)
{
	char defpath[GEO_PATH_MAX], err[512] = "", line[GEO_STATUS_MAX];
	struct geo_config cfg = {0};

	*out = NULL;
	if (o->country && strcmp(o->country, "none") == 0) {
		cfg.country = NULL;
	} else if (o->country) {
		cfg.country = o->country;
	} else if (geo_default_country_path(defpath, sizeof(defpath)) == 0) {
		cfg.country = defpath;
	} else {
		log_warnx("geo: default country database not found (looked for %s); "
			  "flows get no country unless --geoip-country is given", defpath);
	}
	cfg.geoip2 = o->geoip2;
	cfg.asn = o->asn;
	if (!cfg.country && !cfg.geoip2 && !cfg.asn)
		return 0;
	*out = geo_open(&cfg, err, sizeof(err));
	if (!*out) {
		log_warnx("geo: %s; running without country and ASN", err);
		return 0;
	}
	if (err[0])
		log_warnx("geo: %s", err);
	for (int s = 0; s < GEO_DB__COUNT; s++)
		if (geo_status(*out, (enum geo_db_slot)s, line, sizeof(line)) ||
		    (s == GEO_DB_GEOIP2 && cfg.geoip2) ||
		    (s == GEO_DB_COUNTRY && cfg.country) ||
		    (s == GEO_DB_ASN && cfg.asn))
			log_info("geo: %s", line);
	return 0;
}

void cli_sinks_init(struct cli_sinks *s, struct sink_spec *storage)
{
	s->n = 0;
	s->spec = storage;
}

int cli_sinks_add(struct cli_sinks *s, int kind, const char *opt,
		  const char *arg)
{
	char err[256];

	if (s->n >= SINK_MAX) {
		fprintf(stderr, "egresswatch: %s: at most %d alert sinks\n", opt,
			SINK_MAX);
		return -EINVAL;
	}
	if (sink_parse_spec((enum sink_kind)kind, arg, &s->spec[s->n], err,
			    sizeof(err))) {
		fprintf(stderr, "egresswatch: %s: %s\n", opt, err);
		return -EINVAL;
	}
	s->n++;
	return 0;
}

int cli_sinks_open(const struct cli_sinks *s, struct sinks **out)
{
	struct sink_config cfg;
	char err[256];

	*out = NULL;
	if (!s->n)
		return 0;
	sink_config_defaults(&cfg);
	cfg.specs = s->spec;
	cfg.n_specs = s->n;
	*out = sink_open(&cfg, err, sizeof(err));
	if (!*out) {
		fprintf(stderr, "egresswatch: alert sinks: %s\n", err);
		return -EINVAL;
	}
	return 0;
}
