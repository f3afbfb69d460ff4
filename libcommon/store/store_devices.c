/* store_devices: SQL for devices and their keys, the device key file and
 * the passwords derived from it (store_devices.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include "store/store_sql.h"
#include "base/digest.h"
#include "base/keyfile.h"
#include "store/store_devices.h"

static const char *const vendors[] = {
	"yealink", "polycom", "grandstream", "snom", "cisco",
};

const char *device_mac_normalise(char out[DEVICE_MAC_LEN + 1],
				 const char *in)
{
	size_t n = 0;

	if (!in)
		return "a MAC address is needed";
	for (; *in; in++) {
		char c = *in;

		if (c == ':' || c == '-' || c == '.')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) ||
		    n >= DEVICE_MAC_LEN)
			return "a MAC address is 12 hex digits "
			       "(00:15:65:12:34:56)";
		out[n++] = c;
	}
	out[n] = '\0';
	if (n != DEVICE_MAC_LEN)
		return "a MAC address is 12 hex digits (00:15:65:12:34:56)";
	return NULL;
}

const char *device_vendor_check(const char *vendor)
{
	for (size_t i = 0; vendor && i < ARRAY_SIZE(vendors); i++)
		if (!strcmp(vendor, vendors[i]))
			return NULL;
	return "the vendor is one of yealink, polycom, grandstream, snom, "
	       "cisco";
}

/* Printable text of at most `max` characters (UTF-8 counted as bytes
 * times 4), no control characters: what goes into a phone's file must
 * not be able to start a line of its own. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

const char *device_model_check(const char *model)
{
	if (!text_ok(model, 32))
		return "a model is at most 32 printable characters";
	for (const char *p = model; *p; p++)
		if (strchr("<>&\"'", *p))
			return "a model has no < > & \" or '";
	return NULL;
}

const char *device_label_check(const char *label)
{
	if (!text_ok(label, DEVICE_LABEL_MAX * 4))
		return "a label is at most 32 characters, no line breaks";
	return NULL;
}

const char *device_number_check(const char *number)
{
	size_t n = number ? strlen(number) : 0;

	if (!n || n > 32)
		return "a number is 1 to 32 of 0-9 * # +";
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789*#+", number[i]))
			return "a number is 1 to 32 of 0-9 * # +";
	return NULL;
}

int key_kind_parse(enum key_kind *k, const char *s)
{
	if (s && !strcmp(s, "blf"))
		*k = KEY_BLF;
	else if (s && !strcmp(s, "speed"))
		*k = KEY_SPEED;
	else
		return EINVAL;
	return 0;
}

const char *key_kind_name(enum key_kind k)
{
	return k == KEY_SPEED ? "speed" : "blf";
}

static int random_key(uint8_t *buf, size_t *lenp, void *arg)
{
	(void)arg;
	*lenp = DEVICE_KEY_BYTES;
	rand_bytes(buf, DEVICE_KEY_BYTES);
	return 0;
}

int devices_key_load(uint8_t key[DEVICE_KEY_BYTES], const char *path)
{
	size_t n = 0;
	int err = keyfile_load(path, key, DEVICE_KEY_BYTES, &n, random_key,
			       NULL);

	return err ? err : n == DEVICE_KEY_BYTES ? 0 : EIO;
}

void devices_secret(char out[DEVICE_SECRET_LEN + 1],
		    const uint8_t key[DEVICE_KEY_BYTES], const char *what,
		    const char *mac, uint32_t gen)
{
	/* no 0/O, 1/l/I: typed from a screen into a phone's menu */
	static const char cs[] = "abcdefghijkmnpqrstuvwxyz23456789";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char msg[96];
	int n;

	n = re_snprintf(msg, sizeof(msg), "%s:%s:%u", what, mac, gen);
	HMAC(EVP_sha256(), key, DEVICE_KEY_BYTES, (const uint8_t *)msg,
	     (size_t)(n > 0 ? n : 0), md, &mdlen);
	for (size_t i = 0; i < DEVICE_SECRET_LEN; i++)
		out[i] = cs[md[i] % (sizeof(cs) - 1)];
	out[DEVICE_SECRET_LEN] = '\0';
}

/* The SIP HA1s (auth name OWNER~MAC) and the provisioning HA1 (user MAC,
 * MD5) of generation `gen`, bound to `s` from parameter `first` on. */
