/* auth: digest authentication of requests from users, for REGISTER
 * (401, WWW-Authenticate) and for everything else (407,
 * Proxy-Authenticate): one nonce scheme, one verification. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/digest.h"
#include "store/store.h"
#include "store/store_users.h"
#include "edge.h"
#include "guess.h"
#include "handoff.h"
#include "flood.h"
#include "tcpguard.h"
#include "auth.h"

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

struct chall_ctx {
	const struct edge *r;
	enum auth_kind kind;
	const enum digest_alg *algs;
	unsigned nalgs;
	bool stale;
};

static int print_challenges(struct re_printf *pf, const struct chall_ctx *c)
{
	char nonce[NONCE_LEN + 1];
	int err;

	err = nonce_make(c->r->nonces, c->r->conf->domain, now_s(), nonce);
	for (unsigned i = 0; i < c->nalgs && !err; i++) {
		struct digest_chall ch = {
			.realm = c->r->conf->domain, .nonce = nonce,
			.alg = c->algs[i], .stale = c->stale,
		};
		err = re_hprintf(pf, "%s: %H\r\n",
				 c->kind == AUTH_WWW ? "WWW-Authenticate"
						     : "Proxy-Authenticate",
				 digest_chall_print, &ch);
	}
	return err;
}

static void challenge(struct edge *r, const struct sip_msg *msg,
		      enum auth_kind kind, const struct user_rec *u,
		      bool stale)
{
	enum digest_alg algs[DIGEST_ALGS_MAX];
	struct chall_ctx c = { .r = r, .stale = stale, .kind = kind };

	c.algs = r->conf->auth_algs;
	c.nalgs = r->conf->auth_alg_count;
	if (u && u->algs && !conf_parse_algs(algs, &c.nalgs, u->algs))
		c.algs = algs;
	if (kind == AUTH_WWW)
		(void)sip_replyf(r->sip, msg, 401, "Unauthorized",
				 "%HContent-Length: 0\r\n\r\n",
				 print_challenges, &c);
	else
		(void)sip_replyf(r->sip, msg, 407,
				 "Proxy Authentication Required",
				 "%HContent-Length: 0\r\n\r\n",
				 print_challenges, &c);
}

static bool alg_allowed(const struct edge *r, const struct user_rec *u,
			enum digest_alg alg)
{
	enum digest_alg algs[DIGEST_ALGS_MAX];
	const enum digest_alg *list = r->conf->auth_algs;
	unsigned n = r->conf->auth_alg_count;

	if (u && u->algs && !conf_parse_algs(algs, &n, u->algs))
		list = algs;
	for (unsigned i = 0; i < n; i++)
		if (list[i] == alg)
			return true;
	return false;
}

struct find_cred {
	const char *realm;
	struct digest_cred cred;
	int err;               /* of the last header of our realm */
	bool found;
};

/* The Authorization header for our realm; others are for other hops. */
static bool cred_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		   void *arg)
{
	struct find_cred *f = arg;
	struct digest_cred c;
	int err;

	(void)msg;
	err = digest_cred_decode(&c, &hdr->val);
	if (pl_isset(&c.r.realm) && pl_strcasecmp(&c.r.realm, f->realm))
		return false;
	f->cred = c;
	f->err = err;
	f->found = true;
	return err == 0;
}

/* 0 and *userp set: the credentials are those of *userp; otherwise the
 * reply was sent. The challenge offers the algorithms of the user the
 * request claims to be (To of a REGISTER, From of anything else). */
int auth_request(struct edge *r, const struct sip_msg *msg,
		 enum auth_kind kind, const struct pl *to_user,
		 struct user_rec **userp)
{
	struct find_cred f = { .realm = r->conf->domain };
	struct user_rec *to = NULL, *u = NULL;
	const struct digest_cred *cred = &f.cred;
	const char *why = NULL;
	uint64_t now = now_s();
	uint32_t wait;
	bool stale = false, first = false;
	int err;

	err = users_cache_get(r->users, to_user, &to);
	if (store_unavailable(err))
		goto unavailable;

