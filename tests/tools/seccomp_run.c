/*
 * seccomp_run.c - run a command under the seccomp filter a container runtime
 * gives an unprivileged container by default, for the least-privilege tests
 * (tests/faults/privileges.sh).
 *
 *   seccomp_run [--cap NAME]... [--log FILE] -- COMMAND [ARG]...
 *
 * The filter is an allowlist, like the runtime's default profile: every
 * system call not named below fails with EPERM, except clone3, which fails
 * with ENOSYS so that the C library falls back to clone(2), whose flags the
 * filter can see (a namespace flag makes it fail).  Groups of calls that the
 * profile allows only to a container holding a capability are allowed when
 * that capability is given with --cap (the tests give the agent's three:
 * net_raw, net_admin, sys_ptrace).  Calls that need CAP_SYS_ADMIN (mount,
 * unshare, setns, bpf, perf_event_open, ...), kernel modules, kexec, reboot,
 * swap, the clocks, keyrings (add_key, keyctl, request_key), userfaultfd and
 * the rest are therefore refused, as in such a container.
 *
 * The list follows the runtime's x86_64 profile; names that do not exist on
 * this architecture are skipped.  --log FILE writes what the filter allows,
 * for a failing test to show.
 *
 * The filter is installed with no_new_privs (as runtimes do for a process
 * without CAP_SYS_ADMIN) right before execvp, and is inherited by every
 * thread and child of the command.  Exit status 125 when the filter cannot
 * be built or installed, 127 when the command cannot be run.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Allowed to every container. */
static const char *const allowed[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
	"capget", "capset", "chdir", "chmod", "chown", "clock_adjtime",
	"clock_getres", "clock_gettime", "clock_nanosleep", "close",
	"close_range", "connect", "copy_file_range", "creat", "dup", "dup2",
	"dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
	"eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
	"faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark",
	"fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl",
	"fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
	"fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate",
	"futex", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents",
	"getdents64", "getegid", "geteuid", "getgid", "getgroups",
	"getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
	"getppid", "getpriority", "getrandom", "getresgid", "getresuid",
	"getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname",
	"getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
	"getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
	"io_getevents", "io_pgetevents", "ioprio_get", "ioprio_set",
	"io_setup", "io_submit", "io_uring_enter", "io_uring_register",
	"io_uring_setup", "kill", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"lremovexattr", "lseek", "lsetxattr", "lstat", "madvise",
	"membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
	"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
	"mprotect", "mq_getsetattr", "mq_notify", "mq_open",
	"mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl",
	"msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
	"munmap", "name_to_handle_at", "nanosleep", "newfstatat", "open",
	"openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
	"pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
	"ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
	"process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2",
	"read", "readahead", "readlink", "readlinkat", "readv", "recvfrom",
	"recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename",
	"renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler",
	"sched_yield", "seccomp", "select", "semctl", "semget", "semop",
	"semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
	"setfsgid", "setfsuid", "setgid", "setgroups", "setitimer",
	"setpgid", "setpriority", "setregid", "setresgid", "setresuid",
	"setreuid", "setrlimit", "set_robust_list", "setsid", "setsockopt",
	"set_thread_area", "set_tid_address", "setuid", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "socketpair", "splice", "stat", "statfs", "statx",
	"symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
	"sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_settime",
	"timerfd_create", "timerfd_gettime", "timerfd_settime", "times",
	"tkill", "truncate", "umask", "uname", "unlink", "unlinkat", "utime",
	"utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid",
	"write", "writev",
	/* x86_64 only */
	"arch_prctl", "modify_ldt",
	/* kernels >= 4.8: the seccomp check comes after the ptrace one */
	"ptrace", "process_vm_readv", "process_vm_writev",
	NULL,
};