static int bind_hashes(struct store_q *s, int first, const uint8_t *key,
		       const char *realm, const char *owner,
		       const char *mac, uint32_t gen)
{
	char secret[DEVICE_SECRET_LEN + 1], auth[96];
	char ha1[DIGEST_HEX_MAX];
	int err = 0;

	devices_secret(secret, key, "sip", mac, gen);
	(void)re_snprintf(auth, sizeof(auth), "%s~%s", owner, mac);
	for (int a = 0; a < DIGEST_ALG_COUNT && !err; a++) {
		err = digest_ha1(ha1, (enum digest_alg)a, auth, realm, secret);
		q_text_copy(s, first + a, ha1);
	}
	devices_secret(secret, key, "prov", mac, gen);
	err = err ? err : digest_ha1(ha1, DIGEST_MD5, mac, realm, secret);
	q_text_copy(s, first + DIGEST_ALG_COUNT, ha1);
	q_text_copy(s, first + DIGEST_ALG_COUNT + 1, realm);
	return err;
}

static void bind_device(struct store_q *s, const struct device_rec *d)
{
	q_text(s, 1, d->mac);
	q_text(s, 2, d->vendor);
	q_text(s, 3, d->model);
	q_text(s, 4, d->owner);
}

int devices_add(struct store *st, const uint8_t *key, const char *realm,
		const struct device_rec *d)
{
	struct store_q *s = store_stmt(st, "INSERT INTO devices (mac, vendor, "
		"model, owner, gen, ha1_md5, ha1_sha256, ha1_sha512_256, "
		"prov_ha1, realm) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, "
		"?9) ON CONFLICT (mac) DO NOTHING");
	int err;

	if (!s)
		return EIO;
	bind_device(s, d);
	err = bind_hashes(s, 5, key, realm, d->owner, d->mac, 1);
	if (err) {
		q_reset(s);
		return err;
	}
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = EEXIST;
	return err;
}

static int changed(struct store_q *s)
{
	int err = store_step_done(s);

	if (!err && q_changes(s) == 0)
		err = ENOENT;
	return err;
}

int devices_update(struct store *st, const uint8_t *key, const char *realm,
		   const struct device_rec *d)
{
	struct device_rec old;
	struct store_q *s;
	int err = devices_get(st, d->mac, &old);

	if (err)
		return err;
	err = store_begin(st);
	if (err)
		return err;
	s = store_stmt(st, "UPDATE devices SET vendor = ?2, model = ?3, "
		       "owner = ?4 WHERE mac = ?1");
	if (s) {
		bind_device(s, d);
		err = changed(s);
	}
	else
		err = EIO;
	/* the SIP auth name holds the owner: a new owner, new credentials */
	if (!err && strcmp(old.owner, d->owner))
		err = devices_reset(st, key, realm, d->mac);
	if (err) {
		store_rollback(st);
		return err;
	}
	return store_commit(st);
}

int devices_reset(struct store *st, const uint8_t *key, const char *realm,
		  const char *mac)
{
	struct device_rec d;
	struct store_q *s;
	int err = devices_get(st, mac, &d);

	if (err)
		return err;
	s = store_stmt(st, "UPDATE devices SET gen = ?2, ha1_md5 = ?3, "
		"ha1_sha256 = ?4, ha1_sha512_256 = ?5, prov_ha1 = ?6, "
		"realm = ?7 WHERE mac = ?1");
	if (!s)
		return EIO;
	q_text(s, 1, mac);
	q_int(s, 2, (int64_t)d.gen + 1);
	err = bind_hashes(s, 3, key, realm, d.owner, mac, d.gen + 1);
	if (err) {
		q_reset(s);
		return err;
	}
	return changed(s);
}

int devices_del(struct store *st, const char *mac)
{
	struct store_q *s;
	int err = store_begin(st);

	if (err)
		return err;
	err = store_run_text(st, "DELETE FROM device_keys WHERE mac = ?1", 1,
			     mac);
	s = err ? NULL : store_stmt(st, "DELETE FROM devices WHERE mac = ?1");
	if (s) {
		q_text(s, 1, mac);
		err = changed(s);
	}
	else if (!err)
		err = EIO;
	if (err) {
		store_rollback(st);
		return err;
	}
	return store_commit(st);
}

/* Whole statements, never printed into a buffer: store_stmt caches a
 * statement by its text's address, and a buffer on the stack is at
 * another address from another caller (a new place in the cache each
 * time, until it is full) or at the same address holding the other
 * statement. */
#define DEV_COLS "SELECT mac, vendor, model, owner, gen, " \
	"coalesce(last_fetch, 0), coalesce(last_addr, '') FROM devices "
