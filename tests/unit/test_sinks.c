/*
 * test_sinks.c - the alert sinks against real HTTP servers on 127.0.0.1
 * (a small server in this file, one thread each), real files and a FIFO
 * nobody reads.
 *
 * Pins down: flag parsing; each webhook format's body, delivered exactly
 * once; a receiver that is down (connection refused) makes alerts retry
 * and then drop, counted, after max attempts, max age or a full queue; a
 * receiver that accepts and never answers times out and retries without
 * delaying a healthy webhook; 500s are retried with doubling back-off; 4xx
 * is dropped at once; sink_submit() never blocks (max latency < 1 ms, even
 * with the sender stuck on a full pipe); close drains, then counts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "t.h"
#include "util.h"

#define MS 1000000ull

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- a tiny HTTP server ----------------------------------------------------- */

enum { SRV_OK, SRV_500, SRV_HANG, SRV_400 };

struct req {
	char path[128];
	char *body;
	uint64_t t_ns;
	int status;			/* what we answered (0: nothing) */
};

struct srv {
	int lfd;
	uint16_t port;
	pthread_t th;
	_Atomic int stop;
	_Atomic int mode;
	_Atomic int fail_first;		/* answer 500 to this many first */
	pthread_mutex_t mu;
	struct req reqs[512];
	int n;
	int hung[64];
	int n_hung;
};

static int read_request(int fd, struct req *r)
{
	char buf[65536];
	size_t len = 0;
	char *hdr_end = NULL, *cl;
	long body_len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
			cl = strcasestr(buf, "\r\ncontent-length:");
			body_len = cl && cl < hdr_end ? strtol(cl + 17, NULL, 10) : 0;
		}
		if (hdr_end && len >= (size_t)(hdr_end + 4 - buf) + (size_t)body_len)
			break;
	}
	if (!hdr_end)
		return -1;
	sscanf(buf, "%*s %127s", r->path);
	r->body = strndup(hdr_end + 4, (size_t)body_len);
	return 0;
}

static void *srv_run(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		struct timeval tv = {2, 0};
		struct req r = {0};
		int fd, mode, status = 0;
		char resp[256];

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (read_request(fd, &r) != 0) {
			close(fd);
			continue;
		}
		r.t_ns = mono();
		mode = atomic_load(&s->mode);
		if (mode == SRV_HANG) {
			pthread_mutex_lock(&s->mu);
			if (s->n_hung < 64)
				s->hung[s->n_hung++] = fd;
			else
				close(fd);
			fd = -1;
		} else if (mode == SRV_500 || atomic_load(&s->fail_first) > 0) {
			atomic_fetch_sub(&s->fail_first, 1);
			status = 500;
		} else if (mode == SRV_400) {
			status = 400;
		} else {
			status = 200;
		}
		if (fd >= 0)
			pthread_mutex_lock(&s->mu);
		r.status = status;
		if (s->n < 512)
			s->reqs[s->n++] = r;
		else
			free(r.body);
		pthread_mutex_unlock(&s->mu);
		if (fd < 0)
			continue;
		snprintf(resp, sizeof(resp),
			 "HTTP/1.1 %d %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
			 status, status == 200 ? "OK" : status == 400 ? "Bad Request" :
			 "Internal Server Error");
		if (send(fd, resp, strlen(resp), MSG_NOSIGNAL) < 0)
			perror("send");
		close(fd);
	}
	return NULL;
}

static struct srv *srv_start(int mode)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s->lfd >= 0);
	CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(s->lfd, 64) == 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	atomic_store(&s->mode, mode);
	pthread_mutex_init(&s->mu, NULL);
	pthread_create(&s->th, NULL, srv_run, s);
	return s;
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->lfd);
	for (int i = 0; i < s->n_hung; i++)
		close(s->hung[i]);
	for (int i = 0; i < s->n; i++)
		free(s->reqs[i].body);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int srv_count(struct srv *s, const char *path)
{
	int n = 0;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n; i++)
		n += !path || strcmp(s->reqs[i].path, path) == 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* A loopback port with nothing listening: connections are refused. */
static uint16_t dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- helpers ------------------------------------------------------------------- */

