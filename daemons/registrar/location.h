/* location: the location service (RFC 3261 §10.3): each address-of-record's
 * bindings in memory, written through to the store before any answer, and
 * every change of a contact set published on the bus (`reg`). */
#ifndef LP_LOCATION_H
#define LP_LOCATION_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct store;
struct bus_pub;
struct location;

struct binding {
	struct le le;          /* in aor->bindings, highest q first */
	char *uri;
	char *params;          /* Contact params without expires */
	char *callid;
	uint32_t cseq;
	uint64_t expires;      /* absolute seconds */
	uint32_t q;            /* 0..1000 */
	enum sip_transp tp;
	struct sa src;
	char *path;
	char *user_agent;
	char *instance;
	uint32_t reg_id;
	uint64_t updated;
	bool unreachable;      /* the last probe went unanswered (memory) */
	uint64_t probed;       /* when it was last asked or heard from */
	uint32_t backoff;      /* s to the next probe while unreachable or
				* unsure (1, 2, 4 ... 30); 0: probe_interval */
	bool probing;          /* a probe is in flight */
	uint8_t unsure;        /* probes on end lost in an overload */
};

struct aor {
	struct le he;
	char *user;
	struct list bindings;
};

/* One Contact of a REGISTER, parsed. */
struct loc_contact {
	struct pl uri;
	char *params;
	uint32_t expires;      /* 0: remove */
	uint32_t q;
	struct pl instance;
	uint32_t reg_id;
};

/* What one REGISTER asks for; applied whole or not at all. */
struct loc_update {
	const char *user;
	struct pl callid;
	uint32_t cseq;
	enum sip_transp tp;
	struct sa src;
	const char *path;
	struct pl user_agent;
	bool remove_all;       /* Contact: * with Expires: 0 */
	unsigned n;
	struct loc_contact *c;
};

struct loc_opts {
	uint32_t max_contacts;
	const char *domain;
	/* told of each address-of-record whose bindings this process
	 * changed in the store (an edge worker tells the others) */
	void (*changed)(const char *user, void *arg);
	void *changed_arg;
	bool shared;           /* other processes write the store too */
	/* node_id: the rows of the shared table that are this node's
	 * (NULL: a box of its own) */
	const char *node;
	/* group commit: ms an update waits for others to share its
	 * transaction (0: each commits alone, before location_update
	 * returns) */
	uint32_t group_ms;
};

/* An update's end (location_update): 200, stored and in memory; 503, the
 * store is out of reach, or 500: nothing changed. 0: the location is
 * closing; answer nothing. */
typedef void (loc_done_h)(uint16_t scode, const char *reason, void *arg);

int  location_alloc(struct location **locp, struct store *st,
		    struct bus_pub *pub, const struct loc_opts *opts);
int  location_load(struct location *loc, uint64_t now);
const struct aor *location_find(const struct location *loc,
				const struct pl *user);
/* An update staged and put in the group (loc_opts.group_ms). *scode set:
 * answered at once (a refusal, or nothing to write: 200), `dh` never
 * called; 0: `dh` is called when the group commits, maybe before this
 * returns. `u` and what it points at stay valid until then. */
int  location_update(struct location *loc, const struct loc_update *u,
		     uint64_t now, loc_done_h *dh, void *arg,
		     uint16_t *scode, const char **reason);
/* The same, committed before it returns (with the group). */
int  location_apply(struct location *loc, const struct loc_update *u,
		    uint64_t now, uint16_t *scode, const char **reason);
/* The group committed now (before closing, or to read the store). */
void location_flush(struct location *loc);
uint32_t location_count(const struct location *loc);
/* Read one address-of-record's bindings again from the store, which
 * another edge worker changed; a probe's verdict on a Contact kept, the
 * change published (if this process publishes). */
int  location_reload(struct location *loc, const char *user, uint64_t now);
/* The same when another node took one of the user's bindings (its row
 * moved): read again here and in the other edge workers. */
int  location_moved(struct location *loc, const char *user, uint64_t now);
/* Node `from` died: its bindings in the store become ours (of the edges
 * that ask at once, one gets them), each address-of-record taken read
 * again, published and told to the other edge workers; *np: the rows
 * taken. A phone that registered through the dead node is reached from
 * here, at the address its REGISTER came from. */
int  location_adopt(struct location *loc, const char *from, uint64_t now,
		    uint32_t *np);

typedef void (location_binding_h)(const struct aor *a,
				  const struct binding *b, void *arg);
void location_foreach(struct location *loc, location_binding_h *h,
		      void *arg);
struct binding *location_binding(struct location *loc, const char *user,
				 const char *uri);
void location_set_reachable(struct location *loc, const char *user,
			    const char *uri, bool reachable);
void location_expire(struct location *loc, uint64_t now);

#endif
