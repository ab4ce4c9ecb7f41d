/*
 * dns.c - DNS responses to dns_events: header, question, ANSWER section
 * (RFC 1035 section 4.1; AAAA records RFC 3596 section 2.2).
 *
 * The parse is two passes over at most DNS_MAX_ANSWERS answer records.  The
 * first reads every record through the cursor, checks it and keeps, for A,
 * AAAA and CNAME records of class IN, the owner name in canonical form and
 * where the RDATA starts.  The second walks the CNAME chain from the
 * question name and keeps the addresses whose owner lies on it.  Doing the
 * chain after the read makes the result independent of the order in which
 * a server lists its records, and means a message is refused as a whole
 * when any answer record is malformed in what we read of it (owner name,
 * fixed fields, RDATA length; the RDATA of A, AAAA and CNAME), as a stub
 * resolver would refuse it.  A response with the TC bit set is used for the
 * answers it holds; the client's retry over TCP is parsed in its turn.
 *
 * Names (RFC 1035 section 4.1.4).  A compression pointer must point strictly
 * before the run of labels it ends: before the name's own start for the
 * first pointer, before the previous pointer's target after that (the rule
 * tcpdump's ns_nprint applies).  Each hop therefore lands strictly earlier
 * in the message, which rules out loops, pointers into the name itself and
 * forward pointers at once; DNS_MAX_PTR_HOPS and the 255-octet limit of RFC
 * 1035 section 2.3.4 bound the work further.  Length octets 0x40-0xbf (the
 * extended label types RFC 6891 section 5 deprecated) are refused.
 *
 * What it does not do: read the authority or additional sections (so no
 * glue, no OPT/extended RCODE, no DNSSEC validation), reassemble TCP streams
 * or IP fragments, or check that the response matches a query it saw: the
 * per-workload scoping of dnscache and the chain rule are what keep a
 * response from naming addresses it has no business naming.
 */
#include <errno.h>
#include <string.h>

#include "cursor.h"
#include "dns.h"
#include "util.h"

#define DNS_FLAG_QR 0x8000
#define DNS_OPCODE(f) (((f) >> 11) & 0xf)
#define DNS_RCODE(f) ((f) & 0xf)
#define DNS_OPCODE_QUERY 0
#define DNS_TTL_MAX 0x7fffffffu	/* RFC 2181 section 8 */

enum name_err {
	NAME_OK,
	NAME_TRUNC,		/* ran past the bytes available */
	NAME_PTR_BACK,		/* pointer not strictly backwards */
	NAME_HOPS,		/* more than DNS_MAX_PTR_HOPS pointers */
	NAME_TOO_LONG,		/* > 255 octets, or escaped text too long */
	NAME_BAD_LABEL,		/* length octet with 01 or 10 in the top bits */
};

/* A name in canonical form: its labels uncompressed and ASCII lower-cased
 * (RFC 4343), root label included, with a hash to compare quickly. */
struct wname {
	uint32_t hash;
	uint8_t len;
	uint8_t b[DNS_WIRE_NAME_MAX];
};

/* An answer record kept for the second pass. */
struct rr {
	struct wname owner;
	uint32_t ttl;
	uint32_t rd_off;		/* RDATA offset in the message */
	uint16_t type;			/* DNS_TYPE_A / _AAAA / _CNAME */
	uint8_t used;			/* CNAME already on the chain */
};

/* Everything that is not a letter, digit, '-' or '_' is escaped, which
 * covers '.', '\\', '"', '<', '>', '&', spaces and every non-ASCII byte. */
static int plain_byte(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
	       (b >= '0' && b <= '9') || b == '-' || b == '_';
}

/* Append one label in presentation form (RFC 1035 section 5.1 escapes). */
static int pres_label(char *pres, size_t size, size_t *plen, const uint8_t *lab,
		      size_t n)
{
	size_t o = *plen;

	if (o > 0) {
		if (size - o < 2)
			return -1;
		pres[o++] = '.';
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t b = lab[i];

		if (plain_byte(b)) {
			if (size - o < 2)
				return -1;
			pres[o++] = (char)b;
		} else {
			if (size - o < 5)
				return -1;
			pres[o++] = '\\';
			pres[o++] = (char)('0' + b / 100);
			pres[o++] = (char)('0' + b / 10 % 10);
			pres[o++] = (char)('0' + b % 10);
		}
	}
	pres[o] = '\0';
	*plen = o;
	return 0;
}

