/* test_store_admin: the admin database's administrators, sessions and
 * failed-login counters (store_admin), and its devices and keys
 * (store_devices): yescrypt hashes that verify only the right password;
 * a session found by its cookie and gone after logout or a new password;
 * the wait that doubles after the free tries; MAC addresses normalised;
 * derived passwords fixed per generation and changed by a reset; a
 * device's SIP credentials found as OWNER~MAC with the owner's name;
 * a new owner moving to a new generation; keys in order; a user's
 * devices deleted with the user. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_admin.h"
#include "store/store_devices.h"
#include "base/digest.h"
#include "tap.h"
#include "testdb.h"

static char dir[] = "/tmp/lp-test-admin-XXXXXX";

static int count_keys(const struct key_rec *k, void *arg)
{
	unsigned *n = arg;

	(void)k;
	++*n;
	return 0;
}

static int count_devices(const struct device_rec *d, void *arg)
{
	(void)d;
	++*(unsigned *)arg;
	return 0;
}

/* devices_get from `depth` frames further down the stack */
static int get_deep(struct store *st, const char *mac, struct device_rec *d,
		    unsigned depth)
{
	volatile char pad[64];
	int err;

	pad[0] = (char)depth;
	err = depth ? get_deep(st, mac, d, depth - 1) :
		devices_get(st, mac, d);
	return err + pad[0] - (char)depth;
}

