/*
 * fake.h - the test side of tests/meta/fake_server.py, for
 * tests/unit/test_meta_*.c: start the scripted server (HTTPS on 127.0.0.1
 * or a unix socket) in a fresh temporary directory, open its gates, read
 * its request log, and kill it and remove the directory afterwards.
 *
 * There is no Kubernetes API server and no container engine on the test
 * machine: these tests prove the clients against recorded responses, served
 * with the framing the real servers use.
 */
#ifndef EW_TESTS_META_FAKE_H
#define EW_TESTS_META_FAKE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct fake {
	pid_t pid;
	char dir[64];			/* mkdtemp: everything of this run */
	char log[128], gates[128], pki[128], sock[128];
	int port;			/* TCP; 0 for a unix socket */
};

/* The source tree: $EW_SOURCE (set by ctest), else from this file's path. */
static inline const char *fake_src(void)
{
	static char buf[4096];
	const char *env = getenv("EW_SOURCE");
	char *p;

	if (env && *env)
		return env;
	/* This file is <source>/tests/meta/fake.h, however it was included
	 * ("../meta/fake.h" makes __FILE__ .../tests/unit/../meta/fake.h). */
	snprintf(buf, sizeof(buf), "%s", __FILE__);
	if ((p = strrchr(buf, '/')))
		snprintf(p, sizeof(buf) - (size_t)(p - buf), "/../..");
	return buf;
}

/* Sleep `ms` milliseconds. */
static inline void fake_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Poll `cond` every 5 ms for up to `ms` milliseconds. */
#define WAIT_FOR(cond, ms)                                                  \
	do {                                                                \
		uint64_t wf_end = ew_mono_ns() + (uint64_t)(ms) * 1000000;  \
		while (!(cond) && ew_mono_ns() < wf_end)                    \
			fake_sleep_ms(5);                                   \
	} while (0)

static inline int fake_mkdir(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ew-meta-XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(f->log, sizeof(f->log), "%s/requests.log", f->dir);
	snprintf(f->gates, sizeof(f->gates), "%s/gates", f->dir);
	snprintf(f->pki, sizeof(f->pki), "%s/pki", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/engine.sock", f->dir);
	return mkdir(f->gates, 0700) < 0 ? -errno : 0;
}

/* Make the test PKI (gen_certs.sh) in f->pki. */
static inline int fake_pki(struct fake *f)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "bash '%s/tests/meta/gen_certs.sh' '%s'",
		 fake_src(), f->pki);
	return system(cmd) == 0 ? 0 : -EIO;
}

/*
 * Start the server with `script` (relative to tests/meta).  `mode`: "tls",
 * "mtls" (client certificate required) or "unix".  Waits up to 10 s for it
 * to listen.  0 or -errno.
 */
static inline int fake_start(struct fake *f, const char *script, const char *mode)
{
	char root[4096], scr[8192], ready[160], srv[8192], cert[160], key[160], ca[160];
	uint64_t end;

	snprintf(root, sizeof(root), "%s/tests/meta", fake_src());
	snprintf(scr, sizeof(scr), "%s/%s", root, script);
	snprintf(srv, sizeof(srv), "%s/fake_server.py", root);
	snprintf(ready, sizeof(ready), "%s/ready", f->dir);
	snprintf(cert, sizeof(cert), "%s/server.crt", f->pki);
	snprintf(key, sizeof(key), "%s/server.key", f->pki);
	snprintf(ca, sizeof(ca), "%s/ca.crt", f->pki);
	unlink(ready);
	f->pid = fork();
	if (f->pid < 0)
		return -errno;
	if (f->pid == 0) {
		char errlog[160];
		int fd;

		snprintf(errlog, sizeof(errlog), "%s/server.stderr", f->dir);
		if ((fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (!strcmp(mode, "unix"))
			execlp("python3", "python3", srv, "--script", scr, "--root", root,
			       "--log", f->log, "--ready", ready, "--gates", f->gates,
			       "--unix", f->sock, "--lifetime", "90", (char *)NULL);
		else if (!strcmp(mode, "mtls"))
			execlp("python3", "python3", srv, "--script", scr, "--root", root,
			       "--log", f->log, "--ready", ready, "--gates", f->gates,
			       "--tls", cert, key, "--client-ca", ca, "--lifetime", "90",
			       (char *)NULL);
		else
			execlp("python3", "python3", srv, "--script", scr, "--root", root,
			       "--log", f->log, "--ready", ready, "--gates", f->gates,
			       "--tls", cert, key, "--lifetime", "90", (char *)NULL);
		_exit(127);
	}
	end = ew_mono_ns() + 10ull * 1000000000;
	while (ew_mono_ns() < end) {
		FILE *fp = fopen(ready, "r");

		if (fp) {
			char line[32] = "";

			if (fgets(line, sizeof(line), fp))
				f->port = atoi(line);
			fclose(fp);
			return 0;
		}
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = 0;
			return -ECHILD;
		}
		fake_sleep_ms(10);
	}
	return -ETIMEDOUT;
}

/* Kill the server (if running) and forget its requests: a new script can
 * be started in the same directory. */
static inline void fake_kill(struct fake *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
	unlink(f->log);
}

/* Kill the server and remove the directory. */
static inline void fake_stop(struct fake *f)
{
	char cmd[256];

	fake_kill(f);
	if (f->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", f->dir);
	}
	f->dir[0] = '\0';
}

static inline void fake_gate(struct fake *f, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->gates, name);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0)
		close(fd);
}

