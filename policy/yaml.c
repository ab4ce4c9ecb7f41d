/*
 * yaml.c - the safe YAML loader: libyaml's event parser turned into a small
 * tree of nodes with 1-based line:col marks, under hard limits, so that a
 * hostile file costs at most a bounded amount of memory and time.
 *
 * Limits (policy.h): nesting depth, node count, scalar length.  The byte
 * size of the input is the caller's (load.c) to cap.  Aliases are refused
 * outright rather than expanded, which makes alias bombs ("billion laughs")
 * impossible and keeps the tree a tree; anchors alone are harmless and
 * ignored.  Mapping keys must be scalars and unique (duplicates are found by
 * sorting, not by pairwise comparison, so a mapping of many keys cannot cost
 * quadratic time).  Explicit tags other than the YAML core ones are refused.
 *
 * Scalars are typed here by the YAML 1.2 core schema (null, bool, int,
 * float, else string) so that readers can insist on the type they need.
 * We deliberately do not use YAML 1.1 resolution: `country: NO` is Norway.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

struct frame {
	struct ynode *node;
	struct ynode *key;		/* map: key waiting for its value */
};

struct builder {
	struct ytree *t;
	struct diag *d;
	struct frame stack[POLICY_DEPTH_MAX];
	int depth;
	size_t nodes;
	struct ynode *root;
	struct vec docs;
	int err;			/* first error: -EINVAL or -ENOMEM */
};

static int is_digits(const char *s, const char *set)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr(set, *s))
			return 0;
	return 1;
}

/* YAML 1.2 core schema, section 10.3.2. */
static enum ykind resolve_plain(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	static const char *const bools[] = {"true", "True", "TRUE", "false",
					    "False", "FALSE"};
	static const char *const specials[] = {
		".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
		"-.Inf", "-.INF", ".nan", ".NaN", ".NAN"};
	const char *p = s;

	for (size_t i = 0; i < EW_ARRAY_LEN(nulls); i++)
		if (strcmp(s, nulls[i]) == 0)
			return YK_NULL;
	for (size_t i = 0; i < EW_ARRAY_LEN(bools); i++)
		if (strcmp(s, bools[i]) == 0)
			return YK_BOOL;
	for (size_t i = 0; i < EW_ARRAY_LEN(specials); i++)
		if (strcmp(s, specials[i]) == 0)
			return YK_FLOAT;
	if (strncmp(s, "0o", 2) == 0 && is_digits(s + 2, "01234567"))
		return YK_INT;
	if (strncmp(s, "0x", 2) == 0 &&
	    is_digits(s + 2, "0123456789abcdefABCDEF"))
		return YK_INT;
	if (*p == '-' || *p == '+')
		p++;
	if (is_digits(p, "0123456789"))
		return YK_INT;
	/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
	size_t int_digits = strspn(p, "0123456789");
	p += int_digits;
	if (*p == '.') {
		size_t frac = strspn(p + 1, "0123456789");
		if (!int_digits && !frac)
			return YK_STR;
		p += 1 + frac;
	} else if (!int_digits) {
		return YK_STR;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		size_t e = strspn(p, "0123456789");
		if (!e)
			return YK_STR;
		p += e;
	}
	return *p ? YK_STR : YK_FLOAT;
}

static void fail(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(b->d, (uint32_t)m->line + 1, (uint32_t)m->column + 1, fmt, ap);
	va_end(ap);
	if (!b->err)
		b->err = -EINVAL;
}

static void oom(struct builder *b)
{
	b->d->oom = 1;
	b->err = -ENOMEM;
}

static struct ynode *new_node(struct builder *b, uint8_t type,
			      const yaml_mark_t *m)
{
	struct ynode *n;

	if (b->nodes >= POLICY_NODES_MAX) {
		fail(b, m, "more than %u YAML nodes", POLICY_NODES_MAX);
		return NULL;
	}
	n = arena_alloc(&b->t->arena, sizeof(*n));
	if (!n) {
		oom(b);
		return NULL;
	}
	b->nodes++;
	n->type = type;
	n->line = (uint32_t)m->line + 1;
	n->col = (uint32_t)m->column + 1;
	n->s = "";
	return n;
}

/* Link a new node under the open collection (or make it the root).  A
 * collection is linked when it starts, so the tree is well formed even
 * when a later error stops the parse. */
