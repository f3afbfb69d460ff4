/* test_location: RFC 3261 §10.3 binding rules on the location service:
 * add, refresh, several contacts, remove one, remove all, out-of-order
 * CSeq, the contact cap, RFC 5626 instance replacement, expiry, and a
 * reload from the store (restart). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "store/store.h"
#include "store/store_loc.h"
#include "location.h"
#include "tap.h"

static char dir[] = "/tmp/lp-test-loc-XXXXXX";

static struct loc_update upd(const char *callid, uint32_t cseq,
			     struct loc_contact *c, unsigned n)
{
	struct loc_update u;

	memset(&u, 0, sizeof(u));
	u.user = "alice";
	pl_set_str(&u.callid, callid);
	u.cseq = cseq;
	u.tp = SIP_TRANSP_UDP;
	sa_set_str(&u.src, "192.0.2.1", 5060);
	u.c = c;
	u.n = n;
	return u;
}

static struct loc_contact contact(const char *uri, uint32_t exp, uint32_t q)
{
	struct loc_contact c;

	memset(&c, 0, sizeof(c));
	pl_set_str(&c.uri, uri);
	c.expires = exp;
	c.q = q;
	return c;
}

static unsigned nb(struct location *loc)
{
	struct pl a = PL("alice");
	const struct aor *aor = location_find(loc, &a);

	return aor ? list_count(&aor->bindings) : 0;
}

static uint64_t first_exp(struct location *loc)
{
	struct pl a = PL("alice");
	const struct aor *aor = location_find(loc, &a);
	const struct binding *b;

	if (!aor || !aor->bindings.head)
		return 0;
	b = aor->bindings.head->data;
	return b->expires;
}

static const char *first_uri(struct location *loc)
{
	struct pl a = PL("alice");
	const struct aor *aor = location_find(loc, &a);
	const struct binding *b;

	if (!aor || !aor->bindings.head)
		return "";
	b = aor->bindings.head->data;
	return b->uri;
}

static unsigned told;

static void changed_h(const char *user, void *arg)
{
	(void)arg;
	if (!strcmp(user, "alice"))
		++told;
}

/* Two edge workers over one store (handoff.c): what one writes, the other
 * reads again; an expiry one saw is not one the other refreshed. */
static void shared(struct store *st, const struct loc_opts *base)
{
	struct location *a = NULL, *b = NULL;
	struct loc_opts o = *base;
	struct loc_contact c[2];
	struct loc_update u;
	struct binding *bb;
	const char *reason;
	uint16_t code;

	o.shared = true;
	o.changed = changed_h;
	ok(!location_alloc(&a, st, NULL, &o) && !location_alloc(&b, st, NULL,
								 &o),
	   "two workers' location services on one store");
	if (!a || !b)
		goto out;
	told = 0;
	c[0] = contact("sip:alice@192.0.2.1:5060", 60, 1000);
	u = upd("call-s1", 1, c, 1);
	ok(!location_apply(a, &u, 3000, &code, &reason) && code == 200 &&
	   told == 1 && nb(b) == 0,
	   "worker a binds alice and tells the others once");
	ok(!location_reload(b, "alice", 3000) && nb(b) == 1 &&
	   first_exp(b) == 3060, "worker b reads her again: the binding");
	bb = location_binding(b, "alice", "sip:alice@192.0.2.1:5060");
	if (bb)
		bb->unreachable = true;
	c[1] = contact("sip:alice@192.0.2.2:5060", 60, 500);
	u = upd("call-s1", 2, c, 2);
	location_apply(a, &u, 3010, &code, &reason);
	ok(!location_reload(b, "alice", 3010) && nb(b) == 2 &&
	   first_exp(b) == 3070, "a refresh and a second contact: b agrees");
	bb = location_binding(b, "alice", "sip:alice@192.0.2.1:5060");
	ok(bb && bb->unreachable,
	   "what only b knew of a contact (a probe's verdict) is kept");
	/* b saw the first contact expire at 3070; a refreshed it to 3100
	 * just before b swept */
	c[0].expires = 90;
	u = upd("call-s1", 3, c, 1);
	location_apply(a, &u, 3010, &code, &reason);
	told = 0;
	location_expire(b, 3075);
	ok(told == 0 && nb(b) == 1 &&
	   location_binding(b, "alice", "sip:alice@192.0.2.1:5060") &&
	   location_binding(b, "alice", "sip:alice@192.0.2.1:5060")->expires
	   == 3100, "b's sweep drops the second contact, keeps the row a "
	   "refreshed, reads it again, and tells nobody (each worker sweeps "
	   "its own)");
	location_expire(b, 3101);
	ok(nb(b) == 0 && !location_reload(a, "alice", 3101) && nb(a) == 0,
	   "both expired: gone from the store, and from a when it reads");
	c[0] = contact("sip:alice@192.0.2.1:5060", 60, 1000);
	u = upd("call-s2", 1, c, 1);
	location_apply(b, &u, 4000, &code, &reason);
	location_reload(a, "alice", 4000);
	u.cseq = 2;
	u.n = 0;
	u.remove_all = true;
	location_apply(b, &u, 4001, &code, &reason);
	ok(nb(a) == 1 && !location_reload(a, "alice", 4001) && nb(a) == 0 &&
	   location_count(a) == 0, "b removes every binding: a reads none");
 out:
	mem_deref(a);
	mem_deref(b);
}