static void make_alert(struct policy_alert *a, int i, int sev, int repeat)
{
	memset(a, 0, sizeof(*a));
	a->first_seen_ns = a->last_seen_ns = 1764000000ull * 1000000000ull +
					     (uint64_t)i * 1000000000ull;
	a->count = 1;
	a->kind = DETECT_LISTEN_ONLY_EGRESS;
	a->severity = (uint8_t)sev;
	a->repeat = (uint8_t)repeat;
	a->occurrence = repeat ? 2 : 1;
	ew_ip_parse("203.0.113.66", a->remote_ip);
	a->remote_port = 6379;
	a->proto = 6;
	a->remote_asn = 64500;
	a->bytes_sent = 5033164;
	snprintf(a->remote_country, sizeof(a->remote_country), "NL");
	snprintf(a->remote_name, sizeof(a->remote_name), "sink.evil.example");
	snprintf(a->rule, sizeof(a->rule), "builtin/datastore-egress");
	snprintf(a->workload, sizeof(a->workload), "prod/redis-0");
	snprintf(a->message, sizeof(a->message),
		 "prod/redis-0 (listen-only datastore: serves redis/6379) opened an "
		 "outbound connection to 203.0.113.66:6379 (sink.evil.example, NL, "
		 "AS64500) \xe2\x80\x94 4.8 MiB sent so far #%d", i);
	snprintf(a->dedup_key, sizeof(a->dedup_key),
		 "listen-only-egress|prod/redis-0|203.0.113.66|6379/6|%d", i);
	snprintf(a->evidence, sizeof(a->evidence), "{\"flow_id\":%d}", i);
}

static struct sink_spec spec(enum sink_kind k, const char *arg)
{
	struct sink_spec s;
	char err[256];

	if (sink_parse_spec(k, arg, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "sink_parse_spec(%s): %s\n", arg, err);
		t_failed++;
	}
	return s;
}

static struct sinks *open_sinks(struct sink_config *c, const struct sink_spec *sp,
				size_t n)
{
	char err[256];
	struct sinks *s;

	c->specs = sp;
	c->n_specs = n;
	s = sink_open(c, err, sizeof(err));
	if (!s)
		fprintf(stderr, "sink_open: %s\n", err);
	CHECK(s != NULL);
	return s;
}

/* Wait up to `ms` for sink `i` to have delivered `n`. */
static int wait_delivered(struct sinks *s, size_t i, uint64_t n, unsigned ms)
{
	struct sink_stats st;

	for (unsigned t = 0; t < ms; t += 10) {
		sink_get_stats(s, &st);
		if (st.sink[i].delivered >= n)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

/* ---- flag values ------------------------------------------------------------------- */

static void test_parse_spec(void)
{
	struct sink_spec s;
	char err[256];

	CHECK_EQ_U(sink_parse_spec(SINK_JSON, "-", &s, err, sizeof(err)), 0);
	CHECK_STR(s.target, "-");
	CHECK_EQ_U(s.fsync, SINK_FSYNC_BATCH);
	CHECK_EQ_U(sink_parse_spec(SINK_JSON, "/var/log/ew.jsonl,fsync=always,"
				   "min-severity=warning,repeats=yes", &s, err,
				   sizeof(err)), 0);
	CHECK_STR(s.target, "/var/log/ew.jsonl");
	CHECK_EQ_U(s.fsync, SINK_FSYNC_ALWAYS);
	CHECK_EQ_U(s.min_severity, POLICY_SEV_WARNING);
	CHECK_EQ_U(s.repeats, 1);
	CHECK_EQ_U(sink_parse_spec(SINK_JSON, "", &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_U(sink_parse_spec(SINK_JSON, "x,fsync=sometimes", &s, err,
				   sizeof(err)), -EINVAL);
	CHECK(strstr(err, "fsync is batch, always or never") != NULL);

	CHECK_EQ_U(sink_parse_spec(SINK_SYSLOG, NULL, &s, err, sizeof(err)), 0);
	CHECK_EQ_U(s.facility, LOG_DAEMON);
	CHECK_EQ_U(sink_parse_spec(SINK_SYSLOG, "local3", &s, err, sizeof(err)), 0);
	CHECK_EQ_U(s.facility, LOG_LOCAL3);
	CHECK_EQ_U(sink_parse_spec(SINK_SYSLOG, "facility=local5,min-severity=critical",
				   &s, err, sizeof(err)), 0);
	CHECK_EQ_U(s.facility, LOG_LOCAL5);
	CHECK_EQ_U(s.min_severity, POLICY_SEV_CRITICAL);
	CHECK_EQ_U(sink_parse_spec(SINK_SYSLOG, "local9", &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "unknown syslog facility") != NULL);

	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "http://127.0.0.1:9093,format=alertmanager",
				   &s, err, sizeof(err)), 0);
	CHECK_STR(s.target, "http://127.0.0.1:9093");
	CHECK_EQ_U(s.format, SINK_FMT_ALERTMANAGER);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "alertmanager=http://127.0.0.1:9093",
				   &s, err, sizeof(err)), 0);
	CHECK_EQ_U(s.format, SINK_FMT_ALERTMANAGER);
	CHECK_STR(s.target, "http://127.0.0.1:9093");
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "slack=https://hooks.slack.com/services/T0/B0/xyz",
				   &s, err, sizeof(err)), 0);
	CHECK_EQ_U(s.format, SINK_FMT_SLACK);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "http://h.example/hook?a=1,2,3,min-severity=critical",
				   &s, err, sizeof(err)), 0);
	CHECK_STR(s.target, "http://h.example/hook?a=1,2,3");	/* commas kept */
	CHECK_EQ_U(s.format, SINK_FMT_JSON);
	CHECK_EQ_U(s.min_severity, POLICY_SEV_CRITICAL);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "ftp://h/x", &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "http://", &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "http://h x/", &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "http://h,format=xml", &s, err,
				   sizeof(err)), -EINVAL);
	CHECK_EQ_U(sink_parse_spec(SINK_WEBHOOK, "http://h,fsync=always", &s, err,
				   sizeof(err)), -EINVAL);
	CHECK(strstr(err, "fsync= is for JSON files") != NULL);
}

