/* store_subs: SQL for the subscriptions a notifier serves (RFC 6665): the
 * whole dialog of each, so that a restarted daemon carries on with every
 * subscription, its NOTIFY CSeq and body version never going backwards.
 * The presence daemon and the BLF gateway each keep theirs in a database
 * of their own. */
#ifndef LP_STORE_SUBS_H
#define LP_STORE_SUBS_H

#include "store/store.h"

/* A subscription's state (RFC 6665 §4.1.2) as its row holds it: the
 * notifier moves it, the page and lamplightctl read it. */
enum nsub_state {
	NSUB_PENDING = 0,
	NSUB_ACTIVE = 1,
	NSUB_TERMINATED = 2,
};

struct subs_rec {
	const char *callid;
	const char *ltag;      /* ours: the To-tag of our 2xx */
	const char *rtag;      /* the subscriber's From-tag */
	const char *event;     /* package name */
	const char *event_id;  /* Event id parameter, "" for none */
	const char *watcher;   /* the subscriber's user name */
	const char *presentity;/* the user watched */
	const char *local_uri; /* To URI of the SUBSCRIBE */
	const char *remote_uri;/* From URI of the SUBSCRIBE */
	const char *target;    /* the subscriber's Contact URI */
	const char *route;     /* Record-Route values, in order, comma list */
	const char *ctype;     /* the body type chosen */
	uint32_t rseq;         /* the subscriber's last CSeq */
	uint32_t lseq;         /* our last NOTIFY CSeq */
	uint32_t version;      /* our last body version */
	uint64_t expires;      /* seconds since 1970 */
	int state;             /* enum nsub_state */
	uint32_t min_interval; /* ms between NOTIFYs (RFC 6446) */
	const char *node;      /* the node serving it; NULL or "": a box */
};

/* The table's first schema, for a daemon whose database holds more. */
extern const char subs_schema_v1[];
extern const char subs_schema_v1_pg[];
/* its second: the node column */
extern const char subs_schema_v2[];
extern const char subs_schema_v2_pg[];

typedef int (subs_h)(const struct subs_rec *r, void *arg);

int subs_open(struct store **stp, const char *path,
	      const struct store_opts *o);
/* A row another node holds now (taken over) is left as it is: a node
 * writes its own rows alone (r->node, and `node` below; NULL or "": a
 * box of its own); subs_put says so with ESTALE. */
int subs_put(struct store *st, const struct subs_rec *r);
/* The same for a new dialog's row, whose result nobody reads (in a
 * transaction: sent with its COMMIT): no other node can hold its row. */
int subs_add(struct store *st, const struct subs_rec *r);
int subs_seq(struct store *st, const char *node, const char *callid,
	     const char *ltag, uint32_t lseq, uint32_t version);
int subs_del(struct store *st, const char *node, const char *callid,
	     const char *ltag);
/* Every row, of every node (the page, lamplightctl). */
int subs_foreach(struct store *st, subs_h *h, void *arg);
/* The rows of one node (NULL or "": a box of its own): what its daemon
 * serves after a restart. */
int subs_foreach_node(struct store *st, const char *node, subs_h *h,
		      void *arg);
/* Node `from`'s rows become node `to`'s, in one statement (of the
 * nodes that ask at once, one gets them), each to `h` as it now is. */
int subs_take(struct store *st, const char *from, const char *to,
	      subs_h *h, void *arg);

#endif
