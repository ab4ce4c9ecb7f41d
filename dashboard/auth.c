/*
 * auth.c - who may use the dashboard, and protection of its one mutating
 * action against cross-site requests.
 *
 * Without a token file (allowed on loopback only) anyone who can reach the
 * socket may read; that is the same trust as the database file itself.  Two
 * browser attacks remain, and both are closed here:
 *   - DNS rebinding: a hostile page whose name resolves to 127.0.0.1 would be
 *     "same origin" with us and could read the API.  Without a login, the
 *     Host header must name a loopback address or "localhost" (403 else).
 *   - CSRF: a hostile page can POST to 127.0.0.1 blindly.  Mutations need a
 *     token in the X-CSRF-Token header, which only a same-origin script can
 *     read (from /api/session) and send (a custom header from another origin
 *     needs a CORS preflight, which we never grant), plus a same-origin
 *     Origin / Sec-Fetch-Site when the browser sends them.
 *
 * With a token file, a request proves itself with "Authorization: Bearer
 * TOKEN" (scripts, Prometheus) or the session cookie from the login page
 * (HttpOnly, SameSite=Strict, random 256-bit id kept in memory, 12 hours).
 * Tokens and session ids are compared in constant time; failed logins are
 * limited to DASH_LOGIN_FAILS_PER_MIN a minute for the whole server.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dash_int.h"

#define COOKIE "ew_session"

int dash_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char *x = a, *y = b;
	size_t n = alen > blen ? alen : blen;
	unsigned char diff = alen != blen;

	/* Walk the longer length either way, reading the shorter one modulo
	 * its length, so the time depends on lengths only. */
	for (size_t i = 0; i < n; i++) {
		unsigned char cx = alen ? x[i % alen] : 0;
		unsigned char cy = blen ? y[i % blen] : 0;

		diff |= cx ^ cy;
	}
	return diff == 0;
}

static int random_hex(char out[65])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[32];

	if (ew_random_bytes(r, sizeof(r)))
		return -EIO;
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[64] = '\0';
	explicit_bzero(r, sizeof(r));
	return 0;
}

static int read_token(struct dashboard *d, const char *path, char *err,
		      size_t errlen)
{
	char buf[DASH_TOKEN_MAX + 3];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "dashboard: token file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
		log_warnx("dashboard: token file %s is readable by other "
			  "users (mode %03o); chmod 600 it", path,
			  (unsigned)(st.st_mode & 0777));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "dashboard: token file %s: %s", path,
			 strerror(errno));
		return -EIO;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	if (buf[len] == '\0' && (size_t)n == sizeof(buf) - 1)
		len = sizeof(buf);	/* no line end within the cap */
	else
		buf[len] = '\0';
	if (len < DASH_TOKEN_MIN || len > DASH_TOKEN_MAX) {
		snprintf(err, errlen, "dashboard: token file %s: the token "
			 "(first line) must be %d to %d characters", path,
			 DASH_TOKEN_MIN, DASH_TOKEN_MAX);
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (buf[i] <= ' ' || buf[i] > '~') {
			snprintf(err, errlen, "dashboard: token file %s: the "
				 "token may only hold printable ASCII without "
				 "spaces", path);
			explicit_bzero(buf, sizeof(buf));
			return -EINVAL;
		}
	}
	memcpy(d->token, buf, len);
	d->token[len] = '\0';
	d->token_len = len;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int dash_auth_init(struct dashboard *d, const char *token_file, char *err,
		   size_t errlen)
{
	if (random_hex(d->open_csrf)) {
		snprintf(err, errlen, "dashboard: no random numbers");
		return -EIO;
	}
	if (!token_file)
		return 0;
	if (read_token(d, token_file, err, errlen))
		return -EINVAL;
	d->auth_required = 1;
	return 0;
}

int dash_path_is_public(const char *path)
{
	/* /favicon.ico: browsers ask for it by themselves (404 anyway). */
	if (strcmp(path, "/login") == 0 || strcmp(path, "/healthz") == 0 ||
	    strcmp(path, "/favicon.ico") == 0)
		return 1;
	/* The UI's files are the same for everyone and hold no data; the
	 * login page needs its style and script before anyone is in. */
	return strcmp(path, "/index.html") != 0 && dash_asset_find(path);
}

