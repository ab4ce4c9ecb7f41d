/*
 * capture.c - the capture context: packet sources feeding the decoder and the
 * flow table, and the interface-name table that turns a flow's interface index
 * into the name users see.
 *
 * Replay opens pcap and pcapng files with libpcap, with nanosecond
 * timestamps, and uses packet time as the clock, so a replay produces exactly
 * the events a live capture of the same packets would have produced.  The
 * flow table's clock is advanced every CLOCK_STEP_NS of packet time, which
 * bounds how late an idle flow is ended without touching the table on every
 * packet.
 *
 * The records of a classic pcap file in a regular file are read by
 * pcapfile.c, in large blocks and without copies, and worked
 * REPLAY_BATCH at a time: all are decoded, then their layers go to the flow
 * table in one flow_table_packets() call, which overlaps the table's cache
 * misses.  A batch is cut wherever the one-packet path would do something
 * between two packets (advance the clock, parse a DNS answer), so the events
 * and their order are those of the one-packet path, which libpcap's reads
 * (pcapng, pipes) and live capture take.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "decode.h"
#include "dns.h"
#include "flow.h"
#include "internal.h"
#include "pcapfile.h"
#include "util.h"

#define CLOCK_STEP_NS 100000000ull	/* 100 ms of packet time */
#define REPLAY_BATCH 64			/* records decoded before accounting */
#define MAX_IFACES 4096

struct capture {
	struct capture_config cfg;
	struct decoder *dec;
	struct flow_table *ft;
	char (*ifnames)[CAPTURE_IFNAME_MAX];	/* index -> name */
	uint32_t n_ifaces;
	uint64_t clock_ns;		/* last time given to flow_table_advance */
	uint64_t files, file_errors;
	struct dns_stats dns;
	struct dns_event dns_ev;	/* scratch: too big for the stack path */
};

const char *flow_end_reason_name(enum flow_end_reason r)
{
	static const char *names[FLOW_END__COUNT] = {
		[FLOW_END_NONE] = "active",
		[FLOW_END_IDLE] = "idle",
		[FLOW_END_TCP_FIN] = "fin",
		[FLOW_END_TCP_RST] = "rst",
		[FLOW_END_EVICTED] = "evicted",
		[FLOW_END_SHUTDOWN] = "shutdown",
		[FLOW_END_IFACE_GONE] = "interface-gone",
	};
	if ((unsigned)r >= FLOW_END__COUNT || !names[r])
		return "unknown";
	return names[r];
}

void capture_config_defaults(struct capture_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = 262144;
	cfg->tcp_idle_s = 300;
	cfg->tcp_syn_idle_s = 30;
	cfg->tcp_closed_s = 5;
	cfg->udp_idle_s = 60;
	cfg->other_idle_s = 30;
	cfg->update_interval_ms = 1000;
	cfg->frag_cache_size = 8192;
	cfg->first_flow_id = 1;
}

/* Flow table events pass through here to gain their interface name. */
static void emit_named(void *ctx, const struct flow_record *rec)
{
	struct capture *c = ctx;
	struct flow_record named = *rec;

	if (rec->iface < c->n_ifaces)
		memcpy(named.ifname, c->ifnames[rec->iface], CAPTURE_IFNAME_MAX);
	c->cfg.emit(c->cfg.emit_ctx, &named);
}

struct capture *capture_open(const struct capture_config *cfg, char *err,
			     size_t errlen)
{
	struct capture *c = calloc(1, sizeof(*c));
	struct capture_config ftcfg;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!cfg->emit) {
		snprintf(err, errlen, "capture: no event callback");
		goto err;
	}
	c->cfg = *cfg;
	c->ifnames = calloc(MAX_IFACES, sizeof(*c->ifnames));
	c->dec = decoder_create(cfg->frag_cache_size);
	if (!c->ifnames || !c->dec) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	ftcfg = *cfg;
	ftcfg.emit = emit_named;
	ftcfg.emit_ctx = c;
	c->ft = flow_table_create(&ftcfg, err, errlen);
	if (!c->ft)
		goto err;
	return c;
err:
	capture_close(c);
	return NULL;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	flow_table_destroy(c->ft);
	decoder_destroy(c->dec);
	free(c->ifnames);
	free(c);
}

/* Index of interface `name`, registering it on first use; -ENOSPC when the
 * table is full. */
static int iface_index(struct capture *c, const char *name)
{
	for (uint32_t i = 0; i < c->n_ifaces; i++)
		if (strncmp(c->ifnames[i], name, CAPTURE_IFNAME_MAX - 1) == 0)
			return (int)i;
	if (c->n_ifaces >= MAX_IFACES)
		return -ENOSPC;
	snprintf(c->ifnames[c->n_ifaces], CAPTURE_IFNAME_MAX, "%s", name);
	return (int)c->n_ifaces++;
}

