/*
 * detect_volume.c - exfil-volume: bytes a workload sends to addresses
 * outside the cluster, over a sliding window, against its budget and
 * against its own normal.
 *
 * Every flow event carries the bytes sent since the flow's previous event
 * (capture emits an UPDATE about once a second while a flow is active), and
 * every event is evaluated, so a transfer over one long connection is caught
 * while it runs: the alert comes on the first event whose window total is
 * over the threshold, at most one update interval after the crossing.
 *
 * What counts.  Bytes sent to outside addresses on connections the workload
 * opened (egress).  When the policy gives the workload a budget, bytes it
 * sends on connections opened *to* it count as well: the budget is the
 * operator's statement about everything leaving.  Without one, the default
 * budget counts egress only, because a public web server sends gigabytes to
 * its clients and that is not exfiltration.
 *
 * Thresholds.  The budget (policy, else detect_config's default), and once
 * the workload has `exfil_baseline_windows` completed windows of history,
 * also factor x its p95 per window (but never below the floor); the lower
 * of the two applies.  The p95 comes from a histogram of completed
 * (tumbling) windows with power-of-two bins, so it is exact to a factor of
 * two - plenty next to a factor of ten.
 *
 * Alerts.  The workload's total over the window crossing the threshold
 * raises one alert naming its largest outside remote; one remote alone
 * crossing it raises one alert for that remote.  Each at most once per
 * window: a workload that keeps sending at that rate raises again once a
 * window, and the repeats merge under the dedup key in the store.
 */
#include <string.h>

#include "detect_int.h"

#define NS 1000000000ull

/* ---- sliding windows ----------------------------------------------------- */

void vring_reset(struct vring *r, uint64_t window_ns, uint64_t now_ns)
{
	uint64_t bw = window_ns / VRING_BUCKETS ? window_ns / VRING_BUCKETS : 1;

	memset(r, 0, sizeof(*r));
	r->window_ns = window_ns;
	r->last_idx = now_ns / bw;
}

/* Move the window to `now_ns`, emptying the buckets that fell out.  A clock
 * that went backwards leaves it where it is (the bytes land in the newest
 * bucket). */
static void vring_advance(struct vring *r, uint64_t now_ns)
{
	uint64_t bw = r->window_ns / VRING_BUCKETS ? r->window_ns / VRING_BUCKETS : 1;
	uint64_t idx = now_ns / bw, steps;

	if (idx <= r->last_idx)
		return;
	steps = idx - r->last_idx;
	if (steps >= VRING_BUCKETS) {
		memset(r->b, 0, sizeof(r->b));
		r->sum = 0;
	} else {
		for (uint64_t k = 1; k <= steps; k++) {
			uint64_t *b = &r->b[(r->last_idx + k) % VRING_BUCKETS];
			r->sum -= *b;
			*b = 0;
		}
	}
	r->last_idx = idx;
}

uint64_t vring_add(struct vring *r, uint64_t window_ns, uint64_t now_ns,
		   uint64_t bytes)
{
	if (r->window_ns != window_ns)
		vring_reset(r, window_ns, now_ns);
	vring_advance(r, now_ns);
	r->b[r->last_idx % VRING_BUCKETS] += bytes;
	r->sum += bytes;
	return r->sum;
}

/* ---- learned normal --------------------------------------------------------- */

static unsigned bin_of(uint64_t bytes)
{
	unsigned b = 0;

	while (bytes && b + 1 < VHIST_BINS) {
		bytes >>= 1;
		b++;
	}
	return b;			/* 0: nothing; b: [2^(b-1), 2^b) */
}

static void hist_add(struct dwl *w, unsigned bin, uint64_t n)
{
	/* Halve everything when the history gets long, so the normal
	 * follows a workload that changes (about a month at 5 min). */
	if (w->vhist_n + n > 10000) {
		w->vhist_n = 0;
		for (unsigned i = 0; i < VHIST_BINS; i++) {
			w->vhist[i] /= 2;
			w->vhist_n += w->vhist[i];
		}
	}
	if (n > 10000)
		n = 10000;
	w->vhist[bin] += (uint32_t)n;
	w->vhist_n += (uint32_t)n;
}

/* Close the tumbling windows that ended before now (the quiet ones in
 * between count as empty windows), then add `bytes` to the current one. */
static void learn(struct dwl *w, uint64_t window_ns, uint64_t now_ns,
		  uint64_t bytes)
{
	if (w->vwin_ns != window_ns) {
		w->vwin_ns = window_ns;
		w->vwin_start_ns = now_ns - now_ns % window_ns;
		w->vwin_bytes = 0;
		memset(w->vhist, 0, sizeof(w->vhist));
		w->vhist_n = 0;
	}
	if (now_ns >= w->vwin_start_ns + window_ns) {
		uint64_t skipped = (now_ns - w->vwin_start_ns) / window_ns - 1;

		hist_add(w, bin_of(w->vwin_bytes), 1);
		if (skipped)
			hist_add(w, 0, skipped);
		w->vwin_start_ns = now_ns - now_ns % window_ns;
		w->vwin_bytes = 0;
	}
	w->vwin_bytes += bytes;
}