static const char dev_get_sql[] = DEV_COLS "WHERE mac = ?1";
static const char dev_list_sql[] = DEV_COLS "ORDER BY owner, mac";

static void dev_from_row(struct device_rec *d, struct store_q *s)
{
	memset(d, 0, sizeof(*d));
	str_ncpy(d->mac, q_col_text(s, 0),
		 sizeof(d->mac));
	str_ncpy(d->vendor, q_col_text(s, 1),
		 sizeof(d->vendor));
	str_ncpy(d->model, q_col_text(s, 2),
		 sizeof(d->model));
	str_ncpy(d->owner, q_col_text(s, 3),
		 sizeof(d->owner));
	d->gen = (uint32_t)q_col_int(s, 4);
	d->last_fetch = (uint64_t)q_col_int(s, 5);
	str_ncpy(d->last_addr, q_col_text(s, 6),
		 sizeof(d->last_addr));
}

int devices_get(struct store *st, const char *mac, struct device_rec *d)
{
	struct store_q *s = store_stmt(st, dev_get_sql);
	int err = ENOENT;

	if (!s)
		return EIO;
	q_text(s, 1, mac);
	if (q_step(s) == STORE_ROW) {
		dev_from_row(d, s);
		err = 0;
	}
	q_reset(s);
	return err;
}

int devices_foreach(struct store *st, devices_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, dev_list_sql);
	int rc, err = 0;

	if (!s)
		return EIO;
	while (!err && (rc = q_step(s)) == STORE_ROW) {
		struct device_rec d;

		dev_from_row(&d, s);
		err = h(&d, arg);
	}
	return store_rows_end(s, rc, err);
}

int devices_fetched(struct store *st, const char *mac, const char *addr)
{
	struct store_q *s = store_stmt(st, "UPDATE devices SET "
				       "last_fetch = ?3, last_addr = ?2 "
				       "WHERE mac = ?1");

	if (!s)
		return EIO;
	q_text(s, 1, mac);
	q_text(s, 2, addr ? addr : "");
	q_int(s, 3, time(NULL));
	return store_step_done(s);
}

int devices_prov_ha1(struct store *st, const char *mac, char *ha1,
		     size_t sz)
{
	struct store_q *s = store_stmt(st, "SELECT prov_ha1 FROM devices "
				       "WHERE mac = ?1");
	int err = ENOENT;

	if (!s)
		return EIO;
	q_text(s, 1, mac);
	if (q_step(s) == STORE_ROW) {
		str_ncpy(ha1, q_col_text(s, 0), sz);
		err = 0;
	}
	q_reset(s);
	return err;
}

int keys_set(struct store *st, const char *mac, const struct key_rec *k)
{
	struct store_q *s = store_stmt(st, "INSERT INTO device_keys "
		"(mac, position, kind, target, label) VALUES (?1, ?2, ?3, ?4, "
		"?5) ON CONFLICT (mac, position) DO UPDATE SET "
		"kind = excluded.kind, target = excluded.target, "
		"label = excluded.label");

	if (!s)
		return EIO;
	if (!k->position || k->position > DEVICE_MAX_KEYS)
		return ERANGE;
	q_text(s, 1, mac);
	q_int(s, 2, k->position);
	q_text(s, 3, key_kind_name(k->kind));
	q_text(s, 4, k->target);
	q_text(s, 5, k->label);
	return store_step_done(s);
}

int keys_del(struct store *st, const char *mac, uint32_t position)
{
	struct store_q *s = store_stmt(st, "DELETE FROM device_keys WHERE "
				       "mac = ?1 AND position = ?2");

	if (!s)
		return EIO;
	q_text(s, 1, mac);
	q_int(s, 2, position);
	return changed(s);
}

int keys_foreach(struct store *st, const char *mac, keys_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, "SELECT position, kind, target, "
		"label FROM device_keys WHERE mac = ?1 ORDER BY position");
	int rc, err = 0;

	if (!s)
		return EIO;
	q_text(s, 1, mac);
	while (!err && (rc = q_step(s)) == STORE_ROW) {
		struct key_rec k;

		memset(&k, 0, sizeof(k));
		k.position = (uint32_t)q_col_int(s, 0);
		(void)key_kind_parse(&k.kind,
				     q_col_text(s, 1));
		str_ncpy(k.target, q_col_text(s, 2),
			 sizeof(k.target));
		str_ncpy(k.label, q_col_text(s, 3),
			 sizeof(k.label));
		err = h(&k, arg);
	}
	return store_rows_end(s, rc, err);
}
