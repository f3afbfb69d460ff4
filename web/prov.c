/* prov: the files phones fetch at boot (GET /prov/NAME). NAME holds the
 * phone's MAC address in the form its vendor's template names it
 * (provtmpl.h); the file holds SIP credentials, so it goes only to a
 * request with that device's provisioning credentials: HTTP digest
 * (RFC 7616, MD5 as phones do it; user = the MAC address) over HTTP or
 * HTTPS, or Basic over HTTPS only. Without them: 401 with a challenge,
 * and no byte of the file. A name that is no device's: 404. A good fetch
 * is written down (when, from where) for the Devices page. */
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <re.h>
#include <openssl/crypto.h>
#include "base/digest.h"
#include "store/store_users.h"
#include "store/store_devices.h"
#include "prov/provfile.h"
#include "cgi.h"

#define NONCE_LIFETIME 300

static bool name_ok(const char *n)
{
	size_t l = strlen(n);

	if (!l || l > 64)
		return false;
	for (size_t i = 0; i < l; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", n[i]))
			return false;
	return n[0] != '.';
}

/* The device whose vendor's file name is `name`: each run of 12 hex
 * digits in it is a candidate MAC. */
static int find_device(struct req *r, const char *name,
		       struct device_rec *d, struct provtmpl **tp)
{
	const char *dir = provfile_dir();
	size_t l = strlen(name);

	for (size_t i = 0; i + DEVICE_MAC_LEN <= l; i++) {
		char mac[DEVICE_MAC_LEN + 1], cand[DEVICE_MAC_LEN + 1];
		char fname[128], err[160] = "";
		struct provtmpl *t = NULL;

		memcpy(cand, name + i, DEVICE_MAC_LEN);
		cand[DEVICE_MAC_LEN] = '\0';
		if (device_mac_normalise(mac, cand) ||
		    devices_get(r->admin, mac, d))
			continue;
		if (provtmpl_load(&t, dir, d->vendor, err, sizeof(err))) {
			cgi_log(r, "provisioning template for %s: %s",
				d->vendor, err);
			return EIO;
		}
		if (!provtmpl_filename(t, mac, fname, sizeof(fname)) &&
		    !strcasecmp(fname, name)) {
			*tp = t;
			return 0;
		}
		mem_deref(t);
	}
	return ENOENT;
}

static int challenge(struct req *r, struct nonce_ctx *nc, bool stale)
{
	char nonce[NONCE_LEN + 1];

	(void)nonce_make(nc, r->conf->domain, (uint64_t)time(NULL), nonce);
	(void)cgi_header(r, "WWW-Authenticate: Digest realm=\"%s\", "
			 "qop=\"auth\", algorithm=MD5, nonce=\"%s\"%s",
			 r->conf->domain, nonce, stale ? ", stale=true" : "");
	return cgi_fail(r, 401, "This file needs the device's provisioning "
			"credentials.");
}

/* 0: the request carries the credentials of device `mac`. */
static int check_auth(struct req *r, struct nonce_ctx *nc, const char *mac,
		      const char *ha1, const uint8_t *key, uint32_t gen,
		      bool *stale)
{
	const char *h = getenv("HTTP_AUTHORIZATION");
	struct digest_cred c;
	struct pl hv, met;

	*stale = false;
	if (!h)
		return EACCES;
	if (!strncasecmp(h, "Basic ", 6)) {
		char secret[DEVICE_SECRET_LEN + 1], want[128], got[128];
		size_t n = sizeof(got) - 1;

		if (!r->https) {
			cgi_log(r, "provisioning %s: Basic refused without "
				"HTTPS", mac);
			return EACCES;
		}
		if (base64_decode(h + 6, strlen(h + 6), (uint8_t *)got, &n))
			return EACCES;
		got[n] = '\0';
		devices_secret(secret, key, "prov", mac, gen);
		(void)re_snprintf(want, sizeof(want), "%s:%s", mac, secret);
		return strlen(want) == n && !CRYPTO_memcmp(want, got, n)
		       ? 0 : EACCES;
	}
	pl_set_str(&hv, h);
	if (digest_cred_decode(&c, &hv) || c.alg != DIGEST_MD5 ||
	    pl_strcasecmp(&c.r.username, mac) ||
	    pl_strcmp(&c.r.realm, r->conf->domain) ||
	    pl_strcmp(&c.r.uri, r->uri))
		return EACCES;
	if (nonce_check(nc, r->conf->domain, &c.r.nonce,
			(uint64_t)time(NULL))) {
		*stale = true;
		return EACCES;
	}
	pl_set_str(&met, r->method);
	return digest_verify(&c, ha1, &met) ? EACCES : 0;
}

static int render(struct req *r, const struct provtmpl *t,
		  const struct device_rec *d, const uint8_t *key)
{
	char errbuf[160] = "";
	int err;

	mbuf_reset(r->body);
	err = provfile_render(r->body, r->admin, r->conf, key, d, t, errbuf,
			      sizeof(errbuf));
	if (err) {
		cgi_log(r, "provisioning %s: %s: %s", d->mac, d->vendor,
			errbuf);
		return cgi_fail(r, 500, "The device's file cannot be made; "
				"see the web server's log.");
	}
	(void)devices_fetched(r->admin, d->mac, r->remote);
	cgi_log(r, "provisioning: %s fetched its file", d->mac);
	return cgi_send(r, 200, provtmpl_ctype(t));
}

int prov_serve(struct req *r)
{
	const char *name = r->path[0] == '/' ? r->path + 1 : r->path;
	struct nonce_ctx *nc = NULL;
	struct provtmpl *t = NULL;
	struct device_rec d;
	uint8_t key[DEVICE_KEY_BYTES];
	char ha1[DIGEST_HEX_MAX];
	bool stale;
	int err;

	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		return cgi_fail(r, 405, "Phones fetch their files with GET.");
	if (!name_ok(name) || (err = find_device(r, name, &d, &t))) {
		cgi_log(r, "provisioning: no device's file is '%s'", name);
		return cgi_fail(r, 404, "No such file.");
	}
	err = provfile_key(r->conf, key);
	err = err ? err : devices_prov_ha1(r->admin, d.mac, ha1, sizeof(ha1));
	/* the nonce key: the device key, so that every CGI process makes
	 * and checks the same nonces */
	err = err ? err : nonce_ctx_alloc(&nc, key, sizeof(key),
					  NONCE_LIFETIME, 64);
	if (err) {
		mem_deref(t);
		return cgi_fail(r, 500, "The device key cannot be read.");
	}
	if (check_auth(r, nc, d.mac, ha1, key, d.gen, &stale)) {
		if (getenv("HTTP_AUTHORIZATION") && !stale)
			cgi_log(r, "provisioning %s: wrong credentials",
				d.mac);
		err = challenge(r, nc, stale);
	}
	else
		err = render(r, t, &d, key);
	mem_deref(nc);
	mem_deref(t);
	return err;
}
