/*
 * log.c - one line per message on stderr: "<UTC time> <level> <message>".
 * Lines are written with a single write(2) so that threads do not interleave
 * within a line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum ew_log_level min_level = EW_LOG_INFO;

void ew_log_set_level(enum ew_log_level lvl)
{
	min_level = lvl;
}

static void vlog(enum ew_log_level lvl, int with_errno, int saved_errno,
		 const char *fmt, va_list ap)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[1024], ts[EW_TIME_STRLEN];
	int n, m;

	if (lvl < min_level)
		return;
	ew_fmt_time(ew_now_ns(), ts);
	n = snprintf(line, sizeof(line), "%s %s ", ts, names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n = (size_t)(n + m) >= sizeof(line) - 2 ? (int)sizeof(line) - 2 : n + m;
	if (with_errno) {
		m = snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
			     strerror(saved_errno));
		if (m > 0)
			n = (size_t)(n + m) >= sizeof(line) - 2 ?
				(int)sizeof(line) - 2 : n + m;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void ew_log(enum ew_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, 0, 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(EW_LOG_INFO, 0, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(EW_LOG_DEBUG, 0, 0, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(EW_LOG_WARN, 1, e, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(EW_LOG_WARN, 0, 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(EW_LOG_ERROR, 0, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
