/*
 * privs.c - dropping privileges with libcap, OpenSMTPD style: everything that
 * needs root is done first, then the process gives up what it does not need,
 * for good, and checks that it did.
 *
 * Order matters.  The bounding set can only be reduced while CAP_SETPCAP is
 * still effective.  setgroups/setresgid/setresuid need CAP_SETGID/CAP_SETUID,
 * and a uid change clears the permitted set unless PR_SET_KEEPCAPS is on.
 * After the switch the effective set is empty, so the kept capabilities are
 * raised again from the permitted set.  PR_SET_NO_NEW_PRIVS last: from then
 * on no execve (of a setuid binary, or one with file capabilities) can give
 * any of it back.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "privs.h"

const char *privs_cap_name(int cap)
{
	static char name[40];
	char *s = cap_to_name((cap_value_t)cap);

	if (!s)
		return "CAP_?";
	snprintf(name, sizeof(name), "%s", s);
	cap_free(s);
	for (char *p = name; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return name;
}

int privs_lookup_user(const char *user, struct privs_user *out, char *err,
		      size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *end;
	unsigned long uid;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!user || !*user) {
		snprintf(err, errlen, "empty user name");
		return -EINVAL;
	}
	errno = 0;
	uid = strtoul(user, &end, 10);
	if (*end == '\0' && isdigit((unsigned char)user[0]) && !errno)
		rc = getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res);
	else
		rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc || !res) {
		snprintf(err, errlen, "user '%s': %s", user,
			 rc ? strerror(rc) : "no such user");
		return rc ? -rc : -ENOENT;
	}
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->name, sizeof(out->name), "%s", pw.pw_name);
	return 0;
}

/* Capabilities are per thread: a drop is only whole in a single-threaded
 * process. */
static int single_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 1; /* no /proc: nothing to check against */
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n == 1;
}

static int kept(cap_value_t c, const int *keep, size_t n_keep)
{
	for (size_t i = 0; i < n_keep; i++)
		if (keep[i] == (int)c)
			return 1;
	return 0;
}

int privs_drop(const struct privs_user *user, const int *keep, size_t n_keep,
	       char *err, size_t errlen)
{
	cap_value_t vals[64];
	cap_t want = NULL, have = NULL;
	int rc = -EPERM;

	if (n_keep > sizeof(vals) / sizeof(vals[0])) {
		snprintf(err, errlen, "too many capabilities to keep");
		return -EINVAL;
	}
	if (!single_threaded()) {
		snprintf(err, errlen, "privileges must be dropped before any "
			 "thread starts");
		return -EBUSY;
	}
	for (size_t i = 0; i < n_keep; i++)
		vals[i] = (cap_value_t)keep[i];

	/* 1. Bounding set: nothing outside `keep`, ever again. */
	for (cap_value_t c = 0; c < cap_max_bits(); c++) {
		if (kept(c, keep, n_keep) || !CAP_IS_SUPPORTED(c) ||
		    cap_get_bound(c) == 0)
			continue;
		if (cap_drop_bound(c)) {
			snprintf(err, errlen, "dropping %s from the bounding "
				 "set: %s (start as root)", privs_cap_name(c),
				 strerror(errno));
			return -errno;
		}
	}

	/* 2. The user. */
	if (user && user->uid != 0) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) ||
		    setgroups(1, &user->gid) ||
		    setresgid(user->gid, user->gid, user->gid) ||
		    setresuid(user->uid, user->uid, user->uid) ||
		    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)) {
			rc = -errno;
			snprintf(err, errlen, "switching to user %s: %s",
				 user->name, strerror(errno));
			return rc;
		}
	}

	/* 3. Permitted = effective = keep; inheritable and ambient empty. */
	want = cap_init();
	if (!want) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (n_keep && (cap_set_flag(want, CAP_PERMITTED, (int)n_keep, vals,
				    CAP_SET) ||
		       cap_set_flag(want, CAP_EFFECTIVE, (int)n_keep, vals,
				    CAP_SET))) {
		rc = -errno;
		snprintf(err, errlen, "cap_set_flag: %s", strerror(errno));
		goto out;
	}
	if (cap_set_proc(want)) {
		rc = -errno;
		snprintf(err, errlen, "setting capabilities: %s (is %s "
			 "permitted?)", strerror(errno),
			 n_keep ? privs_cap_name(keep[0]) : "it");
		goto out;
	}
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient()) {
		rc = -errno;
		snprintf(err, errlen, "clearing ambient capabilities: %s",
			 strerror(errno));
		goto out;
	}

	/* 4. No execve may add privileges from here on. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		rc = -errno;
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		goto out;
	}

	/* 5. Trust, but verify. */
	have = cap_get_proc();
	if (!have || cap_compare(have, want) != 0) {
		snprintf(err, errlen, "capabilities are not what was set");
		rc = -EPERM;
		goto out;
	}
	for (cap_value_t c = 0; c < cap_max_bits(); c++)
		if (!kept(c, keep, n_keep) && cap_get_bound(c) == 1) {
			snprintf(err, errlen, "%s is still in the bounding set",
				 privs_cap_name(c));
			rc = -EPERM;
			goto out;
		}
	if (user && user->uid != 0 &&
	    (setuid(0) == 0 || getuid() != user->uid || geteuid() != user->uid ||
	     getgid() != user->gid)) {
		snprintf(err, errlen, "uid 0 could be regained");
		rc = -EPERM;
		goto out;
	}
	rc = 0;
out:
	cap_free(want);
	cap_free(have);
	return rc;
}
