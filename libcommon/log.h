/* log: one logging call for every program, to the journal when systemd
 * started us, to stderr otherwise; libre's own debug output routed in. */
#ifndef LP_LOG_H
#define LP_LOG_H

#include <syslog.h>

struct sip_msg;

void log_init(const char *daemon, const char *level);
void log_set_level(const char *level);
int  log_level(void);
void log_msg(int prio, const char *fmt, ...);
void log_sip(int prio, const struct sip_msg *msg, const char *user,
	     const char *fmt, ...);

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)    log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
