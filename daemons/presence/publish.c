/* publish: PUBLISH for the presence event package (RFC 3903, RFC 3856).
 *
 *   initial:  no SIP-If-Match, a body      -> 200, SIP-ETag, Expires
 *   refresh:  SIP-If-Match, no body        -> 200, a new SIP-ETag
 *   modify:   SIP-If-Match, a body         -> 200, a new SIP-ETag
 *   remove:   SIP-If-Match, Expires: 0     -> 200
 *
 * A user publishes only their own presence: the Request-URI and the
 * document's entity must both name the user the edge asserted (403). An
 * unknown entity tag gets 412, another package 489, another body type 415
 * with Accept, too brief an expiry 423 with Min-Expires, a document that
 * is not a safe PIDF document 400 (or 413) with the reason.
 *
 * Answers leave without a server transaction. The entity tag a request
 * makes is a function of it (the user, the tag it names, Call-ID and
 * CSeq), so a retransmission whose answer was lost finds the publication
 * the first one made and gets the same answer, instead of making a
 * second publication. A retransmitted removal finds nothing: 412, which
 * a phone that meant to remove its publication can live with. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "presence/pidf.h"
#include "sip/sipval.h"
#include "sip/sipreply.h"
#include "sip/reqtag.h"
#include "store/store.h"
#include "presence.h"
#include "publication.h"

static void reply(struct presence *p, const struct sip_msg *msg,
		  uint16_t code, const char *reason)
{
	(void)sipreply(p->sip, msg, 0, false, code, reason, NULL);
}

/* The store failed: 503 with Retry-After when it is out of reach (the
 * publication is not acknowledged: the phone sends it again), 500
 * otherwise. */
static void store_failed(struct presence *p, const struct sip_msg *msg,
			 int err)
{
	if (store_unavailable(err))
		(void)sipreply(p->sip, msg, 0, false, 503,
			       "Service Unavailable", "Retry-After: 5\r\n"
			       "Content-Length: 0\r\n\r\n");
	else
		reply(p, msg, 500, "Server Internal Error");
}

static void refuse(struct presence *p, const struct sip_msg *msg,
		   const char *user, uint16_t code, const char *reason)
{
	log_sip(LOG_NOTICE, msg, user, "PUBLISH from '%s': %u %s",
		user ? user : "?", code, reason);
	reply(p, msg, code, reason);
}

/* 0 and the granted expiry, or the answer is sent */
static int expiry(struct presence *p, const struct sip_msg *msg,
		  const char *user, uint32_t *exp)
{
	const struct conf *c = p->conf;
	int err = sipval_expiry(exp, &msg->expires,
				c->publish_expires_default,
				c->publish_expires_min,
				c->publish_expires_max);

	if (err == EINVAL) {
		refuse(p, msg, user, 400, "Bad Request: Bad Expires");
	}
	else if (err) {
		log_sip(LOG_NOTICE, msg, user, "PUBLISH from '%s': expires "
			"'%r': 423", user, &msg->expires);
		(void)sipreply(p->sip, msg, 0, false, 423,
			       "Interval Too Brief", "Min-Expires: %u\r\n"
			       "Content-Length: 0\r\n\r\n",
			       c->publish_expires_min);
	}
	return err;
}

/* The entity tag the request makes (see the top of this file). */
static void new_etag(char *etag, const struct presence *p,
		     const struct sip_msg *msg, const char *user,
		     const struct sip_hdr *im)
{
	struct reqtag t;

	reqtag_init(&t, p->salt);
	reqtag_str(&t, user);
	reqtag_pl(&t, im ? &im->val : NULL);
	reqtag_pl(&t, &msg->callid);
	reqtag_u32(&t, msg->cseq.num);
	re_snprintf(etag, PUB_ETAG_LEN + 1, "%016llx",
		    (unsigned long long)t.h);
}

/* A retransmission of a request that made a publication still there:
 * the same answer again. */
static bool answered_before(struct presence *p, const struct sip_msg *msg,
			    const char *user, const char *etag)
{
	struct publication *pb;
	uint64_t now = (uint64_t)time(NULL);
	struct pl pl;

	pl_set_str(&pl, etag);
	pb = pub_find(p, &pl);
	if (!pb || strcmp(pub_user(pb), user))
		return false;
	(void)sipreply(p->sip, msg, 0, false, 200, "OK",
		       "SIP-ETag: %s\r\nExpires: %llu\r\n"
		       "Content-Length: 0\r\n\r\n", etag,
		       (unsigned long long)(pb->expires > now ?
					    pb->expires - now : 0));
	return true;
}

