/*
 * config.c - the configuration file parser and the checks shared with the
 * command-line flags (see config.h for the format).
 *
 * A file is outside input: lines longer than CONFIG_MAX_LINE, files larger
 * than CONFIG_MAX_FILE, NUL bytes and more than CONFIG_MAX_PATTERNS patterns
 * are errors, never truncation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture.h"
#include "config.h"
#include "util.h"

#define MAX_PATH_LEN 4095
#define MAX_PATTERN_LEN 255

static const char *const key_names[CONFIG__COUNT] = {
	[CONFIG_DB] = "db",
	[CONFIG_INCLUDE] = "include",
	[CONFIG_EXCLUDE] = "exclude",
	[CONFIG_BUFFER_SIZE] = "buffer-size",
	[CONFIG_SNAPLEN] = "snaplen",
	[CONFIG_MAX_FLOWS] = "max-flows",
	[CONFIG_USER] = "user",
	[CONFIG_STATUS_FILE] = "status-file",
	[CONFIG_POLICY] = "policy",
	[CONFIG_INVENTORY] = "inventory",
	[CONFIG_GEOIP_COUNTRY] = "geoip-country",
	[CONFIG_GEOIP2_COUNTRY] = "geoip2-country",
	[CONFIG_GEOIP_ASN] = "geoip-asn",
	[CONFIG_KUBECONFIG] = "kubeconfig",
	[CONFIG_NODE_NAME] = "node-name",
	[CONFIG_DOCKER_SOCKET] = "docker-socket",
	[CONFIG_POD_LOGS_DIR] = "pod-logs-dir",
	[CONFIG_ALERTS_JSON] = "alerts-json",
	[CONFIG_SYSLOG] = "syslog",
	[CONFIG_WEBHOOK] = "webhook",
	[CONFIG_LISTEN] = "listen",
	[CONFIG_TOKEN_FILE] = "token-file",
};

/* Container interface names that CNIs and hypervisors use for the host side
 * (Calico, Cilium/LXC, libvirt, tap devices); veths with a peer in another
 * namespace are captured whatever their name. */
static const char *const default_include[] = {"cali*", "lxc*", "vnet*",
					      "tap*"};

int config_key_parse(const char *name)
{
	for (int k = 0; k < CONFIG__COUNT; k++)
		if (strcmp(name, key_names[k]) == 0)
			return k;
	return -1;
}

const char *config_key_name(enum config_key k)
{
	return (unsigned)k < CONFIG__COUNT ? key_names[k] : "?";
}

static void free_list(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* Append a copy of `s` to a NULL-terminated list of `*n` entries. */
static int list_add(char ***v, size_t *n, const char *s)
{
	char **m = realloc(*v, (*n + 2) * sizeof(**v));

	if (!m)
		return -ENOMEM;
	*v = m;
	if (!(m[*n] = strdup(s)))
		return -ENOMEM;
	m[++*n] = NULL;
	return 0;
}

static int list_reset(char ***v, size_t *n)
{
	free_list(*v);
	*n = 0;
	*v = calloc(1, sizeof(**v));
	return *v ? 0 : -ENOMEM;
}

static int list_copy(char ***dst, size_t *n, char *const *src)
{
	int rc = list_reset(dst, n);

	for (; rc == 0 && src && *src; src++)
		rc = list_add(dst, n, *src);
	return rc;
}

int config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->db = strdup(CONFIG_DEFAULT_DB);
	c->status_file = strdup(CONFIG_DEFAULT_STATUS_FILE);
	c->buffer_size = CAPTURE_LIVE_BUFFER_DEFAULT;
	c->snaplen = CAPTURE_LIVE_SNAPLEN_DEFAULT;
	c->max_flows = 262144;
	if (!c->db || !c->status_file || list_reset(&c->include, &c->n_include) ||
	    list_reset(&c->exclude, &c->n_exclude) ||
	    list_reset(&c->policy, &c->n_policy) ||
	    list_reset(&c->sinks, &c->n_sinks))
		goto nomem;
	for (size_t i = 0; i < EW_ARRAY_LEN(default_include); i++)
		if (list_add(&c->include, &c->n_include, default_include[i]))
			goto nomem;
	return 0;
nomem:
	config_free(c);
	return -ENOMEM;
}

