/* conf: parse the `key = value` configuration file into struct conf,
 * rejecting unknown keys and bad values with the file name and line; and
 * read it again into a running configuration (conf_reload). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <re.h>
#include "lp_config.h"
#include "base/conf.h"

enum ktype { K_STR, K_U32, K_BOOL, K_LISTEN, K_ALGS, K_ROUTE, K_COUNT };

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	uint32_t min, max;     /* K_U32 bounds */
};

#define OFF(f) offsetof(struct conf, f)

static const struct key keys[] = {
	{"domain",                 K_STR,    OFF(domain), 0, 0},
	{"listen",                 K_LISTEN, 0, 0, 0},
	{"tls_certificate",        K_STR,    OFF(tls_certificate), 0, 0},
	{"state_dir",              K_STR,    OFF(state_dir), 0, 0},
	{"runtime_dir",            K_STR,    OFF(runtime_dir), 0, 0},
	{"admin_db",               K_STR,    OFF(admin_db), 0, 0},
	{"store",                  K_STR,    OFF(store), 0, 0},
	{"node_id",                K_STR,    OFF(node_id), 0, 0},
	{"cluster_bus",            K_STR,    OFF(cluster_bus), 0, 0},
	{"cluster_key",            K_STR,    OFF(cluster_key), 0, 0},
	{"log_level",              K_STR,    OFF(log_level), 0, 0},
	{"reg_expires_default",    K_U32, OFF(reg_expires_default), 1,
	 86400 * 7},
	{"reg_expires_min",        K_U32, OFF(reg_expires_min), 1, 86400},
	{"reg_expires_max",        K_U32, OFF(reg_expires_max), 1,
	 86400 * 7},
	{"reg_max_contacts",       K_U32, OFF(reg_max_contacts), 1, 1000},
	{"call_max_ringing",       K_U32, OFF(call_max_ringing), 1, 1000000},
	{"session_expires",        K_U32, OFF(session_expires), 0, 86400},
	{"session_min_se",         K_U32, OFF(session_min_se), 1, 86400},
	{"call_max_duration",      K_U32, OFF(call_max_duration), 0,
	 86400 * 7},
	{"auth_algorithms",        K_ALGS, 0, 0, 0},
	{"nonce_lifetime",         K_U32, OFF(nonce_lifetime), 5, 86400},
	{"nonce_cache_size",       K_U32, OFF(nonce_cache_size), 16,
	 10000000},
	{"sip_max_message",        K_U32, OFF(sip_max_message), 1024,
	 65535},
	{"store_sync_full",        K_BOOL, OFF(store_sync_full), 0, 0},
	{"store_group_ms",         K_U32, OFF(store_group_ms), 0, 1000},
	{"server_version",         K_BOOL, OFF(server_version), 0, 0},
	{"auth_fail_limit",        K_U32, OFF(auth_fail_limit), 1, 1000},
	{"flood_rate",             K_U32, OFF(flood_rate), 0, 1000000},
	{"flood_burst",            K_U32, OFF(flood_burst), 1, 1000000},
	{"tcp_max_connections",    K_U32, OFF(tcp_max_connections), 16,
	 1000000},
	{"tcp_max_unauthenticated", K_U32, OFF(tcp_max_unauthenticated), 1,
	 100000},
	{"tcp_auth_timeout",       K_U32, OFF(tcp_auth_timeout), 0, 3600},
	{"tcp_message_timeout",    K_U32, OFF(tcp_message_timeout), 1, 3600},
	{"auth_block_min",         K_U32, OFF(auth_block_min), 1, 86400},
	{"auth_block_max",         K_U32, OFF(auth_block_max), 1, 604800},
	{"sip_max_address_header", K_U32, OFF(sip_max_address_header), 256,
	 8192},
	{"bus_registrar_pub",      K_STR, OFF(bus_registrar_pub), 0, 0},
	{"bus_registrar_snapshot", K_STR, OFF(bus_registrar_snapshot), 0, 0},
	{"bus_heartbeat",          K_U32, OFF(bus_heartbeat), 1, 3600},
	{"route_presence",         K_ROUTE, OFF(routes[0]), 0, 0},
	{"route_imrelay",          K_ROUTE, OFF(routes[1]), 0, 0},
	{"route_blf",              K_ROUTE, OFF(routes[2]), 0, 0},
	{"route_edge",             K_ROUTE, OFF(route_edge), 0, 0},
	{"route_timeout",          K_U32, OFF(route_timeout), 100, 60000},
	{"probe_interval",         K_U32, OFF(probe_interval), 0, 3600},
	{"probe_timeout",          K_U32, OFF(probe_timeout), 100, 60000},
	{"overload_delay",         K_U32, OFF(overload_delay), 0, 60000},
	{"workers",                K_COUNT, OFF(workers), 1, CONF_MAX_WORKERS},
	{"publish_expires_min",    K_U32, OFF(publish_expires_min), 1, 86400},
	{"publish_expires_default", K_U32, OFF(publish_expires_default), 1,
	 86400 * 7},
	{"publish_expires_max",    K_U32, OFF(publish_expires_max), 1,
	 86400 * 7},
	{"subscribe_expires_min",  K_U32, OFF(subscribe_expires_min), 1,
	 86400},
	{"subscribe_expires_default", K_U32, OFF(subscribe_expires_default),
	 1, 86400 * 7},
	{"subscribe_expires_max",  K_U32, OFF(subscribe_expires_max), 1,
	 86400 * 7},
	{"subscribe_max_per_watcher", K_U32, OFF(subscribe_max_per_watcher),
	 1, 100000},
	{"subscribe_max_per_presentity", K_U32,
	 OFF(subscribe_max_per_presentity), 1, 1000000},
	{"notify_min_interval",    K_U32, OFF(notify_min_interval), 0,
	 3600000},
	{"notify_timeout",         K_U32, OFF(notify_timeout), 500, 32000},
	{"pidf_max_size",          K_U32, OFF(pidf_max_size), 512, 7000},
	{"presence_default_policy", K_STR, OFF(presence_default_policy), 0,
	 0},
	{"bus_presence_pub",       K_STR, OFF(bus_presence_pub), 0, 0},
	{"bus_presence_snapshot",  K_STR, OFF(bus_presence_snapshot), 0, 0},
	{"blf_busy_activities",    K_STR, OFF(blf_busy_activities), 0, 0},
	{"pickup_prefix",          K_STR, OFF(pickup_prefix), 0, 0},
	{"blf_unregistered",       K_STR, OFF(blf_unregistered), 0, 0},
	{"blf_single_dialog",      K_BOOL, OFF(blf_single_dialog), 0, 0},
	{"blf_initiator_confirmed", K_BOOL, OFF(blf_initiator_confirmed), 0,
	 0},
	{"blf_idle_between",       K_BOOL, OFF(blf_idle_between), 0, 0},
	{"blf_early_while_busy",   K_BOOL, OFF(blf_early_while_busy), 0, 0},
	{"im_max_size",            K_U32, OFF(im_max_size), 0, 64000},
	{"im_udp_max",             K_U32, OFF(im_udp_max), 500, 64000},
	{"im_deliver_wait",        K_U32, OFF(im_deliver_wait), 100, 30000},
	{"im_store_expiry",        K_U32, OFF(im_store_expiry), 1,
	 86400 * 365},
	{"im_store_max",           K_U32, OFF(im_store_max), 0, 100000},
};

