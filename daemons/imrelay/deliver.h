/* deliver: each user's mailbox (devices and kept messages) and getting
 * messages to its devices (deliver.c). It knows nothing of the senders:
 * the end of an online delivery goes to the handler that the caller
 * (relay.c) gave with it. */
#ifndef LP_DELIVER_H
#define LP_DELIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct imrelay;
struct bus_msg;
struct delivery;

struct im_msg {                /* what a delivery carries */
	const char *user;
	const char *sender;
	const char *from_name;
	const char *date;
	const char *ctype;
	const char *origin;
	const uint8_t *body;
	size_t bodylen;
};

/* A failure worth trying again later (no answer, no such device now,
 * server trouble); any other refusal is the recipient's word. */
bool im_temporary(uint16_t code);

int  deliver_init(struct imrelay *r);
void deliver_close(struct imrelay *r);
int  deliver_load(struct imrelay *r);
/* A node of a cluster died: the messages its relay kept are ours. */
int  deliver_adopt(struct imrelay *r, const char *from);
/* The messages kept in memory: this box's, or this node's alone */
unsigned deliver_kept(const struct imrelay *r);
void deliver_reg_h(const struct bus_msg *m, void *arg);
bool deliver_resp_h(const struct sip_msg *msg, void *arg);
/* Read devices' answers on this UDP socket (ours) before libre does */
void deliver_attach(struct imrelay *r, void *sock);
void deliver_tick(struct imrelay *r, uint64_t now);
void deliver_kick_all(struct imrelay *r);

enum deliver_verdict {
	DELIVER_SENT,          /* on its way: the answer comes later */
	DELIVER_KEEP,          /* nobody to send it to now: keep it */
	DELIVER_TOO_BIG,       /* every device is UDP and it does not fit */
	DELIVER_NOWHERE,       /* to self, and the user has no other device */
	DELIVER_BUSY,          /* the user's devices take messages, but the
				* ones before this have waited their turn
				* over im_deliver_wait / 3, or more wait
				* than they took in that time: we are
				* behind */
};

/* The online delivery ended: 200 (a device took it), or the best failure
 * of its copies. Called once, unless the delivery was detached first. */
typedef void (deliver_done_h)(uint16_t code, void *arg);

/* An online delivery (doneh is called once), to every reachable device
 * of m->user but `m->origin`. */
enum deliver_verdict deliver_online(struct imrelay *r,
				    const struct im_msg *m, uint64_t key,
				    deliver_done_h *doneh, void *arg,
				    struct delivery **dp);
/* Keep it: stored, queued behind the user's others; `d` (may be NULL),
 * an online delivery still in flight, becomes the queue's copy (one
 * still waiting for its turn is dropped: the kept copy takes its place).
 * 0, or EOVERFLOW when the user has im_store_max kept already. */
int  deliver_keep(struct imrelay *r, const struct im_msg *m,
		  struct delivery *d);
/* The sender gave up waiting (wait expired): the delivery goes on,
 * without anyone to answer. */
void deliver_detach(struct delivery *d);

#endif
