/*
 * privs.h - private to cli/: least privilege for the live agent.
 *
 * The agent starts as root, prepares what only root can (directories for the
 * database and the status file), then calls privs_drop() before it starts any
 * thread: capabilities are per thread, so a drop made later would leave the
 * threads started earlier with everything.  Each capability kept is named by
 * the caller with the reason it is needed (cmd_run.c).
 */
#ifndef EW_CLI_PRIVS_H
#define EW_CLI_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

struct privs_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Look `user` up (a name, or a numeric uid).  0, or -ENOENT / -EINVAL with
 * `err` set. */
int privs_lookup_user(const char *user, struct privs_user *out, char *err,
		      size_t errlen);

/*
 * Drop privileges for good, in this order: remove every capability but
 * `keep` from the bounding set; with `user` (NULL: stay uid 0), switch to its
 * uid, gid and only its primary group, keeping the permitted set across the
 * switch (PR_SET_KEEPCAPS); make `keep` the permitted and effective sets with
 * nothing inheritable or ambient; set PR_SET_NO_NEW_PRIVS.  Then check that
 * the result is what was asked for and that uid 0 cannot be regained.
 *
 * Must be called while the process has a single thread (checked: -EBUSY).
 * 0, or -errno with `err` set; on failure the process must not go on.
 */
int privs_drop(const struct privs_user *user, const int *keep, size_t n_keep,
	       char *err, size_t errlen);

/* "CAP_NET_RAW" for CAP_NET_RAW, for logs; "CAP_?" when unknown. */
const char *privs_cap_name(int cap);

#endif
