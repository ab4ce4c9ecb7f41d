/*
 * cmd_status.c - `egresswatch status`: print the counters that the running
 * agent writes to its status file every second (cmd_run.c writes it; the
 * format is that file's JSON object: top-level facts such as "state", "pid",
 * "updated" and "uptime_s", a "config" object, an "interfaces" array and one
 * object of counters per module).
 *
 * jansson reads the file, and the document is flattened into (path, value)
 * pairs, e.g. "flows.created" = 12 or
 * "interfaces.0.name" = "veth1".  The human view is generic over those pairs,
 * so a counter added to the file shows up here without a change.  The file is
 * outside input to this command: its size, depth and number of values are
 * capped and a malformed file is an error, not a crash.
 *
 * Exit status: 0 when the agent is running and the file is fresh, 1 when it
 * is stopped, stale (no update for STALE_S) or unreadable, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "config.h"
#include "util.h"

#define STATUS_FILE_MAX (16u << 20)
#define MAX_DEPTH 16
#define MAX_ENTRIES 200000
#define PATH_LEN 128
#define STALE_S 5

struct jent {
	char path[PATH_LEN];
	char *val;			/* decoded text (owned) */
	char kind;			/* 's' string, 'n' number, 't'/'f', 'z' null */
};

struct jdoc {
	struct jent *e;
	size_t n, cap;
	const char *err;		/* first error sticks */
};

static int add(struct jdoc *d, const char *path, char kind, const char *v,
	       size_t vlen)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct jent *m;

		if (cap > MAX_ENTRIES || !(m = realloc(d->e, cap * sizeof(*m)))) {
			d->err = "too many values";
			return -1;
		}
		d->e = m;
		d->cap = cap;
	}
	struct jent *e = &d->e[d->n];
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->kind = kind;
	e->val = malloc(vlen + 1);
	if (!e->val) {
		d->err = "out of memory";
		return -1;
	}
	if (vlen)
		memcpy(e->val, v, vlen);
	e->val[vlen] = '\0';
	d->n++;
	return 0;
}

static int child_path(struct jdoc *d, char *out, const char *path,
		      const char *key)
{
	int n = snprintf(out, PATH_LEN, "%s%s%s", path, path[0] ? "." : "", key);

	if (n < 0 || n >= PATH_LEN) {
		d->err = "key path too long";
		return -1;
	}
	return 0;
}

/* Flatten the document jansson parsed into (path, text) pairs. */
static int flatten(struct jdoc *d, const json_t *v, const char *path, int depth)
{
	char sub[PATH_LEN], num[40];
	const char *key;
	const json_t *c;
	size_t i;

	if (depth > MAX_DEPTH) {
		d->err = "nested too deeply";
		return -1;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, c)
			if (child_path(d, sub, path, key) ||
			    flatten(d, c, sub, depth + 1))
				return -1;
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, c) {
			snprintf(num, sizeof(num), "%zu", i);
			if (child_path(d, sub, path, num) ||
			    flatten(d, c, sub, depth + 1))
				return -1;
		}
		return 0;
	case JSON_STRING:
		return add(d, path, 's', json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return add(d, path, 'n', num, strlen(num));
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		if (strtod(num, NULL) != json_real_value(v))
			snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return add(d, path, 'n', num, strlen(num));
	case JSON_TRUE:
		return add(d, path, 't', "true", 4);
	case JSON_FALSE:
		return add(d, path, 'f', "false", 5);
	default:
		return add(d, path, 'z', "null", 4);
	}
}

static void jdoc_free(struct jdoc *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].val);
	free(d->e);
}

static const struct jent *get(const struct jdoc *d, const char *path)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->e[i].path, path) == 0)
			return &d->e[i];
	return NULL;
}

/* The value at `path` as text; `dflt` when absent or null. */
static const char *getv(const struct jdoc *d, const char *path,
			const char *dflt)
{
	const struct jent *e = get(d, path);

	return e && e->kind != 'z' ? e->val : dflt;
}

/* ---- human view --------------------------------------------------------- */

