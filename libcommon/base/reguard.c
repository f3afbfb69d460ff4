/* reguard: libre's address and Via parsers with a length cap in front
 * (reguard.h). */
#include <dlfcn.h>
#include <errno.h>
#include <re.h>
#include "base/log.h"
#include "base/reguard.h"

typedef int (addr_fn)(struct sip_addr *addr, const struct pl *pl);
typedef int (via_fn)(struct sip_via *via, const struct pl *pl);

static size_t cap_bytes;
static addr_fn *real_addr;
static via_fn *real_via;

void reguard_init(size_t cap)
{
	cap_bytes = cap;
	/* libre's own definitions, the next in the lookup order */
	real_addr = (addr_fn *)dlsym(RTLD_NEXT, "sip_addr_decode");
	real_via = (via_fn *)dlsym(RTLD_NEXT, "sip_via_decode");
}

/* A refusal makes libre drop the message (over TCP, the connection):
 * said in the log, at most once a second, with a count of the others. */
static bool too_long(const struct pl *pl, const char *what)
{
	static struct log_every every;
	uint32_t unlogged;

	if (!cap_bytes || !pl || pl->l <= cap_bytes)
		return false;
	if (!log_every(&every, tmr_jiffies(), 1000, &unlogged))
		return true;
	log_notice("a message with %s of %zu bytes (cap %zu, "
		   "sip_max_address_header) is dropped unread%s", what,
		   pl->l, cap_bytes, unlogged ? ", and others since the last "
		   "line" : "");
	return true;
}

int sip_addr_decode(struct sip_addr *addr, const struct pl *pl)
{
	if (too_long(pl, "an address (From, To, Contact, ...)"))
		return EBADMSG;
	if (!real_addr)
		reguard_init(cap_bytes);
	return real_addr ? real_addr(addr, pl) : ENOSYS;
}

int sip_via_decode(struct sip_via *via, const struct pl *pl)
{
	if (too_long(pl, "a Via"))
		return EBADMSG;
	if (!real_via)
		reguard_init(cap_bytes);
	return real_via ? real_via(via, pl) : ENOSYS;
}
