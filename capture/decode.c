/*
 * decode.c - the packet decoder: link layer, IP, transport, tunnels.
 *
 * One frame becomes at most DECODE_MAX_LAYERS pkt_layers, outermost first.
 * The walk is a loop, not a recursion: link layer, then per layer the IP
 * header, its extension headers and the transport header; if the transport
 * is a tunnel we open (VXLAN, Geneve, GRE version 0, IP-in-IP), the tunnel
 * header and any inner Ethernet header are read and the loop goes round once
 * more for the inner IP packet.
 *
 * What it deliberately does not do: verify checksums, reassemble fragments,
 * interpret IP or TCP options, or decode anything above the transport header
 * (the payload pointer is handed on for the DNS parser).  Fragments are
 * attributed, not reassembled: the first fragment's ports are remembered in a
 * small fixed cache and lent to the later fragments of the same datagram, so
 * that every fragment's bytes land in the right flow.  A later fragment that
 * arrives before its first fragment (or after it aged out) is an orphan and
 * is accounted with ports 0.
 *
 * Errors.  A read that runs past the bytes captured is "truncated"; a read
 * that runs past the length the enclosing header itself declares, or a field
 * that breaks its protocol's rules, is "invalid".  The cursor is narrowed to
 * each declared length, so the two are told apart by asking whether the
 * cursor's end is short of the declared end (cut_short).  Only the headers we
 * need are required: a payload, TCP options or IP bytes cut off by a short
 * snapshot length are normal and not counted.
 */
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "decode.h"
#include "util.h"

/*
 * Fragment attribution entries live this long in packet time.  Linux's
 * ipfrag_time default; RFC 791 suggests 15 s and RFC 8200 section 4.5 60 s for
 * reassembly, and attribution only needs to cover the burst of one datagram.
 */
#define FRAG_TTL_NS (30ULL * 1000000000ULL)
#define FRAG_NIL UINT32_MAX
#define FRAG_CACHE_MAX (1u << 20)	/* larger requests are clamped */

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define ETH_P_TEB 0x6558		/* transparent Ethernet bridging */

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_IPIP_ 4
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_IPV6_ 41
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_GRE_ 47
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_NONE_ 59
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_MH_ 135
#define IPPROTO_HIP_ 139
#define IPPROTO_SHIM6_ 140
#define IPPROTO_SCTP_ 132

#define UDP_PORT_VXLAN 4789
#define UDP_PORT_VXLAN_LINUX 8472	/* Linux's pre-IANA default, flannel */
#define UDP_PORT_GENEVE 6081

#define TCP_SYN 0x02
#define TCP_ACK 0x10

enum { DEC_OK, DEC_NONIP, DEC_BAD };	/* DEC_BAD: already counted */
enum { NEXT_IPV4, NEXT_IPV6 };		/* the IP header that follows */
enum { TUN_NONE, TUN_VXLAN, TUN_GENEVE, TUN_GRE, TUN_IPIP };

struct frag_entry {
	uint8_t src[16], dst[16];
	uint32_t id;			/* IPv4 or IPv6 identification */
	uint32_t next;			/* bucket chain, FRAG_NIL ends it */
	uint32_t bucket;
	uint64_t ts_ns;			/* packet time of the first fragment */
	uint16_t sport, dport;
	uint8_t family;			/* 0: slot never used */
	uint8_t key_proto;		/* IPv4 protocol; 0 for IPv6 */
	uint8_t proto;			/* the datagram's upper layer */
	uint8_t reply_hint;
};

struct decoder {
	struct capture_decode_stats st;
	uint8_t key[16];		/* SipHash key for the fragment cache */
	uint32_t frag_cap;		/* entries; 0 disables attribution */
	uint32_t frag_next;		/* ring position: oldest insertion */
	uint32_t frag_mask;		/* buckets - 1 */
	struct frag_entry *frag;
	uint32_t *bucket;
};

/* What one IP layer's transport says comes next. */
struct tunnel {
	uint8_t kind;			/* TUN_* */
	uint8_t next;			/* TUN_IPIP: NEXT_IPV4 / NEXT_IPV6 */
	size_t end;			/* its payload's end, by the headers */
};

/* State of the IP header being decoded, shared with the transport. */
struct l3 {
	size_t end;			/* datagram end in frame, by header */
	uint32_t frag_id;
	uint8_t proto;			/* current header's protocol number */
	uint8_t key_proto;		/* IPv4 header's protocol; 0 for IPv6 */
	uint8_t frag;			/* 0, 1 first or 2 later fragment */
	uint8_t jumbo;			/* length from the wire, not header */
};

