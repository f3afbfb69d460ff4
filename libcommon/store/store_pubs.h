/* store_pubs: SQL for presence publications (RFC 3903): each entity tag
 * with its user, expiry and document, in the presence daemon's database,
 * which holds its subscriptions too (store_subs.h). */
#ifndef LP_STORE_PUBS_H
#define LP_STORE_PUBS_H

#include "store/store.h"

struct pubs_rec {
	const char *etag;
	const char *user;
	uint64_t expires;      /* seconds since 1970 */
	uint64_t updated;      /* milliseconds since 1970 */
	const char *doc;
	size_t doclen;
	const char *node;      /* whose presence daemon holds it ('': one box) */
};

typedef int (pubs_h)(const struct pubs_rec *r, void *arg);

int pres_open(struct store **stp, const char *path,
	      const struct store_opts *o);
int pubs_put(struct store *st, const struct pubs_rec *r);
/* The publication `old` of r->user becomes r (its new entity tag,
 * expiry and document); ENOENT when there is no such row. */
int pubs_move(struct store *st, const char *old, const struct pubs_rec *r);
int pubs_del(struct store *st, const char *etag);
/* Oldest first. */
int pubs_foreach(struct store *st, pubs_h *h, void *arg);
/* Those of one node (NULL or '': a box of its own). */
int pubs_foreach_node(struct store *st, const char *node, pubs_h *h,
		      void *arg);

#endif
