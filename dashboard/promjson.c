/*
 * promjson.c - the live agent's health object as Prometheus samples, for an
 * agent that gives no metrics text of its own (dashboard.h, provider).
 *
 * Mapping: a number (or boolean, as 0/1) at top level is egresswatch_<key>;
 * in an object, egresswatch_<object>_<key> (nested objects join their names
 * with '_', three levels at most); in an array of objects, each object is
 * one label value, taken from its "name" member (else its index):
 * "interfaces": [{"name": "veth1", "received": 5}] gives
 * egresswatch_interface_received{interface="veth1"} 5.  Strings are not
 * samples.  The types are unknown here, so every family is "untyped".  The
 * groups "dashboard" and "db" are skipped: those names are ours.
 *
 * Samples of one family must be contiguous in the format, and an array
 * interleaves them, so they are collected, sorted by name (stably), then
 * written.  The input is the agent's, but it is parsed as strictly as any
 * outside input: depth, sample count and name lengths are capped, and a
 * malformed object writes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_int.h"

#define PJ_DEPTH_MAX 8
#define PJ_SAMPLES_MAX 20000
#define PJ_NAME_MAX 128
#define PJ_LABEL_MAX 192

struct sample {
	char name[PJ_NAME_MAX];
	char label_name[32];
	char label[PJ_LABEL_MAX];	/* raw value, escaped when written */
	char value[40];
	size_t seq;			/* input order, for a stable sort */
};

struct pj {
	const char *p;
	size_t len, off;
	const char *err;
	struct sample *s;
	size_t n;
};

static void ws(struct pj *j)
{
	while (j->off < j->len && strchr(" \t\r\n", j->p[j->off]) &&
	       j->p[j->off])
		j->off++;
}

/* A string into out (cut to outlen; escapes kept simple: \uXXXX as '?'). */
static void str(struct pj *j, char *out, size_t outlen)
{
	size_t o = 0;

	if (j->off >= j->len || j->p[j->off] != '"') {
		j->err = "expected a string";
		return;
	}
	j->off++;
	while (j->off < j->len && j->p[j->off] != '"') {
		char c = j->p[j->off++];

		if (c == '\\') {
			if (j->off >= j->len) {
				j->err = "truncated escape";
				return;
			}
			c = j->p[j->off++];
			if (c == 'u') {
				if (j->len - j->off < 4) {
					j->err = "truncated escape";
					return;
				}
				j->off += 4;
				c = '?';
			} else if (c == 'n' || c == 't' || c == 'r' ||
				   c == 'b' || c == 'f') {
				c = ' ';
			}
		}
		if ((unsigned char)c < 0x20) {
			j->err = "control character";
			return;
		}
		if (o + 1 < outlen)
			out[o++] = c;
	}
	if (j->off >= j->len) {
		j->err = "unterminated string";
		return;
	}
	j->off++;
	out[o] = '\0';
}

static void add(struct pj *j, const char *name, const char *lname,
		const char *lval, const char *v, size_t vlen)
{
	struct sample *s;

	if (j->n >= PJ_SAMPLES_MAX || vlen >= sizeof(s->value))
		return;
	s = &j->s[j->n];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->label_name, sizeof(s->label_name), "%s", lname ? lname : "");
	snprintf(s->label, sizeof(s->label), "%s", lval ? lval : "");
	memcpy(s->value, v, vlen);
	s->value[vlen] = '\0';
	s->seq = j->n++;
}

/* Append "_key" to a metric name, mapping what Prometheus does not allow
 * to '_'. */
static void join(char *out, size_t outlen, const char *prefix, const char *key)
{
	size_t o;

	snprintf(out, outlen, "%s_", prefix);
	o = strlen(out);
	for (const char *k = key; *k && o + 1 < outlen; k++) {
		char c = *k;

		out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9') ? c : '_';
	}
	out[o] = '\0';
}

static void skip_value(struct pj *j, int depth);

/* A scalar at `name` (with an optional label): numbers and booleans become
 * samples, the rest is skipped. */