/* The failed read ran into the capture's end rather than a declared end. */
static inline int cut_short(const struct cursor *c, size_t end)
{
	return c->len < end;
}

/* ---- fragment attribution cache ----------------------------------------- */

static uint32_t frag_bucket(const struct decoder *d, const uint8_t *src,
			    const uint8_t *dst, uint32_t id, uint8_t family,
			    uint8_t key_proto)
{
	uint8_t k[38];

	memcpy(k, src, 16);
	memcpy(k + 16, dst, 16);
	memcpy(k + 32, &id, 4);
	k[36] = family;
	k[37] = key_proto;
	return (uint32_t)ew_siphash(d->key, k, sizeof(k)) & d->frag_mask;
}

static int frag_fresh(const struct frag_entry *e, uint64_t ts_ns)
{
	return ts_ns < e->ts_ns || ts_ns - e->ts_ns <= FRAG_TTL_NS;
}

static struct frag_entry *frag_find(struct decoder *d, uint32_t b,
				    const struct pkt_layer *l, uint32_t id,
				    uint8_t key_proto)
{
	for (uint32_t i = d->bucket[b]; i != FRAG_NIL; i = d->frag[i].next) {
		struct frag_entry *e = &d->frag[i];

		if (e->id == id && e->family == l->family &&
		    e->key_proto == key_proto &&
		    memcmp(e->src, l->src, 16) == 0 &&
		    memcmp(e->dst, l->dst, 16) == 0)
			return e;
	}
	return NULL;
}

static void frag_unlink(struct decoder *d, uint32_t i)
{
	uint32_t *pp = &d->bucket[d->frag[i].bucket];

	while (*pp != i)
		pp = &d->frag[*pp].next;
	*pp = d->frag[i].next;
}

/*
 * Remember the ports of a first fragment.  Slots are reused in insertion
 * order, so when every slot holds a live entry the oldest one is overwritten
 * (counted in frag_cache_full); insertion and eviction are O(1) plus a walk
 * of one short bucket chain.
 */
static void frag_insert(struct decoder *d, const struct pkt_layer *l,
			const struct l3 *h, uint64_t ts_ns)
{
	uint32_t b, i;
	struct frag_entry *e;

	if (d->frag_cap == 0)
		return;
	b = frag_bucket(d, l->src, l->dst, h->frag_id, l->family, h->key_proto);
	e = frag_find(d, b, l, h->frag_id, h->key_proto);
	if (!e) {
		i = d->frag_next;
		d->frag_next = i + 1 == d->frag_cap ? 0 : i + 1;
		e = &d->frag[i];
		if (e->family) {
			if (frag_fresh(e, ts_ns))
				d->st.frag_cache_full++;
			frag_unlink(d, i);
		}
		memcpy(e->src, l->src, 16);
		memcpy(e->dst, l->dst, 16);
		e->id = h->frag_id;
		e->family = l->family;
		e->key_proto = h->key_proto;
		e->bucket = b;
		e->next = d->bucket[b];
		d->bucket[b] = i;
	}
	e->ts_ns = ts_ns;
	e->proto = l->proto;
	e->sport = l->sport;
	e->dport = l->dport;
	e->reply_hint = l->reply_hint;
}

/* Give a later fragment the ports of its datagram's first fragment. */
static void frag_attribute(struct decoder *d, struct pkt_layer *l,
			   const struct l3 *h, uint64_t ts_ns)
{
	struct frag_entry *e = NULL;

	d->st.frag_later++;
	if (d->frag_cap) {
		uint32_t b = frag_bucket(d, l->src, l->dst, h->frag_id,
					 l->family, h->key_proto);
		e = frag_find(d, b, l, h->frag_id, h->key_proto);
	}
	if (!e || !frag_fresh(e, ts_ns)) {
		d->st.frag_orphan++;
		return;
	}
	d->st.frag_matched++;
	l->proto = e->proto;
	l->sport = e->sport;
	l->dport = e->dport;
	l->reply_hint = e->reply_hint;
}

/* ---- link layer --------------------------------------------------------- */

static int l2_fail(struct decoder *d, const struct cursor *c, size_t end)
{
	if (cut_short(c, end))
		d->st.l2_truncated++;
	else
		d->st.l2_invalid++;
	return DEC_BAD;
}

/*
 * An EtherType, after any 802.1Q / 802.1ad tags (IEEE 802.1Q-2018 clause
 * 9.5; 0x9100 is the pre-standard QinQ TPID).  `vlan`, when not NULL,
 * receives the outermost VLAN ID.  Values up to 1500 are IEEE 802.3 length
 * fields (LLC frames: STP, CDP, ...), which carry no IP for us.
 */
