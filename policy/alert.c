/*
 * alert.c - the alert model's small parts: severity and detector names,
 * the text pieces every message is built from (bytes, durations, endpoints,
 * "(name, country, ASN)"), dedup keys, and the alert as a JSON object.
 *
 * Messages are read by a tired on-call engineer, so the pieces say things
 * the way a person would ("4.8 MiB", "5m", "203.0.113.66:6379
 * (sink.evil.example, NL, AS64500)") and never print an empty field.
 *
 * Dedup keys are stable across restarts (the store merges rows on them), so
 * the hash used for over-long keys has a fixed key, unlike the tables, whose
 * hashes are keyed at random against collision attacks.  A collision here
 * only merges two alert rows; it cannot grow anything.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "detect_int.h"

static const char *const severity_names[] = {"info", "warning", "critical"};
static const char *const kind_names[] = {
	"policy-violation", "listen-only-egress", "unexpected-port",
	"exfil-volume", "new-destination", "dns-tunnel", "beaconing", "scan",
};
_Static_assert(EW_ARRAY_LEN(kind_names) == DETECT__COUNT,
	       "a name for every detector");

const char *policy_severity_name(enum policy_severity s)
{
	return (unsigned)s < EW_ARRAY_LEN(severity_names) ? severity_names[s] : "info";
}

int policy_severity_parse(const char *s, enum policy_severity *out)
{
	for (unsigned i = 0; s && i < EW_ARRAY_LEN(severity_names); i++)
		if (strcasecmp(s, severity_names[i]) == 0) {
			*out = (enum policy_severity)i;
			return 0;
		}
	return -EINVAL;
}

const char *detect_kind_name(enum detect_kind k)
{
	return (unsigned)k < EW_ARRAY_LEN(kind_names) ? kind_names[k] : "unknown";
}

void alert_snprintf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!len)
		return;
	va_start(ap, fmt);
	if (vsnprintf(out, len, fmt, ap) < 0)
		out[0] = '\0';
	va_end(ap);
}

void alert_fmt_bytes(uint64_t n, char *out, size_t len)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	if (n < 1024) {
		alert_snprintf(out, len, "%llu B", (unsigned long long)n);
		return;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < EW_ARRAY_LEN(unit)) {
		v /= 1024.0;
		u++;
	}
	alert_snprintf(out, len, v < 10.0 ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

void alert_fmt_duration(uint64_t s, char *out, size_t len)
{
	if (s && s % 86400 == 0)
		alert_snprintf(out, len, "%llud", (unsigned long long)(s / 86400));
	else if (s && s % 3600 == 0)
		alert_snprintf(out, len, "%lluh", (unsigned long long)(s / 3600));
	else if (s && s % 60 == 0)
		alert_snprintf(out, len, "%llum", (unsigned long long)(s / 60));
	else
		alert_snprintf(out, len, "%llus", (unsigned long long)s);
}

int alert_proto_has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

void alert_fmt_endpoint(const uint8_t ip[16], uint8_t proto, uint16_t port,
			char *out, size_t len)
{
	char a[EW_IPSTR_MAX];
	int v4 = ew_ip_is_v4(ip);

	ew_ip_to_str(ip, a);
	if (!alert_proto_has_ports(proto))
		alert_snprintf(out, len, "%s", a);
	else if (v4)
		alert_snprintf(out, len, "%s:%u", a, port);
	else
		alert_snprintf(out, len, "[%s]:%u", a, port);
}

void alert_fmt_port(uint8_t proto, uint16_t port, char *out, size_t len)
{
	const char *pn = ew_proto_name(proto);

	if (alert_proto_has_ports(proto))
		alert_snprintf(out, len, "%s/%u", pn ? pn : "?", port);
	else if (pn)
		alert_snprintf(out, len, "%s", pn);
	else
		alert_snprintf(out, len, "proto %u", proto);
}

void alert_fmt_remote_info(const char *name, const char *country,
			   uint32_t asn, char *out, size_t len)
{
	char as[16] = "";
	const char *parts[3];
	unsigned n = 0;

	if (name && name[0])
		parts[n++] = name;
	if (country && country[0])
		parts[n++] = country;
	if (asn) {
		alert_snprintf(as, sizeof(as), "AS%u", asn);
		parts[n++] = as;
	}
	switch (n) {
	case 0: out[0] = '\0'; break;
	case 1: alert_snprintf(out, len, " (%s)", parts[0]); break;
	case 2: alert_snprintf(out, len, " (%s, %s)", parts[0], parts[1]); break;
	default:
		alert_snprintf(out, len, " (%s, %s, %s)", parts[0], parts[1],
			       parts[2]);
	}
}

void alert_dedup_key(char out[POLICY_DEDUP_MAX], const char *kind,
		     const char *workload, const char *remote, uint16_t port,
		     uint8_t proto, uint64_t window_idx)
{
	/* A fixed key on purpose: see the top of the file. */
	static const uint8_t fixed[16] = "egresswatch-ddup";
	char full[POLICY_WORKLOAD_MAX + POLICY_NAME_MAX + 96];
	int n;

	n = snprintf(full, sizeof(full), "%s|%s|%s|%u/%u|%llu", kind,
		     workload ? workload : "", remote ? remote : "", port, proto,
		     (unsigned long long)window_idx);
	if (n >= 0 && (size_t)n < POLICY_DEDUP_MAX && (size_t)n < sizeof(full)) {
		memcpy(out, full, (size_t)n + 1);
		return;
	}
	alert_snprintf(out, POLICY_DEDUP_MAX, "%s|h:%016llx|%llu", kind,
		       (unsigned long long)ew_siphash(fixed, full, strlen(full)),
		       (unsigned long long)window_idx);
}