static void scalar(struct pj *j, const char *name, const char *lname,
		   const char *lval)
{
	char tmp[8];
	size_t s = j->off;

	ws(j);
	if (j->off >= j->len) {
		j->err = "expected a value";
		return;
	}
	switch (j->p[j->off]) {
	case '"':
		str(j, tmp, sizeof(tmp));
		return;
	case 't':
		if (j->len - j->off >= 4 && memcmp(j->p + j->off, "true", 4) == 0) {
			j->off += 4;
			add(j, name, lname, lval, "1", 1);
		} else {
			j->err = "bad literal";
		}
		return;
	case 'f':
		if (j->len - j->off >= 5 && memcmp(j->p + j->off, "false", 5) == 0) {
			j->off += 5;
			add(j, name, lname, lval, "0", 1);
		} else {
			j->err = "bad literal";
		}
		return;
	case 'n':
		if (j->len - j->off >= 4 && memcmp(j->p + j->off, "null", 4) == 0)
			j->off += 4;
		else
			j->err = "bad literal";
		return;
	}
	s = j->off;
	while (j->off < j->len && strchr("0123456789+-.eE", j->p[j->off]) &&
	       j->p[j->off])
		j->off++;
	if (j->off == s) {
		j->err = "expected a value";
		return;
	}
	add(j, name, lname, lval, j->p + s, j->off - s);
}

static void object(struct pj *j, const char *prefix, int depth,
		   const char *lname, const char *lval);

/* An array of objects: one label value per element. */
static void array(struct pj *j, const char *key, int depth)
{
	char prefix[PJ_NAME_MAX], lname[32];
	size_t idx = 0, kl = strlen(key);

	/* "interfaces" -> metric "interface_*", label "interface". */
	snprintf(lname, sizeof(lname), "%.*s", (int)(kl > 1 && key[kl - 1] == 's' ?
						     kl - 1 : kl), key);
	join(prefix, sizeof(prefix), "egresswatch", lname);
	j->off++;
	ws(j);
	if (j->off < j->len && j->p[j->off] == ']') {
		j->off++;
		return;
	}
	while (!j->err) {
		ws(j);
		if (j->off < j->len && j->p[j->off] == '{') {
			/* Find the element's name first: a second pass over
			 * the same bytes, bounded by the element. */
			char lval[PJ_LABEL_MAX];
			size_t start = j->off;
			struct pj look = *j;
			size_t n0 = j->n;

			snprintf(lval, sizeof(lval), "%zu", idx);
			look.n = PJ_SAMPLES_MAX;	/* collect nothing */
			look.off++;
			while (!look.err) {
				char k[64];

				ws(&look);
				if (look.off < look.len && look.p[look.off] == '}')
					break;
				str(&look, k, sizeof(k));
				ws(&look);
				if (look.err || look.off >= look.len ||
				    look.p[look.off] != ':')
					break;
				look.off++;
				ws(&look);
				if (strcmp(k, "name") == 0 && look.off < look.len &&
				    look.p[look.off] == '"') {
					str(&look, lval, sizeof(lval));
					break;
				}
				skip_value(&look, depth + 1);
				ws(&look);
				if (look.off < look.len && look.p[look.off] == ',')
					look.off++;
				else
					break;
			}
			j->off = start;
			j->n = n0;
			object(j, prefix, depth + 1, lname, lval);
		} else {
			skip_value(j, depth + 1);
		}
		idx++;
		ws(j);
		if (j->off < j->len && j->p[j->off] == ',') {
			j->off++;
			continue;
		}
		if (j->off < j->len && j->p[j->off] == ']') {
			j->off++;
			return;
		}
		j->err = "expected ',' or ']'";
	}
}

