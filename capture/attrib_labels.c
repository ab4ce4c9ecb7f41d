/*
 * attrib_labels.c - the syntax of what sources tell the registry: namespace
 * and workload names, label keys and values, and which addresses can belong
 * to a workload at all; and the bounded label set itself.
 *
 * Two strengths of label check: Kubernetes' own rules (qualified-name keys,
 * 63-byte values of [A-Za-z0-9._-]) for the inventory, whose author we can
 * tell to fix a typo, and a looser one for API sources, whose labels the API
 * server (or Docker, which allows any string) has already accepted and which
 * we only need to keep printable and bounded.
 */
#include <errno.h>
#include <string.h>

#include "attrib.h"
#include "util.h"

int attrib_ip_ignored(const uint8_t ip[16])
{
	static const uint8_t zero[16], loop6[16] = {[15] = 1};

	if (ew_ip_is_v4(ip)) {
		const uint8_t *v4 = ip + 12;

		return v4[0] == 0 || v4[0] == 127 || v4[0] >= 224 ||
		       (v4[0] == 169 && v4[1] == 254);
	}
	return memcmp(ip, zero, 16) == 0 || memcmp(ip, loop6, 16) == 0 ||
	       ip[0] == 0xff || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80);
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

int attrib_namespace_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= ATTRIB_NS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (c == '-' && i > 0 && i < n - 1)))
			return 0;
	}
	return 1;
}

int attrib_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= ATTRIB_NAME_MAX || !is_alnum(s[0]) ||
	    !is_alnum(s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return 0;
	return 1;
}

/* Kubernetes "name" part: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, <= 63. */
static int k8s_name_part(const char *s, size_t n, int allow_empty)
{
	if (n == 0)
		return allow_empty;
	if (n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

/* DNS subdomain: lowercase labels of [a-z0-9-] joined by '.', <= 253. */
static int dns_subdomain(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int edge = i == 0 || i == n - 1 || s[i - 1] == '.' ||
			   s[i + 1] == '.';

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if ((c == '-' || c == '.') && !edge)
			continue;
		return 0;
	}
	return 1;
}

int attrib_label_valid(const char *key, const char *value, int strict)
{
	size_t kl = strlen(key), vl = strlen(value);

	if (strict) {
		const char *slash = strchr(key, '/');

		if (slash && !dns_subdomain(key, (size_t)(slash - key)))
			return 0;
		if (slash)
			key = slash + 1;
		return k8s_name_part(key, strlen(key), 0) &&
		       k8s_name_part(value, vl, 1);
	}
	if (kl == 0 || kl >= ATTRIB_LABEL_KEY_MAX || vl >= ATTRIB_LABEL_VALUE_MAX)
		return 0;
	for (size_t i = 0; i < kl; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c <= 0x20 || c >= 0x7f || c == '=' || c == ',' ||
		    c == '"' || c == '\\')
			return 0;
	}
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return 0;
	return 1;
}

const char *attrib_labels_get(const struct attrib_labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(attrib_label_key(l, i), key) == 0)
			return attrib_label_value(l, i);
	return NULL;
}

int attrib_labels_add(struct attrib_labels *l, const char *key,
		      const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);

	if (!attrib_label_valid(key, value, 0))
		return -EINVAL;
	if (attrib_labels_get(l, key))
		return 0;
	if (l->n >= ATTRIB_MAX_LABELS ||
	    sizeof(l->text) - l->used < kl + vl + 2) {
		l->truncated = 1;
		return -ENOSPC;
	}
	l->at[l->n].key = l->used;
	memcpy(l->text + l->used, key, kl + 1);
	l->used = (uint16_t)(l->used + kl + 1);
	l->at[l->n].value = l->used;
	memcpy(l->text + l->used, value, vl + 1);
	l->used = (uint16_t)(l->used + vl + 1);
	l->n++;
	return 0;
}
