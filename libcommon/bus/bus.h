/* bus: the ZeroMQ "clone" pattern inside libre's loop. A publisher keeps
 * the current value of every key, publishes each change with a per-topic
 * sequence number and answers snapshot requests; a subscriber asks for a
 * snapshot at start, on a gap and when the publisher restarts, so nothing
 * on the bus is the only copy of anything. Messages are JSON objects with
 * a schema version `v` (docs/bus.md). */
#ifndef LP_BUS_H
#define LP_BUS_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

#define BUS_VERSION 1
#define BUS_EPOCH_LEN 16
#define BUS_KEY_LEN 40         /* a CURVE key in Z85 */

struct bus;
struct bus_pub;
struct bus_sub;

/* A decoded message; pointers into `root`, valid during the handler. */
struct bus_msg {
	const char *topic;
	const char *key;
	const char *type;      /* "set", "del", "hb", "snap-end" */
	const char *epoch;
	uint64_t seq;
	uint64_t time;         /* milliseconds since the epoch */
	const struct odict *data;
	struct odict *root;
};

typedef void (bus_update_h)(const struct bus_msg *m, void *arg);
typedef void (bus_reset_h)(void *arg);

int  bus_alloc(struct bus **busp);

/* The bus between nodes: ZeroMQ CURVE (encrypted, each end proving it
 * holds its secret key). A node's key pair, in Z85. */
struct bus_keys {
	char pub[BUS_KEY_LEN + 1];
	char sec[BUS_KEY_LEN + 1];
};
int  bus_keys_make(struct bus_keys *k);
/* Read from `path` (buskeys.c: the secret key in Z85), made (mode 0640)
 * when missing. EBADMSG: the file holds no key. */
int  bus_keys_load(struct bus_keys *k, const char *path);
/* The public half of a secret key (EINVAL: not a key). */
int  bus_keys_public(char pub[BUS_KEY_LEN + 1], const char *sec);

/* Whether the peer with this public key, connecting from `addr`, is let
 * in; the handler logs a refusal. */
typedef bool (bus_auth_h)(const char *key, const char *addr, void *arg);
/* From now on the sockets of this bus for other nodes (tcp://
 * endpoints of bus_pub_listen and bus_sub_alloc_node) use CURVE with
 * `keys`: publishers as servers, asking `authh` about each peer (NULL:
 * only a peer with our own public key), subscribers as clients of a
 * publisher whose key they are given. A peer without a key we accept
 * never gets a message; a frame over 64 KiB from one ends the
 * connection. bus_pub_alloc's own endpoints stay plain (ipc://, or a
 * tcp:// of bus_registrar_pub). */
int  bus_secure(struct bus *bus, const struct bus_keys *keys,
		bus_auth_h *authh, void *arg);

int  bus_pub_alloc(struct bus_pub **pubp, struct bus *bus,
		   const char *pub_ep, const char *snap_ep,
		   uint32_t heartbeat_ms);
/* Declare a topic before its first change, so that it has heartbeats from
 * the start: a subscriber learns of a restart from them. */
int  bus_pub_topic(struct bus_pub *pub, const char *topic);
int  bus_pub_set(struct bus_pub *pub, const char *topic, const char *key,
		 const struct odict *data);
int  bus_pub_del(struct bus_pub *pub, const char *topic, const char *key,
		 const struct odict *data);
uint64_t bus_pub_seq(const struct bus_pub *pub, const char *topic);
/* Publish on two more endpoints too (the same updates, heartbeats and
 * snapshots): the ones other nodes connect to. */
int  bus_pub_listen(struct bus_pub *pub, const char *pub_ep,
		    const char *snap_ep);
/* Hold updates up to `ms` and send them together (0, the default: each
 * at once). Snapshots and the key table are not delayed; a heartbeat
 * sends what is held first. */
void bus_pub_batch(struct bus_pub *pub, uint32_t ms);

int  bus_sub_alloc(struct bus_sub **subp, struct bus *bus,
		   const char *pub_ep, const char *snap_ep, const char *topic,
		   bus_reset_h *reseth, bus_update_h *updh, void *arg);
/* The same, of another node's publisher whose public key is
 * `server_key` (a tcp:// endpoint of a secured bus needs one). */
int  bus_sub_alloc_node(struct bus_sub **subp, struct bus *bus,
			const char *pub_ep, const char *snap_ep,
			const char *server_key, const char *topic,
			bus_reset_h *reseth, bus_update_h *updh, void *arg);
bool bus_sub_synced(const struct bus_sub *sub);
uint32_t bus_sub_resyncs(const struct bus_sub *sub);
/* Every key we were told of, to the handler as a `del` with its last
 * value and "resync": true, then forgotten: the publisher is gone for
 * good (a node that stopped running). */
void bus_sub_forget(struct bus_sub *sub);

/* Pure parts, unit-tested on their own. */
int  bus_msg_encode(char **jsonp, const char *topic, const char *key,
		    const char *type, uint64_t seq, const char *epoch,
		    uint64_t time, const struct odict *data);
int  bus_msg_decode(struct bus_msg *m, const char *json, size_t len);

enum bus_seq_verdict {
	BUS_SEQ_OK,            /* the next one: apply */
	BUS_SEQ_DUP,           /* seen already: ignore */
	BUS_SEQ_GAP,           /* something was lost: resync */
	BUS_SEQ_NEWEPOCH,      /* the publisher restarted: resync */
};

struct bus_seqstate {
	char epoch[BUS_EPOCH_LEN + 1];
	uint64_t seq;
};

enum bus_seq_verdict bus_seq_check(const struct bus_seqstate *s,
				   const char *epoch, uint64_t seq,
				   bool heartbeat);

#endif
