/* ctl_run: `lamplightctl run` starts every daemon in the foreground with
 * one configuration, prefixes their output with their names, learns when
 * each is ready from its sd_notify READY=1 (we are its NOTIFY_SOCKET), and
 * stops them all on Ctrl-C or SIGTERM, or when one of them dies. Like
 * the systemd units, with umask 0007: the lamplight group (the admin
 * page's CGI) may write the admin database and reach the bus sockets. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <re.h>
#include "lp_config.h"
#include "base/conf.h"
#include "ctl.h"

#define START_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 10000

struct child {
	const char *name;      /* for the prefix */
	const char *binary;
	int route;             /* back daemon: its conf->routes index, the
				* address it listens on; unset: not run */
	pid_t pid;
	int out;               /* read end of its stdout+stderr */
	char buf[4096];
	size_t len;
	bool ready;
	bool exited;
	int status;
};

static struct child children[] = {
	{ "registrar", "lamplight-registrar", -1, 0, -1, "", 0, 0, 0, 0 },
	{ "presence", "lamplight-presence", 0, 0, -1, "", 0, 0, 0, 0 },
	{ "imrelay", "lamplight-imrelay", 1, 0, -1, "", 0, 0, 0, 0 },
	{ "blf", "lamplight-blf", 2, 0, -1, "", 0, 0, 0, 0 },
};
#define NCHILD (sizeof(children) / sizeof(children[0]))

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Next to us in a build tree, else LAMPLIGHT_SBINDIR, else /usr/sbin. */
static void find_binary(char *out, size_t len, const struct child *c)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *env = getenv("LAMPLIGHT_SBINDIR");

	if (env) {
		re_snprintf(out, len, "%s/%s", env, c->binary);
		return;
	}
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			re_snprintf(out, len, "%s/../daemons/%s/%s", self,
				 c->name, c->binary);
			if (!access(out, X_OK))
				return;
		}
	}
	re_snprintf(out, len, "%s/%s", LP_SBINDIR, c->binary);
}

static int spawn(struct child *c, const char *conf_path,
		 const char *notify)
{
	char bin[PATH_MAX];
	int fds[2];

	find_binary(bin, sizeof(bin), c);
	if (pipe2(fds, O_CLOEXEC))
		return errno;
	c->pid = fork();
	if (c->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return errno;
	}
	if (c->pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		setenv("NOTIFY_SOCKET", notify, 1);
		unsetenv("JOURNAL_STREAM");
		if (conf_path)
			execl(bin, c->binary, "-c", conf_path, (char *)NULL);
		else
			execl(bin, c->binary, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	c->out = fds[0];
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	return 0;
}

static void flush_lines(struct child *c, bool all)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t l = (size_t)(nl - c->buf);
		printf("%-10s| %.*s\n", c->name, (int)l, c->buf);
		memmove(c->buf, nl + 1, c->len - l - 1);
		c->len -= l + 1;
	}
	if (all && c->len) {
		printf("%-10s| %.*s\n", c->name, (int)c->len, c->buf);
		c->len = 0;
	}
	fflush(stdout);
}

static void read_output(struct child *c)
{
	for (;;) {
		ssize_t n;

		if (c->len == sizeof(c->buf))
			flush_lines(c, true);
		n = read(c->out, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0) {
			if (n == 0) {
				flush_lines(c, true);
				close(c->out);
				c->out = -1;
			}
			return;
		}
		c->len += (size_t)n;
		flush_lines(c, false);
	}
}

static struct child *by_pid(pid_t pid)
{
	for (size_t i = 0; i < NCHILD; i++)
		if (children[i].pid == pid)
			return &children[i];
	return NULL;
}

static void read_notify(int fd)
{
	for (;;) {
		char buf[1024];
		char cbuf[CMSG_SPACE(sizeof(struct ucred))];
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { 0 };
		struct cmsghdr *cm;
		struct child *c = NULL;
		ssize_t n;

		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			return;        /* drained (LIBRE.md §10) */
		buf[n] = '\0';
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS) {
				struct ucred uc;
				memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
				c = by_pid(uc.pid);
			}
		}
		if (c && (!strncmp(buf, "READY=1", 7) ||
			  strstr(buf, "\nREADY=1")))
			c->ready = true;
	}
}

