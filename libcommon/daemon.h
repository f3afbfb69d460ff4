/* daemon: what makes a Lamplight program a good systemd citizen: readiness,
 * status, the watchdog, SIGHUP for reload and SIGTERM/SIGINT for stop. */
#ifndef LP_DAEMON_H
#define LP_DAEMON_H

struct lpdaemon;

typedef void (daemon_reload_h)(void *arg);

int  daemon_alloc(struct lpdaemon **dp, daemon_reload_h *reloadh, void *arg);
void daemon_ready(struct lpdaemon *d, const char *status);
void daemon_status(const char *fmt, ...);
int  daemon_run(struct lpdaemon *d);

#endif