static int attach(struct builder *b, struct ynode *n, const yaml_mark_t *m)
{
	struct frame *f;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->node->type == Y_MAP && !f->key) {
		if (n->type != Y_SCALAR) {
			fail(b, m, "mapping keys must be scalars");
			return -1;
		}
		f->key = n;
		return 0;
	}
	if (f->node->type == Y_MAP) {
		f->key->val = n;
		n = f->key;
		f->key = NULL;
	}
	if (f->node->tail)
		f->node->tail->next = n;
	else
		f->node->head = n;
	f->node->tail = n;
	f->node->n++;
	return 0;
}

/* Explicit tags: the core ones are accepted, anything else is refused
 * rather than silently read as something it may not be. */
static int check_tag(struct builder *b, const yaml_char_t *tag,
		     const yaml_mark_t *m, const char *const *ok, size_t nok)
{
	const char *t = (const char *)tag;

	if (!t || strcmp(t, "!") == 0)
		return 0;
	if (strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
		for (size_t i = 0; i < nok; i++)
			if (strcmp(t + strlen(TAG_PREFIX), ok[i]) == 0)
				return 0;
	if (strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
		fail(b, m, "unsupported YAML tag '!!%.64s'", t + strlen(TAG_PREFIX));
	else
		fail(b, m, "unsupported YAML tag '%.64s'", t);
	return -1;
}

static void on_scalar(struct builder *b, const yaml_event_t *ev)
{
	static const char *const ok[] = {"str", "null", "bool", "int", "float"};
	const yaml_mark_t *m = &ev->start_mark;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	struct ynode *n;

	if (check_tag(b, ev->data.scalar.tag, m, ok, EW_ARRAY_LEN(ok)))
		return;
	if (len > POLICY_SCALAR_MAX) {
		fail(b, m, "scalar longer than %u bytes", POLICY_SCALAR_MAX);
		return;
	}
	if (memchr(ev->data.scalar.value, '\0', len)) {
		fail(b, m, "scalar contains a NUL character");
		return;
	}
	if (!(n = new_node(b, Y_SCALAR, m)))
		return;
	if (!(n->s = arena_strndup(&b->t->arena,
				   (const char *)ev->data.scalar.value, len))) {
		oom(b);
		return;
	}
	n->len = len;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
		n->kind = (uint8_t)resolve_plain(n->s);
	else if (tag && strcmp(tag, "!") != 0 && strcmp(tag, TAG_PREFIX "str") != 0) {
		/* !!int "12" and friends: the text must really be one. */
		enum ykind want = strcmp(tag, TAG_PREFIX "null") == 0 ? YK_NULL :
				  strcmp(tag, TAG_PREFIX "bool") == 0 ? YK_BOOL :
				  strcmp(tag, TAG_PREFIX "int") == 0 ? YK_INT :
									YK_FLOAT;
		enum ykind got = resolve_plain(n->s);
		if (got != want && !(want == YK_FLOAT && got == YK_INT)) {
			fail(b, m, "'%.64s' is not a valid %s", n->s,
			     tag + strlen(TAG_PREFIX));
			return;
		}
		n->kind = (uint8_t)want;
	} else {
		n->kind = YK_STR;
	}
	attach(b, n, m);
}

static void on_start(struct builder *b, const yaml_event_t *ev, uint8_t type)
{
	static const char *const ok_seq[] = {"seq"}, *const ok_map[] = {"map"};
	const yaml_mark_t *m = &ev->start_mark;
	const yaml_char_t *tag = type == Y_SEQ ? ev->data.sequence_start.tag :
						 ev->data.mapping_start.tag;
	struct ynode *n;

	if (check_tag(b, tag, m, type == Y_SEQ ? ok_seq : ok_map, 1))
		return;
	if (b->depth >= POLICY_DEPTH_MAX) {
		fail(b, m, "nesting deeper than %d levels", POLICY_DEPTH_MAX);
		return;
	}
	if (!(n = new_node(b, type, m)) || attach(b, n, m))
		return;
	b->stack[b->depth].node = n;
	b->stack[b->depth].key = NULL;
	b->depth++;
}

static int key_cmp(const void *a, const void *b)
{
	const struct ynode *x = *(const struct ynode *const *)a;
	const struct ynode *y = *(const struct ynode *const *)b;
	int c = strcmp(x->s, y->s);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

static void check_duplicates(struct builder *b, const struct ynode *map)
{
	struct ynode **keys;
	const struct ynode *k;
	size_t i = 0;

	if (map->n < 2)
		return;
	keys = malloc(map->n * sizeof(*keys));
	if (!keys) {
		oom(b);
		return;
	}
	for (k = map->head; k; k = k->next)
		keys[i++] = (struct ynode *)k;
	qsort(keys, i, sizeof(*keys), key_cmp);
	for (size_t j = 1; j < i; j++) {
		const struct ynode *first = keys[j - 1];
		while (j < i && strcmp(keys[j]->s, first->s) == 0) {
			yaml_mark_t m = {.line = keys[j]->line - 1,
					 .column = keys[j]->col - 1};
			fail(b, &m, "duplicate key '%.64s' (first at line %u, column %u)",
			     keys[j]->s, first->line, first->col);
			j++;
		}
	}
	free(keys);
}

static void on_end(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];

	if (f->node->type == Y_MAP)
		check_duplicates(b, f->node);
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static void offset_to_mark(const char *data, size_t len, size_t off,
			   yaml_mark_t *m)
{
	size_t line = 0, col = 0;

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (data[i] == '\n') {
			line++;
			col = 0;
		} else {
			col++;
		}
	}
	m->line = line;
	m->column = col;
}

static void syntax_error(struct builder *b, const yaml_parser_t *ps,
			 const char *data, size_t len)
{
	yaml_mark_t m = ps->problem_mark;

	if (ps->error == YAML_MEMORY_ERROR) {
		oom(b);
		return;
	}
	if (ps->error == YAML_READER_ERROR) {
		offset_to_mark(data, len, ps->problem_offset, &m);
		fail(b, &m, "%s", ps->problem ? ps->problem : "unreadable input");
		return;
	}
	if (ps->context)
		fail(b, &m, "%s (%s at line %zu, column %zu)",
		     ps->problem ? ps->problem : "syntax error", ps->context,
		     ps->context_mark.line + 1, ps->context_mark.column + 1);
	else
		fail(b, &m, "%s", ps->problem ? ps->problem : "syntax error");
}

int ytree_parse(struct ytree *t, const char *data, size_t len, struct diag *d)
{
	struct builder b = {.t = t, .d = d};
	yaml_parser_t ps;
	yaml_event_t ev;
	int done = 0;

	memset(t, 0, sizeof(*t));
	b.docs.size = sizeof(struct ynode *);
	if (!yaml_parser_initialize(&ps)) {
		d->oom = 1;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&ps, (const unsigned char *)data, len);
	while (!done && !b.err) {
		if (!yaml_parser_parse(&ps, &ev)) {
			syntax_error(&b, &ps, data, len);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			b.root = NULL;
			break;
		case YAML_DOCUMENT_END_EVENT: {
			struct ynode **slot = vec_push(&b.docs);
			if (!slot)
				oom(&b);
			else
				*slot = b.root;
			break;
		}
		case YAML_ALIAS_EVENT:
			fail(&b, &ev.start_mark,
			     "YAML aliases are not supported (*%.64s)",
			     (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			on_start(&b, &ev, Y_SEQ);
			break;
		case YAML_MAPPING_START_EVENT:
			on_start(&b, &ev, Y_MAP);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			on_end(&b);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	if (!b.err && b.docs.n) {
		t->docs = arena_array(&t->arena, b.docs.n, sizeof(*t->docs));
		if (!t->docs) {
			oom(&b);
		} else {
			memcpy(t->docs, b.docs.p, b.docs.n * sizeof(*t->docs));
			t->ndocs = b.docs.n;
		}
	}
	vec_free(&b.docs);
	return b.err;
}

void ytree_free(struct ytree *t)
{
	arena_free(&t->arena);
	t->docs = NULL;
	t->ndocs = 0;
}

const struct ynode *ymap_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != Y_MAP)
		return NULL;
	for (const struct ynode *k = map->head; k; k = k->next)
		if (strcmp(k->s, key) == 0)
			return k->val;
	return NULL;
}

int yscalar_is(const struct ynode *n, const char *s)
{
	return n && n->type == Y_SCALAR && strcmp(n->s, s) == 0;
}
