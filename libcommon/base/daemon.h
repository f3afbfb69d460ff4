/* daemon: what makes a Lamplight program a good systemd citizen: readiness,
 * status, the watchdog, SIGHUP for reload and SIGTERM/SIGINT for stop. */
#ifndef LP_DAEMON_H
#define LP_DAEMON_H

struct lpdaemon;

typedef void (daemon_reload_h)(void *arg);

int  daemon_alloc(struct lpdaemon **dp, daemon_reload_h *reloadh, void *arg);
struct conf;
/* systemctl reload (SIGHUP): the file again into the running `live`
 * (conf_reload), the log level set, a log line of what changed and of
 * what only a restart changes. 0, or the file was bad and nothing
 * changed. */
int  daemon_reload(const char *conf_path, struct conf *live);
/* The exit status of a daemon that must not be started again until an
 * administrator changes something (a bad configuration, a node_id that
 * is another node's): sysexits.h's EX_CONFIG, which the units name in
 * RestartPreventExitStatus=, so that systemd stops trying. */
#define DAEMON_EXIT_CONFIG 78
/* -1: exit 0 (-h, -V); 0: go on; else the exit status */
int  daemon_args(int argc, char **argv, const char *name,
		 const char **pathp, struct conf **confp);
void daemon_ready(struct lpdaemon *d, const char *status);
void daemon_status(const char *fmt, ...);
/* The event loop until a signal stops it (0) or daemon_stop(err) */
int  daemon_run(struct lpdaemon *d);
/* Stop the loop; daemon_run returns err (an exit status 1: systemd's
 * Restart=on-failure starts the daemon again). */
void daemon_stop(int err);

#endif