/* Named on the way out, like flow events. */
static void emit_dns_named(void *ctx, const struct dns_event *ev)
{
	struct capture *c = ctx;
	struct dns_event *e = &c->dns_ev;

	if (e != ev)
		*e = *ev;
	if (e->iface < c->n_ifaces)
		memcpy(e->ifname, c->ifnames[e->iface], CAPTURE_IFNAME_MAX);
	c->cfg.emit_dns(c->cfg.emit_ctx, e);
}

/*
 * A DNS response: a UDP datagram or TCP segment from port 53 with payload.
 * The parser is only reached for those, so the cost on every other packet is
 * two compares.  Responses count whoever receives them as the client.
 */
static void dns_response(struct capture *c, const struct pkt_layer *l,
			 uint32_t iface, uint64_t ts)
{
	struct dns_event *e = &c->dns_ev;

	e->ts_ns = ts;
	e->iface = iface;
	memcpy(e->client_ip, l->dst, 16);
	memcpy(e->server_ip, l->src, 16);
	if (l->proto == 17) {
		if (dns_parse_response(l->payload, l->payload_len,
				       DNS_WIRE_LEN_UNKNOWN, e, &c->dns) == 0)
			emit_dns_named(c, e);
	} else {
		dns_parse_tcp_segment(l->payload, l->payload_len, e,
				      emit_dns_named, c, &c->dns);
	}
}

/* A layer that dns_response() parses: two compares on most packets. */
static inline int is_dns_answer(const struct capture *c,
				const struct pkt_layer *l)
{
	return l->sport == DNS_PORT && l->payload_len > 0 &&
	       (l->proto == 17 || l->proto == 6) && c->cfg.emit_dns &&
	       l->fragment != 2;
}

/* The layers of one decoded packet into the flow table, each followed by
 * its DNS answer if it carries one. */
static inline void account_layers(struct capture *c, const struct decoded *d,
				  int n, uint32_t iface, uint64_t ts)
{
	for (int i = 0; i < n; i++) {
		const struct pkt_layer *l = &d->l[i];

		flow_table_packet(c->ft, l, d->vlan, iface, ts);
		if (is_dns_answer(c, l))
			dns_response(c, l, iface, ts);
	}
}

static inline void tick(struct capture *c, uint64_t ts)
{
	flow_table_advance(c->ft, ts);
	c->clock_ns = ts;
}

static inline void account(struct capture *c, int dlt, uint32_t iface,
			   const struct pcap_pkthdr *h, const uint8_t *data,
			   uint64_t ts)
{
	struct decoded d;
	int n = decode_packet(c->dec, dlt, data, h->caplen, h->len, ts, &d);

	account_layers(c, &d, n, iface, ts);
	if (ts >= c->clock_ns + CLOCK_STEP_NS)
		tick(c, ts);
}