/* What a reload changes at once: the keys read where they are used.
 * The others (addresses, paths, the bus, what sizes a table at start)
 * need a restart. */
static const char *const live_keys[] = {
	"log_level", "reg_expires_default", "reg_expires_min",
	"reg_expires_max", "auth_algorithms", "sip_max_message",
	"call_max_ringing", "session_expires", "session_min_se",
	"call_max_duration", "sip_max_address_header", "auth_fail_limit", "auth_block_min",
	"auth_block_max", "flood_rate", "flood_burst",
	"tcp_max_unauthenticated", "tcp_auth_timeout", "tcp_message_timeout",
	"probe_interval", "probe_timeout", "overload_delay",
	"publish_expires_min",
	"publish_expires_default", "publish_expires_max",
	"subscribe_expires_min", "subscribe_expires_default",
	"subscribe_expires_max", "subscribe_max_per_watcher",
	"subscribe_max_per_presentity", "notify_min_interval",
	"notify_timeout", "pidf_max_size", "presence_default_policy",
	"blf_busy_activities", "pickup_prefix", "blf_unregistered",
	"blf_single_dialog", "blf_initiator_confirmed", "blf_idle_between",
	"blf_early_while_busy", "im_max_size", "im_udp_max",
	"im_deliver_wait", "im_store_expiry", "im_store_max",
};

static const char *log_levels[] = {"error", "warning", "notice", "info",
				   "debug"};

