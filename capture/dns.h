/*
 * dns.h - private to capture/: the DNS response parser.
 *
 * Turns one DNS response a workload received (UDP, or TCP with its 2-byte
 * length prefix) into a struct dns_event (capture.h): the question, the
 * RCODE, the A/AAAA answers that belong to the question and the end of its
 * CNAME chain.  It reads the header, the question and the ANSWER section
 * only (RFC 1035 section 4.1; AAAA from RFC 3596); authority and additional
 * records are never looked at, so glue or an OPT record cannot attach a name
 * to anything.
 *
 * Every byte goes through the cursor of cursor.h.  Names are read under
 * fixed bounds (see DNS_MAX_PTR_HOPS and below) and come out in presentation
 * form with every byte outside [A-Za-z0-9_-] written as \DDD, so a name is
 * printable ASCII without HTML or shell metacharacters whatever the wire
 * held.  The parser keeps no state and never allocates; its working set is
 * about 18 KiB of stack.
 */
#ifndef EW_CAPTURE_DNS_H
#define EW_CAPTURE_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"

#define DNS_PORT 53
#define DNS_MAX_PTR_HOPS 16	/* compression pointers followed per name */
#define DNS_MAX_ANSWERS 64	/* answer RRs read per message */
#define DNS_WIRE_NAME_MAX 255	/* RFC 1035 section 2.3.4, length octets included */
#define DNS_WIRE_LEN_UNKNOWN SIZE_MAX	/* for dns_parse_response's wire_len */

/* Resource record types and class we act on (RFC 1035 3.2.2, RFC 3596). */
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

/*
 * Parse one DNS message (RFC 1035 section 4) received by a workload.
 *
 * `msg` holds `len` captured bytes; `wire_len` is the message's length as
 * the transport declares it (UDP length - 8, or the TCP length prefix), or
 * DNS_WIRE_LEN_UNKNOWN.  A message that runs out of bytes is "truncated"
 * when the capture held fewer bytes than `wire_len` (snapshot length, first
 * IP fragment; always when the length is unknown), and "invalid" when it was
 * complete and its own counts promised more.  A `len` larger than `wire_len`
 * (link-layer padding) is clamped to it.
 *
 * Fills the DNS fields of `out`: qname, qtype, rcode (the 4-bit header
 * RCODE: the extended bits live in the OPT record of the additional section,
 * which is not read), cname, addr/ttl/n_addrs and truncated_answers.  It
 * leaves ts_ns, iface, ifname, client_ip and server_ip as the caller set
 * them.  The DNS fields are reset even on failure.
 *
 * Which answers count.  The chain starts at the question name and follows
 * CNAME records of the answer section (in any order, each used once, names
 * compared case-insensitively per RFC 4343).  A or AAAA records of class IN
 * whose owner is on that chain are reported, in message order, at most
 * DNS_EVENT_MAX_ADDRS of them, IPv4 in the ::ffff:a.b.c.d form; the name to
 * give those addresses is the question name, and `cname` is the chain's
 * last target ("" without CNAMEs).  Other A/AAAA records are counted in
 * unrelated_answers: otherwise a response could name any address.  TTLs with
 * the top bit set read as 0 (RFC 2181 section 8).
 *
 * Returns 0 when `out` holds a response (possibly with no addresses:
 * NXDOMAIN, NODATA, or cut short - see dns_stats.partial), -ENOMSG for a
 * message we have no use for (a query, another OPCODE, no question),
 * -EMSGSIZE when the capture cut it before the question ended, and -EBADMSG
 * when it is invalid.  Every outcome is counted in `st`.
 */
int dns_parse_response(const uint8_t *msg, size_t len, size_t wire_len,
		       struct dns_event *out, struct dns_stats *st);

/*
 * Parse the DNS messages of one TCP segment payload (RFC 1035 section
 * 4.2.2, RFC 7766 section 8): each message is preceded by its 2-byte length.
 * For every complete response, fills the DNS fields of `ev` (as above; the
 * caller has set the others) and calls `fn(ctx, ev)`.  Several pipelined
 * messages in one segment are all parsed.
 *
 * Limit: the TCP stream is not reassembled.  A segment must start on a
 * message boundary and hold whole messages; a message that continues into
 * the next segment is counted in tcp_partial and skipped, and so is a
 * segment that starts in the middle of a message, when its first two bytes
 * do not happen to look like a length that fits.  Answers are usually small
 * enough to travel in one segment.
 *
 * Returns the number of responses parsed (and passed to `fn` unless it is
 * NULL).
 */
int dns_parse_tcp_segment(const uint8_t *payload, size_t len,
			  struct dns_event *ev, capture_dns_fn fn, void *ctx,
			  struct dns_stats *st);

#endif
