/*
 * detect_beacon.c - beaconing: a workload connecting to one outside
 * destination (address, port, protocol) at regular intervals, the way
 * implants call home.
 *
 * For each series the start times of the last BEACON_KEEP connections are
 * kept.  Once there are beacon_min_conns of them, the gaps between
 * consecutive starts are measured: a coefficient of variation (standard
 * deviation / mean) below beacon_max_cv with a mean between
 * beacon_min_period_s and beacon_max_period_s is a beacon.  Human and
 * request-driven traffic is bursty (CV near or above 1); a timer is not.
 *
 * What it cannot see, by construction: beacons with heavy jitter (an
 * implant configured with 50% jitter has a CV near 0.3 - documented), and
 * a beacon faster than the flow table's idle timeout over UDP, which is one
 * long flow rather than many (the volume and DNS detectors see those).
 * Only connections the workload opens to outside addresses count; NTP
 * (udp/123) is a timer by design and is skipped; a destination the policy
 * explicitly allows is expected and is skipped.
 *
 * One alert per series per dedup window.
 */
#include <math.h>
#include <string.h>

#include "detect_int.h"

#define NS 1000000000ull

struct beaconkey {
	uint8_t ip[16];
	uint16_t port;
	uint8_t proto;
	uint8_t pad;
};

int detect_beacon(struct detect *d, const struct detect_event *ev,
		  struct dwl *w, int quiet)
{
	struct beaconkey k;
	struct dbeacon *b;
	uint64_t last, gaps[BEACON_KEEP];
	double mean = 0, var = 0, cv;
	uint32_t n, i;
	struct policy_alert *a;
	char remote[512], per[32], ip[EW_IPSTR_MAX];

	if (ev->direction != POLICY_EGRESS || !ev->remote_outside ||
	    detect_explicit_allow(ev) || (ev->proto == 17 && ev->remote_port == 123))
		return 0;
	memset(&k, 0, sizeof(k));
	memcpy(k.ip, ev->remote_ip, 16);
	k.port = ev->remote_port;
	k.proto = ev->proto;
	b = dtab_get(&d->beacons, detect_wl_index(d, w), &k, NULL);

	/* A start at or before the newest one kept is the same connection
	 * seen again (its flow state was evicted) or a reordered event. */
	last = b->n ? b->start[(b->head + BEACON_KEEP - 1) % BEACON_KEEP] : 0;
	if (b->n && ev->first_ns <= last)
		return 0;
	b->start[b->head] = ev->first_ns;
	b->head = (b->head + 1) % BEACON_KEEP;
	if (b->n < BEACON_KEEP)
		b->n++;
	if (quiet || b->n < d->cfg.beacon_min_conns)
		return 0;

	/* Gaps between the kept starts, oldest first. */
	n = b->n - 1;
	for (i = 0; i < n; i++) {
		uint32_t at = (b->head + BEACON_KEEP - b->n + i) % BEACON_KEEP;
		gaps[i] = b->start[(at + 1) % BEACON_KEEP] - b->start[at];
		mean += (double)gaps[i];
	}
	mean /= n;
	for (i = 0; i < n; i++)
		var += ((double)gaps[i] - mean) * ((double)gaps[i] - mean);
	var /= n;
	cv = mean > 0 ? sqrt(var) / mean : 1.0;
	if (cv >= d->cfg.beacon_max_cv ||
	    mean < (double)d->cfg.beacon_min_period_s * NS ||
	    mean > (double)d->cfg.beacon_max_period_s * NS)
		return 0;
	if (ev->now_ns < b->alert_until_ns) {
		CNT(d->suppressed);		/* reported this dedup window */
		return 0;
	}

	b->alert_until_ns = ev->now_ns + d->cfg.dedup_window_s * NS;
	a = detect_alert_flow(d, DETECT_BEACONING, POLICY_SEV_WARNING, ev, w);
	alert_snprintf(a->rule, sizeof(a->rule), "heuristic/beaconing");
	{
		char ep[EW_IPSTR_MAX + 8], info[POLICY_NAME_MAX + 32];
		alert_fmt_endpoint(ev->remote_ip, ev->proto, ev->remote_port, ep,
				   sizeof(ep));
		alert_fmt_remote_info(ev->remote_name, ev->remote_country,
				      ev->remote_asn, info, sizeof(info));
		alert_snprintf(remote, sizeof(remote), "%s%s", ep, info);
	}
	if (mean >= 120.0 * NS)
		alert_snprintf(per, sizeof(per), "%.1f min", mean / (60.0 * NS));
	else
		alert_snprintf(per, sizeof(per), "%.1f s", mean / NS);
	alert_snprintf(a->message, sizeof(a->message),
		       "%s connects to %s every %s like clockwork (%u connections, "
		       "intervals vary by %.1f%%): possible beaconing",
		       detect_wl_display(w), remote, per, b->n, cv * 100.0);
	ew_ip_to_str(ev->remote_ip, ip);
	ew_buf_printf(&d->ev, "{\"connections\":%u,\"mean_interval_s\":%.3f,"
		      "\"cv\":%.4f,\"max_cv\":%.4f,\"intervals_s\":[",
		      b->n, mean / NS, cv, d->cfg.beacon_max_cv);
	for (i = 0; i < n; i++)
		ew_buf_printf(&d->ev, "%s%.3f", i ? "," : "", (double)gaps[i] / NS);
	ew_buf_printf(&d->ev, "],\"flow_id\":%llu}", (unsigned long long)ev->flow_id);
	detect_emit(d, w, ip, ev->remote_port, ev->proto);
	return 1;
}