static void destructor(void *arg)
{
	struct conf *c = arg;

	mem_deref(c->domain);
	mem_deref(c->tls_certificate);
	mem_deref(c->state_dir);
	mem_deref(c->runtime_dir);
	mem_deref(c->admin_db);
	mem_deref(c->node_id);
	mem_deref(c->cluster_bus);
	mem_deref(c->cluster_key);
	mem_deref(c->store);
	mem_deref(c->log_level);
	mem_deref(c->bus_registrar_pub);
	mem_deref(c->bus_registrar_snapshot);
	mem_deref(c->presence_default_policy);
	mem_deref(c->bus_presence_pub);
	mem_deref(c->bus_presence_snapshot);
	mem_deref(c->blf_busy_activities);
	mem_deref(c->pickup_prefix);
	mem_deref(c->blf_unregistered);
}

const char *conf_tp_name(enum conf_transport tp)
{
	switch (tp) {
	case CONF_TP_UDP: return "udp";
	case CONF_TP_TCP: return "tcp";
	case CONF_TP_TLS: return "tls";
	}
	return "?";
}

/* "md5", "sha-256" and "sha-512-256", comma separated, no repeats. */
int conf_parse_algs(enum digest_alg *algs, unsigned *count, const char *s)
{
	static const char *names[] = {"md5", "sha-256", "sha-512-256"};
	enum digest_alg v[DIGEST_ALGS_MAX];
	unsigned n = 0;
	struct pl rest, tok;

	pl_set_str(&rest, s);
	while (rest.l) {
		const char *comma = pl_strchr(&rest, ',');
		unsigned i;
		bool found = false;

		tok.p = rest.p;
		tok.l = comma ? (size_t)(comma - rest.p) : rest.l;
		if (comma)
			pl_advance(&rest, tok.l + 1);
		else
			rest.l = 0;

		while (tok.l && (*tok.p == ' ' || *tok.p == '\t'))
			pl_advance(&tok, 1);
		while (tok.l && (tok.p[tok.l-1] == ' ' ||
				 tok.p[tok.l-1] == '\t'))
			--tok.l;

		for (i = 0; i < DIGEST_ALG_COUNT; i++) {
			if (!pl_strcasecmp(&tok, names[i])) {
				found = true;
				break;
			}
		}
		if (!found || n >= DIGEST_ALGS_MAX)
			return EINVAL;
		for (unsigned j = 0; j < n; j++)
			if (v[j] == (enum digest_alg)i)
				return EINVAL;
		v[n++] = (enum digest_alg)i;
	}
	if (!n)
		return EINVAL;

	memcpy(algs, v, n * sizeof(*v));
	*count = n;
	return 0;
}

/* "udp:127.0.0.1:5060", "tcp:[::1]:5060", "tls:127.0.0.1:5061" */
static int parse_listen(struct conf_listen *l, const struct pl *val)
{
	struct pl tp, host;
	struct sa sa;

	if (re_regex(val->p, val->l, "[a-z]+:[^]+", &tp, &host))
		return EINVAL;
	if (!pl_strcasecmp(&tp, "udp"))
		l->tp = CONF_TP_UDP;
	else if (!pl_strcasecmp(&tp, "tcp"))
		l->tp = CONF_TP_TCP;
	else if (!pl_strcasecmp(&tp, "tls"))
		l->tp = CONF_TP_TLS;
	else
		return EINVAL;

	if (sa_decode(&sa, host.p, host.l))
		return EINVAL;
	if (!sa_isset(&sa, SA_ADDR) || !sa_port(&sa))
		return EINVAL;       /* libre binds no wildcard (LIBRE.md) */
	if (re_snprintf(l->addr, sizeof(l->addr), "%j", &sa) < 0)
		return EINVAL;
	l->port = sa_port(&sa);
	return 0;
}