static void object(struct pj *j, const char *prefix, int depth,
		   const char *lname, const char *lval)
{
	if (depth > PJ_DEPTH_MAX) {
		j->err = "nested too deep";
		return;
	}
	if (j->off >= j->len || j->p[j->off] != '{') {
		j->err = "expected an object";
		return;
	}
	j->off++;
	ws(j);
	if (j->off < j->len && j->p[j->off] == '}') {
		j->off++;
		return;
	}
	while (!j->err) {
		char key[64], name[PJ_NAME_MAX];

		ws(j);
		str(j, key, sizeof(key));
		ws(j);
		if (j->err || j->off >= j->len || j->p[j->off] != ':') {
			j->err = j->err ? j->err : "expected ':'";
			return;
		}
		j->off++;
		ws(j);
		join(name, sizeof(name), prefix, key);
		if (j->off >= j->len) {
			j->err = "expected a value";
			return;
		}
		if (depth == 0 && (strcmp(key, "dashboard") == 0 ||
				   strcmp(key, "db") == 0)) {
			skip_value(j, depth + 1);
		} else if (j->p[j->off] == '{') {
			if (depth < 3)
				object(j, name, depth + 1, lname, lval);
			else
				skip_value(j, depth + 1);
		} else if (j->p[j->off] == '[') {
			if (!lname && depth < 3)
				array(j, key, depth + 1);
			else
				skip_value(j, depth + 1);
		} else {
			scalar(j, name, lname, lval);
		}
		ws(j);
		if (j->off < j->len && j->p[j->off] == ',') {
			j->off++;
			continue;
		}
		if (j->off < j->len && j->p[j->off] == '}') {
			j->off++;
			return;
		}
		j->err = "expected ',' or '}'";
	}
}

static void skip_value(struct pj *j, int depth)
{
	char tmp[4];

	ws(j);
	if (depth > PJ_DEPTH_MAX * 2) {
		j->err = "nested too deep";
		return;
	}
	if (j->off >= j->len) {
		j->err = "expected a value";
		return;
	}
	if (j->p[j->off] == '{' || j->p[j->off] == '[') {
		char close = j->p[j->off] == '{' ? '}' : ']';
		int obj = close == '}';

		j->off++;
		ws(j);
		if (j->off < j->len && j->p[j->off] == close) {
			j->off++;
			return;
		}
		while (!j->err) {
			ws(j);
			if (obj) {
				str(j, tmp, sizeof(tmp));
				ws(j);
				if (j->err || j->off >= j->len ||
				    j->p[j->off] != ':') {
					j->err = j->err ? j->err : "expected ':'";
					return;
				}
				j->off++;
			}
			skip_value(j, depth + 1);
			ws(j);
			if (j->off < j->len && j->p[j->off] == ',') {
				j->off++;
				continue;
			}
			if (j->off < j->len && j->p[j->off] == close) {
				j->off++;
				return;
			}
			j->err = "expected ',' or the end";
		}
		return;
	}
	if (j->p[j->off] == '"') {
		str(j, tmp, sizeof(tmp));
		return;
	}
	size_t n = j->n;

	j->n = PJ_SAMPLES_MAX;	/* parse it, keep nothing */
	scalar(j, "", NULL, NULL);
	j->n = n;
}

void dash_prom_label(struct ew_buf *out, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			ew_buf_puts(out, "\\\\");
		else if (*p == '"')
			ew_buf_puts(out, "\\\"");
		else if (*p == '\n')
			ew_buf_puts(out, "\\n");
		else
			ew_buf_append(out, p, 1);
	}
}

static int sample_cmp(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int dash_prom_from_json(struct ew_buf *out, const char *json, size_t len)
{
	struct pj j = {.p = json, .len = len};

	j.s = calloc(PJ_SAMPLES_MAX, sizeof(*j.s));
	if (!j.s)
		return -ENOMEM;
	ws(&j);
	object(&j, "egresswatch", 0, NULL, NULL);
	if (j.err) {
		free(j.s);
		return -EINVAL;
	}
	qsort(j.s, j.n, sizeof(*j.s), sample_cmp);
	for (size_t i = 0; i < j.n; i++) {
		const struct sample *s = &j.s[i];

		if (i == 0 || strcmp(s->name, j.s[i - 1].name) != 0)
			ew_buf_printf(out, "# TYPE %s untyped\n", s->name);
		ew_buf_puts(out, s->name);
		if (s->label_name[0]) {
			ew_buf_printf(out, "{%s=\"", s->label_name);
			dash_prom_label(out, s->label);
			ew_buf_puts(out, "\"}");
		}
		ew_buf_printf(out, " %s\n", s->value);
	}
	free(j.s);
	return 0;
}