/* Upper edge of the bin holding the 95th percentile, or 0. */
static uint64_t p95(const struct dwl *w)
{
	uint64_t want = ((uint64_t)w->vhist_n * 95 + 99) / 100, acc = 0;

	for (unsigned i = 0; i < VHIST_BINS; i++) {
		acc += w->vhist[i];
		if (acc >= want)
			return i == 0 ? 0 : 1ull << i;
	}
	return 1ull << (VHIST_BINS - 1);
}

/* ---- the detector ------------------------------------------------------------- */

struct thr {
	uint64_t bytes, window_s;
	int baseline;			/* 1: the learned normal set it */
	int explicit_budget;
	uint64_t budget, p95;
};

static struct dremote *top_remote(struct detect *d, uint32_t owner,
				  uint64_t now_ns, uint64_t window_ns,
				  const struct dremote *fallback)
{
	struct dremote *r = NULL, *best = NULL;

	while ((r = dtab_owner_next(&d->remotes, owner, r))) {
		if (r->ring.window_ns != window_ns)
			continue;
		vring_add(&r->ring, window_ns, now_ns, 0);
		if (!best || r->ring.sum > best->ring.sum)
			best = r;
	}
	return best ? best : (struct dremote *)fallback;
}

static void evidence_remotes(struct detect *d, uint32_t owner)
{
	struct ew_buf *b = &d->ev;
	const struct dremote *r = NULL, *top[5] = {0}, *tmp;
	char ip[EW_IPSTR_MAX];
	unsigned n = 0, i;

	/* The five largest (top_remote() brought every sum up to date). */
	while ((r = dtab_owner_next(&d->remotes, owner, r))) {
		if (n < 5)
			i = n++;
		else if (r->ring.sum > top[4]->ring.sum)
			i = 4;
		else
			continue;
		top[i] = r;
		for (; i > 0 && top[i - 1]->ring.sum < top[i]->ring.sum; i--) {
			tmp = top[i - 1];
			top[i - 1] = top[i];
			top[i] = tmp;
		}
	}
	ew_buf_puts(b, ",\"top_remotes\":[");
	for (i = 0; i < n; i++) {
		ew_ip_to_str(dtab_key(&d->remotes, top[i]), ip);
		ew_buf_printf(b, "%s{\"ip\":\"%s\",\"port\":%u,\"proto\":%u,"
			      "\"bytes\":%llu,\"name\":", i ? "," : "", ip,
			      top[i]->port, top[i]->proto,
			      (unsigned long long)top[i]->ring.sum);
		ew_buf_json_str(b, top[i]->name[0] ? top[i]->name : NULL);
		ew_buf_puts(b, "}");
	}
	ew_buf_puts(b, "]");
}

static int raise_volume(struct detect *d, const struct detect_event *ev,
		 struct dwl *w, struct dremote *r, const struct thr *t,
		 uint64_t total, int whole_workload)
{
	struct policy_alert *a;
	char ep[EW_IPSTR_MAX + 8], info[POLICY_NAME_MAX + 32];
	char sent[32], lim[32], win[16], rb[32], ip[EW_IPSTR_MAX], why[96];
	const uint8_t *rip = dtab_key(&d->remotes, r);

	a = detect_alert_flow(d, DETECT_EXFIL_VOLUME, POLICY_SEV_CRITICAL, ev, w);
	/* The alert is about the remote `r`, which need not be this event's. */
	memcpy(a->remote_ip, rip, 16);
	a->remote_port = r->port;
	a->proto = r->proto;
	a->remote_asn = r->asn;
	alert_snprintf(a->remote_country, sizeof(a->remote_country), "%s",
		       r->country);
	if (memcmp(rip, ev->remote_ip, 16) != 0)
		alert_snprintf(a->remote_name, sizeof(a->remote_name), "%s", r->name);
	a->bytes_sent = whole_workload ? total : r->ring.sum;
	/* The flow's deciding rule says nothing about volume: name what set
	 * the threshold instead. */
	if (t->baseline)
		alert_snprintf(a->rule, sizeof(a->rule), "baseline/exfil-volume");
	else if (t->explicit_budget)
		alert_snprintf(a->rule, sizeof(a->rule), "%s/budget",
			       ev->verdict->entry ? ev->verdict->entry : "policy");
	else
		alert_snprintf(a->rule, sizeof(a->rule), "builtin/exfil-budget");
	alert_fmt_endpoint(rip, r->proto, r->port, ep, sizeof(ep));
	alert_fmt_remote_info(a->remote_name, a->remote_country, a->remote_asn,
			      info, sizeof(info));
	alert_fmt_bytes(total, sent, sizeof(sent));
	alert_fmt_bytes(t->bytes, lim, sizeof(lim));
	alert_fmt_bytes(r->ring.sum, rb, sizeof(rb));
	alert_fmt_duration(t->window_s, win, sizeof(win));
	if (t->baseline) {
		char p[32];
		alert_fmt_bytes(t->p95, p, sizeof(p));
		alert_snprintf(why, sizeof(why), "over %u x its usual %s per %s",
			       d->cfg.exfil_baseline_factor, p, win);
	} else {
		alert_snprintf(why, sizeof(why), "%sbudget %s per %s",
			       t->explicit_budget ? "" : "default ", lim, win);
	}
	if (whole_workload)
		alert_snprintf(a->message, sizeof(a->message),
			       "%s sent %s to outside addresses in the last %s (%s); "
			       "most of it to %s%s: %s", detect_wl_display(w), sent,
			       win, why, ep, info, rb);
	else
		alert_snprintf(a->message, sizeof(a->message),
			       "%s sent %s to %s%s in the last %s (%s)",
			       detect_wl_display(w), rb, ep, info, win, why);
	ew_ip_to_str(rip, ip);
	ew_buf_printf(&d->ev, "{\"scope\":\"%s\",\"window_s\":%llu,"
		      "\"window_bytes\":%llu,\"remote_window_bytes\":%llu,"
		      "\"threshold_bytes\":%llu,\"basis\":\"%s\","
		      "\"budget_bytes\":%llu,\"explicit_budget\":%s,"
		      "\"baseline_p95_bytes\":%llu,\"baseline_windows\":%u,"
		      "\"flow_id\":%llu,\"flow_bytes_sent\":%llu",
		      whole_workload ? "workload" : "remote",
		      (unsigned long long)t->window_s, (unsigned long long)total,
		      (unsigned long long)r->ring.sum, (unsigned long long)t->bytes,
		      t->baseline ? "baseline" : "budget",
		      (unsigned long long)t->budget,
		      t->explicit_budget ? "true" : "false",
		      (unsigned long long)t->p95, w->vhist_n,
		      (unsigned long long)ev->flow_id,
		      (unsigned long long)ev->bytes_sent);
	evidence_remotes(d, detect_wl_index(d, w));
	ew_buf_puts(&d->ev, "}");
	detect_emit(d, w, whole_workload ? "*" : ip, r->port, r->proto);
	return 1;
}