static void reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = by_pid(pid);
		if (c) {
			c->exited = true;
			c->status = status;
		}
	}
}

static bool all(bool ready)
{
	for (size_t i = 0; i < NCHILD; i++) {
		if (ready && !children[i].ready)
			return false;
		if (!ready && children[i].pid && !children[i].exited)
			return false;
	}
	return true;
}

static void signal_all(int sig)
{
	for (size_t i = 0; i < NCHILD; i++)
		if (children[i].pid > 0 && !children[i].exited)
			kill(children[i].pid, sig);
}

static void pump(int sfd, int nfd, int timeout)
{
	struct pollfd p[NCHILD + 2];
	size_t n = 0;

	p[n].fd = sfd; p[n++].events = POLLIN;
	p[n].fd = nfd; p[n++].events = POLLIN;
	for (size_t i = 0; i < NCHILD; i++) {
		p[n].fd = children[i].out;
		p[n++].events = POLLIN;
	}
	if (poll(p, n, timeout) <= 0)
		return;
	read_notify(nfd);
	for (size_t i = 0; i < NCHILD; i++)
		if (children[i].out >= 0)
			read_output(&children[i]);
	if (p[0].revents & POLLIN) {
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGINT ||
			    si.ssi_signo == SIGTERM)
				raise(SIGUSR1);  /* marks "stop" below */
		}
	}
	reap();
}

static volatile sig_atomic_t stop_requested;

static void usr1_h(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int ctl_run(const struct conf *conf, const char *conf_path)
{
	struct sockaddr_un sun;
	char notify[108];
	sigset_t set;
	int nfd, sfd, one = 1, err = 0;
	uint64_t deadline;
	bool failed = false;

	(void)umask(0007);
	signal(SIGUSR1, usr1_h);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

	/* an abstract socket: nothing to clean up on disk */
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sfd < 0 || nfd < 0)
		return errno;
	setsockopt(nfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(notify, sizeof(notify), "@lamplightctl-%ld", (long)getpid());
	memcpy(sun.sun_path + 1, notify + 1, strlen(notify) - 1);
	if (bind(nfd, (struct sockaddr *)&sun,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			     strlen(notify)))) {
		err = errno;
		fprintf(stderr, "lamplightctl: notify socket: %s\n",
			strerror(err));
		return err;
	}

	for (size_t i = 0; i < NCHILD && !err; i++) {
		struct child *c = &children[i];

		if (c->route >= 0 && !conf->routes[c->route].port) {
			c->ready = true;      /* not configured: not run */
			continue;
		}
		err = spawn(c, conf_path, notify);
	}

	deadline = mono_ms() + START_TIMEOUT_MS;
	while (!err && !all(true) && !stop_requested) {
		if (mono_ms() > deadline) {
			fprintf(stderr, "lamplightctl: daemons not ready "
				"after %d s\n", START_TIMEOUT_MS / 1000);
			failed = true;
			break;
		}
		pump(sfd, nfd, 200);
		for (size_t i = 0; i < NCHILD; i++) {
			if (children[i].exited) {
				fprintf(stderr, "lamplightctl: %s failed to "
					"start\n", children[i].name);
				failed = true;
			}
		}
		if (failed)
			break;
	}
	if (!err && !failed && !stop_requested) {
		printf("lamplightctl: all daemons ready\n");
		fflush(stdout);
		while (!stop_requested) {
			pump(sfd, nfd, 1000);
			for (size_t i = 0; i < NCHILD; i++) {
				if (children[i].exited) {
					fprintf(stderr, "lamplightctl: %s "
						"exited\n", children[i].name);
					failed = true;
				}
			}
			if (failed)
				break;
		}
	}

	signal_all(SIGTERM);
	deadline = mono_ms() + STOP_TIMEOUT_MS;
	while (!all(false) && mono_ms() < deadline)
		pump(sfd, nfd, 100);
	signal_all(SIGKILL);
	while (!all(false))
		pump(sfd, nfd, 100);
	for (size_t i = 0; i < NCHILD; i++)
		if (children[i].out >= 0)
			read_output(&children[i]);
	close(nfd);
	close(sfd);
	return err ? err : failed ? EIO : 0;
}
