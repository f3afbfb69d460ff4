/* overload: the receive queue's delay, and 503 for new requests that
 * waited too long (overload.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "sip/rawreply.h"
#include "sip/rawsip.h"
#include "sip/sockage.h"
#include "sip/overload.h"

#define DROPS_MS 500           /* how often the box's UDP drops are read */

struct overload {
	const struct conf *conf;
	struct tmr tmr;
	uint64_t last_late;    /* jiffies: a datagram waited too long */
	uint64_t last_drop;    /* jiffies: the box dropped UDP datagrams */
	uint64_t drops;        /* the box's count when last read */
	uint32_t shed;         /* 503s since the last log line */
	int64_t worst;         /* ms, the longest wait among them */
	struct log_every every;
};

/* Udp RcvbufErrors from /proc/net/snmp: datagrams the kernel dropped for
 * a full receive buffer, ours or anyone's on the box; false when it
 * cannot be read (a container without /proc: then only the delay
 * counts). */
static bool udp_drops(uint64_t *n)
{
	char names[512], vals[512];
	FILE *f = fopen("/proc/net/snmp", "r");
	bool ok = false;

	if (!f)
		return false;
	while (fgets(names, sizeof(names), f) &&
	       fgets(vals, sizeof(vals), f)) {
		char *ns, *vs, *np, *vp;

		if (strncmp(names, "Udp:", 4) || strncmp(vals, "Udp:", 4))
			continue;
		np = strtok_r(names + 4, " \n", &ns);
		vp = strtok_r(vals + 4, " \n", &vs);
		for (; np && vp; np = strtok_r(NULL, " \n", &ns),
			     vp = strtok_r(NULL, " \n", &vs)) {
			if (!strcmp(np, "RcvbufErrors")) {
				*n = strtoull(vp, NULL, 10);
				ok = true;
			}
		}
		break;
	}
	(void)fclose(f);
	return ok;
}

static void drops_h(void *arg)
{
	struct overload *o = arg;
	uint64_t n;

	if (udp_drops(&n)) {
		if (n != o->drops && o->drops != UINT64_MAX)
			o->last_drop = tmr_jiffies();
		o->drops = n;
	}
	tmr_start(&o->tmr, DROPS_MS, drops_h, o);
}

static void destructor(void *arg)
{
	struct overload *o = arg;

	tmr_cancel(&o->tmr);
}

int overload_alloc(struct overload **op, const struct conf *conf,
		   bool drops)
{
	struct overload *o;

	if (!op || !conf)
		return EINVAL;
	o = mem_zalloc(sizeof(*o), destructor);
	if (!o)
		return ENOMEM;
	o->conf = conf;
	o->drops = UINT64_MAX;
	tmr_init(&o->tmr);
	if (drops)
		drops_h(o);
	*op = o;
	return 0;
}

static void shed_log(struct overload *o, uint64_t now, int64_t age)
{
	uint32_t skipped;

	++o->shed;
	if (age > o->worst)
		o->worst = age;
	if (!log_every(&o->every, now, 1000, &skipped))
		return;
	log_warn("overloaded: %u new request%s waited in the receive queue "
		 "over overload_delay (%u ms, the longest %lld ms): 503 with "
		 "Retry-After", o->shed, o->shed == 1 ? "" : "s",
		 o->conf->overload_delay, (long long)o->worst);
	o->shed = 0;
	o->worst = 0;
}

bool overload_shed(struct overload *o, struct udp_sock *us,
		   const struct sa *src, const struct mbuf *mb, bool exempt)
{
	const char *p = (const char *)mbuf_buf(mb);
	size_t n = mbuf_get_left(mb);
	uint32_t delay = o->conf->overload_delay;
	char extra[32];
	struct mbuf *out;
	uint64_t now;
	int64_t age;
	bool sent;

	age = sockage_ms(udp_sock_fd(us, sa_af(src)));
	if (age <= OVERLOAD_LATE_MS && (!delay || age <= delay))
		return false;
	now = tmr_jiffies();
	if (age > OVERLOAD_LATE_MS)
		o->last_late = now;
	if (exempt || !delay || age <= delay || !rawsip_initial(p, n))
		return false;
	out = mbuf_alloc(n + 128);
	if (!out)
		return false;
	/* 1 to 4 s: the senders told to wait do not all come back at once */
	(void)re_snprintf(extra, sizeof(extra), "Retry-After: %u\r\n",
			  1 + rand_u16() % 4);
	sent = !rawreply(out, p, n, src, 503, "Service Unavailable",
			 rand_u64(), extra);
	if (sent) {
		out->pos = 0;
		(void)udp_send(us, src, out);
		shed_log(o, now, age);
	}
	mem_deref(out);
	return sent;
}

bool overload_since(const struct overload *o, uint64_t since)
{
	return o && (o->last_late >= since || o->last_drop >= since);
}
