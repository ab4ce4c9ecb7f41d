/*
 * addr.c - IP addresses in the one 16-byte form used everywhere (IPv4 as
 * ::ffff:a.b.c.d), their text form, and CIDR blocks as [lo, hi] ranges so a
 * block test is two memcmp()s and a database filter is an index range.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void ew_ip_from_v4(uint8_t out[16], const uint8_t v4[4])
{
	memcpy(out, v4_prefix, 12);
	memcpy(out + 12, v4, 4);
}

int ew_ip_is_v4(const uint8_t ip[16])
{
	return memcmp(ip, v4_prefix, 12) == 0;
}

void ew_ip_to_str(const uint8_t ip[16], char out[EW_IPSTR_MAX])
{
	if (ew_ip_is_v4(ip)) {
		/* By hand: the pipeline formats an address per flow event,
		 * and snprintf costs several times this. */
		char *o = out;

		for (int i = 12; i < 16; i++) {
			unsigned v = ip[i];

			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
			*o++ = i < 15 ? '.' : '\0';
		}
		return;
	}
	if (!inet_ntop(AF_INET6, ip, out, EW_IPSTR_MAX))
		snprintf(out, EW_IPSTR_MAX, "?");
}

void ew_strcpy_cut(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int ew_ip_parse(const char *s, uint8_t out[16])
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, s, v4) == 1) {
		ew_ip_from_v4(out, v4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1)
		return 0;
	return -EINVAL;
}

int ew_cidr_parse(const char *s, struct ew_cidr *out)
{
	char addr[EW_IPSTR_MAX + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	uint8_t ip[16];
	int v4;

	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (ew_ip_parse(addr, ip))
		return -EINVAL;
	v4 = strchr(addr, ':') == NULL;
	if (slash) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		plen = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || plen > (v4 ? 32u : 128u))
			return -EINVAL;
	} else {
		plen = v4 ? 32 : 128;
	}
	if (v4)
		plen += 96;
	out->prefix = (uint8_t)plen;
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = plen >= 8 * (i + 1) ? 8 :
				plen <= 8 * i ? 0 : plen - 8 * i;
		uint8_t mask = (uint8_t)(bits ? 0xff << (8 - bits) : 0);
		out->lo[i] = ip[i] & mask;
		out->hi[i] = (uint8_t)(ip[i] | (uint8_t)~mask);
	}
	return 0;
}

int ew_cidr_contains(const struct ew_cidr *c, const uint8_t ip[16])
{
	return memcmp(ip, c->lo, 16) >= 0 && memcmp(ip, c->hi, 16) <= 0;
}

static const struct {
	uint8_t num;
	const char *name;
} protos[] = {
	{1, "icmp"}, {2, "igmp"}, {4, "ipip"}, {6, "tcp"}, {17, "udp"},
	{41, "ipv6"}, {47, "gre"}, {50, "esp"}, {51, "ah"}, {58, "ipv6-icmp"},
	{89, "ospf"}, {103, "pim"}, {112, "vrrp"}, {132, "sctp"},
	{136, "udplite"},
};

const char *ew_proto_name(uint8_t proto)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(protos); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	return NULL;
}

int ew_proto_parse(const char *s, uint8_t *out)
{
	char *end;
	unsigned long v;

	for (size_t i = 0; i < EW_ARRAY_LEN(protos); i++)
		if (strcmp(protos[i].name, s) == 0) {
			*out = protos[i].num;
			return 0;
		}
	if (strcmp(s, "icmpv6") == 0 || strcmp(s, "icmp6") == 0) {
		*out = 58;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > 255)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}