/*
 * Read the name at the cursor into `canon` and, when `pres` is not NULL,
 * into `pres` (`size` bytes, NUL included; the root is ".").  On success the
 * cursor has moved past the name as it sits in place (through its first
 * pointer or its root label); on failure it has not moved.
 */
static enum name_err name_read(struct cursor *c, struct wname *canon,
			       char *pres, size_t size)
{
	struct cursor w = *c;
	size_t seg = c->off;		/* start of the current run of labels */
	size_t end = 0;			/* where the name ends in place */
	size_t plen = 0;
	unsigned hops = 0;
	int jumped = 0;
	uint32_t h = 2166136261u;	/* FNV-1a */

	canon->len = 0;
	if (pres)
		pres[0] = '\0';
	for (;;) {
		uint8_t l = cur_u8(&w);

		if (w.err)
			return NAME_TRUNC;
		if ((l & 0xc0) == 0xc0) {
			size_t t = (size_t)(l & 0x3f) << 8 | cur_u8(&w);

			if (w.err)
				return NAME_TRUNC;
			if (t >= seg)
				return NAME_PTR_BACK;
			if (++hops > DNS_MAX_PTR_HOPS)
				return NAME_HOPS;
			if (!jumped)
				end = w.off;
			jumped = 1;
			cur_init(&w, c->p, c->len);
			cur_skip(&w, t);	/* t < seg <= len: cannot fail */
			seg = t;
			continue;
		}
		if (l & 0xc0)
			return NAME_BAD_LABEL;
		if (l == 0)
			break;
		if (!cur_need(&w, l))
			return NAME_TRUNC;
		/* room for this label, its length octet and the root label */
		if ((size_t)canon->len + 1 + l + 1 > DNS_WIRE_NAME_MAX)
			return NAME_TOO_LONG;
		if (pres && pres_label(pres, size, &plen, cur_here(&w), l) < 0)
			return NAME_TOO_LONG;
		canon->b[canon->len++] = l;
		h = (h ^ l) * 16777619u;
		for (size_t i = 0; i < l; i++) {
			uint8_t b = cur_u8(&w);

			if (b >= 'A' && b <= 'Z')
				b = (uint8_t)(b - 'A' + 'a');
			canon->b[canon->len++] = b;
			h = (h ^ b) * 16777619u;
		}
	}
	canon->b[canon->len++] = 0;
	canon->hash = h;
	if (pres && plen == 0) {
		if (size < 2)
			return NAME_TOO_LONG;
		pres[0] = '.';
		pres[1] = '\0';
	}
	if (!jumped)
		end = w.off;
	cur_skip(c, end - c->off);
	return NAME_OK;
}

static int name_eq(const struct wname *a, const struct wname *b)
{
	return a->hash == b->hash && a->len == b->len &&
	       memcmp(a->b, b->b, a->len) == 0;
}

static void reset_fields(struct dns_event *ev)
{
	ev->qtype = 0;
	ev->rcode = 0;
	ev->n_addrs = 0;
	ev->truncated_answers = 0;
	memset(ev->qname, 0, sizeof(ev->qname));
	memset(ev->cname, 0, sizeof(ev->cname));
	memset(ev->addr, 0, sizeof(ev->addr));
	memset(ev->ttl, 0, sizeof(ev->ttl));
}

/* Count a refused message: running out of bytes is "truncated" only when
 * the capture is what cut it. */