static int set_key(struct conf *c, const struct key *k, const struct pl *val)
{
	char **sp;
	uint32_t *up;
	bool *bp;

	switch (k->type) {

	case K_STR:
		if (!val->l)
			return EINVAL;
		sp = (char **)(void *)((uint8_t *)c + k->off);
		*sp = mem_deref(*sp);
		return pl_strdup(sp, val);

	case K_COUNT:          /* a K_U32, or auto: 0 */
		if (!pl_strcasecmp(val, "auto")) {
			up = (uint32_t *)(void *)((uint8_t *)c + k->off);
			*up = 0;
			return 0;
		}
		/* fall through */
	case K_U32: {
		uint64_t v = 0;
		for (size_t i = 0; i < val->l; i++) {
			if (val->p[i] < '0' || val->p[i] > '9')
				return EINVAL;
			v = v * 10 + (uint64_t)(val->p[i] - '0');
			if (v > UINT32_MAX)
				return ERANGE;
		}
		if (!val->l)
			return EINVAL;
		if (v < k->min || v > k->max)
			return ERANGE;
		up = (uint32_t *)(void *)((uint8_t *)c + k->off);
		*up = (uint32_t)v;
		return 0;
	}

	case K_BOOL:
		bp = (bool *)(void *)((uint8_t *)c + k->off);
		if (!pl_strcasecmp(val, "yes") || !pl_strcasecmp(val, "true")
		    || !pl_strcmp(val, "1"))
			*bp = true;
		else if (!pl_strcasecmp(val, "no") ||
			 !pl_strcasecmp(val, "false") || !pl_strcmp(val, "0"))
			*bp = false;
		else
			return EINVAL;
		return 0;

	case K_LISTEN:
		if (c->listen_count >= CONF_MAX_LISTEN)
			return E2BIG;
		if (parse_listen(&c->listen[c->listen_count], val))
			return EINVAL;
		++c->listen_count;
		return 0;

	case K_ROUTE: {
		struct conf_listen *l;

		l = (struct conf_listen *)(void *)((uint8_t *)c + k->off);
		return parse_listen(l, val) ? EINVAL : 0;
	}

	case K_ALGS: {
		char *s;
		int err = pl_strdup(&s, val);
		if (err)
			return err;
		err = conf_parse_algs(c->auth_algs, &c->auth_alg_count, s);
		mem_deref(s);
		return err;
	}
	}
	return EINVAL;
}

static int set_default(char **sp, const char *fmt, const char *a)
{
	if (*sp)
		return 0;
	return re_sdprintf(sp, fmt, a);
}

static bool is_pg(const char *s)
{
	return s && (!strncmp(s, "postgresql://", 13) ||
		     !strncmp(s, "postgres://", 11));
}

bool conf_node_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!n || n > CONF_NODE_ID_MAX || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-'))
			return false;
	}
	return true;
}

int conf_tcp_split(const char *ep, struct pl *host, struct pl *port)
{
	const char *colon;

	if (!ep || !host || !port || strncmp(ep, "tcp://", 6))
		return EINVAL;
	colon = strrchr(ep + 6, ':');
	if (!colon || colon == ep + 6 || !colon[1])
		return EINVAL;
	for (const char *d = colon + 1; *d; d++)
		if (*d < '0' || *d > '9')
			return EINVAL;
	host->p = ep + 6;
	host->l = (size_t)(colon - (ep + 6));
	pl_set_str(port, colon + 1);
	return 0;
}

int conf_cluster_ep(char *buf, size_t sz, const char *bus,
		    enum conf_cluster_port which)
{
	struct pl host, port;
	uint32_t p;
	int n;

	if (!buf || which >= CONF_CLUSTER_PORTS ||
	    conf_tcp_split(bus, &host, &port) || port.l > 5)
		return EINVAL;
	p = pl_u32(&port) + (uint32_t)which;
	if (p > 65535)
		return EINVAL;
	n = re_snprintf(buf, sz, "tcp://%r:%u", &host, p);
	return n < 0 || (size_t)n >= sz ? EOVERFLOW : 0;
}

/* node_id and cluster_bus go together, on PostgreSQL (what the nodes
 * share); cluster_bus is tcp://ADDRESS:PORT, an address other nodes can
 * reach (no wildcard), PORT to PORT + 3 free. */
