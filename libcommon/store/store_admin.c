/* store_admin: SQL and hashing for the web page's administrators, their
 * sessions and the failed-login counters (store_admin.h). */
#include <crypt.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <openssl/sha.h>
#include "store/store_sql.h"
#include "store/store_users.h"
#include "store/store_admin.h"

void random_hex(char *out, size_t bytes)
{
	uint8_t b[64];

	if (bytes > sizeof(b))
		bytes = sizeof(b);
	rand_bytes(b, bytes);
	for (size_t i = 0; i < bytes; i++)
		(void)re_snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * bytes] = '\0';
}

/* The same names as users' (store_users.h). */
bool admins_name_valid(const char *name)
{
	return users_name_valid(name);
}

/* A yescrypt hash of `password` into `out` (CRYPT_OUTPUT_SIZE). */
static int hash_password(char *out, const char *password)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return errno ? errno : EINVAL;
	memset(&cd, 0, sizeof(cd));
	if (!crypt_rn(password, salt, &cd, sizeof(cd)) || cd.output[0] == '*')
		return EINVAL;
	str_ncpy(out, cd.output, CRYPT_OUTPUT_SIZE);
	return 0;
}

int admins_set(struct store *st, const char *name, const char *password,
	       bool create)
{
	char hash[CRYPT_OUTPUT_SIZE];
	struct store_q *s;
	int err;

	if (!st || !admins_name_valid(name) || !password || !*password)
		return EINVAL;
	err = hash_password(hash, password);
	if (err)
		return err;
	s = store_stmt(st, create
		       ? "INSERT INTO admins (name, hash) VALUES (?1, ?2) "
			 "ON CONFLICT (name) DO NOTHING"
		       : "UPDATE admins SET hash = ?2 WHERE name = ?1");
	if (!s)
		return EIO;
	q_text(s, 1, name);
	q_text(s, 2, hash);
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = create ? EEXIST : ENOENT;
	if (!err && !create)   /* a new password ends every session */
		err = store_run_text(st, "DELETE FROM web_sessions "
				     "WHERE admin = ?1", 1, name);
	return err;
}

int admins_del(struct store *st, const char *name)
{
	struct store_q *s = store_stmt(st, "DELETE FROM admins "
				       "WHERE name = ?1");
	int err;

	if (!s)
		return EIO;
	q_text(s, 1, name);
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = ENOENT;
	if (!err)
		err = store_run_text(st, "DELETE FROM web_sessions "
				     "WHERE admin = ?1", 1, name);
	return err;
}

int admins_verify(struct store *st, const char *name, const char *password)
{
	/* hashed when the admin does not exist too, so that the time of
	 * the answer does not tell whether it does */
	static const char dummy[] = "$y$j9T$0000000000000000000000$"
		"0000000000000000000000000000000000000000000";
	char hash[CRYPT_OUTPUT_SIZE];
	struct crypt_data cd;
	struct store_q *s;
	bool found = false;

	if (!st || !name || !password)
		return EINVAL;
	str_ncpy(hash, dummy, sizeof(hash));
	s = store_stmt(st, "SELECT hash FROM admins WHERE name = ?1");
	if (!s)
		return EIO;
	q_text(s, 1, name);
	if (q_step(s) == STORE_ROW) {
		str_ncpy(hash, q_col_text(s, 0),
			 sizeof(hash));
		found = true;
	}
	q_reset(s);
	memset(&cd, 0, sizeof(cd));
	if (!crypt_rn(password, hash, &cd, sizeof(cd)))
		return EACCES;
	if (!found || strcmp(cd.output, hash))
		return EACCES;
	return 0;
}

int admins_foreach(struct store *st, admins_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, "SELECT name, created FROM admins "
				       "ORDER BY name");
	int rc, err = 0;

	if (!s)
		return EIO;
	while (!err && (rc = q_step(s)) == STORE_ROW)
		err = h(q_col_text(s, 0),
			(uint64_t)q_col_int(s, 1), arg);
	return store_rows_end(s, rc, err);
}

/* What the table keeps of a cookie: its SHA-256, so that a copy of the
 * database gives no session away. */
static void token_id(char id[ADMIN_TOKEN_HEX], const char *token)
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256((const uint8_t *)token, strlen(token), md);
	for (size_t i = 0; i < sizeof(md); i++)
		(void)re_snprintf(id + 2 * i, 3, "%02x", md[i]);
}