static int refuse(struct dns_stats *st, enum name_err e, int cut)
{
	switch (e) {
	case NAME_TRUNC:
		if (cut) {
			st->truncated++;
			return -EMSGSIZE;
		}
		break;
	case NAME_PTR_BACK:
		st->ptr_not_backward++;
		break;
	case NAME_HOPS:
		st->ptr_too_many_hops++;
		break;
	case NAME_TOO_LONG:
		st->name_too_long++;
		break;
	case NAME_BAD_LABEL:
		st->label_bad_type++;
		break;
	case NAME_OK:
		break;
	}
	st->invalid++;
	return -EBADMSG;
}

/* 1 if `owner` is the question name, the chain's end, or the owner of a
 * CNAME the chain went through. */
static int on_chain(const struct wname *owner, const struct wname *qname,
		    const struct wname *last, const struct rr *rr, size_t n)
{
	if (name_eq(owner, qname) || (last && name_eq(owner, last)))
		return 1;
	for (size_t i = 0; i < n; i++)
		if (rr[i].used && name_eq(owner, &rr[i].owner))
			return 1;
	return 0;
}

/* Read the CNAME target at `rd_off`; it parsed once already, so only a bug
 * could make this fail. */
static enum name_err target_read(const uint8_t *msg, size_t len, uint32_t rd_off,
				 struct wname *canon, char *pres, size_t size)
{
	struct cursor r;

	cur_init(&r, msg, len);
	cur_skip(&r, rd_off);
	return name_read(&r, canon, pres, size);
}

static int parse_message(const uint8_t *msg, size_t len, size_t wire_len,
			 struct dns_event *out, struct dns_stats *st)
{
	struct rr rr[DNS_MAX_ANSWERS];
	struct wname qname, target, *last = NULL;
	struct cursor c;
	char scratch[DNS_NAME_MAX];
	size_t nrr = 0, n_an;
	uint16_t flags, qdcount, ancount;
	int cut, partial = 0;
	enum name_err e;

	if (len > wire_len)
		len = wire_len;
	cut = len < wire_len;
	cur_init(&c, msg, len);

	/* Header, RFC 1035 section 4.1.1. */
	cur_skip(&c, 2);		/* ID */
	flags = cur_be16(&c);
	qdcount = cur_be16(&c);
	ancount = cur_be16(&c);
	cur_skip(&c, 4);		/* NSCOUNT, ARCOUNT */
	if (c.err)
		return refuse(st, NAME_TRUNC, cut);
	if (!(flags & DNS_FLAG_QR)) {
		st->queries_ignored++;
		return -ENOMSG;
	}
	if (DNS_OPCODE(flags) != DNS_OPCODE_QUERY) {
		st->opcode_ignored++;
		return -ENOMSG;
	}
	if (qdcount == 0) {
		st->no_question++;
		return -ENOMSG;
	}
	if (qdcount > 1) {
		st->qdcount_not_one++;
		st->invalid++;
		return -EBADMSG;
	}

	/* Question, RFC 1035 section 4.1.2. */
	e = name_read(&c, &qname, out->qname, sizeof(out->qname));
	if (e != NAME_OK)
		return refuse(st, e, cut);
	out->qtype = cur_be16(&c);
	cur_skip(&c, 2);		/* QCLASS */
	if (c.err)
		return refuse(st, NAME_TRUNC, cut);
	out->rcode = (uint8_t)DNS_RCODE(flags);