/* Without a login: is the Host header one of ours (loopback)? */
static int host_is_loopback(const char *host)
{
	char h[80];
	size_t n;

	if (!host)
		return 1;	/* HTTP/1.0 without Host: not a browser */
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		return close && (size_t)(close - host) == 4 &&
		       strncmp(host, "[::1]", 5) == 0 &&
		       (close[1] == '\0' || close[1] == ':');
	}
	n = strcspn(host, ":");
	if (n >= sizeof(h))
		return 0;
	memcpy(h, host, n);
	h[n] = '\0';
	if (strcasecmp(h, "localhost") == 0)
		return 1;
	if (strncmp(h, "127.", 4) == 0) {
		uint8_t ip[16];

		return ew_ip_parse(h, ip) == 0;
	}
	return 0;
}

static struct dash_session *find_session(struct dashboard *d, const char *id)
{
	struct dash_session *hit = NULL;
	uint64_t now = ew_mono_ns();
	size_t idlen = strnlen(id, 65);

	/* Every slot is compared, hit or not, in constant time each. */
	for (size_t i = 0; i < DASH_SESSIONS_MAX; i++) {
		struct dash_session *s = &d->sessions[i];
		int eq = dash_ct_equal(s->id, 64, id, idlen);

		if (s->id[0] && eq && s->expires_mono > now)
			hit = s;
	}
	return hit;
}

static enum MHD_Result unauthorized(struct dash_req *q)
{
	struct ew_buf b;
	const char *hdrs[] = {"WWW-Authenticate",
			      "Bearer realm=\"egresswatch\"", NULL};

	atomic_fetch_add(&q->d->auth_failures, 1);
	if (!q->post && (strcmp(q->url, "/") == 0 ||
			 strcmp(q->url, "/index.html") == 0)) {
		const char *loc[] = {"Location", "/login", NULL};

		dash_buf(&b);
		return dash_send_hdrs(q, 303, "text/plain; charset=utf-8", &b,
				      "no-store", loc);
	}
	dash_buf(&b);
	ew_buf_puts(&b, "{\"error\":\"authentication required: "
		    "Authorization: Bearer TOKEN, or log in at /login\","
		    "\"status\":401}\n");
	return dash_send_hdrs(q, 401, "application/json; charset=utf-8", &b,
			      "no-store", hdrs);
}

int dash_auth_check(struct dash_req *q, enum MHD_Result *ret)
{
	struct dashboard *d = q->d;
	const char *authz, *cookie;

	if (!d->auth_required) {
		const char *host = MHD_lookup_connection_value(
			q->c, MHD_HEADER_KIND, "Host");

		if (!host_is_loopback(host)) {
			atomic_fetch_add(&d->csrf_rejected, 1);
			*ret = dash_error(q, 403, "Host header is not a loopback "
					  "name: refused (DNS rebinding "
					  "protection); use 127.0.0.1 or "
					  "localhost, or set a token");
			return 0;
		}
		q->auth = DASH_AUTH_OPEN;
		memcpy(q->csrf, d->open_csrf, sizeof(q->csrf));
		return 1;
	}
	authz = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND,
					    "Authorization");
	if (authz) {
		size_t n = strlen(authz);

		if (n > 7 && strncasecmp(authz, "Bearer ", 7) == 0 &&
		    dash_ct_equal(authz + 7, n - 7, d->token, d->token_len)) {
			q->auth = DASH_AUTH_BEARER;
			return 1;
		}
		*ret = unauthorized(q);	/* a wrong token is never "public" */
		return 0;
	}
	cookie = MHD_lookup_connection_value(q->c, MHD_COOKIE_KIND, COOKIE);
	if (cookie) {
		struct dash_session *s;

		pthread_mutex_lock(&d->smu);
		s = find_session(d, cookie);
		if (s) {
			q->auth = DASH_AUTH_SESSION;
			memcpy(q->csrf, s->csrf, sizeof(q->csrf));
		}
		pthread_mutex_unlock(&d->smu);
		if (s)
			return 1;
	}
	if (dash_path_is_public(q->url)) {
		q->auth = DASH_AUTH_NONE;
		return 1;
	}
	*ret = unauthorized(q);
	return 0;
}