static int check_cluster(const struct conf *c, const char *name,
			 char **errmsg)
{
	struct pl host, port;
	struct sa sa;
	uint32_t p;
	bool bad;

	if (!c->node_id && !c->cluster_bus)
		return 0;
	if (!c->node_id || !c->cluster_bus) {
		re_sdprintf(errmsg, "%s: node_id and cluster_bus are set "
			    "together (a node of a cluster) or not at all",
			    name);
		return EINVAL;
	}
	if (!conf_node_id_valid(c->node_id)) {
		re_sdprintf(errmsg, "%s: node_id '%s': 1 to %u of a-z, 0-9 "
			    "and '-', not starting with '-'", name,
			    c->node_id, CONF_NODE_ID_MAX);
		return EINVAL;
	}
	if (!conf_store_pg(c) || !is_pg(c->admin_db)) {
		re_sdprintf(errmsg, "%s: node_id needs store = postgresql://"
			    "... (the database the nodes share), and admin_db "
			    "there too", name);
		return EINVAL;
	}
	if (c->workers != 1) {
		re_sdprintf(errmsg, "%s: node_id needs workers = 1 (the other "
			    "nodes' calls and messages are worker 0's)", name);
		return EINVAL;
	}
	bad = strlen(c->cluster_bus) > CONF_CLUSTER_BUS_MAX ||
		conf_tcp_split(c->cluster_bus, &host, &port) || port.l > 5;
	if (!bad && host.l > 2 && host.p[0] == '[' &&
	    host.p[host.l - 1] == ']') {
		host.p++;                  /* tcp://[::1]:PORT */
		host.l -= 2;
	}
	p = bad ? 0 : pl_u32(&port);
	if (bad || !p || p > 65535 - (CONF_CLUSTER_PORTS - 1) ||
	    sa_set(&sa, &host, 0) ||
	    sa_is_any(&sa)) {
		re_sdprintf(errmsg, "%s: cluster_bus '%s' is not tcp://ADDRESS"
			    ":PORT (an address the other nodes reach, not a "
			    "wildcard; PORT to PORT + 3 up to 65535)", name,
			    c->cluster_bus);
		return EINVAL;
	}
	return 0;
}

static bool bounds_ok(uint32_t min, uint32_t dfl, uint32_t max)
{
	return min <= dfl && dfl <= max;
}