static inline int ethertype(struct decoder *d, struct cursor *c,
			    size_t end, uint16_t type, uint16_t *vlan,
			    uint8_t *next)
{
	for (int tags = 0; type == ETH_P_8021Q || type == ETH_P_8021AD ||
			   type == ETH_P_QINQ_OLD; tags++) {
		if (tags == DECODE_MAX_VLAN) {
			d->st.vlan_too_deep++;
			return DEC_BAD;
		}
		uint16_t tci = cur_be16(c);
		type = cur_be16(c);
		if (c->err)
			return l2_fail(d, c, end);
		if (tags == 0 && vlan)
			*vlan = tci & 0x0fff;
	}
	if (type == ETH_P_IPV4) {
		*next = NEXT_IPV4;
		return DEC_OK;
	}
	if (type == ETH_P_IPV6) {
		*next = NEXT_IPV6;
		return DEC_OK;
	}
	if (type > 1500 && type < 0x0600) {
		d->st.l2_invalid++;	/* neither a length nor an EtherType */
		return DEC_BAD;
	}
	return DEC_NONIP;
}

/* Ethernet II / IEEE 802.3 MAC header (IEEE 802.3 clause 3.2). */
static inline int ether(struct decoder *d, struct cursor *c, size_t end,
			uint16_t *vlan, uint8_t *next)
{
	cur_skip(c, 12);
	uint16_t type = cur_be16(c);
	if (c->err)
		return l2_fail(d, c, end);
	return ethertype(d, c, end, type, vlan, next);
}

/*
 * BSD loopback (LINKTYPE_NULL, LINKTYPE_LOOP): a 4-byte address family.
 * AF_INET is 2 everywhere; AF_INET6 is 10 on Linux, 24 on NetBSD/OpenBSD/
 * BSD/OS, 28 on FreeBSD/DragonFly and 30 on Darwin.
 */
static int loop_family(uint32_t af, uint8_t *next)
{
	switch (af) {
	case 2:
		*next = NEXT_IPV4;
		return DEC_OK;
	case 10: case 24: case 28: case 30:
		*next = NEXT_IPV6;
		return DEC_OK;
	default:
		return DEC_NONIP;
	}
}

/*
 * LINKTYPE_NFLOG (https://www.tcpdump.org/linktypes/LINKTYPE_NFLOG.html): a
 * 4-byte header (address family, version, resource id), then TLVs whose length
 * (header included) and type are in the capturing host's byte order - libpcap
 * converts them to ours when it reads a file - each padded to 4 bytes.  The
 * NFULA_PAYLOAD TLV (type 9) holds the packet from its network header on.
 */
#define NFLOG_MAX_TLVS 32
#define NFULA_PAYLOAD 9

static int nflog(struct decoder *d, struct cursor *c, size_t end,
		 uint8_t *next)
{
	uint8_t family = cur_u8(c);

	cur_skip(c, 3);
	if (c->err)
		return l2_fail(d, c, end);
	for (int i = 0; i < NFLOG_MAX_TLVS; i++) {
		uint16_t tlen, ttype;

		cur_copy(c, &tlen, 2);
		cur_copy(c, &ttype, 2);
		if (c->err)
			return l2_fail(d, c, end);
		if (tlen < 4) {
			d->st.l2_invalid++;
			return DEC_BAD;
		}
		if ((ttype & 0x7fff) == NFULA_PAYLOAD) {
			cur_clamp(c, (size_t)tlen - 4);
			if (family == 2) {
				*next = NEXT_IPV4;
				return DEC_OK;
			}
			if (family == 10) {
				*next = NEXT_IPV6;
				return DEC_OK;
			}
			return DEC_NONIP;
		}
		cur_skip(c, (((size_t)tlen + 3) & ~(size_t)3) - 4);
	}
	if (c->err)
		return l2_fail(d, c, end);
	d->st.l2_invalid++;	/* no payload within the TLV bound */
	return DEC_BAD;
}