int sessions_create(struct store *st, const char *admin, uint32_t lifetime,
		    char token[ADMIN_TOKEN_HEX])
{
	char id[ADMIN_TOKEN_HEX], csrf[ADMIN_TOKEN_HEX];
	uint64_t now = (uint64_t)time(NULL);
	struct store_q *s;
	int err;

	random_hex(token, 32);
	random_hex(csrf, 32);
	token_id(id, token);
	s = store_stmt(st, "DELETE FROM web_sessions WHERE expires < ?1");
	if (!s)
		return EIO;
	q_int(s, 1, now);
	err = store_step_done(s);
	s = store_stmt(st, "INSERT INTO web_sessions (id, admin, csrf, "
		       "expires) VALUES (?1, ?2, ?3, ?4)");
	if (err || !s)
		return err ? err : EIO;
	q_text(s, 1, id);
	q_text(s, 2, admin);
	q_text(s, 3, csrf);
	q_int(s, 4, (now + lifetime));
	return store_step_done(s);
}

int sessions_get(struct store *st, const char *token, uint32_t lifetime,
		 struct web_session *ws)
{
	char id[ADMIN_TOKEN_HEX];
	uint64_t now = (uint64_t)time(NULL);
	struct store_q *s;
	int err = ENOENT;

	if (!token || strlen(token) != ADMIN_TOKEN_HEX - 1)
		return ENOENT;
	token_id(id, token);
	s = store_stmt(st, "SELECT admin, csrf, expires FROM web_sessions "
		       "WHERE id = ?1");
	if (!s)
		return EIO;
	q_text(s, 1, id);
	if (q_step(s) == STORE_ROW &&
	    (uint64_t)q_col_int(s, 2) > now) {
		str_ncpy(ws->admin, q_col_text(s, 0),
			 sizeof(ws->admin));
		str_ncpy(ws->csrf, q_col_text(s, 1),
			 sizeof(ws->csrf));
		ws->expires = now + lifetime;
		err = 0;
	}
	q_reset(s);
	if (err)
		return err;
	s = store_stmt(st, "UPDATE web_sessions SET expires = ?2 "
		       "WHERE id = ?1");
	if (!s)
		return EIO;
	q_text(s, 1, id);
	q_int(s, 2, ws->expires);
	return store_step_done(s);
}

int sessions_del(struct store *st, const char *token)
{
	char id[ADMIN_TOKEN_HEX];

	if (!token || strlen(token) != ADMIN_TOKEN_HEX - 1)
		return ENOENT;
	token_id(id, token);
	return store_run_text(st, "DELETE FROM web_sessions WHERE id = ?1",
			      1, id);
}

static uint32_t wait_for(int64_t count)
{
	uint32_t w = 2;

	if (count < LOGIN_FREE_TRIES)
		return 0;
	for (int64_t i = LOGIN_FREE_TRIES; i < count && w < LOGIN_MAX_WAIT;
	     i++)
		w *= 2;
	return w < LOGIN_MAX_WAIT ? w : LOGIN_MAX_WAIT;
}

uint32_t logins_wait(struct store *st, const char *key, uint64_t now)
{
	struct store_q *s = store_stmt(st, "SELECT count, last FROM "
				       "login_failures WHERE key = ?1");
	uint32_t left = 0;

	if (!s)
		return 0;
	q_text(s, 1, key);
	if (q_step(s) == STORE_ROW) {
		uint64_t last = (uint64_t)q_col_int(s, 1);
		uint64_t until = last + wait_for(q_col_int(s, 0));

		if (until > now)
			left = (uint32_t)(until - now);
	}
	q_reset(s);
	return left;
}

int logins_failed(struct store *st, const char *key, uint64_t now)
{
	struct store_q *s = store_stmt(st, "INSERT INTO login_failures (key, "
		"count, last) VALUES (?1, 1, ?2) ON CONFLICT (key) DO UPDATE "
		"SET count = login_failures.count + 1, last = ?2");

	if (!s)
		return EIO;
	q_text(s, 1, key);
	q_int(s, 2, now);
	return store_step_done(s);
}

int logins_clear(struct store *st, const char *key)
{
	return store_run_text(st, "DELETE FROM login_failures WHERE key = ?1",
			      1, key);
}