static int finish(struct conf *c, char **errmsg, const char *name)
{
	int err = 0;
	bool ok = false;

	err |= set_default(&c->domain, "%s", "localhost");
	err |= set_default(&c->state_dir, "%s", "/var/lib/lamplight");
	err |= set_default(&c->runtime_dir, "%s", "/run/lamplight");
	err |= set_default(&c->log_level, "%s", "info");
	err |= set_default(&c->store, "%s", "sqlite");
	err |= set_default(&c->presence_default_policy, "%s", "allow");
	err |= set_default(&c->blf_busy_activities, "%s", "busy");
	err |= set_default(&c->pickup_prefix, "%s", "**");
	err |= set_default(&c->blf_unregistered, "%s", "idle");
	if (err)
		return ENOMEM;
	if (!conf_store_pg(c) && strcmp(c->store, "sqlite")) {
		re_sdprintf(errmsg, "%s: store '%s' is neither sqlite nor a "
			    "postgresql:// address", name, c->store);
		return EINVAL;
	}
	if (strchr(c->store, '#')) {
		re_sdprintf(errmsg, "%s: store: a '#' in the address (the "
			    "schemas are Lamplight's to name)", name);
		return EINVAL;
	}
	err = conf_store_pg(c)
		? set_default(&c->admin_db, "%s#admin", c->store)
		: set_default(&c->admin_db, "%s/admin.db", c->state_dir);
	err |= set_default(&c->bus_registrar_pub, "ipc://%s/registrar-pub.ipc",
			   c->runtime_dir);
	err |= set_default(&c->bus_registrar_snapshot,
			   "ipc://%s/registrar-snap.ipc", c->runtime_dir);
	err |= set_default(&c->bus_presence_pub, "ipc://%s/presence-pub.ipc",
			   c->runtime_dir);
	err |= set_default(&c->bus_presence_snapshot,
			   "ipc://%s/presence-snap.ipc", c->runtime_dir);
	if (err)
		return ENOMEM;

	err = set_default(&c->cluster_key, "%s/cluster.key", c->state_dir);
	if (err)
		return ENOMEM;
	err = check_cluster(c, name, errmsg);
	if (err)
		return err;

	for (size_t i = 0; i < ARRAY_SIZE(log_levels); i++)
		if (!str_casecmp(c->log_level, log_levels[i]))
			ok = true;
	if (!ok) {
		re_sdprintf(errmsg, "%s: log_level '%s' is not one of error, "
			    "warning, notice, info, debug", name,
			    c->log_level);
		return EINVAL;
	}
	if (c->reg_expires_min > c->reg_expires_max ||
	    c->reg_expires_default < c->reg_expires_min ||
	    c->reg_expires_default > c->reg_expires_max) {
		re_sdprintf(errmsg, "%s: need reg_expires_min <= "
			    "reg_expires_default <= reg_expires_max", name);
		return EINVAL;
	}
	if (!bounds_ok(c->publish_expires_min, c->publish_expires_default,
		       c->publish_expires_max) ||
	    !bounds_ok(c->subscribe_expires_min,
		       c->subscribe_expires_default,
		       c->subscribe_expires_max)) {
		re_sdprintf(errmsg, "%s: need publish_ and subscribe_expires_"
			    "min <= _default <= _max", name);
		return EINVAL;
	}
	if (str_casecmp(c->blf_unregistered, "idle") &&
	    str_casecmp(c->blf_unregistered, "offline")) {
		re_sdprintf(errmsg, "%s: blf_unregistered '%s' is not idle "
			    "or offline", name, c->blf_unregistered);
		return EINVAL;
	}
	if (str_casecmp(c->presence_default_policy, "allow") &&
	    str_casecmp(c->presence_default_policy, "confirm") &&
	    str_casecmp(c->presence_default_policy, "block") &&
	    str_casecmp(c->presence_default_policy, "polite-block")) {
		re_sdprintf(errmsg, "%s: presence_default_policy '%s' is not "
			    "one of allow, confirm, block, polite-block",
			    name, c->presence_default_policy);
		return EINVAL;
	}
	for (unsigned i = 0; i < c->listen_count; i++) {
		if (c->listen[i].tp == CONF_TP_TLS && !c->tls_certificate) {
			re_sdprintf(errmsg, "%s: a tls listen address needs "
				    "tls_certificate", name);
			return EINVAL;
		}
	}
	if (!c->listen_count) {
		struct pl def = PL("udp:127.0.0.1:5060");
		struct pl deft = PL("tcp:127.0.0.1:5060");
		parse_listen(&c->listen[c->listen_count++], &def);
		parse_listen(&c->listen[c->listen_count++], &deft);
	}
	if (c->workers != 1 && !c->route_edge.port) {
		re_sdprintf(errmsg, "%s: workers other than 1 need "
			    "route_edge (each worker's way to the others)",
			    name);
		return EINVAL;
	}
	if (c->workers != 1 && c->route_edge.port + CONF_MAX_WORKERS > 65535) {
		re_sdprintf(errmsg, "%s: route_edge: workers take the %u ports "
			    "from its own up", name, CONF_MAX_WORKERS);
		return EINVAL;
	}
	if (c->route_edge.port && c->route_edge.tp != CONF_TP_UDP) {
		re_sdprintf(errmsg, "%s: route_edge must be a udp address",
			    name);
		return EINVAL;
	}
	for (unsigned i = 0; i < c->listen_count + ARRAY_SIZE(c->routes); i++) {
		const struct conf_listen *l = i < c->listen_count ?
			&c->listen[i] : &c->routes[i - c->listen_count];
		/* workers: route_edge and the ports above it, one each */
		const uint32_t span = c->workers == 1 ? 1 : c->workers ?
			c->workers : CONF_MAX_WORKERS;

		if (c->route_edge.port && l->port && l->tp == CONF_TP_UDP &&
		    l->port >= c->route_edge.port &&
		    l->port < c->route_edge.port + span &&
		    !strcmp(l->addr, c->route_edge.addr)) {
			if (i >= c->listen_count) {
				re_sdprintf(errmsg, "%s: a route_ address "
					    "falls on route_edge or a "
					    "worker's port above it", name);
				return EINVAL;
			}
			re_sdprintf(errmsg, "%s: route_edge must not be a "
				    "listen address: it is the back daemons' "
				    "own way in", name);
			return EINVAL;
		}
	}
	return 0;
}

