/* ctl_device: `lamplightctl admin`, `device` and `key`: the web page's
 * administrators, desk phones, their keys and their provisioning files,
 * for scripts; the same checks as the admin page. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "store/store_users.h"
#include "store/store_admin.h"
#include "prov/provfile.h"
#include "ctl_db.h"
#include "ctl.h"

static const char *opt(int argc, char **argv, int first, const char *name)
{
	for (int i = first; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static int admin_h(const char *name, uint64_t created, void *arg)
{
	(void)arg;
	(void)created;
	printf("%s\n", name);
	return 0;
}

/* admin add|passwd NAME [--password PW], admin del NAME, admin list */
int ctl_admin(const struct conf *conf, int argc, char **argv, int i)
{
	const char *verb = argv[i], *name = i + 1 < argc ? argv[i + 1] : NULL;
	const char *pw = opt(argc, argv, i + 2, "--password");
	struct store *st = NULL;
	char gen[32];
	int err;

	err = open_admin(conf, &st);
	if (err)
		return err;
	if (!strcmp(verb, "list")) {
		err = admins_foreach(st, admin_h, NULL);
		goto out;
	}
	if (!admins_name_valid(name)) {
		fprintf(stderr, "lamplightctl: an admin name is 1-64 of a-z "
			"A-Z 0-9 . _ - +\n");
		err = EINVAL;
		goto out;
	}
	if (!strcmp(verb, "del")) {
		err = admins_del(st, name);
		if (err == ENOENT)
			fprintf(stderr, "lamplightctl: no admin '%s'\n", name);
		goto out;
	}
	if (strcmp(verb, "add") && strcmp(verb, "passwd")) {
		fprintf(stderr, "lamplightctl: admin add|passwd|del|list\n");
		err = EINVAL;
		goto out;
	}
	if (pw && strlen(pw) < 8) {
		fprintf(stderr, "lamplightctl: a password is at least 8 "
			"characters\n");
		err = EINVAL;
		goto out;
	}
	if (!pw) {
		(void)users_gen_password(gen, sizeof(gen));
		pw = gen;
	}
	err = admins_set(st, name, pw, !strcmp(verb, "add"));
	if (err == EEXIST || (err == EINVAL && !strcmp(verb, "add")))
		fprintf(stderr, "lamplightctl: admin '%s' exists\n", name);
	else if (err == ENOENT)
		fprintf(stderr, "lamplightctl: no admin '%s'\n", name);
	else if (err)
		fprintf(stderr, "lamplightctl: %s\n", strerror(err));
	else if (pw == gen)
		printf("%s %s\n", name, gen);
 out:
	mem_deref(st);
	return err;
}

static int list_h(const struct device_rec *d, void *arg)
{
	(void)arg;
	printf("%s %-12s %-10s %-16s %llu %s\n", d->mac, d->vendor,
	       *d->model ? d->model : "-", d->owner,
	       (unsigned long long)d->last_fetch,
	       *d->last_addr ? d->last_addr : "-");
	return 0;
}

static int key_h(const struct key_rec *k, void *arg)
{
	(void)arg;
	printf("key %u %s %s %s\n", k->position, key_kind_name(k->kind),
	       k->target, k->label);
	return 0;
}

static int show(struct store *st, const struct conf *conf,
		const struct device_rec *d)
{
	uint8_t key[DEVICE_KEY_BYTES];
	char sip[DEVICE_SECRET_LEN + 1], prov[DEVICE_SECRET_LEN + 1];
	int err = provfile_key(conf, key);

	if (err) {
		fprintf(stderr, "lamplightctl: device key: %s\n",
			strerror(err));
		return err;
	}
	devices_secret(sip, key, "sip", d->mac, d->gen);
	devices_secret(prov, key, "prov", d->mac, d->gen);
	printf("mac %s\nvendor %s\nmodel %s\nowner %s\n"
	       "prov_user %s\nprov_password %s\nsip_auth %s~%s\n"
	       "sip_password %s\nlast_fetch %llu\nlast_addr %s\n",
	       d->mac, d->vendor, d->model, d->owner, d->mac, prov, d->owner,
	       d->mac, sip, (unsigned long long)d->last_fetch, d->last_addr);
	return keys_foreach(st, d->mac, key_h, NULL);
}