static inline uint64_t record_ns(const struct pcap_pkthdr *h)
{
	/* ns with NANO precision */
	return (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
}

/*
 * account() for each of `n` (at most REPLAY_BATCH) records, batched (see the
 * top of the file).  The decoded layers point into the records, which stay
 * put for the call.
 */
static void account_records(struct capture *c, int dlt, uint32_t iface,
			    const struct pcapfile_rec *r, int n)
{
	struct decoded d[REPLAY_BATCH];
	struct flow_input in[REPLAY_BATCH * DECODE_MAX_LAYERS];
	size_t k = 0;

	for (int i = 0; i < n; i++) {
		uint64_t ts = record_ns(&r[i].h);
		int m = decode_packet(c->dec, dlt, r[i].data, r[i].h.caplen,
				      r[i].h.len, ts, &d[i]);
		int dns = 0;

		for (int j = 0; j < m; j++)
			dns |= is_dns_answer(c, &d[i].l[j]);
		if (dns) {
			flow_table_packets(c->ft, in, k);
			k = 0;
			account_layers(c, &d[i], m, iface, ts);
		} else {
			for (int j = 0; j < m; j++)
				in[k++] = (struct flow_input){
					&d[i].l[j], d[i].vlan, iface, ts};
		}
		if (ts >= c->clock_ns + CLOCK_STEP_NS) {
			flow_table_packets(c->ft, in, k);
			k = 0;
			tick(c, ts);
		}
	}
	flow_table_packets(c->ft, in, k);
}

/* ---- hooks for live.c (see internal.h) ---------------------------------- */

int capture_iface_acquire(struct capture *c, const char *name)
{
	uint32_t i;

	for (i = 0; i < c->n_ifaces; i++)
		if (c->ifnames[i][0] == '\0')
			break;
	if (i == c->n_ifaces) {
		if (c->n_ifaces >= MAX_IFACES)
			return -ENOSPC;
		c->n_ifaces++;
	}
	snprintf(c->ifnames[i], CAPTURE_IFNAME_MAX, "%s", name);
	return (int)i;
}

void capture_iface_rename(struct capture *c, uint32_t idx, const char *name)
{
	if (idx < c->n_ifaces)
		snprintf(c->ifnames[idx], CAPTURE_IFNAME_MAX, "%s", name);
}

void capture_iface_release(struct capture *c, uint32_t idx)
{
	if (idx < c->n_ifaces)
		c->ifnames[idx][0] = '\0';
}

void capture_packet(struct capture *c, int dlt, uint32_t iface,
		    const struct pcap_pkthdr *h, const uint8_t *data,
		    uint64_t ts_ns)
{
	account(c, dlt, iface, h, data, ts_ns);
}

void capture_clock(struct capture *c, uint64_t now_ns)
{
	if (now_ns > c->clock_ns) {
		flow_table_advance(c->ft, now_ns);
		c->clock_ns = now_ns;
	}
}

void capture_rebase(struct capture *c, int64_t delta_ns)
{
	flow_table_rebase(c->ft, delta_ns);
	c->clock_ns += (uint64_t)delta_ns;
}

void capture_flush_iface(struct capture *c, uint32_t iface,
			 enum flow_end_reason reason)
{
	flow_table_flush_iface(c->ft, iface, reason);
}

int capture_replay_file(struct capture *c, const char *path,
			const char *ifname, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const u_char *data;
	struct pcapfile *pf;
	pcap_t *p;
	int dlt, idx, rc;
	uint64_t records = 0;

	c->files++;
	p = pcap_open_offline_with_tstamp_precision(path,
						    PCAP_TSTAMP_PRECISION_NANO,
						    perr);
	if (!p) {
		c->file_errors++;
		snprintf(err, errlen, "%s: %s", path, perr);
		return strstr(perr, "No such file") ? -ENOENT : -EINVAL;
	}
	/* The upper bits of a link-type field may carry the FCS length
	 * (pcap-linktype(7)); libpcap masks them, and so do we in case an old
	 * libpcap does not. */
	dlt = pcap_datalink(p) & 0x03FFFFFF;
	if (!decoder_link_supported(dlt)) {
		c->file_errors++;
		snprintf(err, errlen,
			 "%s: link type %d (%s) is not supported; no packets read",
			 path, dlt,
			 pcap_datalink_val_to_name(dlt) ?
				 pcap_datalink_val_to_name(dlt) : "unknown");
		pcap_close(p);
		return -EINVAL;
	}
	idx = iface_index(c, ifname);
	if (idx < 0) {
		c->file_errors++;
		snprintf(err, errlen, "%s: too many interfaces", path);
		pcap_close(p);
		return idx;
	}
	if (pcapfile_open(fileno(pcap_file(p)), dlt, pcap_snapshot(p),
			  &pf) == 0) {
		struct pcapfile_rec r[REPLAY_BATCH];

		while ((rc = pcapfile_next(pf, r, REPLAY_BATCH)) > 0) {
			records += (uint64_t)rc;
			account_records(c, dlt, (uint32_t)idx, r, rc);
		}
		if (rc < 0) {
			c->file_errors++;
			snprintf(err, errlen,
				 "%s: damaged at byte offset %llu after %llu "
				 "packets: %s", path,
				 (unsigned long long)pcapfile_error_offset(pf),
				 (unsigned long long)records,
				 pcapfile_error(pf));
		}
		pcapfile_close(pf);
		pcap_close(p);
		return rc < 0 ? -EIO : 0;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		records++;
		account(c, dlt, (uint32_t)idx, h, data, record_ns(h));
	}
	if (rc == PCAP_ERROR) {
		FILE *f = pcap_file(p);
		long off = f ? ftell(f) : -1;
		c->file_errors++;
		if (off >= 0)
			snprintf(err, errlen,
				 "%s: damaged at byte offset %ld after %llu packets: %s",
				 path, off, (unsigned long long)records,
				 pcap_geterr(p));
		else
			snprintf(err, errlen, "%s: damaged after %llu packets: %s",
				 path, (unsigned long long)records,
				 pcap_geterr(p));
		pcap_close(p);
		return -EIO;
	}
	pcap_close(p);
	return 0;
}

void capture_flush(struct capture *c, enum flow_end_reason reason)
{
	flow_table_flush(c->ft, reason);
}

void capture_get_stats(struct capture *c, struct capture_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->decode = *decoder_stats(c->dec);
	flow_table_stats(c->ft, &out->flow);
	out->dns = c->dns;
	out->files = c->files;
	out->file_errors = c->file_errors;
}