/* Link header of `dlt` (https://www.tcpdump.org/linktypes.html). */
static inline int link_layer(struct decoder *d, int dlt,
			     struct cursor *c, size_t end, uint16_t *vlan,
			     uint8_t *next)
{
	uint16_t type;
	uint32_t af;
	int v;

	switch (dlt) {
	case EW_DLT_EN10MB:
		return ether(d, c, end, vlan, next);
	case EW_DLT_LINUX_SLL:
		/* packet type, ARPHRD type, address length, 8-byte address,
		 * protocol (LINKTYPE_LINUX_SLL). */
		cur_skip(c, 14);
		type = cur_be16(c);
		if (c->err)
			return l2_fail(d, c, end);
		return ethertype(d, c, end, type, vlan, next);
	case EW_DLT_LINUX_SLL2:
		/* protocol, reserved, ifindex, ARPHRD type, packet type,
		 * address length, 8-byte address (LINKTYPE_LINUX_SLL2). */
		type = cur_be16(c);
		cur_skip(c, 18);
		if (c->err)
			return l2_fail(d, c, end);
		return ethertype(d, c, end, type, vlan, next);
	case EW_DLT_NULL:
		/* Host byte order of the capturing machine: a family never
		 * uses the upper 16 bits, so a value there means swapped. */
		af = cur_be32(c);
		if (c->err)
			return l2_fail(d, c, end);
		if (af & 0xffff0000u)
			af = __builtin_bswap32(af);
		return loop_family(af, next);
	case EW_DLT_LOOP:
		af = cur_be32(c);
		if (c->err)
			return l2_fail(d, c, end);
		return loop_family(af, next);
	case EW_DLT_RAW:
	case EW_DLT_RAW_ALT:
	case EW_DLT_RAW_LT:
		v = cur_peek_u8(c);
		if (v < 0)
			return l2_fail(d, c, end);
		if (v >> 4 == 4) {
			*next = NEXT_IPV4;
			return DEC_OK;
		}
		if (v >> 4 == 6) {
			*next = NEXT_IPV6;
			return DEC_OK;
		}
		d->st.l2_invalid++;
		return DEC_BAD;
	case EW_DLT_IPV4:
		*next = NEXT_IPV4;
		return DEC_OK;
	case EW_DLT_IPV6:
		*next = NEXT_IPV6;
		return DEC_OK;
	case EW_DLT_NFLOG:
		return nflog(d, c, end, next);
	default:
		d->st.unsupported_link++;
		return DEC_BAD;
	}
}

int decoder_link_supported(int dlt)
{
	switch (dlt) {
	case EW_DLT_NULL:
	case EW_DLT_EN10MB:
	case EW_DLT_RAW:
	case EW_DLT_RAW_ALT:
	case EW_DLT_LOOP:
	case EW_DLT_LINUX_SLL:
	case EW_DLT_RAW_LT:
	case EW_DLT_IPV4:
	case EW_DLT_IPV6:
	case EW_DLT_LINUX_SLL2:
	case EW_DLT_NFLOG:
		return 1;
	default:
		return 0;
	}
}

/* ---- IP ----------------------------------------------------------------- */

/* util.h's mapped form ::ffff:a.b.c.d, written in place rather than through
 * ew_ip_from_v4: this is the per-packet path and that call is out of line. */
static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				       0xff, 0xff };

static int ip_fail(const struct cursor *c, size_t end, uint64_t *truncated,
		   uint64_t *invalid)
{
	if (cut_short(c, end))
		(*truncated)++;
	else
		(*invalid)++;
	return DEC_BAD;
}

/*
 * IPv4 header, RFC 791 section 3.1.  A total length of 0 is what Linux BIG
 * TCP and TSO captures carry for datagrams over 64 KiB: the length is then
 * the wire bytes from this header to the end of the enclosing unit (`wire`),
 * as tcpdump presumes.
 */
static int ipv4(struct decoder *d, struct cursor *c, size_t end, size_t wire,
		struct pkt_layer *l, struct l3 *h)
{
	size_t start = c->off;

	uint8_t vihl = cur_u8(c);
	cur_skip(c, 1);
	uint16_t tot = cur_be16(c);
	uint16_t id = cur_be16(c);
	uint16_t fo = cur_be16(c);
	cur_skip(c, 1);
	h->proto = cur_u8(c);
	h->key_proto = h->proto;
	cur_skip(c, 2);
	memcpy(l->src, v4_mapped, 12);
	cur_copy(c, l->src + 12, 4);
	memcpy(l->dst, v4_mapped, 12);
	cur_copy(c, l->dst + 12, 4);
	if (c->err)
		return ip_fail(c, end, &d->st.ipv4_truncated,
			       &d->st.ipv4_invalid);

	size_t hl = (size_t)(vihl & 0x0f) * 4;
	size_t len = tot;
	h->jumbo = 0;
	if (tot == 0) {
		len = wire;
		h->jumbo = 1;
	}
	if (vihl >> 4 != 4 || hl < 20 || len < hl) {
		d->st.ipv4_invalid++;
		return DEC_BAD;
	}
	h->end = start + len;
	cur_clamp(c, len - 20);
	cur_skip(c, hl - 20);		/* options: RFC 791 section 3.1 */
	if (c->err)
		return ip_fail(c, h->end, &d->st.ipv4_truncated,
			       &d->st.ipv4_invalid);

