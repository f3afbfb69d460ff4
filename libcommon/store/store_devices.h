/* store_devices: the desk phones of the admin database: MAC address,
 * vendor and model, owner, and their BLF and speed-dial keys; when each
 * last fetched its provisioning file. A device registers with its own
 * SIP credentials (auth name OWNER~MAC, for the owner's address), and
 * fetches its file with its own provisioning credentials (user MAC); both
 * passwords are derived from the appliance's device key (a file beside
 * the databases, never in them) and the device's generation, so that the
 * database holds only digest hashes and a reset changes both. */
#ifndef LP_STORE_DEVICES_H
#define LP_STORE_DEVICES_H

#include <stdbool.h>
#include <stdint.h>
#include "store/store.h"

#define DEVICE_MAC_LEN 12       /* lower-case hex, no separators */
#define DEVICE_SECRET_LEN 16
#define DEVICE_KEY_BYTES 32
#define DEVICE_MAX_KEYS 100     /* positions 1..100 */
#define DEVICE_LABEL_MAX 32

enum key_kind { KEY_BLF, KEY_SPEED };

struct device_rec {
	char mac[DEVICE_MAC_LEN + 1];
	char vendor[16];
	char model[33];
	char owner[65];
	uint32_t gen;
	uint64_t last_fetch;    /* 0: never */
	char last_addr[64];
};

struct key_rec {
	uint32_t position;
	enum key_kind kind;
	char target[65];        /* a user (blf, speed) or a number (speed) */
	char label[DEVICE_LABEL_MAX * 4 + 1];
};

/* Input checks, each returns NULL or what is wrong, for the page and
 * the tool alike. mac_normalise takes 00:15:65:AA:BB:CC, 00-15-...,
 * 001565aabbcc and writes the canonical form. */
const char *device_mac_normalise(char out[DEVICE_MAC_LEN + 1],
				 const char *in);
const char *device_vendor_check(const char *vendor);
const char *device_model_check(const char *model);
const char *device_label_check(const char *label);
const char *device_number_check(const char *number);
int  key_kind_parse(enum key_kind *k, const char *s);
const char *key_kind_name(enum key_kind k);

/* The device key: read from `path`, created (mode 0640) when missing. */
int  devices_key_load(uint8_t key[DEVICE_KEY_BYTES], const char *path);
void devices_secret(char out[DEVICE_SECRET_LEN + 1],
		    const uint8_t key[DEVICE_KEY_BYTES], const char *what,
		    const char *mac, uint32_t gen);

int  devices_add(struct store *st, const uint8_t *key, const char *realm,
		 const struct device_rec *d);
/* Vendor, model and owner; a new owner moves to a new generation (the
 * SIP auth name holds the owner). */
int  devices_update(struct store *st, const uint8_t *key, const char *realm,
		    const struct device_rec *d);
/* A new generation: new SIP and provisioning passwords. */
int  devices_reset(struct store *st, const uint8_t *key, const char *realm,
		   const char *mac);
int  devices_del(struct store *st, const char *mac);
int  devices_get(struct store *st, const char *mac, struct device_rec *d);
typedef int (devices_h)(const struct device_rec *d, void *arg);
int  devices_foreach(struct store *st, devices_h *h, void *arg);
int  devices_fetched(struct store *st, const char *mac, const char *addr);
/* Provisioning's HA1 (MD5 of MAC:realm:secret) of a device. */
int  devices_prov_ha1(struct store *st, const char *mac, char *ha1,
		      size_t sz);

int  keys_set(struct store *st, const char *mac, const struct key_rec *k);
int  keys_del(struct store *st, const char *mac, uint32_t position);
typedef int (keys_h)(const struct key_rec *k, void *arg);
int  keys_foreach(struct store *st, const char *mac, keys_h *h, void *arg);

#endif