static int file(struct store *st, const struct conf *conf,
		const struct device_rec *d)
{
	uint8_t key[DEVICE_KEY_BYTES];
	struct provtmpl *t = NULL;
	struct mbuf *mb = mbuf_alloc(4096);
	char errbuf[160] = "", name[128];
	int err = mb ? provfile_key(conf, key) : ENOMEM;

	err = err ? err : provtmpl_load(&t, provfile_dir(), d->vendor, errbuf,
					sizeof(errbuf));
	err = err ? err : provfile_render(mb, st, conf, key, d, t, errbuf,
					  sizeof(errbuf));
	err = err ? err : provtmpl_filename(t, d->mac, name, sizeof(name));
	if (err)
		fprintf(stderr, "lamplightctl: %s\n", *errbuf ? errbuf :
			strerror(err));
	else {
		fprintf(stderr, "%s (%s)\n", name, provtmpl_ctype(t));
		fwrite(mb->buf, 1, mb->end, stdout);
	}
	mem_deref(t);
	mem_deref(mb);
	return err;
}

/* device add MAC --vendor V --owner U [--model M] | set MAC [--vendor V]
 * [--model M] [--owner U] | del | list | show | reset | file */
int ctl_device(const struct conf *conf, int argc, char **argv, int i)
{
	const char *verb = argv[i];
	const char *e;
	struct store *st = NULL;
	struct device_rec d;
	uint8_t key[DEVICE_KEY_BYTES];
	int err;

	memset(&d, 0, sizeof(d));
	err = open_admin(conf, &st);
	if (err)
		return err;
	if (!strcmp(verb, "list")) {
		err = devices_foreach(st, list_h, NULL);
		goto out;
	}
	e = device_mac_normalise(d.mac, i + 1 < argc ? argv[i + 1] : NULL);
	if (e) {
		fprintf(stderr, "lamplightctl: %s\n", e);
		err = EINVAL;
		goto out;
	}
	if (!strcmp(verb, "add")) {
		const char *v = opt(argc, argv, i + 2, "--vendor");
		const char *o = opt(argc, argv, i + 2, "--owner");
		const char *m = opt(argc, argv, i + 2, "--model");

		e = device_vendor_check(v);
		e = e ? e : device_model_check(m ? m : "");
		e = e ? e : (users_exists(st, o ? o : "") ? NULL :
			     "--owner names no user");
		if (e) {
			fprintf(stderr, "lamplightctl: %s\n", e);
			err = EINVAL;
			goto out;
		}
		str_ncpy(d.vendor, v, sizeof(d.vendor));
		str_ncpy(d.owner, o, sizeof(d.owner));
		str_ncpy(d.model, m ? m : "", sizeof(d.model));
		err = provfile_key(conf, key);
		err = err ? err : devices_add(st, key, conf->domain, &d);
		if (err == EEXIST || err == EINVAL)
			fprintf(stderr, "lamplightctl: device %s exists\n",
				d.mac);
		goto out;
	}
	if (!strcmp(verb, "del")) {
		err = devices_del(st, d.mac);
		goto out;
	}
	err = devices_get(st, d.mac, &d);
	if (err) {
		fprintf(stderr, "lamplightctl: no device %s\n", d.mac);
		goto out;
	}
	if (!strcmp(verb, "set")) {
		const char *v = opt(argc, argv, i + 2, "--vendor");
		const char *o = opt(argc, argv, i + 2, "--owner");
		const char *m = opt(argc, argv, i + 2, "--model");

		e = v ? device_vendor_check(v) : NULL;
		e = e ? e : (m ? device_model_check(m) : NULL);
		e = e ? e : (!o || users_exists(st, o) ? NULL :
			     "--owner names no user");
		if (e) {
			fprintf(stderr, "lamplightctl: %s\n", e);
			err = EINVAL;
			goto out;
		}
		if (v)
			str_ncpy(d.vendor, v, sizeof(d.vendor));
		if (m)
			str_ncpy(d.model, m, sizeof(d.model));
		if (o)
			str_ncpy(d.owner, o, sizeof(d.owner));
		err = provfile_key(conf, key);
		err = err ? err : devices_update(st, key, conf->domain, &d);
	}
	else if (!strcmp(verb, "show"))
		err = show(st, conf, &d);
	else if (!strcmp(verb, "file"))
		err = file(st, conf, &d);
	else if (!strcmp(verb, "reset")) {
		err = provfile_key(conf, key);
		err = err ? err : devices_reset(st, key, conf->domain, d.mac);
	}
	else {
		fprintf(stderr, "lamplightctl: device add|set|del|list|show|"
			"reset|file\n");
		err = EINVAL;
	}
 out:
	if (err == ENOENT && strcmp(verb, "show") && strcmp(verb, "file"))
		fprintf(stderr, "lamplightctl: no device %s\n", d.mac);
	mem_deref(st);
	return err;
}