	l->family = 4;
	l->ip_bytes = (uint32_t)len;
	h->frag_id = id;
	h->frag = 0;
	if (fo & 0x1fff) {
		h->frag = 2;
	} else if (fo & 0x2000) {
		h->frag = 1;
		d->st.frag_first++;
	}
	return DEC_OK;
}

/*
 * IPv6 header, RFC 8200 section 3.  A payload length of 0 with a next header
 * other than No Next Header means a jumbogram (RFC 2675) or a Linux BIG TCP
 * packet whose length is not in the fixed header: the length is then the wire
 * bytes from this header to the end of the enclosing unit (`wire`).
 */
static int ipv6(struct decoder *d, struct cursor *c, size_t end, size_t wire,
		struct pkt_layer *l, struct l3 *h)
{
	size_t start = c->off;

	uint32_t vtf = cur_be32(c);
	uint16_t plen = cur_be16(c);
	h->proto = cur_u8(c);
	cur_skip(c, 1);
	cur_copy(c, l->src, 16);
	cur_copy(c, l->dst, 16);
	if (c->err)
		return ip_fail(c, end, &d->st.ipv6_truncated,
			       &d->st.ipv6_invalid);
	if (vtf >> 28 != 6) {
		d->st.ipv6_invalid++;
		return DEC_BAD;
	}
	size_t len = 40 + (size_t)plen;
	h->jumbo = 0;
	if (plen == 0 && h->proto != IPPROTO_NONE_ && wire > 40) {
		len = wire;
		h->jumbo = 1;
	}
	h->end = start + len;
	cur_clamp(c, len - 40);
	l->family = 6;
	l->ip_bytes = (uint32_t)len;
	h->key_proto = 0;
	h->frag = 0;
	h->frag_id = 0;
	return DEC_OK;
}

/*
 * Protocol numbers that are extension headers, not the upper layer, by the
 * family they may follow: IPv6's (RFC 8200 section 4; Mobility RFC 6275, HIP
 * RFC 7401 and shim6 RFC 5533 share the generic layout, RFC 6564) and the
 * Authentication Header (RFC 4302 section 2), which we skip in both.  ESP and
 * No Next Header are not here: they end the walk as the protocol.
 */
#define EXT_V4 1
#define EXT_V6 2
static const uint8_t ext_hdr[256] = {
	[IPPROTO_HOPOPTS_] = EXT_V6, [IPPROTO_ROUTING_] = EXT_V6,
	[IPPROTO_FRAGMENT_] = EXT_V6, [IPPROTO_DSTOPTS_] = EXT_V6,
	[IPPROTO_MH_] = EXT_V6, [IPPROTO_HIP_] = EXT_V6,
	[IPPROTO_SHIM6_] = EXT_V6, [IPPROTO_AH_] = EXT_V4 | EXT_V6,
};

static inline int is_ext(uint8_t proto, uint8_t family)
{
	return ext_hdr[proto] & (family == 4 ? EXT_V4 : EXT_V6);
}

/* Walk the extension headers up to the upper-layer header, at most
 * DECODE_MAX_IPV6_EXT of them (in IPv4, only AH). */
static int ext_headers(struct decoder *d, struct cursor *c,
		       struct pkt_layer *l, struct l3 *h)
{
	uint64_t *trunc = l->family == 4 ? &d->st.ipv4_truncated
					 : &d->st.ipv6_truncated;
	uint64_t *inval = l->family == 4 ? &d->st.ipv4_invalid
					 : &d->st.ipv6_invalid;

	for (int n = 0; is_ext(h->proto, l->family); n++) {
		if (n == DECODE_MAX_IPV6_EXT) {
			d->st.ipv6_ext_too_deep++;
			return DEC_BAD;
		}
		uint8_t nh = cur_u8(c);
		uint8_t hlen = cur_u8(c);
		if (h->proto == IPPROTO_FRAGMENT_) {
			/* RFC 8200 section 4.5: offset in 8-octet units in
			 * the top 13 bits, M flag in bit 0. */
			uint16_t om = cur_be16(c);
			uint32_t id = cur_be32(c);
			if (c->err)
				return ip_fail(c, h->end, trunc, inval);
			if (h->frag) {
				(*inval)++;	/* a second fragment header */
				return DEC_BAD;
			}
			h->proto = nh;
			if (om >> 3) {
				h->frag = 2;
				h->frag_id = id;
				return DEC_OK;
			}
			if (om & 1) {
				h->frag = 1;
				h->frag_id = id;
				d->st.frag_first++;
			}
			/* offset 0 without M: an atomic fragment, RFC 6946 */
			continue;
		}
		size_t len = h->proto == IPPROTO_AH_ ? ((size_t)hlen + 2) * 4
						     : ((size_t)hlen + 1) * 8;
		cur_skip(c, len - 2);
		if (c->err)
			return ip_fail(c, h->end, trunc, inval);
		h->proto = nh;
	}
	return DEC_OK;
}

