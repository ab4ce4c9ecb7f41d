/*
 * decode.h - private to capture/: the packet decoder.
 *
 * Turns one captured frame into at most DECODE_MAX_LAYERS IP "layers": the
 * outermost IP header with its transport ports, and, for tunnels we
 * decapsulate (VXLAN, Geneve, GRE carrying IP or Ethernet, IP-in-IP / IPv6-in-
 * IP), the inner IP flow as well.  Both the tunnel flow and the inner flow are
 * tracked, as tshark's conversation lists and Zeek do.
 *
 * Every byte of the packet is read through the bounds-checked cursor in
 * cursor.h; a packet never makes the decoder read past `caplen`, loop without
 * bound or allocate.  Each problem is counted once in capture_decode_stats,
 * with "truncated" (the capture cut the packet short) kept apart from
 * "invalid" (the bytes break the protocol).
 */
#ifndef EW_CAPTURE_DECODE_H
#define EW_CAPTURE_DECODE_H

#include <stdint.h>
#include "capture.h"

#define DECODE_MAX_LAYERS 3	/* outer + up to two nested tunnels */
#define DECODE_MAX_VLAN 4	/* stacked 802.1Q/802.1ad tags */
#define DECODE_MAX_IPV6_EXT 8	/* extension headers in one chain */

/* Link types (DLT_ values as libpcap reports them after masking FCS bits). */
#define EW_DLT_NULL 0
#define EW_DLT_EN10MB 1
#define EW_DLT_RAW 12		/* some platforms: 14 */
#define EW_DLT_RAW_ALT 14
#define EW_DLT_LOOP 108
#define EW_DLT_LINUX_SLL 113
#define EW_DLT_RAW_LT 101	/* LINKTYPE_RAW as found in files */
#define EW_DLT_IPV4 228
#define EW_DLT_IPV6 229
#define EW_DLT_LINUX_SLL2 276
#define EW_DLT_NFLOG 239		/* Linux netfilter log (NFLOG target) */

/*
 * One IP flow key found in the packet.  Ports by protocol:
 *   TCP/UDP/SCTP: the ports.
 *   ICMP echo request / ICMPv6 echo request: sport = identifier,
 *     dport = request type << 8 (0x0800 / 0x8000).
 *   ICMP echo reply / ICMPv6 echo reply: sport = request type << 8,
 *     dport = identifier (so request and reply share one flow key).
 *   Other ICMP/ICMPv6 messages: sport = 0, dport = type << 8 | code.
 *   Other protocols and non-first fragments with no cached first fragment:
 *     both 0.
 */
struct pkt_layer {
	uint8_t src[16], dst[16];	/* mapped form, see util.h */
	uint16_t sport, dport;
	uint8_t family;			/* 4 or 6 */
	uint8_t proto;			/* transport protocol (after ext headers) */
	uint8_t tcp_flags;		/* TCP only */
	uint8_t reply_hint;		/* 1: this packet answers (SYN+ACK, echo reply) */
	uint8_t fragment;		/* 0 none, 1 first fragment, 2 later fragment */
	uint8_t tunnel_depth;		/* 0 outermost */
	uint32_t ip_bytes;		/* bytes counted for this packet (see capture.h) */
	const uint8_t *payload;		/* transport payload as captured (may be cut) */
	uint32_t payload_len;		/* bytes available at `payload` */
};

struct decoded {
	uint16_t vlan;			/* outermost VLAN ID, 0 if none */
	uint8_t n;			/* layers filled in l[] */
	struct pkt_layer l[DECODE_MAX_LAYERS];
};

struct decoder;

/* `frag_cache_size` entries for fragment attribution.  NULL on ENOMEM. */
struct decoder *decoder_create(uint32_t frag_cache_size);
void decoder_destroy(struct decoder *d);

/* 1 if decode_packet understands this link type. */
int decoder_link_supported(int dlt);

/*
 * Decode one frame.  `ts_ns` ages the fragment cache.  Fills `out` and returns
 * out->n (0 when there is no IP flow to account: non-IP, unsupported or
 * undecodable - each counted).  Pointers in `out` point into `data`.
 */
int decode_packet(struct decoder *d, int dlt, const uint8_t *data,
		  uint32_t caplen, uint32_t wirelen, uint64_t ts_ns,
		  struct decoded *out);

/* The decoder's counters (owned by the decoder, valid until destroy). */
const struct capture_decode_stats *decoder_stats(const struct decoder *d);

#endif
