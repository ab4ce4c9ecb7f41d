/*
 * cmd_status.c - `egresswatch status`: print the counters that the running
 * agent writes to its status file every second (cmd_run.c writes it; the
 * format is that file's JSON object: top-level facts such as "state", "pid",
 * "updated" and "uptime_s", a "config" object, an "interfaces" array and one
 * object of counters per module).
 *
 * The file is read with a small JSON reader of its own that flattens the
 * document into (path, value) pairs, e.g. "flows.created" = 12 or
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
	const char *p;			/* the text */
	size_t len, off;
	const char *err;		/* first error sticks */
};

static void skip_ws(struct jdoc *d)
{
	while (d->off < d->len && strchr(" \t\r\n", d->p[d->off]))
		d->off++;
}

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

static void put_utf8(struct ew_buf *b, uint32_t c)
{
	char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xC0 | c >> 6);
		u[1] = (char)(0x80 | (c & 0x3F));
		n = 2;
	} else {
		u[0] = (char)(0xE0 | c >> 12);
		u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		u[2] = (char)(0x80 | (c & 0x3F));
		n = 3;
	}
	ew_buf_append(b, u, n);
}

/* A string literal at the cursor into `out`.  Surrogate pairs and other
 * \u escapes outside the BMP's plain range become U+FFFD: this is for
 * display only. */
static int parse_string(struct jdoc *d, struct ew_buf *out)
{
	ew_buf_reset(out);
	if (d->off >= d->len || d->p[d->off] != '"') {
		d->err = "expected a string";
		return -1;
	}
	d->off++;
	while (d->off < d->len) {
		unsigned char ch = (unsigned char)d->p[d->off++];

		if (ch == '"')
			return out->toobig ? (d->err = "string too long", -1) : 0;
		if (ch < 0x20) {
			d->err = "control character in a string";
			return -1;
		}
		if (ch != '\\') {
			ew_buf_append(out, &ch, 1);
			continue;
		}
		if (d->off >= d->len)
			break;
		ch = (unsigned char)d->p[d->off++];
		switch (ch) {
		case '"': case '\\': case '/':
			ew_buf_append(out, &ch, 1);
			break;
		case 'b': ew_buf_puts(out, "\b"); break;
		case 'f': ew_buf_puts(out, "\f"); break;
		case 'n': ew_buf_puts(out, "\n"); break;
		case 'r': ew_buf_puts(out, "\r"); break;
		case 't': ew_buf_puts(out, "\t"); break;
		case 'u': {
			uint32_t c = 0;

			if (d->len - d->off < 4) {
				d->err = "truncated \\u escape";
				return -1;
			}
			for (int i = 0; i < 4; i++) {
				char h = d->p[d->off++];

				c <<= 4;
				if (h >= '0' && h <= '9') c |= (uint32_t)(h - '0');
				else if (h >= 'a' && h <= 'f') c |= (uint32_t)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F') c |= (uint32_t)(h - 'A' + 10);
				else {
					d->err = "bad \\u escape";
					return -1;
				}
			}
			put_utf8(out, c >= 0xD800 && c <= 0xDFFF ? 0xFFFD : c);
			break;
		}
		default:
			d->err = "bad escape";
			return -1;
		}
	}
	d->err = "unterminated string";
	return -1;
}

static int parse_value(struct jdoc *d, const char *path, int depth);

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

static int parse_object(struct jdoc *d, const char *path, int depth)
{
	struct ew_buf key;
	char sub[PATH_LEN];
	int rc = -1;

	ew_buf_init(&key, 1024);
	d->off++; /* '{' */
	skip_ws(d);
	if (d->off < d->len && d->p[d->off] == '}') {
		d->off++;
		rc = 0;
		goto out;
	}
	for (;;) {
		skip_ws(d);
		if (parse_string(d, &key) ||
		    child_path(d, sub, path, key.data ? key.data : ""))
			goto out;
		skip_ws(d);
		if (d->off >= d->len || d->p[d->off] != ':') {
			d->err = "expected ':'";
			goto out;
		}
		d->off++;
		if (parse_value(d, sub, depth + 1))
			goto out;
		skip_ws(d);
		if (d->off < d->len && d->p[d->off] == ',') {
			d->off++;
			continue;
		}
		if (d->off < d->len && d->p[d->off] == '}') {
			d->off++;
			rc = 0;
			goto out;
		}
		d->err = "expected ',' or '}'";
		goto out;
	}
out:
	ew_buf_free(&key);
	return rc;
}

static int parse_array(struct jdoc *d, const char *path, int depth)
{
	char sub[PATH_LEN], idx[24];

	d->off++; /* '[' */
	skip_ws(d);
	if (d->off < d->len && d->p[d->off] == ']') {
		d->off++;
		return 0;
	}
	for (size_t i = 0;; i++) {
		snprintf(idx, sizeof(idx), "%zu", i);
		if (child_path(d, sub, path, idx) || parse_value(d, sub, depth + 1))
			return -1;
		skip_ws(d);
		if (d->off < d->len && d->p[d->off] == ',') {
			d->off++;
			continue;
		}
		if (d->off < d->len && d->p[d->off] == ']') {
			d->off++;
			return 0;
		}
		d->err = "expected ',' or ']'";
		return -1;
	}
}

static int parse_value(struct jdoc *d, const char *path, int depth)
{
	size_t start;

	if (depth > MAX_DEPTH) {
		d->err = "nested too deeply";
		return -1;
	}
	skip_ws(d);
	if (d->off >= d->len) {
		d->err = "unexpected end";
		return -1;
	}
	switch (d->p[d->off]) {
	case '{':
		return parse_object(d, path, depth);
	case '[':
		return parse_array(d, path, depth);
	case '"': {
		struct ew_buf s;
		int rc;

		ew_buf_init(&s, 1 << 16);
		rc = parse_string(d, &s);
		if (rc == 0)
			rc = add(d, path, 's', s.data, s.len);
		ew_buf_free(&s);
		return rc;
	}
	case 't':
	case 'f':
	case 'n': {
		static const char *const lit[] = {"true", "false", "null"};

		for (size_t i = 0; i < EW_ARRAY_LEN(lit); i++) {
			size_t l = strlen(lit[i]);

			if (d->len - d->off >= l && memcmp(d->p + d->off, lit[i], l) == 0) {
				d->off += l;
				return add(d, path, i == 2 ? 'z' : lit[i][0], lit[i], l);
			}
		}
		d->err = "bad literal";
		return -1;
	}
	default:
		start = d->off;
		while (d->off < d->len && strchr("+-0123456789.eE", d->p[d->off]))
			d->off++;
		if (d->off == start) {
			d->err = "unexpected character";
			return -1;
		}
		return add(d, path, 'n', d->p + start, d->off - start);
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
	d.p = text;
	d.len = len;
	skip_ws(&d);
	if (d.off >= d.len || d.p[d.off] != '{' || parse_value(&d, "", 0) ||
	    (skip_ws(&d), d.off != d.len)) {
		fprintf(stderr, "egresswatch status: %s: not a status file "
			"(byte %zu: %s)\n", path, d.off,
			d.err ? d.err : "trailing data");
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
	jdoc_free(&d);
	free(text);
	return status;
}
