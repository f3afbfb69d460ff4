/* store_msgs: SQL for the messages the IM relay keeps for a user it could
 * not reach (RFC 3428 store and forward), in the relay's database: each
 * with its target, sender, the sender's Date, Content-Type and body as
 * they came, its expiry, and the number of its delivery attempt (so that
 * an attempt resent after a restart is recognised as the same one). */
#ifndef LP_STORE_MSGS_H
#define LP_STORE_MSGS_H

#include "store/store.h"

struct msgs_rec {
	uint64_t id;           /* order of arrival, from 1 */
	const char *user;      /* the target */
	const char *sender;
	const char *from_name; /* the sender's display name, "" if none */
	const char *date;      /* the Date to deliver with */
	const char *ctype;     /* "" when the message had no body */
	const char *origin;    /* the sender's own device, for a message to
				* self ("" otherwise): not delivered there */
	const uint8_t *body;
	size_t bodylen;
	uint64_t created;      /* milliseconds since 1970 */
	uint64_t expires;      /* seconds since 1970 */
	uint32_t attempt;      /* the last delivery attempt begun */
	const char *node;      /* whose relay keeps it ('': one box); not
				* read back */
};

typedef int (msgs_h)(const struct msgs_rec *r, void *arg);

int msgs_open(struct store **stp, const char *path,
	      const struct store_opts *o);
/* Adds r (its id is set) */
int msgs_add(struct store *st, struct msgs_rec *r);
/* `node`: whose relay keeps it (NULL or "": a box of its own); a message
 * another node holds now (taken over) is not touched, nor read: ENOENT
 * from msgs_get. */
int msgs_del(struct store *st, const char *node, uint64_t id);
int msgs_set_attempt(struct store *st, const char *node, uint64_t id,
		     uint32_t attempt);
/* One message (ENOENT when it is gone) */
int msgs_get(struct store *st, const char *node, uint64_t id, msgs_h *h,
	     void *arg);
/* Every message, oldest first; the body is not read (bodylen is) */
int msgs_count(struct store *st, uint32_t *n);
int msgs_foreach(struct store *st, msgs_h *h, void *arg);
/* Those one node keeps (NULL or '': a box of its own) */
int msgs_foreach_node(struct store *st, const char *node, msgs_h *h,
		      void *arg);
/* Node `from`'s become node `to`'s, in one statement (of the nodes that
 * ask at once, one gets them), each to `h` as msgs_foreach gives it. */
int msgs_take(struct store *st, const char *from, const char *to,
	      msgs_h *h, void *arg);
/* The messages kept before this box became node `node` (node ''): its
 * own now, if no node took them first. */
int msgs_claim_box(struct store *st, const char *node);

#endif