struct done {
	unsigned n;
	uint16_t code[8];
};

static void done_h(uint16_t code, const char *reason, void *arg)
{
	struct done *d = arg;

	(void)reason;
	if (d->n < 8)
		d->code[d->n] = code;
	++d->n;
}

static int count_h(const struct loc_rec *r, void *arg)
{
	(void)r;
	++*(unsigned *)arg;
	return 0;
}

static unsigned rows(struct store *st, const char *user)
{
	unsigned n = 0;

	return loc_foreach_aor(st, NULL, user, count_h, &n) ? 99 : n;
}

/* Group commit: updates wait for the group's one transaction; each
 * caller hears once it commits, in order; a second update of the same
 * address-of-record commits the group first; closing tells the
 * waiting to answer nothing. */
static void group(struct store *st, const struct loc_opts *base)
{
	struct loc_opts o = *base;
	struct location *loc = NULL;
	struct loc_contact c[3][1];
	struct loc_update u[3];
	char uris[3][64];
	const char *users[] = { "gina", "hal", "ida" };
	struct done d = { .n = 0 };
	uint16_t code;
	const char *reason;
	bool waiting = true;

	o.group_ms = 50;
	if (location_alloc(&loc, st, NULL, &o)) {
		ok(false, "group: location service");
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		/* the URI is read at the commit: kept until then */
		re_snprintf(uris[i], sizeof(uris[i]), "sip:%s@192.0.2.9:5060",
			    users[i]);
		c[i][0] = contact(uris[i], 60, 1000);
		u[i] = upd("call-g", 1, c[i], 1);
		u[i].user = users[i];
		waiting = waiting && !location_update(loc, &u[i], 5000,
			done_h, &d, &code, &reason) && code == 0;
	}
	ok(waiting && d.n == 0 && rows(st, "gina") == 0,
	   "group: three registrations wait for one commit, nothing stored "
	   "yet");
	location_flush(loc);
	ok(d.n == 3 && d.code[0] == 200 && d.code[2] == 200 &&
	   rows(st, "gina") == 1 && rows(st, "ida") == 1 &&
	   location_count(loc) == 3,
	   "group: the commit stores all three, and each is told 200");

	c[0][0].expires = 120;
	u[0].cseq = 2;
	d.n = 0;
	(void)location_update(loc, &u[0], 5010, done_h, &d, &code, &reason);
	u[0].cseq = 3;
	(void)location_update(loc, &u[0], 5011, done_h, &d, &code, &reason);
	ok(d.n == 1 && d.code[0] == 200,
	   "group: a second update of the same user commits the first");
	ok(!location_update(loc, &u[1], 5012, done_h, &d, &code, &reason) &&
	   code == 200 && d.n == 1,
	   "group: a retransmission has nothing to write: answered at once");

	loc = mem_deref(loc);
	ok(d.n == 2 && d.code[1] == 0,
	   "group: closing tells the one still waiting to answer nothing");
}