int detect_volume(struct detect *d, const struct detect_event *ev,
		  struct dwl *w)
{
	const struct policy_result *pr = ev->verdict;
	struct thr t = {0};
	struct dremote *r;
	uint64_t window_ns, total, now = ev->now_ns;
	uint32_t wi;
	int created, n = 0;

	if (!ev->dbytes_sent || !ev->remote_outside)
		return 0;
	t.explicit_budget = pr && pr->has_budget && pr->budget_bytes &&
			    pr->budget_window_s;
	if (ev->direction == POLICY_INGRESS && !t.explicit_budget)
		return 0;
	t.budget = t.explicit_budget ? pr->budget_bytes : d->cfg.exfil_budget_bytes;
	t.window_s = t.explicit_budget ? pr->budget_window_s : d->cfg.exfil_window_s;
	t.bytes = t.budget;
	window_ns = t.window_s * NS;

	wi = detect_wl_index(d, w);
	r = dtab_get(&d->remotes, wi, ev->remote_ip, &created);
	if (created || r->ring.window_ns != window_ns)
		vring_reset(&r->ring, window_ns, now);
	r->port = ev->remote_port;
	r->proto = ev->proto;
	r->asn = ev->remote_asn;
	/* Every event comes here: copies, not formats. */
	ew_strcpy_cut(r->country, sizeof(r->country),
		      ev->remote_country ? ev->remote_country : "");
	if (ev->remote_name && ev->remote_name[0])
		ew_strcpy_cut(r->name, sizeof(r->name), ev->remote_name);
	vring_add(&r->ring, window_ns, now, ev->dbytes_sent);
	if (w->total.window_ns != window_ns)
		vring_reset(&w->total, window_ns, now);
	total = vring_add(&w->total, window_ns, now, ev->dbytes_sent);

	learn(w, window_ns, now, ev->dbytes_sent);
	if (d->cfg.exfil_baseline_factor &&
	    w->vhist_n >= d->cfg.exfil_baseline_windows) {
		uint64_t b;

		t.p95 = p95(w);
		b = t.p95 * d->cfg.exfil_baseline_factor;
		if (b < d->cfg.exfil_baseline_floor)
			b = d->cfg.exfil_baseline_floor;
		if (b < t.bytes) {
			t.bytes = b;
			t.baseline = 1;
		}
	}

	if (total > t.bytes && now >= w->total_alert_until_ns) {
		struct dremote *top = top_remote(d, wi, now, window_ns, r);

		w->total_alert_until_ns = now + window_ns;
		/* The remote named here is not alerted on again alone. */
		top->alert_until_ns = now + window_ns;
		n += raise_volume(d, ev, w, top, &t, total, 1);
	} else if (r->ring.sum > t.bytes && now >= r->alert_until_ns) {
		top_remote(d, wi, now, window_ns, r);
		r->alert_until_ns = now + window_ns;
		n += raise_volume(d, ev, w, r, &t, total, 0);
	} else if (total > t.bytes) {
		CNT(d->suppressed);	/* still over, already reported */
	}
	return n;
}
