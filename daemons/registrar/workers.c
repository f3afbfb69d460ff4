/* workers: the edge as several processes, one event loop each. The first
 * process (the one systemd started, worker 0) makes the others with fork()
 * before anything is opened, so that each opens its own sockets, stores
 * and loop as a single edge would. Worker 0 alone speaks to systemd: it is
 * ready when every worker said so on its pipe, it passes SIGHUP on, and it
 * stops the others when it stops. A worker that dies ends worker 0 with a
 * failure (the unit's Restart= brings the whole edge back); worker 0 that
 * dies takes the others with it (PR_SET_PDEATHSIG). What the workers share
 * and pass between them is handoff.c's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "workers.h"

#define READY_WAIT_MS 60000
#define STOP_WAIT_MS 5000

struct workers {
	unsigned index;
	unsigned n;
	pid_t pid[CONF_MAX_WORKERS];   /* worker 0's: the others */
	int fd[CONF_MAX_WORKERS];      /* worker 0: read ends; else [0] the
				        * write end of its own pipe */
	bool watched[CONF_MAX_WORKERS];
	bool died;
};

static void destructor(void *arg)
{
	struct workers *w = arg;

	workers_stop(w);
	for (unsigned i = 0; i < CONF_MAX_WORKERS; i++) {
		if (w->watched[i])
			fd_close(w->fd[i]);
		if (w->fd[i] >= 0)
			(void)close(w->fd[i]);
	}
}

int workers_fork(struct workers **wp, unsigned n)
{
	struct workers *w;

	if (!wp || !n || n > CONF_MAX_WORKERS)
		return EINVAL;
	w = mem_zalloc(sizeof(*w), destructor);
	if (!w)
		return ENOMEM;
	w->n = n;
	for (unsigned i = 0; i < CONF_MAX_WORKERS; i++)
		w->fd[i] = -1;

	for (unsigned i = 1; i < n; i++) {
		int p[2];
		pid_t pid;

		if (pipe(p)) {
			int err = errno;

			mem_deref(w);
			return err;
		}
		pid = fork();
		if (pid < 0) {
			int err = errno;

			(void)close(p[0]);
			(void)close(p[1]);
			mem_deref(w);
			return err;
		}
		if (pid == 0) {
			/* a worker: its own pipe's write end, nothing of
			 * its elder siblings', no word to systemd */
			for (unsigned j = 1; j < i; j++) {
				(void)close(w->fd[j]);
				w->fd[j] = -1;
				w->pid[j] = 0;
			}
			(void)close(p[0]);
			w->fd[0] = p[1];
			w->index = i;
			(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(1);      /* worker 0 already gone */
			(void)unsetenv("NOTIFY_SOCKET");
			(void)unsetenv("WATCHDOG_USEC");
			(void)unsetenv("WATCHDOG_PID");
			*wp = w;
			return 0;
		}
		(void)close(p[1]);
		w->fd[i] = p[0];
		w->pid[i] = pid;
	}
	*wp = w;
	return 0;
}

unsigned workers_index(const struct workers *w)
{
	return w ? w->index : 0;
}

unsigned workers_count(const struct workers *w)
{
	return w ? w->n : 1;
}

static void gone_h(int flags, void *arg)
{
	struct workers *w = arg;
	char c;

	(void)flags;
	for (unsigned i = 1; i < w->n; i++) {
		ssize_t got;

		if (w->fd[i] < 0)
			continue;
		got = read(w->fd[i], &c, 1);
		if (got > 0 || (got < 0 && errno == EAGAIN))
			continue;
		log_err("edge worker %u (pid %d) ended: stopping the edge",
			i, (int)w->pid[i]);
		fd_close(w->fd[i]);
		w->watched[i] = false;
		w->died = true;
		re_cancel();
		return;
	}
}

int workers_ready(struct workers *w)
{
	uint64_t until;

	if (!w || w->n == 1)
		return 0;
	if (w->index) {
		const char r = 'R';

		return write(w->fd[0], &r, 1) == 1 ? 0 : errno;
	}
	until = tmr_jiffies() + READY_WAIT_MS;
	for (unsigned i = 1; i < w->n; i++) {
		struct pollfd pfd = { .fd = w->fd[i], .events = POLLIN };
		char c = 0;

		for (;;) {
			const uint64_t now = tmr_jiffies();
			int rc;

			if (now >= until) {
				log_err("edge worker %u not ready in %u s", i,
					READY_WAIT_MS / 1000);
				return ETIMEDOUT;
			}
			rc = poll(&pfd, 1, (int)(until - now));
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc > 0 && read(w->fd[i], &c, 1) == 1 && c == 'R')
				break;
			if (rc > 0) {
				log_err("edge worker %u ended while starting",
					i);
				return ECHILD;
			}
		}
	}
	/* from now on, a worker's end is seen as its pipe's end */
	for (unsigned i = 1; i < w->n; i++) {
		int err;

		(void)fcntl(w->fd[i], F_SETFL,
			    fcntl(w->fd[i], F_GETFL) | O_NONBLOCK);
		err = fd_listen(w->fd[i], FD_READ, gone_h, w);

		if (err)
			return err;
		w->watched[i] = true;
	}
	log_info("%u edge workers ready", w->n);
	return 0;
}

bool workers_failed(const struct workers *w)
{
	return w && w->died;
}

void workers_signal(struct workers *w, int sig)
{
	if (!w || w->index)
		return;
	for (unsigned i = 1; i < w->n; i++)
		if (w->pid[i] > 0)
			(void)kill(w->pid[i], sig);
}

void workers_stop(struct workers *w)
{
	uint64_t until;
	unsigned left;

	if (!w || w->index)
		return;
	workers_signal(w, SIGTERM);
	until = tmr_jiffies() + STOP_WAIT_MS;
	do {
		left = 0;
		for (unsigned i = 1; i < w->n; i++) {
			if (w->pid[i] <= 0)
				continue;
			if (waitpid(w->pid[i], NULL, WNOHANG) == w->pid[i])
				w->pid[i] = 0;
			else
				++left;
		}
		if (left)
			(void)usleep(10000);
	} while (left && tmr_jiffies() < until);
	for (unsigned i = 1; i < w->n; i++) {
		if (w->pid[i] <= 0)
			continue;
		log_warn("edge worker %u did not stop: killed", i);
		(void)kill(w->pid[i], SIGKILL);
		(void)waitpid(w->pid[i], NULL, 0);
		w->pid[i] = 0;
	}
}