int main(void)
{
	struct store *st = NULL;
	struct location *loc = NULL;
	struct loc_opts o = { .max_contacts = 3, .domain = "example.com" };
	struct loc_contact c[4];
	struct loc_update u;
	uint16_t code;
	const char *reason;
	char p[256];

	libre_init();
	if (!mkdtemp(dir))
		return 1;
	re_snprintf(p, sizeof(p), "%s/registrar.db", dir);
	ok(!loc_open(&st, p, NULL), "store");
	ok(!location_alloc(&loc, st, NULL, &o), "location service");

	c[0] = contact("sip:alice@192.0.2.1:5060", 60, 1000);
	u = upd("call-1", 1, c, 1);
	ok(!location_apply(loc, &u, 1000, &code, &reason) && code == 200 &&
	   nb(loc) == 1, "a first contact is bound");

	u = upd("call-1", 2, c, 1);
	c[0].expires = 120;
	ok(!location_apply(loc, &u, 1010, &code, &reason) && code == 200 &&
	   nb(loc) == 1, "a refresh keeps one binding");

	u = upd("call-1", 2, c, 1);
	c[0].expires = 30;
	ok(!location_apply(loc, &u, 1011, &code, &reason) && code == 200 &&
	   nb(loc) == 1 && first_exp(loc) == 1010 + 120,
	   "the same CSeq again in the same Call-ID: a retransmission, 200, "
	   "nothing changed");
	c[0].expires = 120;
	u = upd("call-1", 1, c, 1);
	ok(!location_apply(loc, &u, 1011, &code, &reason) && code == 400,
	   "an older CSeq: 400");
	u = upd("call-other", 1, c, 1);
	ok(!location_apply(loc, &u, 1012, &code, &reason) && code == 200,
	   "another Call-ID may update the binding at any CSeq");

	c[0] = contact("sip:alice@192.0.2.2:5060", 60, 500);
	c[1] = contact("sip:alice@192.0.2.3:5060", 60, 900);
	u = upd("call-2", 5, c, 2);
	ok(!location_apply(loc, &u, 1020, &code, &reason) && code == 200 &&
	   nb(loc) == 3, "two more contacts in one REGISTER: three bindings");
	ok(!strcmp(first_uri(loc), "sip:alice@192.0.2.1:5060"),
	   "highest q first");

	c[0] = contact("sip:alice@192.0.2.4:5060", 60, 1000);
	u = upd("call-3", 1, c, 1);
	ok(!location_apply(loc, &u, 1030, &code, &reason) && code == 403 &&
	   nb(loc) == 3, "a fourth contact over the cap of 3: 403, nothing "
	   "changed");

	c[0] = contact("sip:alice@192.0.2.3:5060", 60, 900);
	c[1] = contact("sip:alice@192.0.2.9:5060", 60, 900);
	c[2] = contact("sip:alice@192.0.2.8:5060", 60, 900);
	u = upd("call-2", 4, c, 3);
	ok(!location_apply(loc, &u, 1031, &code, &reason) && code == 400 &&
	   nb(loc) == 3, "failing on one contact applies none of the others");

	c[0] = contact("sip:alice@192.0.2.2:5060", 0, 1000);
	u = upd("call-2", 6, c, 1);
	ok(!location_apply(loc, &u, 1040, &code, &reason) && code == 200 &&
	   nb(loc) == 2, "expires=0 removes one binding");

	c[0] = contact("sip:ALICE@192.0.2.3:5060", 60, 900);
	u = upd("call-9", 1, c, 1);
	location_apply(loc, &u, 1041, &code, &reason);
	ok(nb(loc) == 3, "user part compares case-sensitively (§19.1.4)");
	c[0] = contact("sip:alice@192.0.2.3:5060;transport=udp", 60, 900);
	u = upd("call-9", 2, c, 1);
	location_apply(loc, &u, 1041, &code, &reason);
	ok(nb(loc) == 3, "transport param set on one side only: a new URI "
	   "(replaces nothing)");
	c[0] = contact("sip:ALICE@192.0.2.3:5060", 0, 900);
	c[1] = contact("sip:alice@192.0.2.3:5060;transport=udp", 0, 900);
	u = upd("call-9", 3, c, 2);
	location_apply(loc, &u, 1042, &code, &reason);
	ok(nb(loc) == 2 && code == 200, "both removed again");

	/* RFC 5626: same +sip.instance and reg-id replace the old flow */
	c[0] = contact("sip:alice@192.0.2.50:5060", 60, 1000);
	pl_set_str(&c[0].instance, "\"<urn:uuid:1>\"");
	c[0].reg_id = 1;
	u = upd("call-5", 1, c, 1);
	location_apply(loc, &u, 1050, &code, &reason);
	ok(nb(loc) == 3, "an outbound flow is bound");
	c[0] = contact("sip:alice@192.0.2.51:6000", 60, 1000);
	pl_set_str(&c[0].instance, "\"<urn:uuid:1>\"");
	c[0].reg_id = 1;
	u = upd("call-6", 1, c, 1);
	location_apply(loc, &u, 1051, &code, &reason);
	ok(nb(loc) == 3, "the same instance from a new address replaces it");

	/* restart: reload from the store */
	loc = mem_deref(loc);
	ok(!location_alloc(&loc, st, NULL, &o) && !location_load(loc, 1060)
	   && nb(loc) == 3, "a reload restores every binding");

	location_expire(loc, 1079);
	ok(nb(loc) == 3, "nothing expires early");
	location_expire(loc, 1200);
	ok(nb(loc) == 0 && location_count(loc) == 0,
	   "every binding expires on time");

	c[0] = contact("sip:alice@192.0.2.1:5060", 60, 1000);
	c[1] = contact("sip:alice@192.0.2.2:5060", 60, 1000);
	u = upd("call-7", 5, c, 2);
	location_apply(loc, &u, 2000, &code, &reason);
	u = upd("call-7", 4, c, 0);
	u.remove_all = true;
	ok(!location_apply(loc, &u, 2001, &code, &reason) && code == 400,
	   "Contact: * with an older CSeq: 400");
	u.cseq = 6;
	ok(!location_apply(loc, &u, 2001, &code, &reason) && code == 200 &&
	   nb(loc) == 0, "Contact: * removes every binding");
	loc = mem_deref(loc);
	ok(!location_alloc(&loc, st, NULL, &o) && !location_load(loc, 2002)
	   && nb(loc) == 0, "and the store agrees");

	mem_deref(loc);
	loc = NULL;
	shared(st, &o);
	group(st, &o);

	mem_deref(st);
	re_snprintf(p, sizeof(p), "rm -rf %s", dir);
	if (system(p)) {}
	libre_close();
	return tap_done();
}
