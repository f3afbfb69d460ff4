/* buskeys: a node's key pair for the bus between nodes, kept in a file
 * of its own (cluster_key, state_dir/cluster.key, mode 0640): the secret
 * key in Z85 on one line, the public one derived from it. Made by the
 * first program that needs it, as the device key is (base/keyfile). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/keyfile.h"
#include "bus/bus.h"

static int make_h(uint8_t *buf, size_t *lenp, void *arg)
{
	struct bus_keys fresh;
	int err;

	(void)arg;
	if (*lenp < BUS_KEY_LEN + 1)
		return EINVAL;
	err = bus_keys_make(&fresh);
	if (err)
		return err;
	memcpy(buf, fresh.sec, BUS_KEY_LEN);
	buf[BUS_KEY_LEN] = '\n';
	*lenp = BUS_KEY_LEN + 1;
	return 0;
}

int bus_keys_load(struct bus_keys *k, const char *path)
{
	uint8_t buf[BUS_KEY_LEN + 2];
	size_t n = 0;
	int err;

	if (!k || !path)
		return EINVAL;
	err = keyfile_load(path, buf, sizeof(buf), &n, make_h, NULL);
	if (err)
		return err;
	if (n < BUS_KEY_LEN || (n > BUS_KEY_LEN && buf[BUS_KEY_LEN] != '\n'))
		return EBADMSG;
	memcpy(k->sec, buf, BUS_KEY_LEN);
	k->sec[BUS_KEY_LEN] = '\0';
	return bus_keys_public(k->pub, k->sec) ? EBADMSG : 0;
}
