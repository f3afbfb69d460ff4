/* imrelay: the state of lamplight-imrelay that its modules share, passed
 * explicitly (no globals): configuration, stores, SIP, each user's
 * mailbox (devices and kept messages), the senders' requests waiting for
 * an answer and the deliveries in flight. */
#ifndef LP_IMRELAY_H
#define LP_IMRELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "base/conf.h"

struct store;
struct users_cache;
struct udpwide;
struct bus_msg;
struct incoming;

#define IM_TICK_MS 100
#define IM_MAX_INCOMING 10000   /* senders' requests waiting at once */
#define IM_MAX_ANSWERED 200000  /* answers kept for retransmissions */
#define IM_MAX_DEVICES 32       /* of one user, from `reg` */
#define IM_KEEP_ANSWER_MS 32000 /* a sender's retransmission: Timer J */
#define IM_ATTEMPT_MS 32000     /* a copy unanswered: Timer F */
#define IM_RETRY_MAX_S 300      /* back-off of a kept message's retries */

struct imrelay {
	const struct conf *conf;
	struct sip *sip;
	struct sip_lsnr *lsnr_req;
	struct sip_lsnr *lsnr_resp;
	struct store *st;          /* imrelay.db: kept messages */
	struct store *admin;
	struct users_cache *users;
	struct udpwide *wide;
	struct udp_helper *fast;   /* devices' answers, before libre */
	struct sa laddr;           /* ours (route_imrelay) */
	struct sa edge;            /* the edge's UDP address: deliveries */
	uint64_t salt;             /* kept in imrelay.db: the same tags after
				    * a restart */
	bool reg_known;            /* the registrations' snapshot is in */
	struct hash *mboxes;       /* struct mbox, by user */
	struct hash *incoming;     /* struct incoming, by request */
	struct hash *attempts;     /* struct attempt, by branch */
	struct list inflight;      /* attempts without a final answer */
	struct list waiting;       /* incoming, oldest first: wait expiry */
	struct list answered;      /* incoming, oldest first: Timer J */
	uint32_t nincoming;        /* waiting for their answer */
	uint32_t nanswered;        /* answered, kept for Timer J */
	struct tmr tmr;
	unsigned ticks;
};

/* relay.c: MESSAGE from a user */
void relay_request(struct imrelay *r, const struct sip_msg *msg,
		   const char *sender);
/* The online delivery for `in` ended: 200 (a device took it), or the
 * best failure of its copies, after which relay.c keeps it or says why
 * not. */
void relay_done(struct incoming *in, uint16_t code);
/* A failure worth trying again later (no answer, no such device now,
 * server trouble); any other refusal is the recipient's word. */
bool im_temporary(uint16_t code);
void relay_tick(struct imrelay *r, uint64_t now);
void relay_close(struct imrelay *r);

/* deliver.c: mailboxes, devices, deliveries */
struct mbox;
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

int  deliver_init(struct imrelay *r);
void deliver_close(struct imrelay *r);
int  deliver_load(struct imrelay *r);
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
	DELIVER_QUEUED,        /* kept messages come first: keep it */
	DELIVER_NOWHERE,       /* to self, and the user has no other device */
};

/* An online delivery for `in` (relay_done is called once), to every
 * reachable device of m->user but `m->origin`. */
enum deliver_verdict deliver_online(struct imrelay *r,
				    const struct im_msg *m, uint64_t key,
				    struct incoming *in,
				    struct delivery **dp);
/* Keep it: stored, queued behind the user's others; `d` (may be NULL),
 * an online delivery still in flight, becomes the queue's copy. 0, or
 * EOVERFLOW when the user has im_store_max kept already. */
int  deliver_keep(struct imrelay *r, const struct im_msg *m,
		  struct delivery *d);
/* The sender gave up waiting (wait expired): the delivery goes on,
 * without anyone to answer. */
void deliver_detach(struct delivery *d);

#endif
