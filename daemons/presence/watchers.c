/* watchers: the two event packages of lamplight-presence and who may
 * watch whom.
 *
 * presence (RFC 3856): a watcher gets the composed document of a user
 * who exists (404 otherwise), as the owner's rules decide (the semantics
 * of RFC 5025): allow, block (403, or terminated;reason=rejected when the
 * rule comes later), polite-block (the watcher sees the user offline),
 * confirm (202, pending until the owner decides). A rule names a watcher,
 * or "*" for anyone; without one the configured default applies. Users
 * always see their own presence.
 *
 * presence.winfo (RFC 3857, RFC 3858): a user, and nobody else, sees who
 * watches them and who waits, in full state, at every change. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_rules.h"
#include "presence/notifier.h"
#include "presence/pidf.h"
#include "base/xmlesc.h"
#include "presence.h"
#include "rulebook.h"

/* nsub_mark bits: polite-block (the watcher sees the owner offline);
 * approved (it waited, then a rule let it in: its winfo event). */
enum { MARK_POLITE = 1, MARK_APPROVED = 2 };

static enum rule_action decide(struct presence *p, const char *owner,
			       const char *watcher)
{
	return rulebook_decide(p->book, p->rules,
			       p->conf->presence_default_policy, owner,
			       watcher);
}

/* 0: the user exists; 404: no such user; 503: the admin database is
 * out of reach and the user not known from before. */
static uint16_t user_check(struct presence *p, const char *user)
{
	struct user_rec *u = NULL;
	struct pl pl;
	int err;

	pl_set_str(&pl, user);
	err = users_cache_get(p->users, &pl, &u);
	mem_deref(u);
	return !err ? 0 : store_unavailable(err) ? 503 : 404;
}

static uint16_t presence_authorize(struct nsub *s, void *arg)
{
	struct presence *p = arg;
	uint16_t code = user_check(p, nsub_presentity(s));

	if (code)
		return code;
	/* a rule the admin just wrote counts from the next SUBSCRIBE on */
	watchers_rules_read(p);
	switch (decide(p, nsub_presentity(s), nsub_watcher(s))) {
	case RULE_BLOCK:
		return 403;
	case RULE_CONFIRM:
		nsub_set_state(s, NSUB_PENDING, NULL);
		return 0;
	case RULE_POLITE_BLOCK:
		nsub_set_mark(s, MARK_POLITE);
		nsub_set_state(s, NSUB_ACTIVE, NULL);
		return 0;
	default:
		nsub_set_mark(s, 0);
		nsub_set_state(s, NSUB_ACTIVE, NULL);
		return 0;
	}
}

static int presence_body(struct mbuf *mb, struct nsub *s, void *arg)
{
	return pres_body(mb, arg, nsub_presentity(s),
			 nsub_mark(s) & MARK_POLITE);
}

/* A watcher came, went or changed state: the owner's winfo watchers hear
 * of it. */
static void presence_changed(struct nsub *s, void *arg)
{
	struct presence *p = arg;

	log_info("watcher '%s' of '%s': %s%s%s", nsub_watcher(s),
		 nsub_presentity(s), nsub_state(s) == NSUB_ACTIVE ? "active" :
		 nsub_state(s) == NSUB_PENDING ? "pending" : "terminated",
		 nsub_reason(s) ? ", " : "",
		 nsub_reason(s) ? nsub_reason(s) : "");
	notifier_changed(p->not, "presence.winfo", nsub_presentity(s));
}

static uint16_t winfo_authorize(struct nsub *s, void *arg)
{
	(void)arg;
	if (strcmp(nsub_watcher(s), nsub_presentity(s)))
		return 403;    /* only the owner sees their watchers */
	nsub_set_state(s, NSUB_ACTIVE, NULL);
	return 0;
}

struct winfo_ctx {
	struct mbuf *mb;
	const char *domain;
	int err;
};

/* RFC 3857 §3.3's event: what last happened to this watcher. A
 * terminated one is listed until its last NOTIFY is answered, with the
 * reason it ended. */
static const char *winfo_event(const struct nsub *s)
{
	const char *r = nsub_reason(s);

	if (nsub_state(s) != NSUB_TERMINATED)
		return nsub_mark(s) & MARK_APPROVED ? "approved" : "subscribe";
	if (r && (!strcmp(r, "rejected") || !strcmp(r, "timeout") ||
		  !strcmp(r, "noresource") || !strcmp(r, "probation") ||
		  !strcmp(r, "giveup")))
		return r;
	return "deactivated";
}

