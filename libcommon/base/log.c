/* log: formats with libre's printf (so %r, %j, %J and %m work) and sends
 * each line to the journal with structured fields (LAMPLIGHT_DAEMON, and for
 * SIP the user and the Call-ID) or to stderr. The level is the only global
 * state libcommon keeps (STYLE.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <re.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#define DEBUG_MODULE "lamplight"
#define DEBUG_LEVEL 7
#include <re_dbg.h>
#include "base/xmlesc.h"
#include "base/log.h"

static int level = LOG_INFO;
static const char *dname = "lamplight";
static bool journal;

static int parse_level(const char *s)
{
	if (!s)
		return LOG_INFO;
	if (!str_casecmp(s, "error"))   return LOG_ERR;
	if (!str_casecmp(s, "warning")) return LOG_WARNING;
	if (!str_casecmp(s, "notice"))  return LOG_NOTICE;
	if (!str_casecmp(s, "debug"))   return LOG_DEBUG;
	return LOG_INFO;
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_ERR:     return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE:  return "notice";
	case LOG_DEBUG:   return "debug";
	default:          return "info";
	}
}

/* What a peer sent may be in a log line (a Call-ID, a header name): its
 * control characters and bytes that are not UTF-8 are written as \xNN,
 * so that no line can be forged or broken. */
static void clean(char *out, size_t sz, const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sz; ) {
		size_t k = utf8_seq_len(p + i, len - i);

		if (p[i] < 0x20 || p[i] == 0x7f || k == 0) {
			(void)re_snprintf(out + o, sz - o, "\\x%02x", p[i]);
			o += 4;
			i += 1;
			continue;
		}
		if (o + k >= sz)
			break;
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
}

static void emit(int prio, const char *user, const struct pl *callid,
		 const char *raw)
{
	char text[2048];

	clean(text, sizeof(text), raw, strlen(raw));
	if (journal) {
		char f[5][1100];
		struct iovec iov[5];
		int n = 0;

		re_snprintf(f[n++], sizeof(f[0]), "MESSAGE=%s", text);
		re_snprintf(f[n++], sizeof(f[0]), "PRIORITY=%d", prio);
		re_snprintf(f[n++], sizeof(f[0]), "LAMPLIGHT_DAEMON=%s",
			    dname);
		if (user)
			re_snprintf(f[n++], sizeof(f[0]),
				    "LAMPLIGHT_USER=%s", user);
		if (callid && callid->l) {
			char cid[256];

			clean(cid, sizeof(cid), callid->p, callid->l);
			re_snprintf(f[n++], sizeof(f[0]), "SIP_CALL_ID=%s",
				    cid);
		}
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = f[i];
			iov[i].iov_len = strlen(f[i]);
		}
		sd_journal_sendv(iov, n);
		return;
	}
	fprintf(stderr, "%s %s: %s\n", dname, prio_name(prio), text);
}

/* libre's DEBUG_WARNING and friends come here instead of stderr. */
static void dbg_h(int lvl, const char *p, size_t len, void *arg)
{
	char text[512];
	int prio;

	(void)arg;
	switch (lvl) {
	case DBG_EMERG: case DBG_ALERT: case DBG_CRIT: case DBG_ERR:
		prio = LOG_ERR; break;
	case DBG_WARNING: prio = LOG_WARNING; break;
	case DBG_NOTICE:  prio = LOG_NOTICE; break;
	case DBG_INFO:    prio = LOG_INFO; break;
	default:          prio = LOG_DEBUG; break;
	}
	if (prio > level)
		return;
	while (len && (p[len-1] == '\n' || p[len-1] == '\r'))
		--len;
	re_snprintf(text, sizeof(text), "libre: %b", p, len);
	emit(prio, NULL, NULL, text);
}

void log_init(const char *daemon, const char *lvl)
{
	dname = daemon;
	level = parse_level(lvl);
	/* systemd sets JOURNAL_STREAM for units whose stderr is the journal */
	journal = getenv("JOURNAL_STREAM") != NULL;
	dbg_init(DBG_DEBUG, DBG_NONE);
	dbg_handler_set(dbg_h, NULL);
}

void log_set_level(const char *lvl)
{
	level = parse_level(lvl);
}

int log_level(void)
{
	return level;
}

static void vlog(int prio, const struct sip_msg *msg, const char *user,
		 const char *fmt, va_list ap)
{
	char text[1024];
	char *line = NULL;

	if (prio > level)
		return;
	if (re_vsnprintf(text, sizeof(text), fmt, ap) < 0)
		return;
	if (msg && !journal) {
		if (re_sdprintf(&line, "%s [%s%s%r]", text,
				user ? user : "", user ? " " : "",
				&msg->callid) == 0) {
			emit(prio, user, &msg->callid, line);
			mem_deref(line);
			return;
		}
	}
	emit(prio, user, msg ? &msg->callid : NULL, text);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_sip(int prio, const struct sip_msg *msg, const char *user,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, msg, user, fmt, ap);
	va_end(ap);
}

bool log_every(struct log_every *le, uint64_t now_ms, uint64_t every_ms,
	       uint32_t *skipped)
{
	if (le->last && now_ms - le->last < every_ms) {
		++le->skipped;
		return false;
	}
	le->last = now_ms;
	*skipped = le->skipped;
	le->skipped = 0;
	return true;
}
