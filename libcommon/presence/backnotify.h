/* backnotify: a back daemon's notifier as the configuration sets it: its
 * options (expiry bounds, caps, pacing), the log line for what it
 * reports, and holding its NOTIFYs after a start until the bus's state is
 * in. Shared by the presence daemon and the BLF gateway. */
#ifndef LP_BACKNOTIFY_H
#define LP_BACKNOTIFY_H

#include <stdbool.h>
#include <re.h>

struct conf;
struct notifier;
struct notifier_opts;
struct bus_sub;
struct backnotify_hold;

void backnotify_opts(struct notifier_opts *no, const struct conf *c,
		     const char *contact);
void backnotify_report_h(int prio, const struct sip_msg *msg,
			 const char *text, void *arg);

/* After a start, the notifier's NOTIFYs wait until every one of `subs`
 * has its snapshot (or BACKNOTIFY_HOLD_MS), so that no watcher is told a
 * state that was never true; then `h` hears whether they all synced. */
#define BACKNOTIFY_HOLD_MS 3000
typedef void (backnotify_known_h)(bool synced, void *arg);
int  backnotify_hold(struct backnotify_hold **hp, struct notifier *n,
		     struct bus_sub *const *subs, unsigned nsubs,
		     backnotify_known_h *h, void *arg);

/* A node of a cluster died: its subscriptions of this daemon's are ours
 * (notifier_adopt), their NOTIFYs through our edge; logged. */
int  backnotify_adopt(struct notifier *n, const struct conf *c,
		      const char *from);
/* This node fenced or back (follow_fence_h): NOTIFYs wait while fenced.
 * Back, if another node took our subscriptions meanwhile, the daemon
 * stops with an error, logged: systemd starts it again with what is
 * still ours, and what memory held is not sent. An error: the store
 * cannot say yet (still fenced: asked again). `arg`: the notifier (a
 * follow_fence_h). */
int  backnotify_fence(bool fenced, void *arg);

#endif