void publish_request(struct presence *p, const struct sip_msg *msg,
		     const char *user)
{
	char etag[PUB_ETAG_LEN + 1];
	const struct sip_hdr *eh = sip_msg_hdr(msg, SIP_HDR_EVENT);
	const struct sip_hdr *im = sip_msg_xhdr(msg, "SIP-If-Match");
	size_t blen = mbuf_get_left(msg->mb);
	struct publication *pb = NULL;
	struct sipevent_event ev;
	struct pidf *doc = NULL;
	struct pidf_err pe;
	uint32_t exp;
	int err;

	if (!user) {
		refuse(p, msg, NULL, 403, "Forbidden: No Asserted Identity");
		return;
	}
	if (!eh || sipevent_event_decode(&ev, &eh->val) ||
	    pl_strcasecmp(&ev.event, "presence")) {
		log_sip(LOG_NOTICE, msg, user, "PUBLISH from '%s' for another "
			"event package: 489", user);
		(void)sipreply(p->sip, msg, 0, false, 489, "Bad Event",
			       "Allow-Events: presence\r\n"
			       "Content-Length: 0\r\n\r\n");
		return;
	}
	if (pl_strcmp(&msg->uri.user, user)) {
		refuse(p, msg, user, 403, "Forbidden: Not Your Presence");
		return;
	}
	if (expiry(p, msg, user, &exp))
		return;
	new_etag(etag, p, msg, user, im);
	if (answered_before(p, msg, user, etag))
		return;

	if (im) {
		pb = im->val.l == PUB_ETAG_LEN ? pub_find(p, &im->val) : NULL;
		if (!pb || strcmp(pub_user(pb), user)) {
			refuse(p, msg, user, 412, "Conditional Request "
			       "Failed");
			return;
		}
	}
	if (blen) {
		if (!msg_ctype_cmp(&msg->ctyp, "application", "pidf+xml")) {
			log_sip(LOG_NOTICE, msg, user, "PUBLISH from '%s': "
				"Content-Type '%r': 415", user,
				&msg->ctyp.type);
			(void)sipreply(p->sip, msg, 0, false, 415,
				       "Unsupported Media Type",
				       "Accept: application/pidf+xml\r\n"
				       "Content-Length: 0\r\n\r\n");
			return;
		}
		if (pidf_parse(&doc, mbuf_buf(msg->mb), blen,
			       p->conf->pidf_max_size, &pe)) {
			refuse(p, msg, user, pe.code, pe.reason);
			return;
		}
		if (!pidf_entity_is(doc, user, p->conf->domain)) {
			refuse(p, msg, user, 403, "Forbidden: Entity Is Not "
			       "The Publisher");
			goto out;
		}
	}
	else if (!pb) {
		refuse(p, msg, user, 400, "Bad Request: Initial PUBLISH "
		       "Without Body");
		return;
	}

	if (!exp) {
		if (!pb) {
			refuse(p, msg, user, 400, "Bad Request: Expires 0 "
			       "Without SIP-If-Match");
			goto out;
		}
		err = pub_remove(p, pb);
		if (err) {
			log_err("PUBLISH from '%s': cannot remove: %m", user,
				err);
			store_failed(p, msg, err);
			goto out;
		}
		log_sip(LOG_INFO, msg, user, "publication of '%s' removed",
			user);
		(void)sipreply(p->sip, msg, 0, false, 200, "OK",
			       "Expires: 0\r\nContent-Length: 0\r\n\r\n");
		goto out;
	}

	{
		struct pl raw = { (const char *)mbuf_buf(msg->mb), blen };

		err = pub_put(p, pb, user, doc, doc ? &raw : NULL, exp,
			      etag);
	}
	if (err) {
		log_err("PUBLISH from '%s': cannot store: %m", user, err);
		store_failed(p, msg, err);
		goto out;
	}
	log_sip(LOG_DEBUG, msg, user, "PUBLISH from '%s': %s, etag %s",
		user, pb ? (doc ? "modified" : "refreshed") : "new", etag);
	(void)sipreply(p->sip, msg, 0, false, 200, "OK",
		       "SIP-ETag: %s\r\nExpires: %u\r\n"
		       "Content-Length: 0\r\n\r\n", etag, exp);
 out:
	mem_deref(doc);
}