int conf_parse(struct conf **confp, const char *text, size_t len,
	       const char *name, char **errmsg)
{
	struct conf *c;
	size_t pos = 0;
	unsigned lineno = 0;
	int err = 0;

	if (!confp || !text || !name)
		return EINVAL;

	c = mem_zalloc(sizeof(*c), destructor);
	if (!c)
		return ENOMEM;

	c->reg_expires_default = 3600;
	c->reg_expires_min = 60;
	c->reg_expires_max = 7200;
	c->reg_max_contacts = 10;
	c->call_max_ringing = 10000;
	c->session_expires = 1800;
	c->session_min_se = 90;
	c->call_max_duration = 43200;
	c->auth_algs[0] = DIGEST_MD5;
	c->auth_alg_count = 1;
	c->nonce_lifetime = 300;
	c->nonce_cache_size = 100000;
	c->sip_max_message = 65535;
	c->store_sync_full = false;
	c->store_group_ms = 2;
	c->server_version = false;
	c->auth_fail_limit = 5;
	c->flood_rate = 100;
	c->flood_burst = 400;
	c->tcp_max_connections = 1024;
	c->tcp_max_unauthenticated = 32;
	c->tcp_auth_timeout = 30;
	c->tcp_message_timeout = 10;
	c->auth_block_min = 30;
	c->auth_block_max = 3600;
	c->sip_max_address_header = 1024;
	c->blf_early_while_busy = true;
	c->bus_heartbeat = 5;
	c->route_timeout = 4000;
	c->probe_interval = 30;
	c->probe_timeout = 4000;
	c->overload_delay = 200;
	c->workers = 1;
	c->publish_expires_min = 60;
	c->publish_expires_default = 3600;
	c->publish_expires_max = 7200;
	c->subscribe_expires_min = 60;
	c->subscribe_expires_default = 3600;
	c->subscribe_expires_max = 7200;
	c->subscribe_max_per_watcher = 500;
	c->subscribe_max_per_presentity = 10000;
	c->notify_min_interval = 0;
	c->notify_timeout = 5000;
	c->pidf_max_size = 6000;
	c->im_max_size = 61440;
	c->im_udp_max = 1300;
	c->im_deliver_wait = 3000;
	c->im_store_expiry = 7 * 86400;
	c->im_store_max = 1000;

	while (pos < len) {
		struct pl line, k, v;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const struct key *key = NULL;

		++lineno;
		line.p = text + pos;
		line.l = ll;
		pos += ll + (nl ? 1 : 0);

		while (line.l && (line.p[line.l-1] == '\r' ||
				  line.p[line.l-1] == ' ' ||
				  line.p[line.l-1] == '\t'))
			--line.l;
		while (line.l && (*line.p == ' ' || *line.p == '\t'))
			pl_advance(&line, 1);
		if (!line.l || *line.p == '#' || *line.p == ';')
			continue;

		if (re_regex(line.p, line.l, "[^ \t=]+[ \t]*=[ \t]*[^]*",
			     &k, NULL, NULL, &v)) {
			re_sdprintf(errmsg, "%s:%u: expected 'key = value'",
				    name, lineno);
			err = EINVAL;
			goto out;
		}
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			if (!pl_strcmp(&k, keys[i].name)) {
				key = &keys[i];
				break;
			}
		}
		if (!key) {
			re_sdprintf(errmsg, "%s:%u: unknown key '%r'",
				    name, lineno, &k);
			err = EINVAL;
			goto out;
		}
		err = set_key(c, key, &v);
		if (err) {
			if ((key->type == K_U32 || key->type == K_COUNT) &&
			    err == ERANGE)
				re_sdprintf(errmsg, "%s:%u: %s = '%r' is out "
					    "of range (%u..%u)", name, lineno,
					    key->name, &v, key->min,
					    key->max);
			else
				re_sdprintf(errmsg, "%s:%u: bad value '%r' "
					    "for %s", name, lineno, &v,
					    key->name);
			err = EINVAL;
			goto out;
		}
	}

	err = finish(c, errmsg, name);

 out:
	if (err)
		mem_deref(c);
	else
		*confp = c;
	return err;
}

int conf_load(struct conf **confp, const char *path, char **errmsg)
{
	FILE *f;
	struct mbuf *mb;
	char buf[4096];
	size_t n;
	int err = 0;

	if (!path)
		path = CONF_DEFAULT_PATH;

	f = fopen(path, "r");
	if (!f) {
		err = errno;
		re_sdprintf(errmsg, "%s: %m", path, err);
		return err;
	}
	mb = mbuf_alloc(4096);
	if (!mb) {
		fclose(f);
		return ENOMEM;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		err = mbuf_write_mem(mb, (uint8_t *)buf, n);
		if (err)
			break;
		if (mb->end > 1024 * 1024) {
			re_sdprintf(errmsg, "%s: file larger than 1 MiB",
				    path);
			err = EFBIG;
			break;
		}
	}
	fclose(f);
	if (!err)
		err = conf_parse(confp, (char *)mb->buf, mb->end, path,
				 errmsg);
	mem_deref(mb);
	return err;
}

static bool is_live(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(live_keys); i++)
		if (!strcmp(live_keys[i], name))
			return true;
	return false;
}

static bool route_eq(const struct conf_listen *a, const struct conf_listen *b)
{
	return a->tp == b->tp && a->port == b->port &&
		!strcmp(a->addr, b->addr);
}

