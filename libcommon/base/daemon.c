/* daemon: sd_notify READY/STOPPING/RELOADING/STATUS, a watchdog timer at
 * half of WatchdogSec, SIGHUP read from a signalfd inside libre's loop
 * (re_main covers only INT, TERM and ALRM: LIBRE.md §2), and freed memory
 * given back to the system every TRIM_MS: a burst (SIP keeps each
 * transaction 32 s) leaves free heap that glibc keeps otherwise, and an
 * appliance's resident size should say what it holds. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <re.h>
#include <systemd/sd-daemon.h>
#include "lp_config.h"
#include "base/conf.h"
#include "base/log.h"
#include "base/fastrand.h"
#include "base/reguard.h"
#include "base/daemon.h"

#define TRIM_MS 10000   /* malloc_trim: a few ms for a large heap */

struct lpdaemon {
	struct tmr wd;
	struct tmr trim;
	uint64_t wd_ms;
	int sigfd;
	daemon_reload_h *reloadh;
	void *arg;
};

static void destructor(void *arg)
{
	struct lpdaemon *d = arg;

	tmr_cancel(&d->wd);
	tmr_cancel(&d->trim);
	if (d->sigfd >= 0) {
		fd_close(d->sigfd);
		close(d->sigfd);
	}
}

static void wd_h(void *arg)
{
	struct lpdaemon *d = arg;

	sd_notify(0, "WATCHDOG=1");
	tmr_start(&d->wd, d->wd_ms, wd_h, d);
}

static void trim_h(void *arg)
{
	struct lpdaemon *d = arg;

	(void)malloc_trim(0);
	tmr_start(&d->trim, TRIM_MS, trim_h, d);
}

static void sig_h(int flags, void *arg)
{
	struct lpdaemon *d = arg;
	struct signalfd_siginfo si;

	(void)flags;
	/* drain: several signals may be pending (LIBRE.md §10) */
	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGHUP)
			continue;
		log_notice("SIGHUP: reloading");
		sd_notify(0, "RELOADING=1");
		if (d->reloadh)
			d->reloadh(d->arg);
		sd_notify(0, "READY=1");
	}
}

int daemon_alloc(struct lpdaemon **dp, daemon_reload_h *reloadh, void *arg)
{
	struct lpdaemon *d;
	sigset_t set;
	uint64_t usec = 0;
	int err;

	if (!dp)
		return EINVAL;
	d = mem_zalloc(sizeof(*d), destructor);
	if (!d)
		return ENOMEM;
	d->sigfd = -1;
	d->reloadh = reloadh;
	d->arg = arg;
	tmr_init(&d->wd);
	tmr_init(&d->trim);
	tmr_start(&d->trim, TRIM_MS, trim_h, d);

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(d->sigfd, FD_READ, sig_h, d);
	if (err)
		goto out;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		d->wd_ms = usec / 2000;
		if (!d->wd_ms)
			d->wd_ms = 1;
		tmr_start(&d->wd, d->wd_ms, wd_h, d);
	}

 out:
	if (err)
		mem_deref(d);
	else
		*dp = d;
	return err;
}

void daemon_ready(struct lpdaemon *d, const char *status)
{
	(void)d;
	sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", status,
		   (unsigned long)getpid());
}

void daemon_status(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	re_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}

static void stop_h(int sig)
{
	log_notice("signal %d: stopping", sig);
	sd_notify(0, "STOPPING=1");
	re_cancel();
}

static int stop_err;

void daemon_stop(int err)
{
	stop_err = err;
	re_cancel();
}

int daemon_run(struct lpdaemon *d)
{
	int err;

	(void)d;
	err = re_main(stop_h);
	return err ? err : stop_err;
}

/* What SIGHUP changes in every daemon: the log level (the rest needs a
 * restart). A configuration that does not load is ignored, with a log
 * line. */
int daemon_reload(const char *conf_path, struct conf *live)
{
	char *msg = NULL;
	char restart[512];
	unsigned changed = 0;
	int err;

	err = conf_reload(live, conf_path, &msg, restart, sizeof(restart),
			  &changed);
	if (err) {
		log_warn("reload: %s; the running configuration stays",
			 msg ? msg : "error");
		mem_deref(msg);
		return err;
	}
	log_set_level(live->log_level);
	reguard_init(live->sip_max_address_header);
	log_notice("reload: %u setting(s) changed", changed);
	if (restart[0])
		log_warn("reload: %s changed, which takes a restart; the "
			 "running value stays", restart);
	return 0;
}

/* The command line every daemon takes (-c FILE, -h, -V), its
 * configuration, then its log named `name`. 0: go on with *confp and
 * *pathp set; otherwise the status to exit with (what went wrong is on
 * stderr). */
int daemon_args(int argc, char **argv, const char *name,
		const char **pathp, struct conf **confp)
{
	char *msg = NULL;
	int opt;

	fastrand_init();
	*pathp = NULL;
	while ((opt = getopt(argc, argv, "c:hV")) != -1) {
		switch (opt) {
		case 'c':
			*pathp = optarg;
			break;
		case 'V':
			printf("lamplight-%s %s\n", name, LP_VERSION);
			return -1;
		default:
			fprintf(stderr, "usage: lamplight-%s [-c FILE]\n",
				name);
			return opt == 'h' ? -1 : 2;
		}
	}
	if (conf_load(confp, *pathp, &msg)) {
		fprintf(stderr, "lamplight-%s: %s\n", name,
			msg ? msg : "cannot read configuration");
		mem_deref(msg);
		return DAEMON_EXIT_CONFIG;
	}
	log_init(name, (*confp)->log_level);
	reguard_init((*confp)->sip_max_address_header);
	return 0;
}