/* key set MAC POS blf|speed TARGET [--label L] | key del MAC POS */
int ctl_key(const struct conf *conf, int argc, char **argv, int i)
{
	const char *verb = argv[i];
	char mac[DEVICE_MAC_LEN + 1];
	struct store *st = NULL;
	struct device_rec d;
	struct key_rec k;
	const char *e;
	char *end = NULL;
	long pos;
	int err;

	memset(&k, 0, sizeof(k));
	e = device_mac_normalise(mac, i + 1 < argc ? argv[i + 1] : NULL);
	pos = i + 2 < argc ? strtol(argv[i + 2], &end, 10) : 0;
	if (!e && (pos < 1 || pos > DEVICE_MAX_KEYS || *end))
		e = "a key position is 1 to 100";
	if (e) {
		fprintf(stderr, "lamplightctl: %s\n", e);
		return EINVAL;
	}
	err = open_admin(conf, &st);
	if (err)
		return err;
	if (devices_get(st, mac, &d)) {
		fprintf(stderr, "lamplightctl: no device %s\n", mac);
		err = ENOENT;
		goto out;
	}
	if (!strcmp(verb, "del")) {
		err = keys_del(st, mac, (uint32_t)pos);
		if (err == ENOENT)
			fprintf(stderr, "lamplightctl: no key %ld\n", pos);
		goto out;
	}
	if (strcmp(verb, "set") || i + 4 >= argc ||
	    key_kind_parse(&k.kind, argv[i + 3])) {
		fprintf(stderr, "lamplightctl: key set MAC POS blf|speed "
			"TARGET [--label L]\n");
		err = EINVAL;
		goto out;
	}
	str_ncpy(k.target, argv[i + 4], sizeof(k.target));
	e = opt(argc, argv, i + 5, "--label");
	str_ncpy(k.label, e ? e : k.target, sizeof(k.label));
	if (k.kind == KEY_BLF && !users_exists(st, k.target))
		e = "a BLF key watches a user: no such user";
	else if (k.kind == KEY_SPEED && !users_name_valid(k.target) &&
		 device_number_check(k.target))
		e = "a speed dial is a user or a number (0-9 * # +)";
	else if (device_label_check(k.label) || strpbrk(k.label, ";|"))
		e = "a label is at most 32 characters, no ; or |";
	else
		e = NULL;
	if (e) {
		fprintf(stderr, "lamplightctl: %s\n", e);
		err = EINVAL;
		goto out;
	}
	k.position = (uint32_t)pos;
	err = keys_set(st, mac, &k);
 out:
	mem_deref(st);
	return err;
}
