/* blf: the state of lamplight-blf that its modules share, passed
 * explicitly (no globals): configuration, stores, SIP, the notifier, and
 * each watched user's lamp. */
#ifndef LP_BLF_H
#define LP_BLF_H

#include <stdbool.h>
#include <re.h>
#include "base/conf.h"

struct store;
struct users_cache;
struct notifier;
struct evpkg;
struct bus_msg;
struct follow;

#define BLF_MAX_BUSY 16        /* activities that light a lamp */
#define BLF_OFFLINE_RETRY 60   /* s: retry-after for an offline lamp */

struct blf {
	const struct conf *conf;
	struct sip *sip;
	struct sip_lsnr *lsnr;
	struct store *st;          /* blf.db: subscriptions */
	struct store *admin;       /* users (the cache's connection) */
	struct store *admin_watch; /* the same database: store_changed */
	struct users_cache *users;
	struct notifier *not;
	struct follow *follow;     /* the other nodes (a node of a cluster) */
	struct hash *lamps;        /* struct lamp, by user */
	struct tmr tmr;            /* once a second: ended calls go */
	char contact[96];          /* our Contact URI */
	bool reg_known;            /* the registrations' snapshot is in */
	char busy[BLF_MAX_BUSY][32];
	unsigned nbusy;
};

/* lamps.c: each user's calls and presence, as dialog-info */
int  lamps_init(struct blf *b);
void lamps_close(struct blf *b);
/* `dialog` and `reg` of node `src` (FOLLOW_LOCAL: ours; follow.h) */
void lamps_dialog_h(unsigned src, const struct bus_msg *m, void *arg);
void lamps_pres_h(const struct bus_msg *m, void *arg);
void lamps_reg_h(unsigned src, const struct bus_msg *m, void *arg);
void lamps_sweep_offline(struct blf *b);
void lamps_tick(struct blf *b);
void lamps_owed(struct blf *b);
void lamps_users_changed(struct blf *b);
extern const struct evpkg lamps_pkg;

#endif