void config_free(struct config *c)
{
	free(c->db);
	free(c->status_file);
	free(c->user);
	free_list(c->include);
	free_list(c->exclude);
	free_list(c->policy);
	free_list(c->sinks);
	free(c->listen);
	free(c->token_file);
	free(c->inventory);
	free(c->geoip_country);
	free(c->geoip2_country);
	free(c->geoip_asn);
	free(c->kubeconfig);
	free(c->node_name);
	free(c->docker_socket);
	free(c->pod_logs_dir);
	memset(c, 0, sizeof(*c));
}

static int set_u32(const char *pfx, const char *value, uint64_t min,
		   uint64_t max, int is_size, uint32_t *out, char *err,
		   size_t errlen)
{
	uint64_t v;
	char *end;

	if (is_size) {
		if (ew_parse_size(value, &v) == 0 && v >= min && v <= max) {
			*out = (uint32_t)v;
			return 0;
		}
		snprintf(err, errlen, "%s: expected a size from %llu KiB to "
			 "%llu MiB (e.g. 4M, 512k), got '%s'", pfx,
			 (unsigned long long)(min >> 10),
			 (unsigned long long)(max >> 20), value);
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(value, &end, 10);
	if (value[0] >= '0' && value[0] <= '9' && *end == '\0' && !errno &&
	    v >= min && v <= max) {
		*out = (uint32_t)v;
		return 0;
	}
	snprintf(err, errlen, "%s: expected a number from %llu to %llu, "
		 "got '%s'", pfx, (unsigned long long)min,
		 (unsigned long long)max, value);
	return -EINVAL;
}

static int set_str(const char *pfx, const char *value, size_t maxlen,
		   char **out, char *err, size_t errlen)
{
	char *s;

	if (strlen(value) > maxlen) {
		snprintf(err, errlen, "%s: longer than %zu characters", pfx,
			 maxlen);
		return -EINVAL;
	}
	if (!(s = strdup(value)))
		return -ENOMEM;
	free(*out);
	*out = s;
	return 0;
}

static int add_pattern(struct config *c, int key, const char *pfx,
		       const char *value, char *err, size_t errlen)
{
	int inc = key == CONFIG_INCLUDE;
	char ***v = inc ? &c->include : &c->exclude;
	size_t *n = inc ? &c->n_include : &c->n_exclude;

	if (strlen(value) > MAX_PATTERN_LEN) {
		snprintf(err, errlen, "%s: a pattern is at most %d characters",
			 pfx, MAX_PATTERN_LEN);
		return -EINVAL;
	}
	/* The first one given replaces the defaults. */
	if (!(c->set & (1u << key)) && list_reset(v, n))
		return -ENOMEM;
	if (*n >= CONFIG_MAX_PATTERNS) {
		snprintf(err, errlen, "%s: more than %d patterns", pfx,
			 CONFIG_MAX_PATTERNS);
		return -EINVAL;
	}
	return list_add(v, n, value);
}

int config_set(struct config *c, int key, const char *value,
	       const char *where, char *err, size_t errlen)
{
	char pfx[MAX_PATH_LEN + 64];
	int rc;

	if (key < 0 || key >= CONFIG__COUNT) {
		snprintf(err, errlen, "%s: unknown key", where);
		return -EINVAL;
	}
	/* "file:3: snaplen: ..." but "--snaplen: ...". */
	if (where[0] == '-')
		snprintf(pfx, sizeof(pfx), "%s", where);
	else
		snprintf(pfx, sizeof(pfx), "%s: %s", where, key_names[key]);
	if (!value[0] && key != CONFIG_SYSLOG) {
		snprintf(err, errlen, "%s: missing value", pfx);
		return -EINVAL;
	}
	if ((c->set & (1u << key)) && key != CONFIG_INCLUDE &&
	    key != CONFIG_EXCLUDE && key != CONFIG_POLICY &&
	    key != CONFIG_ALERTS_JSON && key != CONFIG_SYSLOG &&
	    key != CONFIG_WEBHOOK) {
		snprintf(err, errlen, "%s: given more than once", pfx);
		return -EINVAL;
	}
	switch ((enum config_key)key) {
	case CONFIG_DB:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->db, err, errlen);
		break;
	case CONFIG_STATUS_FILE:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->status_file, err,
			     errlen);
		break;
	case CONFIG_USER:
		rc = set_str(pfx, value, 63, &c->user, err, errlen);
		break;
	case CONFIG_INCLUDE:
	case CONFIG_EXCLUDE:
		rc = add_pattern(c, key, pfx, value, err, errlen);
		break;
	case CONFIG_BUFFER_SIZE:
		rc = set_u32(pfx, value, CAPTURE_LIVE_BUFFER_MIN,
			     CAPTURE_LIVE_BUFFER_MAX, 1, &c->buffer_size, err,
			     errlen);
		break;
	case CONFIG_SNAPLEN:
		rc = set_u32(pfx, value, CAPTURE_LIVE_SNAPLEN_MIN,
			     CAPTURE_LIVE_SNAPLEN_MAX, 0, &c->snaplen, err, errlen);
		break;
	case CONFIG_MAX_FLOWS:
		rc = set_u32(pfx, value, 16, 1u << 26, 0, &c->max_flows, err,
			     errlen);
		break;
	case CONFIG_POLICY:
		if (strlen(value) > MAX_PATH_LEN || c->n_policy >= CONFIG_MAX_POLICIES) {
			snprintf(err, errlen, "%s: at most %d files of %d characters",
				 pfx, CONFIG_MAX_POLICIES, MAX_PATH_LEN);
			rc = -EINVAL;
			break;
		}
		rc = list_add(&c->policy, &c->n_policy, value);
		break;
	case CONFIG_INVENTORY:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->inventory, err, errlen);
		break;
	case CONFIG_GEOIP_COUNTRY:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->geoip_country, err,
			     errlen);
		break;
	case CONFIG_GEOIP2_COUNTRY:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->geoip2_country, err,
			     errlen);
		break;
	case CONFIG_GEOIP_ASN:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->geoip_asn, err, errlen);
		break;
	case CONFIG_KUBECONFIG:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->kubeconfig, err, errlen);
		break;
	case CONFIG_NODE_NAME:
		rc = set_str(pfx, value, 253, &c->node_name, err, errlen);
		break;
	case CONFIG_DOCKER_SOCKET:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->docker_socket, err,
			     errlen);
		break;
	case CONFIG_POD_LOGS_DIR:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->pod_logs_dir, err,
			     errlen);
		break;
	case CONFIG_LISTEN:
		rc = set_str(pfx, value, 300, &c->listen, err, errlen);
		break;
	case CONFIG_TOKEN_FILE:
		rc = set_str(pfx, value, MAX_PATH_LEN, &c->token_file, err, errlen);
		break;
	case CONFIG_ALERTS_JSON:
	case CONFIG_SYSLOG:
	case CONFIG_WEBHOOK: {
		char tagged[MAX_PATH_LEN + 3];

		if (strlen(value) > MAX_PATH_LEN || c->n_sinks >= CONFIG_MAX_SINKS) {
			snprintf(err, errlen, "%s: at most %d sinks of %d characters",
				 pfx, CONFIG_MAX_SINKS, MAX_PATH_LEN);
			rc = -EINVAL;
			break;
		}
		snprintf(tagged, sizeof(tagged), "%c:%s",
			 key == CONFIG_ALERTS_JSON ? 'J' : key == CONFIG_SYSLOG ?
			 'S' : 'W', value);
		rc = list_add(&c->sinks, &c->n_sinks, tagged);
		break;
	}
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", pfx);
	if (rc == 0)
		c->set |= 1u << key;
	return rc;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen)
{
	char where[MAX_PATH_LEN + 32], *line = NULL;
	size_t cap = 0, total = 0;
	unsigned lineno = 0;
	struct stat st;
	ssize_t n;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return -EINVAL;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *s, *eq, *key, *value;
		int k;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		total += (size_t)n;
		if (total > CONFIG_MAX_FILE) {
			snprintf(err, errlen, "%s: file larger than %d bytes",
				 where, CONFIG_MAX_FILE);
			rc = -EFBIG;
			break;
		}
		if ((size_t)n > CONFIG_MAX_LINE) {
			snprintf(err, errlen, "%s: line longer than %d bytes",
				 where, CONFIG_MAX_LINE);
			rc = -EINVAL;
			break;
		}
		if (strlen(line) != (size_t)n) {
			snprintf(err, errlen, "%s: NUL byte in line", where);
			rc = -EINVAL;
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s: expected 'key = value'", where);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		k = config_key_parse(key);
		if (k < 0) {
			snprintf(err, errlen, "%s: unknown key '%.64s'", where,
				 key);
			rc = -EINVAL;
			break;
		}
		rc = config_set(c, k, value, where, err, errlen);
		if (rc)
			break;
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	free(line);
	fclose(f);
	return rc;
}

static int replace_str(char **dst, const char *src)
{
	char *s = strdup(src);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int config_merge(struct config *dst, const struct config *over)
{
	int rc = 0, done_sinks = 0;

	for (int k = 0; k < CONFIG__COUNT && rc == 0; k++) {
		if (!(over->set & (1u << k)))
			continue;
		switch ((enum config_key)k) {
		case CONFIG_DB:
			rc = replace_str(&dst->db, over->db);
			break;
		case CONFIG_STATUS_FILE:
			rc = replace_str(&dst->status_file, over->status_file);
			break;
		case CONFIG_USER:
			rc = replace_str(&dst->user, over->user);
			break;
		case CONFIG_INCLUDE:
			rc = list_copy(&dst->include, &dst->n_include,
				       over->include);
			break;
		case CONFIG_EXCLUDE:
			rc = list_copy(&dst->exclude, &dst->n_exclude,
				       over->exclude);
			break;
		case CONFIG_BUFFER_SIZE:
			dst->buffer_size = over->buffer_size;
			break;
		case CONFIG_SNAPLEN:
			dst->snaplen = over->snaplen;
			break;
		case CONFIG_MAX_FLOWS:
			dst->max_flows = over->max_flows;
			break;
		case CONFIG_POLICY:
			rc = list_copy(&dst->policy, &dst->n_policy, over->policy);
			break;
		case CONFIG_INVENTORY:
			rc = replace_str(&dst->inventory, over->inventory);
			break;
		case CONFIG_GEOIP_COUNTRY:
			rc = replace_str(&dst->geoip_country, over->geoip_country);
			break;
		case CONFIG_GEOIP2_COUNTRY:
			rc = replace_str(&dst->geoip2_country, over->geoip2_country);
			break;
		case CONFIG_GEOIP_ASN:
			rc = replace_str(&dst->geoip_asn, over->geoip_asn);
			break;
		case CONFIG_KUBECONFIG:
			rc = replace_str(&dst->kubeconfig, over->kubeconfig);
			break;
		case CONFIG_NODE_NAME:
			rc = replace_str(&dst->node_name, over->node_name);
			break;
		case CONFIG_DOCKER_SOCKET:
			rc = replace_str(&dst->docker_socket, over->docker_socket);
			break;
		case CONFIG_POD_LOGS_DIR:
			rc = replace_str(&dst->pod_logs_dir, over->pod_logs_dir);
			break;
		case CONFIG_LISTEN:
			rc = replace_str(&dst->listen, over->listen);
			break;
		case CONFIG_TOKEN_FILE:
			rc = replace_str(&dst->token_file, over->token_file);
			break;
		case CONFIG_ALERTS_JSON:
		case CONFIG_SYSLOG:
		case CONFIG_WEBHOOK:
			/* The flags' sinks replace the file's (copied once). */
			if (!(done_sinks++))
				rc = list_copy(&dst->sinks, &dst->n_sinks,
					       over->sinks);
			break;
		default:
			break;
		}
		dst->set |= 1u << k;
	}
	return rc;
}
