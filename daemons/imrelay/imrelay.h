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
/* Buckets of the hashes by request and by copy: answers are kept for
 * Timer J (IM_KEEP_ANSWER_MS), copies for Timer F, so at a few thousand
 * messages a second each holds a hundred thousand; a bucket is both
 * halves of the (salted) 64-bit tag folded, not its low half alone. */
#define IM_INCOMING_BUCKETS (1u << 16)
#define IM_ATTEMPT_BUCKETS  (1u << 14)
#define IM_BUCKET(h) ((uint32_t)((h) ^ ((h) >> 32)))
#define IM_WINDOW 16            /* one user's deliveries in flight at once
				 * (one after a failure, until one goes) */
#define IM_OVERLOAD_QUIET_MS 600 /* no overload for this long: it ended
				   * (the box's drops are read every 500) */
#define IM_AHEAD_MIN 64         /* messages a new one may wait behind,
				 * whatever the user's devices took lately */

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
	struct tmr tmr;
	unsigned ticks;
	bool ovl_seen;             /* overloaded at the last tick */
	uint32_t nbusy;            /* 503s for being behind, since ... */
	uint64_t busy_logged;      /* ... the last line that said so */
};

#endif
