/* store_admin: the administrators of the web page and of nothing else:
 * their password hashes (yescrypt from libcrypt, as /etc/shadow), their
 * login sessions (only a hash of the cookie is kept, with the session's
 * CSRF token) and the failed-login counters that slow guessing down, per
 * account and per address. In the admin database. */
#ifndef LP_STORE_ADMIN_H
#define LP_STORE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include "store/store.h"

#define ADMIN_TOKEN_HEX 65     /* 32 random bytes in hex, and the NUL */
#define WEB_SESSION_LIFETIME 3600  /* s without use before a new login */

bool admins_name_valid(const char *name);
int  admins_set(struct store *st, const char *name, const char *password,
		bool create);
int  admins_del(struct store *st, const char *name);
/* 0: the password is right; EACCES: wrong or no such admin (the same
 * time is spent either way). */
int  admins_verify(struct store *st, const char *name, const char *password);
typedef int (admins_h)(const char *name, uint64_t created, void *arg);
int  admins_foreach(struct store *st, admins_h *h, void *arg);

struct web_session {
	char admin[65];
	char csrf[ADMIN_TOKEN_HEX];
	uint64_t expires;
};

int  sessions_create(struct store *st, const char *admin, uint32_t lifetime,
		     char token[ADMIN_TOKEN_HEX]);
/* Finds the live session of a cookie token and slides its expiry. */
int  sessions_get(struct store *st, const char *token, uint32_t lifetime,
		  struct web_session *ws);
int  sessions_del(struct store *st, const char *token);

/* Failed logins. Each key ("user:NAME", "addr:ADDRESS") counts failures;
 * after LOGIN_FREE_TRIES of them every further try must wait twice as
 * long as the one before (from 2 s up to LOGIN_MAX_WAIT), counted from
 * the last failure. logins_wait says how many seconds are left. */
#define LOGIN_FREE_TRIES 5
#define LOGIN_MAX_WAIT 300
uint32_t logins_wait(struct store *st, const char *key, uint64_t now);
int  logins_failed(struct store *st, const char *key, uint64_t now);
int  logins_clear(struct store *st, const char *key);

void random_hex(char *out, size_t bytes);

#endif