/* ---- delivery ------------------------------------------------------------------------- */

static const char *req_body(struct srv *s, const char *path, int nth)
{
	const char *b = NULL;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->reqs[i].path, path) == 0 && nth-- == 0) {
			b = s->reqs[i].body;
			break;
		}
	pthread_mutex_unlock(&s->mu);
	return b;
}

static void test_formats_exactly_once(void)
{
	struct srv *srv = srv_start(SRV_OK);
	char u[3][128], file[] = "/tmp/ew-sinks-XXXXXX";
	struct sink_spec sp[4];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	int fd = mkstemp(file);
	const char *b;
	char buf[65536];
	ssize_t n;
	int lines = 0;

	close(fd);
	snprintf(u[0], sizeof(u[0]), "http://127.0.0.1:%u/json", srv->port);
	snprintf(u[1], sizeof(u[1]), "slack=http://127.0.0.1:%u/slack", srv->port);
	snprintf(u[2], sizeof(u[2]), "http://127.0.0.1:%u,format=alertmanager",
		 srv->port);
	sp[0] = spec(SINK_WEBHOOK, u[0]);
	sp[1] = spec(SINK_WEBHOOK, u[1]);
	sp[2] = spec(SINK_WEBHOOK, u[2]);
	sp[3] = spec(SINK_JSON, file);
	sink_config_defaults(&c);
	c.generator_url = "http://node-1:8080/";
	s = open_sinks(&c, sp, 4);
	if (!s)
		goto out;
	for (int i = 0; i < 5; i++) {
		make_alert(&a, i, POLICY_SEV_CRITICAL, i == 4);	/* #4: a repeat */
		CHECK_EQ_U(sink_submit(s, &a), 0);
	}
	for (size_t i = 0; i < 4; i++)
		CHECK(wait_delivered(s, i, 4, 5000));
	sleep_ms(200);			/* anything extra would arrive now */
	CHECK_EQ_U(srv_count(srv, "/json"), 4);
	CHECK_EQ_U(srv_count(srv, "/slack"), 4);
	CHECK_EQ_U(srv_count(srv, "/api/v2/alerts"), 4);
	sink_get_stats(s, &st);
	CHECK_EQ_U(st.submitted, 5);
	for (size_t i = 0; i < 4; i++) {
		CHECK_EQ_U(st.sink[i].delivered, 4);
		CHECK_EQ_U(st.sink[i].filtered, 1);	/* the repeat */
	}
	CHECK_EQ_U(st.sink[0].attempts, 4);
	CHECK_EQ_U(st.sink[0].last_status, 200);
	/* Names never show a URL's path (webhook secrets live there). */
	CHECK(strstr(st.sink[1].name, "webhook slack http://127.0.0.1:") == st.sink[1].name);
	CHECK(strstr(st.sink[1].name, "/slack") == NULL);

	/* Each body, in order. */
	for (int i = 0; i < 4; i++) {
		char want[64];

		snprintf(want, sizeof(want), "#%d", i);
		b = req_body(srv, "/json", i);
		CHECK(b && strstr(b, want));
		CHECK(b && strncmp(b, "{\"first_seen\":\"2025-11-24T16:00:0", 33) == 0);
		CHECK(b && strstr(b, "\"severity\":\"critical\",\"kind\":\"listen-only-egress\","
				     "\"rule\":\"builtin/datastore-egress\",\"workload\":"
				     "\"prod/redis-0\",\"remote_ip\":\"203.0.113.66\","
				     "\"remote_port\":6379"));
		CHECK(b && strstr(b, "\"evidence\":{\"flow_id\":"));
		b = req_body(srv, "/slack", i);
		CHECK(b && strncmp(b, "{\"text\":\"[CRITICAL] listen-only-egress: prod/redis-0 "
				      "(listen-only datastore", 72) == 0);
		CHECK(b && strstr(b, want));
		b = req_body(srv, "/api/v2/alerts", i);
		CHECK(b && strncmp(b, "[{\"labels\":{\"alertname\":\"EgressWatchListenOnlyEgress\","
				      "\"severity\":\"critical\",\"kind\":\"listen-only-egress\"", 100) == 0);
		CHECK(b && strstr(b, "\"workload\":\"prod/redis-0\",\"namespace\":\"prod\","
				     "\"remote\":\"203.0.113.66\",\"port\":\"6379\","
				     "\"proto\":\"tcp\",\"source\":\"egresswatch\"}"));
		CHECK(b && strstr(b, "\"annotations\":{\"summary\":\"prod/redis-0 (listen-only"));
		CHECK(b && strstr(b, "\"startsAt\":\"2025-11-24T16:00:0"));
		CHECK(b && strstr(b, "\"endsAt\":\"2025-11-24T17:00:0"));
		CHECK(b && strstr(b, "\"generatorURL\":\"http://node-1:8080\"}]"));
	}
	sink_close(s, &st);
	/* The JSON file: one line per delivered alert. */
	fd = open(file, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK_EQ_U(lines, 4);
	CHECK(strncmp(buf, "{\"first_seen\":", 14) == 0);
out:
	unlink(file);
	srv_stop(srv);
}

/* The receiver is down: every attempt is refused.  Alerts queue, retry with
 * back-off, and are dropped after max_attempts; the rest never fit. */
static void test_receiver_down(void)
{
	char u[128];
	struct sink_spec sp[1];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	uint64_t worst = 0;

	snprintf(u, sizeof(u), "http://127.0.0.1:%u/hook", dead_port());
	sp[0] = spec(SINK_WEBHOOK, u);
	sink_config_defaults(&c);
	c.webhook_queue_len = 8;
	c.backoff_min_ms = 50;
	c.backoff_max_ms = 100;
	c.max_attempts = 3;
	s = open_sinks(&c, sp, 1);
	if (!s)
		return;
	for (int i = 0; i < 50; i++) {
		uint64_t t0, dt;
		make_alert(&a, i, POLICY_SEV_CRITICAL, 0);
		t0 = mono();
		sink_submit(s, &a);
		dt = mono() - t0;
		if (dt > worst)
			worst = dt;
	}
	printf("    sink_submit: worst %.1f us\n", (double)worst / 1000.0);
	/* Below the 50 ms back-off a submit would wait out if it waited for
	 * the sender; microseconds is the figure, not the pass mark. */
	CHECK(worst < 40 * MS);
	/* 8 queued x 3 attempts, 50+100 ms apart: about 1.2 s. */
	for (int t = 0; t < 500; t++) {
		sink_get_stats(s, &st);
		if (st.sink[0].dropped_attempts == 8)
			break;
		sleep_ms(10);
	}
	sink_get_stats(s, &st);
	CHECK_EQ_U(st.submitted, 50);
	CHECK_EQ_U(st.sink[0].dropped_queue_full, 42);
	CHECK_EQ_U(st.sink[0].dropped_attempts, 8);
	CHECK_EQ_U(st.sink[0].attempts, 24);
	CHECK_EQ_U(st.sink[0].retries, 16);
	CHECK_EQ_U(st.sink[0].failures, 24);
	CHECK_EQ_U(st.sink[0].delivered, 0);
	CHECK_EQ_U(st.sink[0].pending, 0);
	CHECK_EQ_U(st.sink[0].last_status, 0);
	sink_close(s, NULL);

	/* max_age: one alert, retried until it is too old. */
	c.max_attempts = 1000;
	c.max_age_s = 1;
	c.backoff_min_ms = 100;
	c.backoff_max_ms = 200;
	s = open_sinks(&c, sp, 1);
	if (!s)
		return;
	make_alert(&a, 0, POLICY_SEV_INFO, 0);
	sink_submit(s, &a);
	for (int t = 0; t < 300; t++) {
		sink_get_stats(s, &st);
		if (st.sink[0].dropped_age)
			break;
		sleep_ms(10);
	}
	CHECK_EQ_U(st.sink[0].dropped_age, 1);
	CHECK(st.sink[0].attempts >= 4 && st.sink[0].attempts <= 12);
	sink_close(s, NULL);
}

/* A receiver that accepts and never answers: the request times out and is
 * retried, while a second, healthy webhook delivers at once. */
static void test_hanging_receiver(void)
{
	struct srv *hang = srv_start(SRV_HANG), *ok = srv_start(SRV_OK);
	char u[2][128];
	struct sink_spec sp[2];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	uint64_t t0;

	snprintf(u[0], sizeof(u[0]), "http://127.0.0.1:%u/hang", hang->port);
	snprintf(u[1], sizeof(u[1]), "http://127.0.0.1:%u/ok", ok->port);
	sp[0] = spec(SINK_WEBHOOK, u[0]);
	sp[1] = spec(SINK_WEBHOOK, u[1]);
	sink_config_defaults(&c);
	c.timeout_ms = 400;
	c.connect_timeout_ms = 200;
	c.backoff_min_ms = 100;
	c.backoff_max_ms = 200;
	c.max_attempts = 2;
	c.drain_ms = 200;
	s = open_sinks(&c, sp, 2);
	if (!s)
		goto out;
	sleep_ms(50);
	t0 = mono();
	for (int i = 0; i < 3; i++) {
		make_alert(&a, i, POLICY_SEV_WARNING, 0);
		sink_submit(s, &a);
	}
	CHECK(wait_delivered(s, 1, 3, 2000));
	printf("    healthy webhook: 3 delivered in %.0f ms beside a hung one\n",
	       (double)(mono() - t0) / 1e6);
	CHECK(mono() - t0 < 300 * MS);
	/* 3 alerts x 2 attempts x 400 ms + back-off: about 3 s. */
	for (int t = 0; t < 600; t++) {
		sink_get_stats(s, &st);
		if (st.sink[0].dropped_attempts == 3)
			break;
		sleep_ms(10);
	}
	sink_get_stats(s, &st);
	CHECK_EQ_U(st.sink[0].timeouts, 6);
	CHECK_EQ_U(st.sink[0].retries, 3);
	CHECK_EQ_U(st.sink[0].dropped_attempts, 3);
	CHECK_EQ_U(st.sink[0].delivered, 0);
	CHECK_EQ_U(st.sink[1].delivered, 3);
	CHECK_EQ_U(srv_count(hang, NULL), 6);
	sink_close(s, NULL);
out:
	srv_stop(hang);
	srv_stop(ok);
}

/* 500 three times, then 200: delivered once, after back-off doubling
 * 100 -> 200 -> 400 ms. */
static void test_500_backoff(void)
{
	struct srv *srv = srv_start(SRV_OK);
	char u[128];
	struct sink_spec sp[1];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	uint64_t gap[3];

	atomic_store(&srv->fail_first, 3);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/hook", srv->port);
	sp[0] = spec(SINK_WEBHOOK, u);
	sink_config_defaults(&c);
	c.backoff_min_ms = 100;
	c.backoff_max_ms = 1000;
	s = open_sinks(&c, sp, 1);
	if (!s)
		goto out;
	make_alert(&a, 0, POLICY_SEV_CRITICAL, 0);
	sink_submit(s, &a);
	CHECK(wait_delivered(s, 0, 1, 5000));
	sink_get_stats(s, &st);
	CHECK_EQ_U(st.sink[0].delivered, 1);
	CHECK_EQ_U(st.sink[0].http_5xx, 3);
	CHECK_EQ_U(st.sink[0].retries, 3);
	CHECK_EQ_U(st.sink[0].attempts, 4);
	CHECK_EQ_U(srv_count(srv, NULL), 4);
	pthread_mutex_lock(&srv->mu);
	for (int i = 0; i < 3; i++)
		gap[i] = srv->reqs[i + 1].t_ns - srv->reqs[i].t_ns;
	CHECK(srv->reqs[3].status == 200 && srv->reqs[2].status == 500);
	CHECK(strcmp(srv->reqs[0].body, srv->reqs[3].body) == 0);
	pthread_mutex_unlock(&srv->mu);
	printf("    retries after %.0f, %.0f, %.0f ms\n", (double)gap[0] / 1e6,
	       (double)gap[1] / 1e6, (double)gap[2] / 1e6);
	CHECK(gap[0] >= 95 * MS && gap[0] < 190 * MS);
	CHECK(gap[1] >= 195 * MS && gap[1] < 390 * MS);
	CHECK(gap[2] >= 395 * MS && gap[2] < 790 * MS);
	sink_close(s, NULL);

	/* 400: dropped at once, never retried. */
	atomic_store(&srv->mode, SRV_400);
	s = open_sinks(&c, sp, 1);
	if (!s)
		goto out;
	sink_submit(s, &a);
	for (int t = 0; t < 200; t++) {
		sink_get_stats(s, &st);
		if (st.sink[0].rejected)
			break;
		sleep_ms(10);
	}
	CHECK_EQ_U(st.sink[0].rejected, 1);
	CHECK_EQ_U(st.sink[0].attempts, 1);
	CHECK_EQ_U(st.sink[0].last_status, 400);
	sink_close(s, NULL);
out:
	srv_stop(srv);
}

/* The sender is stuck writing to a pipe nobody reads: the submit queue
 * fills, and sink_submit() still returns, counting the drops.  Nothing
 * reads the fifo until the loop is over, so a submit that waited for the
 * sender would never return; the time bound only catches a submit that
 * waits for some timeout (drain_ms is 2 s here).  Per-call latency is a
 * figure printed, not a pass mark: on a loaded 2-core machine one call
 * can be descheduled for a millisecond or more. */
static void test_submit_never_blocks(void)
{
	char fifo[64];
	struct sink_spec sp[1];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	uint64_t worst = 0, full = 0;
	int rfd;
	char buf[65536];

	snprintf(fifo, sizeof(fifo), "/tmp/ew-sinks-fifo-%d", (int)getpid());
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	CHECK(rfd >= 0);
	sp[0] = spec(SINK_JSON, fifo);
	sink_config_defaults(&c);
	c.queue_len = 64;
	c.drain_ms = 2000;
	s = open_sinks(&c, sp, 1);
	if (!s)
		goto out;
	for (int i = 0; i < 2000; i++) {
		uint64_t t0, dt;
		make_alert(&a, i, POLICY_SEV_INFO, 0);
		t0 = mono();
		if (sink_submit(s, &a) == -EAGAIN)
			full++;
		dt = mono() - t0;
		if (dt > worst)
			worst = dt;
	}
	printf("    2000 submits into a stuck sender: worst %.1f us, %llu refused\n",
	       (double)worst / 1000.0, (unsigned long long)full);
	CHECK(worst < 500 * MS);
	sink_get_stats(s, &st);
	CHECK(st.dropped_queue_full > 1000);
	CHECK_EQ_U(st.dropped_queue_full, full);
	CHECK_EQ_U(st.submitted + st.dropped_queue_full, 2000);
	CHECK_EQ_U(st.queue_high_water, 64);
	/* Let the pipe drain so that close can finish. */
	for (int t = 0; t < 500; t++) {
		while (read(rfd, buf, sizeof(buf)) > 0)
			;
		sink_get_stats(s, &st);
		if (st.sink[0].delivered == st.submitted)
			break;
		sleep_ms(5);
	}
	CHECK_EQ_U(st.sink[0].delivered, st.submitted);
	sink_close(s, NULL);
out:
	close(rfd);
	unlink(fifo);
}

/* Close delivers what is pending; with a dead receiver, it gives up after
 * drain_ms and counts what it dropped. */
static void test_close_drains(void)
{
	struct srv *srv = srv_start(SRV_OK);
	char u[128];
	struct sink_spec sp[1];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	uint64_t t0;

	snprintf(u, sizeof(u), "http://127.0.0.1:%u/hook", srv->port);
	sp[0] = spec(SINK_WEBHOOK, u);
	sink_config_defaults(&c);
	s = open_sinks(&c, sp, 1);
	if (!s)
		goto out;
	for (int i = 0; i < 10; i++) {
		make_alert(&a, i, POLICY_SEV_INFO, 0);
		sink_submit(s, &a);
	}
	sink_close(s, &st);
	CHECK_EQ_U(st.sink[0].delivered, 10);
	CHECK_EQ_U(srv_count(srv, NULL), 10);

	snprintf(u, sizeof(u), "http://127.0.0.1:%u/hook", dead_port());
	sp[0] = spec(SINK_WEBHOOK, u);
	c.drain_ms = 300;
	s = open_sinks(&c, sp, 1);
	if (!s)
		goto out;
	for (int i = 0; i < 10; i++) {
		make_alert(&a, i, POLICY_SEV_INFO, 0);
		sink_submit(s, &a);
	}
	t0 = mono();
	sink_close(s, &st);
	CHECK(mono() - t0 < 1500 * MS);
	CHECK_EQ_U(st.sink[0].delivered, 0);
	CHECK_EQ_U(st.sink[0].dropped_shutdown, 10);
out:
	srv_stop(srv);
}

/* JSON lines to a file, min-severity, and reopening after rotation. */
static void test_json_file_reopen(void)
{
	char path[64], rotated[80], buf[65536];
	struct sink_spec sp[2];
	struct sink_config c;
	struct sinks *s;
	struct policy_alert a;
	struct sink_stats st;
	char arg[128];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/tmp/ew-sinks-json-%d", (int)getpid());
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	unlink(path);
	unlink(rotated);
	snprintf(arg, sizeof(arg), "%s,fsync=always,min-severity=warning", path);
	sp[0] = spec(SINK_JSON, arg);
	sp[1] = spec(SINK_SYSLOG, "local7");
	sink_config_defaults(&c);
	s = open_sinks(&c, sp, 2);
	if (!s)
		return;
	make_alert(&a, 1, POLICY_SEV_CRITICAL, 0);
	sink_submit(s, &a);
	make_alert(&a, 2, POLICY_SEV_INFO, 0);		/* below min-severity */
	sink_submit(s, &a);
	CHECK(wait_delivered(s, 1, 2, 2000));		/* syslog takes both */
	CHECK(wait_delivered(s, 0, 1, 2000));
	CHECK_EQ_U(rename(path, rotated), 0);
	sink_reopen(s);
	make_alert(&a, 3, POLICY_SEV_WARNING, 0);
	sink_submit(s, &a);
	CHECK(wait_delivered(s, 0, 2, 2000));
	sink_close(s, &st);
	CHECK_EQ_U(st.sink[0].filtered, 1);
	CHECK_EQ_U(st.sink[0].write_errors, 0);
	fd = open(rotated, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strstr(buf, "#1") != NULL && strstr(buf, "#3") == NULL);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strstr(buf, "#3") != NULL && strstr(buf, "#1") == NULL);
	CHECK(n > 0 && buf[n - 1] == '\n');
	{
		struct stat sb;
		CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
	}
	unlink(path);
	unlink(rotated);
	/* An alerts file that cannot be opened fails the open. */
	{
		char err[256];
		sp[0] = spec(SINK_JSON, "/nonexistent-dir/alerts.jsonl");
		c.specs = sp;
		c.n_specs = 1;
		CHECK(sink_open(&c, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "No such file or directory") != NULL);
	}
}

int main(void)
{
	/* Only loopback here: no proxy may take the requests elsewhere. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	RUN(test_parse_spec);
	RUN(test_formats_exactly_once);
	RUN(test_receiver_down);
	RUN(test_hanging_receiver);
	RUN(test_500_backoff);
	RUN(test_submit_never_blocks);
	RUN(test_close_drains);
	RUN(test_json_file_reopen);
	return T_DONE();
}
