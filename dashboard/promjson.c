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
 * written.  The input is the agent's, but it is treated as outside input:
 * jansson parses it (anything that is not one JSON object writes nothing),
 * and the levels turned into names, the sample count and the lengths of
 * names and label values are capped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dash_int.h"

#define PJ_LEVELS 3		/* object levels turned into names */
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
	struct sample *s;
	size_t n;
};

/* A number as Prometheus text: integers exactly, other reals in the
 * shortest form that reads back as the same double. */
static void number_text(double d, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.15g", d);
	if (strtod(out, NULL) != d)
		snprintf(out, outlen, "%.17g", d);
}

/* A label value: cut to fit on a UTF-8 character boundary, control
 * characters as spaces (names of interfaces and workloads have none). */
static void label_text(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; in[o] && o + 1 < outlen; o++)
		out[o] = (unsigned char)in[o] < 0x20 ? ' ' : in[o];
	if (in[o])
		while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
			o--;
	out[o] = '\0';
}

/* Numbers and booleans become samples; strings and nulls do not. */
static void scalar(struct pj *j, const char *name, const char *lname,
		   const char *lval, const json_t *v)
{
	struct sample *s;

	if (!json_is_number(v) && !json_is_boolean(v))
		return;
	if (j->n >= PJ_SAMPLES_MAX)
		return;
	s = &j->s[j->n];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->label_name, sizeof(s->label_name), "%s", lname ? lname : "");
	snprintf(s->label, sizeof(s->label), "%s", lval ? lval : "");
	if (json_is_boolean(v))
		snprintf(s->value, sizeof(s->value), "%d", json_is_true(v));
	else
		number_text(json_number_value(v), s->value, sizeof(s->value));
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

static void object(struct pj *j, const json_t *obj, const char *prefix,
		   int depth, const char *lname, const char *lval);

/* An array of objects: one label value per element, from its "name"
 * string, else its index.  Other elements are not samples. */
static void array(struct pj *j, const char *key, const json_t *arr, int depth)
{
	char prefix[PJ_NAME_MAX], lname[32], lval[PJ_LABEL_MAX];
	size_t idx, kl = strlen(key);
	const json_t *el;

	/* "interfaces" -> metric "interface_*", label "interface". */
	snprintf(lname, sizeof(lname), "%.*s", (int)(kl > 1 && key[kl - 1] == 's' ?
						     kl - 1 : kl), key);
	join(prefix, sizeof(prefix), "egresswatch", lname);
	json_array_foreach(arr, idx, el) {
		const json_t *nm = json_object_get(el, "name");

		if (!json_is_object(el))
			continue;
		if (json_is_string(nm))
			label_text(json_string_value(nm), lval, sizeof(lval));
		else
			snprintf(lval, sizeof(lval), "%zu", idx);
		object(j, el, prefix, depth + 1, lname, lval);
	}
}

static void object(struct pj *j, const json_t *obj, const char *prefix,
		   int depth, const char *lname, const char *lval)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		char name[PJ_NAME_MAX];

		if (depth == 0 && (strcmp(key, "dashboard") == 0 ||
				   strcmp(key, "db") == 0))
			continue;
		join(name, sizeof(name), prefix, key);
		if (json_is_object(v)) {
			if (depth < PJ_LEVELS)
				object(j, v, name, depth + 1, lname, lval);
		} else if (json_is_array(v)) {
			if (!lname && depth < PJ_LEVELS)
				array(j, key, v, depth + 1);
		} else {
			scalar(j, name, lname, lval, v);
		}
	}
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
	struct pj j = {0};
	json_t *root;

	/* Integers as doubles: a counter past 2^63 must not make the whole
	 * object unreadable (Prometheus values are doubles anyway). */
	root = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	j.s = calloc(PJ_SAMPLES_MAX, sizeof(*j.s));
	if (!j.s) {
		json_decref(root);
		return -ENOMEM;
	}
	object(&j, root, "egresswatch", 0, NULL, NULL);
	json_decref(root);
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
