/* imrelay: the state of lamplight-imrelay that its modules share, passed
 * explicitly (no globals): configuration, stores, SIP, each user's
 * mailbox (devices and kept messages), the senders' requests waiting for
 * an answer and the deliveries in flight. The modules stand on it:
 * deliver.h (mailboxes, deliveries) below relay.h (the senders), and
 * main.c above both. */
#ifndef LP_IMRELAY_H
#define LP_IMRELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "base/conf.h"

struct store;
struct users_cache;
struct udpwide;

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
	struct udp_helper *shed;   /* stale requests: 503 (sip/overload.h) */
	struct overload *ovl;
	struct udp_sock *sock;     /* ours, once libre has shown it */
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
	struct hash *queued;       /* incoming waiting for a kept message to
				    * go, by its id in the store */
	/* a kept message left the store (deliver.h: deliver_keep) */
	void (*kept_h)(struct imrelay *r, uint64_t id, uint16_t code);
	struct tmr tmr;
	unsigned ticks;
};

#endif
