/* notifier: the notifier side of SIP-specific event notification (RFC 6665)
 * for back daemons behind the edge, over one table of event packages
 * (name, body type, authorization, body). Each subscription's whole
 * dialog is in the store before its answer; NOTIFY CSeq and body version
 * are written before the NOTIFY leaves, so neither goes backwards across
 * a restart. At most one NOTIFY per subscription is in flight; changes
 * meanwhile coalesce into the latest state. 481, 404 and 410 end a
 * subscription; a timeout or a 5xx is retried with back-off, and only
 * repeated failures end it. */
#ifndef LP_NOTIFIER_H
#define LP_NOTIFIER_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "store/store_subs.h"   /* enum nsub_state */

struct store;
struct notifier;
struct nsub;

/* One event package. `authorize` decides on a new subscription: it sets
 * the state with nsub_set_state (active or pending) and returns 0, or
 * returns a SIP status to refuse it with (403, 404). `body` prints the
 * body of an active subscription's NOTIFY. `changed` (may be NULL) hears
 * of every subscription added, changed in state, or gone (state
 * terminated), for watcher information. */
struct evpkg {
	const char *event;
	const char *ctype;
	uint16_t (*authorize)(struct nsub *s, void *arg);
	int (*body)(struct mbuf *mb, struct nsub *s, void *arg);
	void (*changed)(struct nsub *s, void *arg);
};

struct notifier_opts {
	const char *contact;          /* our Contact URI */
	uint32_t expires_min, expires_dfl, expires_max;
	uint32_t max_per_watcher;     /* per watcher, all packages */
	uint32_t max_per_presentity;  /* per package and presentity */
	uint32_t min_interval;        /* ms between NOTIFYs, 0: none */
	uint32_t notify_timeout;      /* ms without an answer: a failure */
	uint32_t retry_after;         /* s, with reason=probation; 0: none */
	const char *node;             /* node_id: the subscriptions it
				       * serves of a shared table; NULL */
	uint32_t group_ms;            /* a new subscription's row waits
				       * this long to share a commit; 0:
				       * stored alone before its 200 */
};

/* What happened that a log should say (a refusal, a subscription ended):
 * libcommon does not log, the daemon does. */
typedef void (notifier_report_h)(int prio, const struct sip_msg *msg,
				 const char *text, void *arg);

typedef void (nsub_h)(struct nsub *s, void *arg);

/* After a reload: the expiry bounds, caps, minimum interval and NOTIFY
 * timeout of `o` for new subscriptions and NOTIFYs from now on (its
 * contact and retry_after are not changed). */
void notifier_set_limits(struct notifier *n, const struct notifier_opts *o);
int  notifier_alloc(struct notifier **np, struct sip *sip,
		    struct store *st, const struct notifier_opts *o,
		    const struct evpkg *pkgs, unsigned npkgs,
		    notifier_report_h *reporth, void *arg);
int  notifier_load(struct notifier *n);
/* The route set a subscription of another node gets here, from the one
 * it had there (the other node's edge's): 0 and `buf` set, or an error
 * (it keeps its own). */
typedef int (notifier_route_h)(char *buf, size_t sz, const char *old,
			       void *arg);
/* A NOTIFY CSeq of an adopted subscription: past the last one saved by
 * this much (the NOTIFYs the other node sent and had not saved yet). */
#define NOTIFIER_ADOPT_CSEQ_GAP 100
/* The subscriptions of node `from`, which died, become ours: moved to
 * our node in the store in one statement (of the nodes that ask at once,
 * one gets them), each with our route set (rh) and its CSeq moved on,
 * committed; then every one of ours the store holds and memory does not
 * is loaded, with a NOTIFY of the state now, as after a restart (an
 * error: nothing loaded that is not ours; call again). *countp: how
 * many were loaded. */
int  notifier_adopt(struct notifier *n, const char *from,
		    notifier_route_h *rh, void *arg, unsigned *countp);
void notifier_request(struct notifier *n, const struct sip_msg *msg,
		      const char *watcher);
/* While held, NOTIFYs wait (and coalesce): a daemon that has just
 * started holds them until it knows the state again (its bus snapshots),
 * so that no watcher is told a state that was never true. */
void notifier_hold(struct notifier *n, bool hold);
bool notifier_held(const struct notifier *n);
/* A node of a cluster fenced (follow.h): NOTIFYs wait, as while held.
 * Back: ESTALE if a live subscription in memory no longer has its row,
 * ours, in the store (another node took it over meanwhile: what memory
 * holds is no longer ours to send); another error: the store cannot
 * say, and NOTIFYs still wait (ask again); 0: they go. */
int  notifier_fence(struct notifier *n, bool fenced);
/* The new subscriptions waiting for their group's commit (group_ms)
 * committed and answered now (before closing). */
void notifier_flush(struct notifier *n);
/* Asked before NOTIFYs go: false, they wait (follow_lease, which then
 * fences the node: notifier_fence is told). */
typedef bool (notifier_lease_h)(void *arg);
void notifier_set_lease(struct notifier *n, notifier_lease_h *leaseh,
			void *arg);
void notifier_changed(struct notifier *n, const char *event,
		      const char *presentity);
void notifier_foreach(struct notifier *n, const char *event,
		      const char *presentity, nsub_h *h, void *arg);
/* Has the presentity a subscription to the event (in any state)? A
 * package need not compose a document nobody would be sent. */
bool notifier_watched(struct notifier *n, const char *event,
		      const char *presentity);
void notifier_all(struct notifier *n, nsub_h *h, void *arg);
uint32_t notifier_count(const struct notifier *n);

void nsub_set_state(struct nsub *s, enum nsub_state st, const char *reason);
void nsub_notify(struct nsub *s);
enum nsub_state nsub_state(const struct nsub *s);
const char *nsub_watcher(const struct nsub *s);
const char *nsub_presentity(const struct nsub *s);
const char *nsub_event(const struct nsub *s);
const char *nsub_id(const struct nsub *s);
const char *nsub_reason(const struct nsub *s);
uint32_t nsub_version(const struct nsub *s);
uint64_t nsub_expires(const struct nsub *s);
/* A byte for the package (not stored: set it again in authorize and
 * after a restart, which authorizes every loaded subscription again). */
uint8_t nsub_mark(const struct nsub *s);
void nsub_set_mark(struct nsub *s, uint8_t mark);

#endif
