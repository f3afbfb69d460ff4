/* provfile: render one device's provisioning file (provfile.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "store/store_users.h"
#include "prov/provfile.h"

const char *provfile_dir(void)
{
	const char *dir = getenv("LAMPLIGHT_PROV_TEMPLATES");

	return dir ? dir : LP_DATADIR "/lamplight/prov";
}

int provfile_key(const struct conf *conf, uint8_t key[DEVICE_KEY_BYTES])
{
	char path[512];

	(void)re_snprintf(path, sizeof(path), "%s/device.key",
			  conf->state_dir);
	return devices_key_load(key, path);
}

struct collect {
	struct key_rec recs[PROVTMPL_MAX_KEYS];
	struct prov_key keys[PROVTMPL_MAX_KEYS];
	size_t n;
};

static int collect_h(const struct key_rec *k, void *arg)
{
	struct collect *c = arg;

	if (c->n >= PROVTMPL_MAX_KEYS)
		return 0;
	c->recs[c->n] = *k;
	c->keys[c->n].pos = c->recs[c->n].position;
	c->keys[c->n].kind = (int)c->recs[c->n].kind;
	c->keys[c->n].target = c->recs[c->n].target;
	c->keys[c->n].label = c->recs[c->n].label;
	c->n++;
	return 0;
}

/* The first UDP address the edge listens on: where phones register. */
static uint16_t sip_port(const struct conf *conf)
{
	for (unsigned i = 0; i < conf->listen_count; i++)
		if (conf->listen[i].tp == CONF_TP_UDP)
			return conf->listen[i].port;
	return 5060;
}

int provfile_render(struct mbuf *out, struct store *admin,
		    const struct conf *conf, const uint8_t *key,
		    const struct device_rec *d, const struct provtmpl *t,
		    char *errbuf, size_t errsz)
{
	struct collect *c = mem_zalloc(sizeof(*c), NULL);
	char sip[DEVICE_SECRET_LEN + 1], auth[96];
	struct user_rec *u = NULL;
	struct prov_vars v;
	struct pl pl;
	int err;

	if (!c)
		return ENOMEM;
	pl_set_str(&pl, d->owner);
	err = users_get(admin, &pl, &u);
	if (err) {
		(void)re_snprintf(errbuf, errsz, "no owner '%s'", d->owner);
		goto out;
	}
	err = keys_foreach(admin, d->mac, collect_h, c);
	if (err)
		goto out;
	devices_secret(sip, key, "sip", d->mac, d->gen);
	(void)re_snprintf(auth, sizeof(auth), "%s~%s", d->owner, d->mac);
	memset(&v, 0, sizeof(v));
	v.mac = d->mac;
	v.user = d->owner;
	v.authname = auth;
	v.password = sip;
	v.name = *u->name ? u->name : u->username;
	v.domain = conf->domain;
	v.server = conf->domain;
	v.port = sip_port(conf);
	v.transport = "udp";
	v.pickup = conf->pickup_prefix ? conf->pickup_prefix : "";
	v.keys = c->keys;
	v.key_count = c->n;
	err = provtmpl_render(out, t, &v, errbuf, errsz);
 out:
	mem_deref(c);
	mem_deref(u);
	return err;
}