/*
 * Requests logged so far whose line contains every one of the NULL-terminated
 * `needles` (substrings of the JSON the server logs, e.g. "\"watch\": \"1\"").
 * With `vals`, the value of query parameter `param` of each match is copied
 * into vals[i] (up to max).  Returns the number of matches.
 */
static inline int fake_requests(struct fake *f, const char *const *needles,
				const char *param, char (*vals)[64], int max)
{
	char line[16384], pat[96];
	FILE *fp = fopen(f->log, "r");
	int n = 0;

	if (!fp)
		return 0;
	if (param)
		snprintf(pat, sizeof(pat), "\"%s\": \"", param);
	while (fgets(line, sizeof(line), fp)) {
		int ok = 1;

		for (const char *const *s = needles; *s && ok; s++)
			ok = strstr(line, *s) != NULL;
		if (!ok)
			continue;
		if (vals && n < max) {
			const char *v = param ? strstr(line, pat) : NULL;
			size_t k = 0;

			if (v)
				for (v += strlen(pat); v[k] && v[k] != '"' && k < 63; k++)
					vals[n][k] = v[k];
			vals[n][k] = '\0';
		}
		n++;
	}
	fclose(fp);
	return n;
}

/* Write `text` to dir/name; returns the path in a static buffer. */
static inline const char *fake_write(struct fake *f, const char *name,
				     const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	if ((fp = fopen(path, "w"))) {
		fputs(text, fp);
		fclose(fp);
	}
	return path;
}

/* The file's content as base64 (for kubeconfig *-data), malloc'd. */
static inline char *fake_b64_file(const char *path)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char buf[65536];
	size_t n, o = 0;
	FILE *fp = fopen(path, "rb");
	char *out;

	if (!fp)
		return NULL;
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	if (!(out = malloc(n / 3 * 4 + 8)))
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)buf[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)buf[i + 1] << 8;
		if (i + 2 < n)
			v |= buf[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* stderr into a file while a test runs, to check what is logged. */
struct fake_capture {
	int saved;
	char path[160];
};

static inline void fake_capture_start(struct fake *f, struct fake_capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "%s/agent.log", f->dir);
	fflush(stderr);
	c->saved = dup(2);
	if ((fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
		dup2(fd, 2);
		close(fd);
	}
}

/* Restore stderr and return whether the log has a line containing `needle`;
 * the log is echoed to stderr so that failures can be read. */
static inline int fake_capture_end(struct fake_capture *c, const char *needle)
{
	char line[2048];
	int found = 0;
	FILE *fp;

	fflush(stderr);
	if (c->saved >= 0) {
		dup2(c->saved, 2);
		close(c->saved);
		c->saved = -1;
	}
	if (!(fp = fopen(c->path, "r")))
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		fputs(line, stderr);
		if (needle && strstr(line, needle))
			found = 1;
	}
	fclose(fp);
	return found;
}

#endif
