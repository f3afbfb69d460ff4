/* store_loc: the registrar's location database: one row per binding of an
 * address-of-record, so that registrations survive a restart. */
#ifndef LP_STORE_LOC_H
#define LP_STORE_LOC_H

#include "store/store.h"

struct loc_rec {
	const char *aor;        /* user part of the address-of-record */
	const char *uri;        /* Contact URI */
	const char *params;     /* Contact header params, no expires */
	const char *callid;
	uint32_t cseq;
	uint64_t expires;       /* absolute, seconds since the epoch */
	uint32_t q;             /* 0..1000 */
	const char *tp;         /* udp, tcp or tls */
	const char *src;        /* address:port the REGISTER came from */
	const char *path;       /* Path header values, comma separated */
	const char *user_agent;
	const char *instance;   /* +sip.instance */
	uint32_t reg_id;
	uint64_t updated;
	const char *node;       /* the node whose edge holds the flow; NULL
				 * or "": a box of its own */
};

typedef int (loc_h)(const struct loc_rec *r, void *arg);

int loc_open(struct store **stp, const char *path, const struct store_opts *o);
int loc_put(struct store *st, const struct loc_rec *r);
/* `node` in what follows: the node whose rows these are (NULL or "": a
 * box of its own). An edge touches its own node's rows alone: on a
 * database that several nodes share, another's are its. */
int loc_del(struct store *st, const char *node, const char *aor,
	    const char *uri);
/* The row, if it expired by now: not one another edge worker has just
 * refreshed. */
int loc_del_expired(struct store *st, const char *node, const char *aor,
		    const char *uri, uint64_t now);
/* Every row, of every node (lamplightctl status). */
int loc_foreach(struct store *st, loc_h *h, void *arg);
int loc_foreach_node(struct store *st, const char *node, loc_h *h,
		     void *arg);
/* One address-of-record's rows (an edge worker reads what another
 * wrote: daemons/registrar/handoff.c). */
int loc_foreach_aor(struct store *st, const char *node, const char *aor,
		    loc_h *h, void *arg);
/* Node `from`'s rows that have not expired by `now` become node `to`'s
 * (a node that died: issue 21), in one statement: of the edges that ask
 * at once, one gets them. Each row taken to `h`, as loc_foreach gives
 * it. */
int loc_take(struct store *st, const char *from, const char *to,
	     uint64_t now, loc_h *h, void *arg);

#endif
