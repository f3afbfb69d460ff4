/* presence: the state of lamplight-presence that its modules share, passed
 * explicitly (no globals): configuration, stores, bus, SIP, notifier, and
 * every presentity. */
#ifndef LP_PRESENCE_H
#define LP_PRESENCE_H

#include <re.h>
#include "base/conf.h"

struct store;
struct users_cache;
struct bus_pub;
struct bus_msg;
struct notifier;
struct evpkg;
struct presentity;
struct follow;
struct rulebook;

#define PRES_KEY_MAX 128       /* a bus key: USER/ID */

struct presence {
	const struct conf *conf;
	struct sip *sip;
	struct sip_lsnr *lsnr;
	struct store *st;          /* presence.db: publications, subs */
	struct store *admin;       /* users (the cache's connection) */
	struct store *rules;       /* watcher rules: a connection of its own,
				    * so that store_changed sees each change */
	struct rulebook *book;     /* the rules in memory, read from `rules` */
	bool rules_stale;          /* changed, the book not read again yet */
	bool rules_warned;         /* and the log said so */
	bool rules_moved;          /* the book was read again: each watcher
				    * is decided again at the next tick */
	struct users_cache *users;
	struct bus_pub *pub;
	struct follow *follow;     /* the other nodes (a node of a cluster) */
	struct notifier *not;
	struct hash *ents;         /* struct presentity, by user */
	struct hash *etags;        /* struct publication, by entity tag */
	struct hash *remote;       /* other nodes' (cluster): to expire */
	struct tmr tmr;            /* once a second: expiry, rule changes */
	char contact[96];          /* our Contact URI */
	uint64_t salt;             /* of entity tags, see publish.c */
};

/* presentity.c: what we know of each user, composed into one document */
int  pres_init(struct presence *p);
void pres_close(struct presence *p);
int  pres_load(struct presence *p);
/* `reg` and `dialog` of node `src` (FOLLOW_LOCAL: ours; follow.h), and
 * another node's `pub` */
void pres_reg_h(unsigned src, const struct bus_msg *m, void *arg);
void pres_dialog_h(unsigned src, const struct bus_msg *m, void *arg);
void pres_pub_h(unsigned src, const struct bus_msg *m, void *arg);
int  pres_body(struct mbuf *mb, struct presence *p, const char *user,
	       bool polite);
void pres_tick(struct presence *p);

/* publish.c: PUBLISH (RFC 3903) */
void publish_request(struct presence *p, const struct sip_msg *msg,
		     const char *user);

/* watchers.c: the presence and presence.winfo packages and who may
 * watch whom */
extern const struct evpkg *const watchers_pkgs;
extern const unsigned watchers_npkgs;
void watchers_rules_changed(struct presence *p);
/* The rule book read again if the admin database changed (rulebook.h);
 * when it was, rules_moved is set. */
void watchers_rules_read(struct presence *p);

#endif
