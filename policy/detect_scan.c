/*
 * detect_scan.c - scan: a workload whose outbound connection attempts fail
 * against many distinct targets (address and port) within a short window:
 * a port scan of a host, a sweep of a network, the first moves of an
 * intruder looking around from a pod it took.
 *
 * A failed attempt is a TCP connection the workload opened that the other
 * side refused (a RST, and never a SYN-ACK), counted at the event that
 * reports the RST (the flow table reports a closing packet at once), or
 * one nobody answered at all (no packet back by its END: the TCP SYN or
 * the UDP datagrams timed out).  Failed connections are what tells a scan
 * from a busy client: a monitoring server scraping five hundred targets
 * a minute has its connections answered.  Each flow counts once.
 *
 * Per workload, a tumbling window of scan_window_s holds a 512-bit set of
 * the failed targets (hashed address, port and protocol) and estimates how
 * many distinct ones it has seen by linear counting (n = -m ln(zeros / m)),
 * so one target retried a thousand times counts once and the state is 64
 * bytes whatever the scan's size.  When the estimate reaches
 * scan_min_targets, one alert for the window; its dedup key has no remote,
 * so a scan that goes on is one alert row whose count grows.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

#define NS 1000000000ull
#define SET_BITS (SCAN_SET_WORDS * 64)
#define TCP_SYN 0x02		/* the event's tcp_flags: as on the wire */
#define TCP_RST 0x04

static int failed_attempt(const struct detect_event *ev)
{
	if (ev->direction != POLICY_EGRESS)
		return 0;
	if (ev->proto == 6)
		return !(ev->tcp_flags_received & TCP_SYN) &&	/* no SYN-ACK */
		       ((ev->tcp_flags_received & TCP_RST) ||	/* refused */
			(ev->kind == DETECT_EV_END && !ev->packets_received));
	if (ev->proto == 17)
		return ev->kind == DETECT_EV_END && !ev->packets_received;
	return 0;
}

static uint32_t estimate(const struct dwl *w)
{
	uint32_t set = 0;
	double zeros;

	for (int i = 0; i < SCAN_SET_WORDS; i++)
		set += (uint32_t)__builtin_popcountll(w->scan_set[i]);
	if (set >= SET_BITS)
		return UINT32_MAX;	/* saturated: far above any threshold */
	zeros = (double)(SET_BITS - set);
	return (uint32_t)(-(double)SET_BITS * log(zeros / SET_BITS) + 0.5);
}

int detect_scan(struct detect *d, const struct detect_event *ev, struct dwl *w,
		uint8_t *flow_flags)
{
	uint64_t window_ns = d->cfg.scan_window_s * NS, h;
	struct policy_alert *a;
	uint8_t key[19];
	uint32_t n, bit;
	char ep[EW_IPSTR_MAX + 8], period[16];

	if (!d->cfg.scan_min_targets || (*flow_flags & FLOW_SCAN_COUNTED) ||
	    !failed_attempt(ev))
		return 0;
	*flow_flags |= FLOW_SCAN_COUNTED;
	if (!w->scan_win_start_ns || ev->now_ns < w->scan_win_start_ns ||
	    ev->now_ns - w->scan_win_start_ns >= window_ns) {
		memset(w->scan_set, 0, sizeof(w->scan_set));
		w->scan_win_start_ns = ev->now_ns;
		w->scan_failed = 0;
		w->scan_alerted = 0;
	}
	w->scan_failed++;
	memcpy(key, ev->remote_ip, 16);
	memcpy(key + 16, &ev->remote_port, 2);
	key[18] = ev->proto;
	h = ew_siphash(d->sipkey, key, sizeof(key));
	bit = (uint32_t)(h % SET_BITS);
	w->scan_set[bit / 64] |= 1ull << (bit % 64);
	n = estimate(w);
	if (w->scan_alerted || n < d->cfg.scan_min_targets)
		return 0;
	w->scan_alerted = 1;

	a = detect_alert_flow(d, DETECT_SCAN, POLICY_SEV_WARNING, ev, w);
	alert_snprintf(a->rule, sizeof(a->rule), "heuristic/scan");
	/* About the workload, not one remote: the last target is evidence. */
	memset(a->remote_ip, 0, sizeof(a->remote_ip));
	a->remote_name[0] = '\0';
	a->remote_country[0] = '\0';
	a->remote_asn = 0;
	a->bytes_sent = 0;
	alert_fmt_endpoint(ev->remote_ip, ev->proto, ev->remote_port, ep,
			   sizeof(ep));
	alert_fmt_duration(d->cfg.scan_window_s, period, sizeof(period));
	alert_snprintf(a->message, sizeof(a->message),
		       "%s failed to connect to about %u distinct address:port "
		       "targets in %s (%u failed attempts; the latest %s): a port "
		       "scan or a network sweep", detect_wl_display(w),
		       n == UINT32_MAX ? SET_BITS : n, period, w->scan_failed, ep);
	ew_buf_printf(&d->ev, "{\"distinct_targets\":%u,\"failed_attempts\":%u,"
		      "\"window_s\":%llu,\"min_targets\":%u,\"latest\":\"%s\","
		      "\"flow_id\":%llu}",
		      n == UINT32_MAX ? SET_BITS : n, w->scan_failed,
		      (unsigned long long)d->cfg.scan_window_s,
		      d->cfg.scan_min_targets, ep,
		      (unsigned long long)ev->flow_id);
	detect_emit(d, w, "", 0, 0);
	return 1;
}