/* ---- transport ---------------------------------------------------------- */

/*
 * TCP, RFC 9293 section 3.1.  Only the fixed 20 bytes are needed: options cut
 * by the snapshot, or continued in the next fragment, are not.  A first
 * fragment that cuts the fixed header itself is the tiny-fragment attack of
 * RFC 1858 section 3.1 and is invalid.
 */
static int tcp(struct decoder *d, struct cursor *c, const struct l3 *h,
	       struct pkt_layer *l)
{
	size_t seg = h->end - c->off;

	l->sport = cur_be16(c);
	l->dport = cur_be16(c);
	cur_skip(c, 8);
	uint16_t flags = cur_be16(c);
	cur_skip(c, 6);
	if (c->err)
		return ip_fail(c, h->end, &d->st.tcp_truncated,
			       &d->st.tcp_invalid);
	size_t hl = (size_t)(flags >> 12) * 4;
	if (hl < 20 || (h->frag == 0 && hl > seg)) {
		d->st.tcp_invalid++;
		return DEC_BAD;
	}
	l->tcp_flags = (uint8_t)flags;
	l->reply_hint = (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
	cur_skip_avail(c, hl - 20);
	return DEC_OK;
}

/*
 * UDP, RFC 768; a length of 0 in a jumbogram, RFC 2675 section 4 (Linux BIG
 * TCP over UDP tunnels does the same for IPv4).  Narrows the cursor to the
 * datagram and notes the tunnels we open.
 */
static int udp(struct decoder *d, struct cursor *c, const struct l3 *h,
	       struct pkt_layer *l, struct tunnel *t)
{
	size_t start = c->off;
	size_t seg = h->end - start;

	l->sport = cur_be16(c);
	l->dport = cur_be16(c);
	size_t len = cur_be16(c);
	cur_skip(c, 2);
	if (c->err)
		return ip_fail(c, h->end, &d->st.udp_truncated,
			       &d->st.udp_invalid);
	if (len == 0 && h->jumbo)
		len = seg;
	/* A first fragment holds only part of what the length covers. */
	if (len < 8 || (h->frag == 0 && len > seg)) {
		d->st.udp_invalid++;
		return DEC_BAD;
	}
	if (h->frag == 0)
		cur_clamp(c, len - 8);
	if (l->dport == UDP_PORT_VXLAN || l->dport == UDP_PORT_VXLAN_LINUX)
		t->kind = TUN_VXLAN;
	else if (l->dport == UDP_PORT_GENEVE)
		t->kind = TUN_GENEVE;
	t->end = start + len;
	return DEC_OK;
}

/*
 * ICMP, RFC 792 (echo 8, echo reply 0) and ICMPv6, RFC 4443 sections 2.1 and
 * 4 (echo 128, echo reply 129).  Every message starts with an 8-byte header.
 * Ports as decode.h describes: request and reply share one key.
 */
static int icmp(struct decoder *d, struct cursor *c, const struct l3 *h,
		struct pkt_layer *l)
{
	uint8_t req = l->family == 4 ? 8 : 128;
	uint8_t rep = l->family == 4 ? 0 : 129;

	uint8_t type = cur_u8(c);
	uint8_t code = cur_u8(c);
	cur_skip(c, 2);
	uint16_t ident = cur_be16(c);
	cur_skip(c, 2);
	if (c->err)
		return ip_fail(c, h->end, &d->st.icmp_truncated,
			       &d->st.icmp_invalid);
	if (type == req) {
		l->sport = ident;
		l->dport = (uint16_t)(req << 8);
	} else if (type == rep) {
		l->sport = (uint16_t)(req << 8);
		l->dport = ident;
		l->reply_hint = 1;
	} else {
		l->dport = (uint16_t)(type << 8 | code);
	}
	return DEC_OK;
}

/* SCTP common header, RFC 9260 section 3.1. */
static int sctp(struct decoder *d, struct cursor *c, const struct l3 *h,
		struct pkt_layer *l)
{
	l->sport = cur_be16(c);
	l->dport = cur_be16(c);
	cur_skip(c, 8);
	if (c->err)
		return ip_fail(c, h->end, &d->st.sctp_truncated,
			       &d->st.sctp_invalid);
	return DEC_OK;
}

/*
 * The upper-layer header of an unfragmented datagram or a first fragment.
 * Leaves the cursor at the transport payload, where a tunnel's header starts.
 */
static int transport(struct decoder *d, struct cursor *c, const struct l3 *h,
		     struct pkt_layer *l, struct tunnel *t)
{
	int r = DEC_OK;