/* Does key k differ between a and b? */
static bool key_differs(const struct key *k, const struct conf *a,
			const struct conf *b)
{
	const char *pa = (const char *)a + k->off;
	const char *pb = (const char *)b + k->off;

	switch (k->type) {

	case K_STR: {
		const char *sa = *(char *const *)(const void *)pa;
		const char *sb = *(char *const *)(const void *)pb;

		return (sa == NULL) != (sb == NULL) ||
			(sa && strcmp(sa, sb));
	}
	case K_U32:
	case K_COUNT:
		return *(const uint32_t *)(const void *)pa !=
			*(const uint32_t *)(const void *)pb;
	case K_BOOL:
		return *(const bool *)(const void *)pa !=
			*(const bool *)(const void *)pb;
	case K_ROUTE:
		return !route_eq((const struct conf_listen *)(const void *)pa,
				 (const struct conf_listen *)(const void *)pb);
	case K_ALGS:
		return a->auth_alg_count != b->auth_alg_count ||
			memcmp(a->auth_algs, b->auth_algs,
			       a->auth_alg_count * sizeof(a->auth_algs[0]));
	case K_LISTEN:
		if (a->listen_count != b->listen_count)
			return true;
		for (unsigned i = 0; i < a->listen_count; i++)
			if (!route_eq(&a->listen[i], &b->listen[i]))
				return true;
		return false;
	}
	return false;
}

/* Key k of `from` into `to` (a string changes hands: `from` frees the
 * old one) */
static void key_take(const struct key *k, struct conf *to, struct conf *from)
{
	char *pt = (char *)to + k->off;
	char *pf = (char *)from + k->off;

	switch (k->type) {

	case K_STR: {
		char *tmp = *(char **)(void *)pt;

		*(char **)(void *)pt = *(char **)(void *)pf;
		*(char **)(void *)pf = tmp;
		break;
	}
	case K_U32:
	case K_COUNT:
		*(uint32_t *)(void *)pt = *(uint32_t *)(void *)pf;
		break;
	case K_BOOL:
		*(bool *)(void *)pt = *(bool *)(void *)pf;
		break;
	case K_ALGS:
		memcpy(to->auth_algs, from->auth_algs, sizeof(to->auth_algs));
		to->auth_alg_count = from->auth_alg_count;
		break;
	case K_ROUTE:
	case K_LISTEN:
		break;         /* never live */
	}
}

int conf_reload(struct conf *live, const char *path, char **errmsg,
		char *restart, size_t sz, unsigned *changed)
{
	struct conf *nc = NULL;
	int err;

	if (!live || !path || !restart || !sz || !changed)
		return EINVAL;
	restart[0] = '\0';
	*changed = 0;
	err = conf_load(&nc, path, errmsg);
	if (err)
		return err;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		size_t n = strlen(restart);

		if (!key_differs(k, live, nc))
			continue;
		if (is_live(k->name)) {
			key_take(k, live, nc);
			++*changed;
		}
		else {
			re_snprintf(restart + n, sz - n, "%s%s", n ? ", " : "",
				    k->name);
		}
	}
	mem_deref(nc);
	return 0;
}

unsigned conf_workers(const struct conf *c)
{
	static long online;    /* read once: it is asked per request */

	if (!c)
		return 1;
	if (c->workers)
		return c->workers;
	if (!online)
		online = sysconf(_SC_NPROCESSORS_ONLN);
	return online < 1 ? 1 : online > CONF_MAX_WORKERS ? CONF_MAX_WORKERS
		: (unsigned)online;
}

int conf_edge_worker(const struct conf *c, const struct sa *a)
{
	const uint32_t port = sa_port(a);
	struct sa sa;

	if (!c || !a || !c->route_edge.port ||
	    port < c->route_edge.port ||
	    port >= c->route_edge.port + conf_workers(c) ||
	    sa_set_str(&sa, c->route_edge.addr, (uint16_t)port) ||
	    !sa_cmp(&sa, a, SA_ALL))
		return -1;
	return (int)(port - c->route_edge.port);
}

/* What Server and User-Agent say: no version unless server_version is
 * on (a scanner learns less). */
const char *conf_server_name(const struct conf *c)
{
	return c && c->server_version ? "Lamplight/" LP_VERSION : "Lamplight";
}

bool conf_store_pg(const struct conf *c)
{
	return c && is_pg(c->store);
}

int conf_db(const struct conf *c, const char *name, char **pathp)
{
	if (!c || !name || !pathp)
		return EINVAL;
	return conf_store_pg(c) ? re_sdprintf(pathp, "%s#%s", c->store, name)
				: re_sdprintf(pathp, "%s/%s.db", c->state_dir,
					      name);
}