	/* Answer section, RFC 1035 section 4.1.3. */
	n_an = ancount;
	if (n_an > DNS_MAX_ANSWERS) {
		st->answers_too_many++;
		n_an = DNS_MAX_ANSWERS;
	}
	for (size_t i = 0; i < n_an; i++) {
		struct rr *r = &rr[nrr];
		uint16_t type = 0, class = 0, rdlen = 0;
		uint32_t ttl = 0;
		size_t rd_off = 0;

		e = name_read(&c, &r->owner, NULL, 0);
		if (e == NAME_OK) {
			type = cur_be16(&c);
			class = cur_be16(&c);
			ttl = cur_be32(&c);
			rdlen = cur_be16(&c);
			rd_off = c.off;
			if (!c.err)
				cur_need(&c, rdlen);
			if (c.err)
				e = NAME_TRUNC;
		}
		if (e == NAME_TRUNC && cut) {
			partial = 1;
			break;
		}
		if (e != NAME_OK)
			return refuse(st, e, cut);
		if (class == DNS_CLASS_IN &&
		    ((type == DNS_TYPE_A && rdlen != 4) ||
		     (type == DNS_TYPE_AAAA && rdlen != 16))) {
			st->bad_rdata++;
			st->invalid++;
			return -EBADMSG;
		}
		if (class == DNS_CLASS_IN && type == DNS_TYPE_CNAME) {
			struct cursor rd = c;

			/* The target must fill the RDATA exactly, and its text
			 * must fit in case it ends the chain.  The RDATA is all
			 * there, so a name running past it is invalid. */
			e = name_read(&rd, &target, scratch, sizeof(scratch));
			if (e != NAME_OK)
				return refuse(st, e, 0);
			if (rd.off != rd_off + rdlen) {
				st->bad_rdata++;
				st->invalid++;
				return -EBADMSG;
			}
		}
		cur_skip(&c, rdlen);
		if (class != DNS_CLASS_IN || (type != DNS_TYPE_A &&
		    type != DNS_TYPE_AAAA && type != DNS_TYPE_CNAME))
			continue;
		r->type = type;
		r->ttl = ttl > DNS_TTL_MAX ? 0 : ttl;
		r->rd_off = (uint32_t)rd_off;
		r->used = 0;
		nrr++;
	}

	/* The chain: question -> CNAME -> ... ; each CNAME used once, so a
	 * loop in the records ends it. */
	for (const struct wname *cur = &qname;;) {
		size_t j;

		for (j = 0; j < nrr; j++)
			if (rr[j].type == DNS_TYPE_CNAME && !rr[j].used &&
			    name_eq(&rr[j].owner, cur))
				break;
		if (j == nrr)
			break;
		rr[j].used = 1;
		if (target_read(msg, len, rr[j].rd_off, &target, out->cname,
				sizeof(out->cname)) != NAME_OK) {
			st->invalid++;
			return -EBADMSG;
		}
		last = &target;
		cur = &target;
	}

	for (size_t j = 0; j < nrr; j++) {
		const struct rr *r = &rr[j];
		struct cursor rd;
		uint8_t v4[4];
		size_t k = out->n_addrs;

		if (r->type == DNS_TYPE_CNAME)
			continue;
		if (!on_chain(&r->owner, &qname, last, rr, nrr)) {
			st->unrelated_answers++;
			continue;
		}
		if (k == DNS_EVENT_MAX_ADDRS) {
			out->truncated_answers = 1;
			st->addrs_dropped++;
			continue;
		}
		cur_init(&rd, msg, len);
		cur_skip(&rd, r->rd_off);
		if (r->type == DNS_TYPE_A) {
			cur_copy(&rd, v4, sizeof(v4));
			ew_ip_from_v4(out->addr[k], v4);
		} else {
			cur_copy(&rd, out->addr[k], 16);
		}
		out->ttl[k] = r->ttl;
		out->n_addrs = (uint8_t)(k + 1);
	}

	if (partial)
		st->partial++;
	else
		st->responses++;
	return 0;
}

int dns_parse_response(const uint8_t *msg, size_t len, size_t wire_len,
		       struct dns_event *out, struct dns_stats *st)
{
	int r;

	reset_fields(out);
	r = parse_message(msg, len, wire_len, out, st);
	if (r < 0)
		reset_fields(out);
	return r;
}

int dns_parse_tcp_segment(const uint8_t *payload, size_t len,
			  struct dns_event *ev, capture_dns_fn fn, void *ctx,
			  struct dns_stats *st)
{
	struct cursor c;
	int delivered = 0;

	cur_init(&c, payload, len);
	while (cur_left(&c) > 0) {
		uint16_t mlen = cur_be16(&c);

		if (c.err || cur_left(&c) < mlen) {
			st->tcp_partial++;
			break;
		}
		if (dns_parse_response(cur_here(&c), mlen, mlen, ev, st) == 0) {
			if (fn)
				fn(ctx, ev);
			delivered++;
		}
		cur_skip(&c, mlen);
	}
	return delivered;
}