static void watcher_h(struct nsub *s, void *arg)
{
	struct winfo_ctx *w = arg;
	enum nsub_state st = nsub_state(s);

	if (w->err)
		return;
	w->err = mbuf_printf(w->mb, "<watcher id=\"%H\" event=\"%s\" "
			     "status=\"%s\">sip:%H@%H</watcher>\n",
			     xml_escape, nsub_id(s), winfo_event(s),
			     st == NSUB_ACTIVE ? "active" :
			     st == NSUB_PENDING ? "pending" : "terminated",
			     xml_escape, nsub_watcher(s),
			     xml_escape, w->domain);
}

/* RFC 3858: version counts this subscription's NOTIFYs from 0. */
static int winfo_body(struct mbuf *mb, struct nsub *s, void *arg)
{
	struct presence *p = arg;
	struct winfo_ctx w = { mb, p->conf->domain, 0 };
	int err;

	err = mbuf_printf(mb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<watcherinfo xmlns=\"urn:ietf:params:xml:ns:"
			  "watcherinfo\" version=\"%u\" state=\"full\">\n"
			  "<watcher-list resource=\"sip:%H@%H\" "
			  "package=\"presence\">\n",
			  nsub_version(s) ? nsub_version(s) - 1 : 0,
			  xml_escape, nsub_presentity(s),
			  xml_escape, p->conf->domain);
	if (err)
		return err;
	notifier_foreach(p->not, "presence", nsub_presentity(s), watcher_h,
			 &w);
	if (w.err)
		return w.err;
	return mbuf_printf(mb, "</watcher-list>\n</watcherinfo>\n");
}

static const struct evpkg pkgs[] = {
	{ "presence", "application/pidf+xml", presence_authorize,
	  presence_body, presence_changed },
	{ "presence.winfo", "application/watcherinfo+xml", winfo_authorize,
	  winfo_body, NULL },
};
const struct evpkg *const watchers_pkgs = pkgs;
const unsigned watchers_npkgs = ARRAY_SIZE(pkgs);

static void reeval_h(struct nsub *s, void *arg)
{
	struct presence *p = arg;
	uint8_t mark;

	if (nsub_state(s) == NSUB_TERMINATED)
		return;
	switch (user_check(p, nsub_presentity(s))) {
	case 404:
		/* the user was deleted: nothing more to watch */
		nsub_set_state(s, NSUB_TERMINATED, "noresource");
		return;
	case 503:
		return;        /* the store cannot say: as it was */
	default:
		break;
	}
	if (strcmp(nsub_event(s), "presence"))
		return;
	switch (decide(p, nsub_presentity(s), nsub_watcher(s))) {
	case RULE_BLOCK:
		nsub_set_state(s, NSUB_TERMINATED, "rejected");
		return;
	case RULE_CONFIRM:
		return;        /* a decision already made stands */
	case RULE_POLITE_BLOCK:
		mark = MARK_POLITE;
		break;
	default:
		mark = 0;
		break;
	}
	if (mark != (nsub_mark(s) & MARK_POLITE)) {
		nsub_set_mark(s, (uint8_t)(mark |
					   (nsub_mark(s) & MARK_APPROVED)));
		nsub_notify(s);
	}
	if (nsub_state(s) == NSUB_PENDING) {
		nsub_set_mark(s, (uint8_t)(nsub_mark(s) | MARK_APPROVED));
		nsub_set_state(s, NSUB_ACTIVE, NULL);
	}
}

/* Asking costs no round trip: SQLite's data_version, or a LISTEN's
 * NOTIFY already read from the socket. A book that cannot be read again
 * is asked again at the next call, its last read deciding meanwhile. */
void watchers_rules_read(struct presence *p)
{
	if (store_changed(p->rules))
		p->rules_stale = true;
	if (!p->rules_stale)
		return;
	if (rulebook_load(p->book, p->rules)) {
		if (!p->rules_warned)
			log_warn("watcher rules: cannot read them again; what "
				 "was read last decides meanwhile");
		p->rules_warned = true;
		return;
	}
	p->rules_warned = false;
	p->rules_stale = false;
	p->rules_moved = true;
}

/* A rule or a user changed (lamplightctl, the admin page), or we just
 * started: every subscription is decided again; those to a user who is
 * gone end with reason noresource. */
void watchers_rules_changed(struct presence *p)
{
	notifier_all(p->not, reeval_h, p);
}