/*
 * Same origin as far as the browser says.  Sec-Fetch-Site, when present,
 * decides: pages cannot set it, and it stays exact where Origin does not
 * (under our Referrer-Policy: no-referrer, a browser sends "Origin: null"
 * even for a same-origin form POST, such as the login page's).  Without it
 * (older browsers), Origin must name the Host the request was sent to, and
 * "null" is refused.  Clients that send neither (curl, scripts) pass here
 * and must still bring the token.
 */
static int same_origin(struct dash_req *q)
{
	const char *site = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND,
						       "Sec-Fetch-Site");
	const char *origin = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND,
							 "Origin");
	const char *host = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND,
						       "Host");

	if (site)
		return strcmp(site, "same-origin") == 0;
	if (origin) {
		const char *rest;

		if (!host)
			return 0;
		if (strncmp(origin, "http://", 7) == 0)
			rest = origin + 7;
		else if (strncmp(origin, "https://", 8) == 0)
			rest = origin + 8;
		else
			return 0;	/* "null" and everything else */
		if (strcasecmp(rest, host) != 0)
			return 0;
	}
	return 1;
}

int dash_csrf_check(struct dash_req *q, enum MHD_Result *ret)
{
	const char *tok;

	if (!same_origin(q)) {
		atomic_fetch_add(&q->d->csrf_rejected, 1);
		*ret = dash_error(q, 403, "cross-origin request refused");
		return 0;
	}
	if (q->auth == DASH_AUTH_BEARER)
		return 1;	/* browsers never add a bearer token by themselves */
	tok = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND, "X-CSRF-Token");
	if (!tok || !q->csrf[0] ||
	    !dash_ct_equal(tok, strlen(tok), q->csrf, strlen(q->csrf))) {
		atomic_fetch_add(&q->d->csrf_rejected, 1);
		*ret = dash_error(q, 403, "missing or wrong X-CSRF-Token "
				  "(GET /api/session gives it)");
		return 0;
	}
	return 1;
}

/* The value of `key` in an application/x-www-form-urlencoded body, decoded
 * into `out`; 0, or -EINVAL when absent or too long. */
static int form_value(const char *body, const char *key, char *out,
		      size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = body;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vl = n - klen - 1;

			if (vl >= outlen)
				return -EINVAL;
			memcpy(out, p + klen + 1, vl);
			out[vl] = '\0';
			for (char *c = out; *c; c++)
				if (*c == '+')
					*c = ' ';
			return dash_unescape(out);
		}
		p = amp ? amp + 1 : NULL;
	}
	return -EINVAL;
}

static enum MHD_Result redirect(struct dash_req *q, const char *to,
				const char *cookie)
{
	struct ew_buf b;
	const char *hdrs[] = {"Location", to, cookie ? "Set-Cookie" : NULL,
			      cookie, NULL};

	dash_buf(&b);
	return dash_send_hdrs(q, 303, "text/plain; charset=utf-8", &b,
			      "no-store", hdrs);
}

static const char *secure_attr(struct dash_req *q)
{
	const char *fp = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND,
						     "X-Forwarded-Proto");

	return fp && strcasecmp(fp, "https") == 0 ? "; Secure" : "";
}

enum MHD_Result dash_login_post(struct dash_req *q)
{
	struct dashboard *d = q->d;
	char tok[DASH_TOKEN_MAX + 2], cookie[256];
	uint64_t minute = ew_mono_ns() / (60 * NS_PER_S);
	struct dash_session *slot = NULL;
	int ok, limited;