	switch (h->proto) {
	case IPPROTO_TCP_:
		r = tcp(d, c, h, l);
		break;
	case IPPROTO_UDP_:
		r = udp(d, c, h, l, t);
		break;
	case IPPROTO_ICMP_:
		if (l->family == 4)
			r = icmp(d, c, h, l);
		break;
	case IPPROTO_ICMPV6_:
		if (l->family == 6)
			r = icmp(d, c, h, l);
		break;
	case IPPROTO_SCTP_:
		r = sctp(d, c, h, l);
		break;
	case IPPROTO_GRE_:
		t->kind = TUN_GRE;
		t->end = h->end;
		break;
	case IPPROTO_IPIP_:
	case IPPROTO_IPV6_:
		t->kind = TUN_IPIP;
		t->next = h->proto == IPPROTO_IPIP_ ? NEXT_IPV4 : NEXT_IPV6;
		t->end = h->end;
		break;
	default:
		break;
	}
	l->payload = cur_here(c);
	l->payload_len = (uint32_t)cur_left(c);
	return r;
}

/* One IP layer: header, extension headers, transport.  Fills `l` except
 * tunnel_depth. */
static int ip_layer(struct decoder *d, struct cursor *c, uint8_t next,
		    size_t end, uint64_t ts_ns, struct pkt_layer *l,
		    struct tunnel *t)
{
	size_t wire = end > c->off ? end - c->off : 0;
	struct l3 h;
	int r;

	l->sport = 0;
	l->dport = 0;
	l->tcp_flags = 0;
	l->reply_hint = 0;
	t->kind = TUN_NONE;
	if (next == NEXT_IPV4)
		r = ipv4(d, c, end, wire, l, &h);
	else
		r = ipv6(d, c, end, wire, l, &h);
	if (r != DEC_OK)
		return r;
	if (h.frag != 2 && is_ext(h.proto, l->family) &&
	    (r = ext_headers(d, c, l, &h)) != DEC_OK)
		return r;
	l->proto = h.proto;
	l->fragment = h.frag;
	if (h.frag == 2) {
		/* RFC 791 / RFC 8200 section 4.5: no upper-layer header here */
		frag_attribute(d, l, &h, ts_ns);
		l->payload = cur_here(c);
		l->payload_len = 0;
		return DEC_OK;
	}
	if ((r = transport(d, c, &h, l, t)) != DEC_OK)
		return r;
	if (h.frag == 1)
		frag_insert(d, l, &h, ts_ns);
	return DEC_OK;
}

/* ---- tunnels ------------------------------------------------------------ */

/*
 * Read the tunnel header that starts at the cursor and any inner Ethernet
 * header, up to the inner IP header.  Tunnel headers are the inner packet's
 * link layer, so their faults count as l2_truncated / l2_invalid.
 */
static int tunnel_open(struct decoder *d, struct cursor *c,
		       const struct tunnel *t, uint8_t *next)
{
	uint8_t b0, flags8;
	uint16_t flags, type;
	size_t optlen;

	cur_clamp(c, t->end - c->off);
	switch (t->kind) {
	case TUN_VXLAN:
		/* RFC 7348 section 5: flags (I = 0x08 must be set), 24
		 * reserved bits, VNI, 8 reserved bits; then Ethernet. */
		d->st.tunnel_vxlan++;
		flags8 = cur_u8(c);
		cur_skip(c, 7);
		if (c->err)
			return l2_fail(d, c, t->end);
		if (!(flags8 & 0x08)) {
			d->st.l2_invalid++;
			return DEC_BAD;
		}
		return ether(d, c, t->end, NULL, next);
	case TUN_GENEVE:
		/* RFC 8926 section 3.4: version 0, options length in 4-byte
		 * units, protocol type (an EtherType), VNI, options. */
		d->st.tunnel_geneve++;
		b0 = cur_u8(c);
		cur_skip(c, 1);
		type = cur_be16(c);
		cur_skip(c, 4);
		optlen = (size_t)(b0 & 0x3f) * 4;
		cur_skip(c, optlen);
		if (c->err)
			return l2_fail(d, c, t->end);
		if (b0 >> 6 != 0) {
			d->st.l2_invalid++;
			return DEC_BAD;
		}
		if (type == ETH_P_TEB)
			return ether(d, c, t->end, NULL, next);
		return ethertype(d, c, t->end, type, NULL, next);
	case TUN_GRE:
		/* RFC 2784 section 2, key and sequence number RFC 2890
		 * section 2.  Version 1 is PPTP's enhanced GRE (RFC 2637),
		 * which carries PPP: left closed.  Routing (RFC 1701) is
		 * refused as Linux refuses it. */
		d->st.tunnel_gre++;
		flags = cur_be16(c);
		type = cur_be16(c);
		if (c->err)
			return l2_fail(d, c, t->end);
		if ((flags & 0x0007) != 0)
			return DEC_NONIP;
		if (flags & 0x4000) {
			d->st.l2_invalid++;
			return DEC_BAD;
		}
		cur_skip(c, (flags & 0x8000 ? 4 : 0) +
			    (flags & 0x2000 ? 4 : 0) +
			    (flags & 0x1000 ? 4 : 0));
		if (c->err)
			return l2_fail(d, c, t->end);
		if (type == ETH_P_TEB)
			return ether(d, c, t->end, NULL, next);
		return ethertype(d, c, t->end, type, NULL, next);
	case TUN_IPIP:
		/* IP in IP, RFC 2003; IPv6 in IPv4, RFC 4213 section 3.5;
		 * IPv4/IPv6 in IPv6, RFC 2473. */
		d->st.tunnel_ipip++;
		*next = t->next;
		return DEC_OK;
	default:
		return DEC_NONIP;
	}
}

/* ---- the decoder -------------------------------------------------------- */

int decode_packet(struct decoder *d, int dlt, const uint8_t *data,
		  uint32_t caplen, uint32_t wirelen, uint64_t ts_ns,
		  struct decoded *out)
{
	struct cursor c;
	struct tunnel t;
	uint8_t next;
	size_t end = wirelen > caplen ? wirelen : caplen;
	int r;