int main(void)
{
	char path[256], tok[ADMIN_TOKEN_HEX], mac[DEVICE_MAC_LEN + 1];
	char s1[DEVICE_SECRET_LEN + 1], s2[DEVICE_SECRET_LEN + 1];
	char ha1[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
	uint8_t key[DEVICE_KEY_BYTES], key2[DEVICE_KEY_BYTES];
	struct web_session ws;
	struct store *st = NULL;
	struct device_rec d;
	struct user_rec *u = NULL;
	struct key_rec k;
	struct pl pl;
	unsigned n = 0;

	libre_init();
	if (!mkdtemp(dir))
		return 1;
	test_db(path, sizeof(path), dir, "admin.db");
	ok(!users_open(&st, path, false), "the admin database opens");

	ok(!admins_set(st, "root", "correct horse", true), "an admin added");
	ok(admins_set(st, "root", "x", true) != 0, "twice: refused");
	ok(admins_set(st, "bad name", "whatever1", true) != 0,
	   "a bad admin name is refused");
	ok(!admins_verify(st, "root", "correct horse"), "the right password");
	ok(admins_verify(st, "root", "wrong horse") == EACCES,
	   "a wrong password: EACCES");
	ok(admins_verify(st, "nobody", "correct horse") == EACCES,
	   "an unknown admin: EACCES too");

	ok(!sessions_create(st, "root", 3600, tok) && strlen(tok) == 64,
	   "a session: a 64-hex token");
	ok(!sessions_get(st, tok, 3600, &ws) && !strcmp(ws.admin, "root") &&
	   strlen(ws.csrf) == 64, "found by its token, with a CSRF token");
	ok(sessions_get(st, "0000000000000000000000000000000000000000000000"
			"000000000000000000", 3600, &ws) == ENOENT,
	   "another token: no session");
	ok(!sessions_del(st, tok) && sessions_get(st, tok, 3600, &ws) ==
	   ENOENT, "logout ends it");
	(void)sessions_create(st, "root", 3600, tok);
	ok(!admins_set(st, "root", "battery staple", false) &&
	   sessions_get(st, tok, 3600, &ws) == ENOENT &&
	   !admins_verify(st, "root", "battery staple"),
	   "a new password ends the admin's sessions");
	(void)sessions_create(st, "root", 0, tok);
	ok(sessions_get(st, tok, 3600, &ws) == ENOENT,
	   "an expired session is not found");

	for (int i = 0; i < LOGIN_FREE_TRIES; i++)
		(void)logins_failed(st, "user:root", 1000);
	ok(logins_wait(st, "user:root", 1000) == 2,
	   "after %d failures: wait 2 s", LOGIN_FREE_TRIES);
	(void)logins_failed(st, "user:root", 1000);
	ok(logins_wait(st, "user:root", 1000) == 4, "then 4 s");
	ok(logins_wait(st, "user:root", 1003) == 1, "counted from the last");
	for (int i = 0; i < 20; i++)
		(void)logins_failed(st, "user:root", 1000);
	ok(logins_wait(st, "user:root", 1000) == LOGIN_MAX_WAIT,
	   "at most %d s", LOGIN_MAX_WAIT);
	ok(!logins_clear(st, "user:root") &&
	   logins_wait(st, "user:root", 1000) == 0, "cleared by a login");

	ok(!device_mac_normalise(mac, "00:15:65:AB:CD:EF") &&
	   !strcmp(mac, "001565abcdef"), "MAC with colons: %s", mac);
	ok(!device_mac_normalise(mac, "00-15-65-ab-cd-ef") &&
	   !strcmp(mac, "001565abcdef"), "with dashes");
	ok(device_mac_normalise(mac, "00:15:65:AB:CD") != NULL &&
	   device_mac_normalise(mac, "00:15:65:AB:CD:EF:01") != NULL &&
	   device_mac_normalise(mac, "00:15:65:AB:CD:EG") != NULL,
	   "short, long and non-hex refused");
	ok(device_label_check("a\nb") != NULL &&
	   device_label_check("Bob & Co") == NULL, "labels: one line");
	ok(device_number_check("+49 30") != NULL &&
	   device_number_check("*97#") == NULL, "numbers: 0-9 * # +");

	(void)re_snprintf(path, sizeof(path), "%s/device.key", dir);
	ok(!devices_key_load(key, path) && !devices_key_load(key2, path) &&
	   !memcmp(key, key2, sizeof(key)),
	   "the device key is made once, then read");
	devices_secret(s1, key, "sip", "001565abcdef", 1);
	devices_secret(s2, key, "sip", "001565abcdef", 1);
	ok(!strcmp(s1, s2) && strlen(s1) == DEVICE_SECRET_LEN,
	   "a derived password is fixed per generation");
	devices_secret(s2, key, "sip", "001565abcdef", 2);
	ok(strcmp(s1, s2), "another generation, another password");
	devices_secret(s2, key, "prov", "001565abcdef", 1);
	ok(strcmp(s1, s2), "provisioning and SIP passwords differ");

	(void)users_add(st, "alice", "Alice", "example.org", "alicepw");
	(void)users_add(st, "bob", "", "example.org", "bobpw");
	memset(&d, 0, sizeof(d));
	str_ncpy(d.mac, "001565abcdef", sizeof(d.mac));
	str_ncpy(d.vendor, "yealink", sizeof(d.vendor));
	str_ncpy(d.owner, "alice", sizeof(d.owner));
	ok(!devices_add(st, key, "example.org", &d), "a device added");
	ok(devices_add(st, key, "example.org", &d) != 0, "twice: refused");
	pl_set_str(&pl, "alice~001565abcdef");
	devices_secret(s1, key, "sip", "001565abcdef", 1);
	(void)digest_ha1(want, DIGEST_MD5, "alice~001565abcdef", "example.org",
			 s1);
	ok(!users_get(st, &pl, &u) && !strcmp(u->username, "alice") &&
	   !strcmp(u->authname, "alice~001565abcdef") &&
	   !strcmp(u->ha1[DIGEST_MD5], want),
	   "OWNER~MAC: the owner, with the device's own hash");
	u = mem_deref(u);
	pl_set_str(&pl, "bob~001565abcdef");
	ok(users_get(st, &pl, &u) == ENOENT, "another user~MAC: nobody");
	devices_secret(s1, key, "prov", "001565abcdef", 1);
	(void)digest_ha1(want, DIGEST_MD5, "001565abcdef", "example.org", s1);
	ok(!devices_prov_ha1(st, "001565abcdef", ha1, sizeof(ha1)) &&
	   !strcmp(ha1, want), "the provisioning HA1 (user = MAC)");
	ok(!devices_reset(st, key, "example.org", "001565abcdef") &&
	   !devices_get(st, "001565abcdef", &d) && d.gen == 2 &&
	   !devices_prov_ha1(st, "001565abcdef", ha1, sizeof(ha1)) &&
	   strcmp(ha1, want), "a reset: generation 2, new hashes");

	str_ncpy(d.owner, "bob", sizeof(d.owner));
	str_ncpy(d.model, "T46U", sizeof(d.model));
	pl_set_str(&pl, "bob~001565abcdef");
	ok(!devices_update(st, key, "example.org", &d) &&
	   !devices_get(st, "001565abcdef", &d) && d.gen == 3 &&
	   !strcmp(d.model, "T46U") && !users_get(st, &pl, &u) &&
	   !strcmp(u->username, "bob"),
	   "a new owner: generation 3, credentials for bob~MAC");
	u = mem_deref(u);
	str_ncpy(d.model, "T48U", sizeof(d.model));
	ok(!devices_update(st, key, "example.org", &d) &&
	   !devices_get(st, "001565abcdef", &d) && d.gen == 3,
	   "the same owner: the generation stays");
	str_ncpy(d.owner, "alice", sizeof(d.owner));
	(void)devices_update(st, key, "example.org", &d);
	ok(users_exists(st, "alice") && !users_exists(st, "nobody") &&
	   !users_exists(st, "bad name"), "users_exists");
	ok(!users_fullname_check("Alice L.") &&
	   users_fullname_check("a\nb") != NULL, "users_fullname_check");

	memset(&k, 0, sizeof(k));
	k.position = 2;
	k.kind = KEY_BLF;
	str_ncpy(k.target, "bob", sizeof(k.target));
	ok(!keys_set(st, "001565abcdef", &k), "a key set");
	k.position = 1;
	k.kind = KEY_SPEED;
	ok(!keys_set(st, "001565abcdef", &k), "another");
	k.position = 101;
	ok(keys_set(st, "001565abcdef", &k) == ERANGE, "position 101: ERANGE");
	ok(!keys_foreach(st, "001565abcdef", count_keys, &n) && n == 2,
	   "two keys");
	ok(!devices_fetched(st, "001565abcdef", "192.0.2.7") &&
	   !devices_get(st, "001565abcdef", &d) && d.last_fetch > 0 &&
	   !strcmp(d.last_addr, "192.0.2.7"), "a fetch is written down");
	{
		struct device_rec d2;
		bool right = true;

		memset(&d2, 0, sizeof(d2));
		str_ncpy(d2.mac, "001565000002", sizeof(d2.mac));
		str_ncpy(d2.vendor, "snom", sizeof(d2.vendor));
		str_ncpy(d2.owner, "bob", sizeof(d2.owner));
		(void)devices_add(st, key, "example.org", &d2);
		/* a listing, then a look-up, over and over: each finds its
		 * own rows, and the statement cache (64 places, found by the
		 * text's address) does not fill up */
		for (unsigned i = 0; i < 300 && right; i++) {
			n = 0;
			right = !devices_foreach(st, count_devices, &n) &&
				n == 2 &&
				!get_deep(st, "001565000002", &d2, i) &&
				!strcmp(d2.owner, "bob") &&
				!devices_get(st, "001565abcdef", &d2) &&
				!strcmp(d2.owner, "alice");
		}
		ok(right, "listing and looking up devices in turn, 300 times, "
		   "from ever deeper in the stack: both devices listed, each "
		   "look-up its own device");
		(void)devices_del(st, "001565000002");
	}
	ok(!users_del(st, "alice") &&
	   devices_get(st, "001565abcdef", &d) == ENOENT,
	   "deleting the owner deletes the device");
	n = 0;
	ok(!keys_foreach(st, "001565abcdef", count_keys, &n) && n == 0,
	   "and its keys");

	mem_deref(st);
	(void)re_snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return 1;
	libre_close();
	return tap_done();
}