	if (!same_origin(q)) {
		atomic_fetch_add(&d->csrf_rejected, 1);
		return dash_error(q, 403, "cross-origin login refused");
	}
	if (!d->auth_required)
		return redirect(q, "/", NULL);
	pthread_mutex_lock(&d->smu);
	if (d->login_minute != minute) {
		d->login_minute = minute;
		d->login_fails = 0;
	}
	limited = d->login_fails >= DASH_LOGIN_FAILS_PER_MIN;
	pthread_mutex_unlock(&d->smu);
	if (limited)
		return dash_error(q, 429, "too many failed logins: wait a "
				  "minute");
	ok = form_value(q->body.data ? q->body.data : "", "token", tok,
			sizeof(tok)) == 0 &&
	     dash_ct_equal(tok, strlen(tok), d->token, d->token_len);
	explicit_bzero(tok, sizeof(tok));
	if (!ok) {
		pthread_mutex_lock(&d->smu);
		d->login_fails++;
		pthread_mutex_unlock(&d->smu);
		atomic_fetch_add(&d->auth_failures, 1);
		return redirect(q, "/login?failed=1", NULL);
	}
	pthread_mutex_lock(&d->smu);
	uint64_t now = ew_mono_ns();
	for (size_t i = 0; i < DASH_SESSIONS_MAX; i++) {
		struct dash_session *s = &d->sessions[i];

		if (!s->id[0] || s->expires_mono <= now) {
			slot = s;
			break;
		}
		if (!slot || s->expires_mono < slot->expires_mono)
			slot = s;	/* full: the one expiring first goes */
	}
	if (random_hex(slot->id) || random_hex(slot->csrf)) {
		memset(slot, 0, sizeof(*slot));
		pthread_mutex_unlock(&d->smu);
		return dash_error(q, 500, "no random numbers");
	}
	slot->expires_mono = now + (uint64_t)DASH_SESSION_TTL_S * NS_PER_S;
	snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; HttpOnly; "
		 "SameSite=Strict; Max-Age=%d%s", slot->id, DASH_SESSION_TTL_S,
		 secure_attr(q));
	pthread_mutex_unlock(&d->smu);
	return redirect(q, "/", cookie);
}

enum MHD_Result dash_logout_post(struct dash_req *q)
{
	struct dashboard *d = q->d;
	const char *cookie;
	enum MHD_Result ret;
	struct ew_buf b;
	char clear[160];
	const char *hdrs[] = {"Set-Cookie", clear, NULL};

	if (!dash_csrf_check(q, &ret))
		return ret;
	cookie = MHD_lookup_connection_value(q->c, MHD_COOKIE_KIND, COOKIE);
	if (cookie && q->auth == DASH_AUTH_SESSION) {
		pthread_mutex_lock(&d->smu);
		struct dash_session *s = find_session(d, cookie);
		if (s)
			memset(s, 0, sizeof(*s));
		pthread_mutex_unlock(&d->smu);
	}
	snprintf(clear, sizeof(clear), COOKIE "=; Path=/; HttpOnly; "
		 "SameSite=Strict; Max-Age=0%s", secure_attr(q));
	dash_buf(&b);
	ew_buf_puts(&b, "{\"ok\":true}\n");
	return dash_send_hdrs(q, 200, "application/json; charset=utf-8", &b,
			      "no-store", hdrs);
}

enum MHD_Result dash_session_get(struct dash_req *q)
{
	static const char *names[] = {
		[DASH_AUTH_NONE] = "none", [DASH_AUTH_OPEN] = "open",
		[DASH_AUTH_BEARER] = "bearer", [DASH_AUTH_SESSION] = "session",
	};
	struct ew_buf b;

	dash_buf(&b);
	ew_buf_printf(&b, "{\"auth\":\"%s\",\"login_required\":%s",
		      names[q->auth], q->d->auth_required ? "true" : "false");
	ew_buf_puts(&b, ",\"csrf_token\":");
	ew_buf_json_str(&b, q->csrf[0] ? q->csrf : NULL);
	ew_buf_printf(&b, ",\"mode\":\"%s\",\"database\":",
		      q->d->has_provider ? "live" : "standalone");
	ew_buf_json_str(&b, q->d->db_path);
	ew_buf_puts(&b, "}\n");
	return dash_send_json(q, 200, &b);
}