static void fmt_duration(uint64_t s, char *out, size_t len)
{
	if (s >= 86400)
		snprintf(out, len, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m",
			 s / 86400, s / 3600 % 24, s / 60 % 60);
	else if (s >= 3600)
		snprintf(out, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s",
			 s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		snprintf(out, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(out, len, "%" PRIu64 "s", s);
}

/* "config.include.0", "config.include.1"... joined with spaces. */
static void print_list(const struct jdoc *d, const char *prefix)
{
	char path[PATH_LEN];
	int any = 0;

	for (size_t i = 0;; i++) {
		const struct jent *e;

		snprintf(path, sizeof(path), "%s.%zu", prefix, i);
		if (!(e = get(d, path)))
			break;
		printf("%s%s", any ? " " : "", e->val);
		any = 1;
	}
	if (!any)
		printf("-");
}

static void print_interfaces(const struct jdoc *d)
{
	static const char *const cols[] = {"received", "kernel_drops", "if_drops"};
	char path[PATH_LEN];
	size_t n = 0;

	while (snprintf(path, sizeof(path), "interfaces.%zu.name", n),
	       get(d, path))
		n++;
	printf("\ninterfaces (%zu)\n", n);
	if (!n)
		return;
	printf("  %-16s %-10s %14s %14s %12s  %s\n", "NAME", "STATE", "RECEIVED",
	       "KERNEL-DROPS", "IF-DROPS", "SINCE");
	for (size_t i = 0; i < n; i++) {
		const char *v[EW_ARRAY_LEN(cols)];

		for (size_t c = 0; c < EW_ARRAY_LEN(cols); c++) {
			snprintf(path, sizeof(path), "interfaces.%zu.%s", i, cols[c]);
			v[c] = getv(d, path, "-");
		}
		snprintf(path, sizeof(path), "interfaces.%zu.name", i);
		printf("  %-16s", getv(d, path, "-"));
		snprintf(path, sizeof(path), "interfaces.%zu.state", i);
		printf(" %-10s %14s %14s %12s", getv(d, path, "-"), v[0], v[1],
		       v[2]);
		snprintf(path, sizeof(path), "interfaces.%zu.since", i);
		printf("  %.19s\n", getv(d, path, "-"));
	}
}

/* Every other top-level object: its values, two per line. */
static void print_sections(const struct jdoc *d)
{
	char done[64][32];
	size_t n_done = 0;

	for (size_t i = 0; i < d->n; i++) {
		const char *p = d->e[i].path, *dot = strchr(p, '.');
		size_t sl = dot ? (size_t)(dot - p) : 0;
		int col = 0, seen = 0;

		if (!dot || sl >= sizeof(done[0]) ||
		    strncmp(p, "config.", 7) == 0 ||
		    strncmp(p, "interfaces.", 11) == 0)
			continue;
		for (size_t j = 0; j < n_done; j++)
			if (strlen(done[j]) == sl && strncmp(done[j], p, sl) == 0)
				seen = 1;
		if (seen || n_done == EW_ARRAY_LEN(done))
			continue;
		memcpy(done[n_done], p, sl);
		done[n_done++][sl] = '\0';
		printf("\n%.*s\n", (int)sl, p);
		for (size_t j = i; j < d->n; j++) {
			const char *q = d->e[j].path;

			if (strncmp(q, p, sl + 1) != 0)
				continue;
			printf("%s%-24s %14s", col ? "   " : "  ", q + sl + 1,
			       d->e[j].val);
			if (++col == 2) {
				printf("\n");
				col = 0;
			}
		}
		if (col)
			printf("\n");
	}
}

static void print_human(const struct jdoc *d, uint64_t age_s, const char *verdict)
{
	char up[32];
	uint64_t uptime = strtoull(getv(d, "uptime_s", "0"), NULL, 10);

	fmt_duration(uptime, up, sizeof(up));
	printf("egresswatch %s (pid %s): %s, up %s, updated %s", getv(d, "version", "?"),
	       getv(d, "pid", "?"), verdict, up, getv(d, "updated", "?"));
	if (age_s != UINT64_MAX)
		printf(" (%" PRIu64 " s ago)", age_s);
	printf("\n");
	printf("config:  file %s, db %s\n", getv(d, "config.file", "-"),
	       getv(d, "config.db", "-"));
	printf("include: ");
	print_list(d, "config.include");
	printf("\nexclude: ");
	print_list(d, "config.exclude");
	printf("\nring %s bytes per interface, snaplen %s, at most %s flows\n",
	       getv(d, "config.buffer_size", "-"), getv(d, "config.snaplen", "-"),
	       getv(d, "config.max_flows", "-"));
	print_interfaces(d);
	print_sections(d);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch status [--status-file PATH] [--json]\n"
		"\n"
		"Print the counters of the running agent from its status file:\n"
		"interfaces with packets received and dropped, decoder errors by\n"
		"kind, flow table, pipeline and store counters.\n"
		"\n"
		"options:\n"
		"  --status-file PATH   the agent's status file (default %s)\n"
		"  --json               print the file's JSON as it is\n"
		"  -h, --help           this text\n"
		"\n"
		"exit status: 0 the agent is running, 1 it is stopped, not\n"
		"updating its file for %d s, or the file cannot be read, 2 usage.\n",
		CONFIG_DEFAULT_STATUS_FILE, STALE_S);
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(STATUS_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, STATUS_FILE_MAX + 1, f);
	if (ferror(f) || n > STATUS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 ferror(f) ? "read error" : "file too large");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"status-file", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = CONFIG_DEFAULT_STATUS_FILE, *state, *verdict;
	struct jdoc d = {0};
	json_t *root = NULL;
	json_error_t jerr;
	uint64_t updated = 0, now = ew_now_ns(), age = 0;
	int json = 0, c, status = 0, alive;
	char err[512], *text;
	size_t len;
	long pid;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	text = read_file(path, &len, err, sizeof(err));
	if (!text) {
		fprintf(stderr, "egresswatch status: %s (is the agent running?)\n",
			err);
		return 1;
	}
	/* No NUL allowed in strings: they are printed as C strings. */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		fprintf(stderr, "egresswatch status: %s: not a status file "
			"(byte %d: %s)\n", path, root ? 0 : jerr.position,
			root ? "not an object" : jerr.text);
		status = 1;
		goto out;
	}
	if (flatten(&d, root, "", 0)) {
		fprintf(stderr, "egresswatch status: %s: not a status file "
			"(%s)\n", path, d.err);
		status = 1;
		goto out;
	}
	state = getv(&d, "state", "unknown");
	pid = strtol(getv(&d, "pid", "0"), NULL, 10);
	alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
	if (ew_parse_time(getv(&d, "updated", ""), now, &updated) != 0)
		age = UINT64_MAX; /* no time of update: as good as stale */
	else if (now > updated)
		age = (now - updated) / 1000000000ull;
	if (strcmp(state, "running") != 0) {
		verdict = state;
		status = 1;
	} else if (!alive) {
		verdict = "not running (the process is gone)";
		status = 1;
	} else if (age > STALE_S) {
		verdict = "running, but the status is stale";
		status = 1;
	} else {
		verdict = "running";
	}
	if (json)
		fwrite(text, 1, len, stdout);
	else
		print_human(&d, age, verdict);
out:
	json_decref(root);
	jdoc_free(&d);
	free(text);
	return status;
}