/* Allowed only with a capability. */
static const struct {
	const char *cap;
	const char *const calls[24];
} by_cap[] = {
	{"sys_admin", {"bpf", "clone", "clone3", "fanotify_init", "fsconfig",
		       "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
		       "mount_setattr", "move_mount", "open_tree",
		       "perf_event_open", "quotactl", "quotactl_fd",
		       "setdomainname", "sethostname", "setns", "syslog",
		       "umount2", "unshare", NULL}},
	{"sys_boot", {"reboot", NULL}},
	{"sys_chroot", {"chroot", NULL}},
	{"sys_module", {"delete_module", "init_module", "finit_module", NULL}},
	{"sys_pacct", {"acct", NULL}},
	{"sys_ptrace", {"kcmp", "pidfd_getfd", "process_madvise",
			"process_vm_readv", "process_vm_writev", "ptrace",
			NULL}},
	{"sys_rawio", {"iopl", "ioperm", NULL}},
	{"sys_time", {"settimeofday", "clock_settime", NULL}},
	{"sys_tty_config", {"vhangup", NULL}},
	{"sys_nice", {"get_mempolicy", "mbind", "set_mempolicy",
		      "set_mempolicy_home_node", NULL}},
	{"syslog", {"syslog", NULL}},
	{"bpf", {"bpf", NULL}},
	{"perfmon", {"perf_event_open", NULL}},
};

#define AF_VSOCK_NR 40
/* CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
 * CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
#define CLONE_NS_FLAGS 0x7E020000ull

static int has_cap(char **caps, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(caps[i], name) == 0)
			return 1;
	return 0;
}

static int allow(scmp_filter_ctx ctx, const char *name, FILE *log)
{
	int nr = seccomp_syscall_resolve_name(name);
	int rc;

	if (nr == __NR_SCMP_ERROR || nr < 0)
		return 0; /* not a system call on this architecture */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (rc && rc != -EEXIST) {
		fprintf(stderr, "seccomp_run: allowing %s: %s\n", name,
			strerror(-rc));
		return rc;
	}
	if (log)
		fprintf(log, "allow %s\n", name);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: seccomp_run [--cap NAME]... [--log FILE] -- "
		"COMMAND [ARG]...\n");
	exit(125);
}

int main(int argc, char **argv)
{
	static const unsigned long personas[] = {0, 8, 0x20000, 0x20008,
						 0xffffffff};
	char *caps[64];
	int n_caps = 0, i, rc, admin;
	const char *log_path = NULL;
	FILE *log = NULL;
	scmp_filter_ctx ctx;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--cap") == 0 && i + 1 < argc &&
		    n_caps < 64) {
			caps[n_caps++] = argv[++i];
		} else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
			log_path = argv[++i];
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	if (log_path && !(log = fopen(log_path, "w"))) {
		perror(log_path);
		return 125;
	}
	admin = has_cap(caps, n_caps, "sys_admin");

	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		fprintf(stderr, "seccomp_run: seccomp_init failed\n");
		return 125;
	}
	for (const char *const *s = allowed; *s; s++)
		if (allow(ctx, *s, log))
			return 125;
	for (size_t g = 0; g < sizeof(by_cap) / sizeof(by_cap[0]); g++) {
		if (!has_cap(caps, n_caps, by_cap[g].cap))
			continue;
		for (const char *const *s = by_cap[g].calls; *s; s++)
			if (allow(ctx, *s, log))
				return 125;
	}
	/* socket: any family but AF_VSOCK. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			      SCMP_A0(SCMP_CMP_NE, AF_VSOCK_NR));
	/* personality: only the harmless personas. */
	for (size_t p = 0; !rc && p < sizeof(personas) / sizeof(personas[0]); p++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality),
				      1, SCMP_A0(SCMP_CMP_EQ, personas[p]));
	if (!rc && !admin) {
		/* clone: threads and processes, no new namespaces; clone3
		 * hides its flags in memory, so it says "not implemented". */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0));
		if (!rc)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
					      SCMP_SYS(clone3), 0);
	}
	if (rc) {
		fprintf(stderr, "seccomp_run: building the filter: %s\n",
			strerror(-rc));
		return 125;
	}
	if (log) {
		fprintf(log, "allow socket (not AF_VSOCK), personality (5 "
			"values)%s\ndefault EPERM\n",
			admin ? "" : ", clone (no namespace flags); clone3 ENOSYS");
		fclose(log);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		perror("seccomp_run: PR_SET_NO_NEW_PRIVS");
		return 125;
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc) {
		fprintf(stderr, "seccomp_run: loading the filter: %s\n",
			strerror(-rc));
		return 125;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "seccomp_run: %s: %s\n", argv[i], strerror(errno));
	return 127;
}
