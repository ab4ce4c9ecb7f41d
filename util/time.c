/*
 * time.c - clocks, RFC 3339 formatting and parsing of the time, duration and
 * size arguments users type on the command line and in query strings.
 * Parsers accept only what they document and reject the rest with -EINVAL:
 * they never read past the string and never overflow.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

uint64_t ew_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ew_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ew_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ew_fmt_time(uint64_t ns, char out[EW_TIME_STRLEN])
{
	time_t secs = (time_t)(ns / 1000000000ull);
	unsigned usec = (unsigned)(ns % 1000000000ull / 1000u);
	struct tm tm;

	if (!gmtime_r(&secs, &tm)) {
		snprintf(out, EW_TIME_STRLEN, "invalid");
		return;
	}
	size_t n = strftime(out, EW_TIME_STRLEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, EW_TIME_STRLEN - n, ".%06uZ", usec % 1000000u);
}

/* Read exactly `n` digits at *p into *out; advance on success only. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int parse_rfc3339(const char *s, uint64_t *out_ns)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	uint64_t frac = 0;
	int64_t off = 0;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970)
		return -EINVAL;
	if (*p == '\0')
		goto done;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &sec))
			return -EINVAL;
		if (*p == '.') {
			uint64_t scale = 100000000ull;
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			for (; isdigit((unsigned char)*p); p++) {
				frac += (uint64_t)(*p - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return -EINVAL;
		off = sign * (int64_t)(oh * 3600 + om * 60);
	} else if (*p != '\0') {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
done:;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
		       h * 3600 + mi * 60 + sec - off;
	if (secs < 0)
		return -EINVAL;
	*out_ns = (uint64_t)secs * 1000000000ull + frac;
	return 0;
}

int ew_parse_duration(const char *s, uint64_t *out_s)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0': break;
	case 's': mul = 1; p++; break;
	case 'm': mul = 60; p++; break;
	case 'h': mul = 3600; p++; break;
	case 'd': mul = 86400; p++; break;
	case 'w': mul = 7 * 86400; p++; break;
	default: return -EINVAL;
	}
	if (*p != '\0' || v > UINT64_MAX / mul / 1000000000ull)
		return -EINVAL;
	*out_s = v * mul;
	return 0;
}

int ew_parse_size(const char *s, uint64_t *out_bytes)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0': break;
	case 'k': case 'K': mul = 1ull << 10; p++; break;
	case 'm': case 'M': mul = 1ull << 20; p++; break;
	case 'g': case 'G': mul = 1ull << 30; p++; break;
	case 't': case 'T': mul = 1ull << 40; p++; break;
	default: return -EINVAL;
	}
	if (*p == 'i' && mul > 1)
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p != '\0' || v > UINT64_MAX / mul)
		return -EINVAL;
	*out_bytes = v * mul;
	return 0;
}

int ew_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '-') {
		uint64_t secs;
		if (ew_parse_duration(s + 1, &secs))
			return -EINVAL;
		if (secs > now_ns / 1000000000ull)
			return -EINVAL;
		*out_ns = now_ns - secs * 1000000000ull;
		return 0;
	}
	size_t n = strspn(s, "0123456789");
	if (n > 0 && s[n] == '\0') {
		/* Only digits: Unix seconds (a date always has dashes). */
		uint64_t v = 0;
		if (n > 11)
			return -EINVAL;
		for (const char *p = s; *p; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		*out_ns = v * 1000000000ull;
		return 0;
	}
	return parse_rfc3339(s, out_ns);
}
