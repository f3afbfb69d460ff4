/* log: one logging call for every program, to the journal when systemd
 * started us, to stderr otherwise; libre's own debug output routed in. */
#ifndef LP_LOG_H
#define LP_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

struct sip_msg;

void log_init(const char *daemon, const char *level);
void log_set_level(const char *level);
int  log_level(void);
void log_msg(int prio, const char *fmt, ...);
void log_sip(int prio, const struct sip_msg *msg, const char *user,
	     const char *fmt, ...);

/* One place's line at most every `every_ms` (a flood must not flood the
 * log), now_ms being tmr_jiffies() or the caller's clock: true when this
 * one may go out; *skipped is then how many did not since the last that
 * did. */
struct log_every {
	uint64_t last;
	uint32_t skipped;
};
bool log_every(struct log_every *le, uint64_t now_ms, uint64_t every_ms,
	       uint32_t *skipped);

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)    log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