	d->st.packets++;
	d->st.bytes += wirelen;
	out->vlan = 0;
	out->n = 0;
	cur_init(&c, data, caplen);
	r = link_layer(d, dlt, &c, end, &out->vlan, &next);
	if (r != DEC_OK) {
		if (r == DEC_NONIP)
			d->st.non_ip++;
		return 0;
	}
	for (uint8_t depth = 0;; depth++) {
		struct pkt_layer *l = &out->l[depth];

		if (ip_layer(d, &c, next, end, ts_ns, l, &t) != DEC_OK) {
			if (depth)
				d->st.tunnel_inner_invalid++;
			break;
		}
		l->tunnel_depth = depth;
		out->n = depth + 1;
		if (t.kind == TUN_NONE)
			break;
		if (depth + 1 == DECODE_MAX_LAYERS) {
			d->st.tunnel_too_deep++;
			break;
		}
		end = t.end;
		r = tunnel_open(d, &c, &t, &next);
		if (r != DEC_OK) {
			if (r == DEC_NONIP)
				d->st.tunnel_inner_non_ip++;
			else
				d->st.tunnel_inner_invalid++;
			break;
		}
	}
	if (out->n)
		d->st.ip_packets++;
	return out->n;
}

/*
 * Everything the decoder will ever need is allocated here.  A cache size of
 * 0 disables fragment attribution (every later fragment is an orphan); sizes
 * above FRAG_CACHE_MAX are clamped.  NULL also when no random key could be
 * drawn, since an unkeyed cache could be aimed at one bucket.
 */
struct decoder *decoder_create(uint32_t frag_cache_size)
{
	struct decoder *d;
	uint32_t nb = 1;

	if (frag_cache_size > FRAG_CACHE_MAX)
		frag_cache_size = FRAG_CACHE_MAX;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (ew_random_bytes(d->key, sizeof(d->key)) < 0)
		goto err;
	d->frag_cap = frag_cache_size;
	if (frag_cache_size) {
		while (nb < frag_cache_size)
			nb <<= 1;
		d->frag = calloc(frag_cache_size, sizeof(*d->frag));
		d->bucket = malloc((size_t)nb * sizeof(*d->bucket));
		if (!d->frag || !d->bucket)
			goto err;
		for (uint32_t i = 0; i < nb; i++)
			d->bucket[i] = FRAG_NIL;
		d->frag_mask = nb - 1;
	}
	return d;
err:
	decoder_destroy(d);
	return NULL;
}

void decoder_destroy(struct decoder *d)
{
	if (!d)
		return;
	free(d->frag);
	free(d->bucket);
	free(d);
}

const struct capture_decode_stats *decoder_stats(const struct decoder *d)
{
	return &d->st;
}