	sip_msg_hdr_apply(msg, true, kind == AUTH_WWW ? SIP_HDR_AUTHORIZATION
			  : SIP_HDR_PROXY_AUTHORIZATION, cred_h, &f);
	if (!f.found)
		goto challenge;
	if (f.err) {
		why = "malformed credentials or unknown algorithm";
		goto challenge;
	}
	wait = guess_wait(r->guess, &cred->r.username, &msg->src, now,
			  &first);
	if (wait) {
		if (first)
			log_sip(LOG_NOTICE, msg, NULL, "%r for '%r' from %J: "
				"refused, blocked for %u s more after failed "
				"attempts (further refusals not logged)",
				&msg->met, &cred->r.username, &msg->src, wait);
		(void)sip_replyf(r->sip, msg, 403, "Forbidden: Too Many Failed "
				 "Attempts", "Retry-After: %u\r\n"
				 "Content-Length: 0\r\n\r\n", wait);
		mem_deref(to);
		return EACCES;
	}
	err = nonce_check(r->nonces, r->conf->domain, &cred->r.nonce, now);
	if (err == ETIMEDOUT) {
		stale = true;          /* the client retries silently */
		goto challenge;
	}
	if (err) {
		why = "nonce not issued by us";
		goto challenge;
	}
	if (to && !pl_strcmp(&cred->r.username, to->username)) {
		u = to;
		to = NULL;
	}
	else if ((err = users_cache_get(r->users, &cred->r.username, &u))) {
		if (store_unavailable(err))
			goto unavailable;
		why = "unknown user";
		guess_failed(r->guess, &cred->r.username, &msg->src, now);
		handoff_guess(r, &cred->r.username, &msg->src, true);
		goto challenge;
	}
	if (!alg_allowed(r, u, cred->alg)) {
		why = "algorithm not offered to this user";
		goto challenge;
	}
	if (str_cmp(u->realm, r->conf->domain)) {
		why = "password set for another realm (domain changed)";
		goto challenge;
	}
	err = digest_verify(cred, u->ha1[cred->alg], &msg->met);
	if (err) {
		why = err == EPROTO ? "qop other than auth" : "wrong password";
		if (err != EPROTO) {
			guess_failed(r->guess, &cred->r.username, &msg->src,
				     now);
			handoff_guess(r, &cred->r.username, &msg->src, true);
		}
		goto challenge;
	}
	err = nonce_count_use(r->nonces, &cred->r.nonce, &cred->r.nc,
			      hash_joaat_pl(&msg->via.branch), now);
	if (err) {
		why = err == EALREADY ? "nonce count replayed"
				      : "bad nonce count";
		goto challenge;
	}

	if (guess_ok(r->guess, &cred->r.username, &msg->src))
		handoff_guess(r, &cred->r.username, &msg->src, false);
	flood_authed(r->flood, &msg->src, tmr_jiffies(), FLOOD_AUTHED_MS);
	if (msg->tp == SIP_TRANSP_TCP || msg->tp == SIP_TRANSP_TLS)
		tcpguard_trust(&msg->src);
	mem_deref(to);
	*userp = u;
	return 0;

 unavailable:
	/* the admin database out of reach, and the user not known from
	 * before: neither a challenge nor a failed guess, but "later" */
	if (now >= r->store_logged + 10) {
		log_sip(LOG_WARNING, msg, NULL, "%r for '%r' from %J: the "
			"admin database is out of reach: 503 (one line in "
			"10 s)", &msg->met, to_user, &msg->src);
		r->store_logged = now;
	}
	(void)sip_replyf(r->sip, msg, 503, "Service Unavailable",
			 "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
	mem_deref(to);
	return EAGAIN;

 challenge:
	/* an unknown user and a wrong password: the same answer */
	challenge(r, msg, kind, to, stale);
	if (why)
		log_sip(LOG_NOTICE, msg, NULL, "%r for '%r' from %J: "
			"authentication failed: %s", &msg->met, to_user,
			&msg->src, why);
	mem_deref(to);
	mem_deref(u);
	return EACCES;
}

/* What every out-of-dialog request of a user must pass before the edge
 * forwards it: Max-Forwards left (483), credentials (407), and a From
 * that is the authenticated user of our domain (403). 0 and *userp set,
 * or the answer was sent. */
int auth_from_user(struct edge *r, const struct sip_msg *msg,
		   struct user_rec **userp)
{
	struct user_rec *u = NULL;

	if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0) {
		(void)sip_replyf(r->sip, msg, 483, "Too Many Hops",
				 "Content-Length: 0\r\n\r\n");
		return EPERM;
	}
	if (auth_request(r, msg, AUTH_PROXY, &msg->from.uri.user, &u))
		return EACCES;
	if (pl_strcmp(&msg->from.uri.user, u->username) ||
	    !edge_is_local(r, &msg->from.uri)) {
		log_sip(LOG_NOTICE, msg, u->username, "%r with From '%r': "
			"refused, not the authenticated user", &msg->met,
			&msg->from.auri);
		(void)sip_replyf(r->sip, msg, 403, "Forbidden: From Is Not The "
				 "Authenticated User",
				 "Content-Length: 0\r\n\r\n");
		mem_deref(u);
		return EPERM;
	}
	*userp = u;
	return 0;
}