/* ---- JSON ---------------------------------------------------------------- */

static int ip_is_zero(const uint8_t ip[16])
{
	for (int i = 0; i < 16; i++)
		if (ip[i])
			return 0;
	return 1;
}

static int str_or_null(struct ew_buf *b, const char *s)
{
	return ew_buf_json_str(b, s && s[0] ? s : NULL);
}

int policy_alert_json(const struct policy_alert *a, struct ew_buf *b)
{
	char t1[EW_TIME_STRLEN], t2[EW_TIME_STRLEN], ip[EW_IPSTR_MAX];
	const char *pn;
	char pbuf[8];

	ew_fmt_time(a->first_seen_ns, t1);
	ew_fmt_time(a->last_seen_ns, t2);
	pn = ew_proto_name(a->proto);
	if (!pn) {
		alert_snprintf(pbuf, sizeof(pbuf), "%u", a->proto);
		pn = pbuf;
	}
	ew_buf_printf(b, "{\"first_seen\":\"%s\",\"last_seen\":\"%s\","
		      "\"count\":%llu,\"severity\":", t1, t2,
		      (unsigned long long)(a->count ? a->count : 1));
	ew_buf_json_str(b, policy_severity_name(a->severity));
	ew_buf_puts(b, ",\"kind\":");
	ew_buf_json_str(b, detect_kind_name(a->kind));
	ew_buf_puts(b, ",\"rule\":");
	str_or_null(b, a->rule);
	ew_buf_puts(b, ",\"workload\":");
	str_or_null(b, a->workload);
	if (ip_is_zero(a->remote_ip)) {
		ew_buf_puts(b, ",\"remote_ip\":null,\"remote_port\":null,"
			       "\"proto\":null");
	} else {
		ew_ip_to_str(a->remote_ip, ip);
		ew_buf_printf(b, ",\"remote_ip\":\"%s\",\"remote_port\":%u,"
			      "\"proto\":", ip, a->remote_port);
		ew_buf_json_str(b, pn);
	}
	ew_buf_puts(b, ",\"remote_name\":");
	str_or_null(b, a->remote_name);
	ew_buf_puts(b, ",\"remote_country\":");
	str_or_null(b, a->remote_country);
	if (a->remote_asn)
		ew_buf_printf(b, ",\"remote_asn\":%u", a->remote_asn);
	else
		ew_buf_puts(b, ",\"remote_asn\":null");
	ew_buf_printf(b, ",\"bytes_sent\":%llu,\"message\":",
		      (unsigned long long)a->bytes_sent);
	ew_buf_json_str(b, a->message);
	ew_buf_puts(b, ",\"dedup_key\":");
	ew_buf_json_str(b, a->dedup_key);
	ew_buf_printf(b, ",\"repeat\":%s,\"occurrence\":%u,\"flow_id\":",
		      a->repeat ? "true" : "false", a->occurrence);
	if (a->flow_id)
		ew_buf_printf(b, "%llu", (unsigned long long)a->flow_id);
	else
		ew_buf_puts(b, "null");
	/* Evidence is JSON the detectors built with the same escaper; an
	 * empty one is written as null rather than trusted blindly. */
	ew_buf_puts(b, ",\"evidence\":");
	ew_buf_puts(b, a->evidence[0] == '{' ? a->evidence : "null");
	ew_buf_puts(b, "}");
	return b->toobig ? -E2BIG : 0;
}
