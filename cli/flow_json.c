/*
 * flow_json.c - one flow row as the JSON object of DESIGN.md's interface
 * contract.  Every string goes through ew_buf_json_str, so names that came
 * off the wire are always valid, inert JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "flow_json.h"
#include "util.h"

/* TCP flags as letters in the order tcpdump prints them. */
void flow_tcp_flags_str(uint8_t f, char out[9])
{
	static const char letters[] = "FSRPAUEC";
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			out[n++] = letters[i];
	out[n] = '\0';
}

static void str_or_null(struct ew_buf *b, const char *key, const char *v)
{
	ew_buf_printf(b, ",\"%s\":", key);
	ew_buf_json_str(b, v[0] ? v : NULL);
}

int flow_to_json(const struct store_flow *f, struct ew_buf *b)
{
	char start[EW_TIME_STRLEN], end[EW_TIME_STRLEN];
	char lip[EW_IPSTR_MAX], rip[EW_IPSTR_MAX], fs[9], fr[9], pnum[4];
	const char *pname = ew_proto_name(f->proto);

	ew_fmt_time(f->start_ns, start);
	ew_fmt_time(f->end_ns, end);
	ew_ip_to_str(f->local_ip, lip);
	ew_ip_to_str(f->remote_ip, rip);
	flow_tcp_flags_str(f->tcp_flags_sent, fs);
	flow_tcp_flags_str(f->tcp_flags_received, fr);
	if (!pname) {
		snprintf(pnum, sizeof(pnum), "%u", f->proto);
		pname = pnum;
	}
	ew_buf_printf(b, "{\"id\":%" PRIu64 ",\"start\":\"%s\",\"end\":\"%s\"",
		      f->id, start, end);
	ew_buf_puts(b, ",\"interface\":");
	ew_buf_json_str(b, f->interface);
	ew_buf_printf(b,
		      ",\"vlan\":%u,\"proto\":\"%s\",\"direction\":\"%s\""
		      ",\"local_ip\":\"%s\",\"local_port\":%u"
		      ",\"remote_ip\":\"%s\",\"remote_port\":%u"
		      ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		      ",\"packets_sent\":%" PRIu64 ",\"packets_received\":%" PRIu64
		      ",\"tcp_flags_sent\":\"%s\",\"tcp_flags_received\":\"%s\"",
		      f->vlan, pname,
		      f->direction == STORE_INGRESS ? "ingress" : "egress", lip,
		      f->local_port, rip, f->remote_port, f->bytes_sent,
		      f->bytes_received, f->packets_sent, f->packets_received, fs,
		      fr);
	str_or_null(b, "workload", f->workload);
	str_or_null(b, "remote_workload", f->remote_workload);
	str_or_null(b, "remote_name", f->remote_name);
	str_or_null(b, "remote_country", f->remote_country);
	if (f->remote_asn)
		ew_buf_printf(b, ",\"remote_asn\":%" PRIu32, f->remote_asn);
	else
		ew_buf_puts(b, ",\"remote_asn\":null");
	str_or_null(b, "verdict", f->verdict);
	ew_buf_printf(b, ",\"state\":\"%s\",\"end_reason\":\"%s\"}",
		      f->ended ? "ended" : "active",
		      flow_end_reason_name((enum flow_end_reason)f->end_reason));
	return b->toobig ? -1 : 0;
}
