/* daemon: what makes a Lamplight program a good systemd citizen: readiness,
 * status, the watchdog, SIGHUP for reload and SIGTERM/SIGINT for stop. */
#ifndef LP_DAEMON_H
#define LP_DAEMON_H

struct lpdaemon;

typedef void (daemon_reload_h)(void *arg);

int  daemon_alloc(struct lpdaemon **dp, daemon_reload_h *reloadh, void *arg);
void daemon_reload_log_level(const char *conf_path);
struct conf;
/* -1: exit 0 (-h, -V); 0: go on; else the exit status */
int  daemon_args(int argc, char **argv, const char *name,
		 const char **pathp, struct conf **confp);
void daemon_ready(struct lpdaemon *d, const char *status);
void daemon_status(const char *fmt, ...);
int  daemon_run(struct lpdaemon *d);

#endif
