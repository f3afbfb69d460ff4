/* store_users: the users of the admin database (names, HA1 hashes per
 * digest algorithm, per-user algorithm choice). Never a clear password. */
#ifndef LP_STORE_USERS_H
#define LP_STORE_USERS_H

#include "store/store.h"
#include "base/digest.h"

struct user_rec {
	char *username;
	char *authname;        /* the name looked up: username, or a
				  device's OWNER~MAC (store_devices.h) */
	char *name;
	char *realm;
	char *algs;            /* NULL: the configured auth_algorithms */
	char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];
};

typedef int (users_h)(const struct user_rec *u, void *arg);

int  users_open(struct store **stp, const char *path, bool readonly);
bool users_name_valid(const char *user);
/* 16 random letters and digits, none that look alike (out: 17 bytes) */
int  users_gen_password(char *out, size_t len);
/* A full name: NULL, or what is wrong with it (one line, 64 bytes). */
const char *users_fullname_check(const char *name);
bool users_exists(struct store *st, const char *user);
int  users_add(struct store *st, const char *user, const char *name,
	       const char *realm, const char *password);
int  users_set_password(struct store *st, const char *user,
			const char *realm, const char *password);
int  users_set_name(struct store *st, const char *user, const char *name);
int  users_set_algs(struct store *st, const char *user, const char *algs);
int  users_del(struct store *st, const char *user);
int  users_get(struct store *st, const struct pl *user,
	       struct user_rec **recp);
int  users_foreach(struct store *st, users_h *h, void *arg);
int  users_count(struct store *st, uint32_t *n);

/* Users found before, in memory; emptied when another connection
 * (lamplightctl, the admin page) changed the database, which is checked
 * at most every 5 ms (a user not in it is read from the database at
 * once, so a new user is never missed). Only users that
 * exist are kept, so names from the wire cannot grow it past `max`. */
struct users_cache;
int  users_cache_alloc(struct users_cache **cp, struct store *st,
		       uint32_t max);
int  users_cache_get(struct users_cache *c, const struct pl *user,
		     struct user_rec **recp);

#endif
