/* test_conf: the configuration file: every key, defaults, and errors that
 * name the file and the line. */
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "tap.h"

static int parse(struct conf **c, const char *text, char **msg)
{
	*msg = mem_deref(*msg);
	return conf_parse(c, text, strlen(text), "test.conf", msg);
}

static void good(void)
{
	const char *text =
		"# a comment\n"
		"domain = office.example\n"
		"listen = udp:127.0.0.1:5070\n"
		"listen = tcp:[::1]:5070\n"
		"listen = tls:127.0.0.1:5071\n"
		"tls_certificate = /etc/lamplight/cert.pem\n"
		"  state_dir=/var/tmp/lp   \r\n"
		"runtime_dir = /run/lp\n"
		"admin_db = /var/tmp/admin.db\n"
		"log_level = debug\n"
		"reg_expires_default = 1800\n"
		"reg_expires_min = 30\n"
		"reg_expires_max = 3600\n"
		"reg_max_contacts = 4\n"
		"auth_algorithms = sha-256, md5\n"
		"nonce_lifetime = 60\n"
		"nonce_cache_size = 1000\n"
		"sip_max_message = 8000\n"
		"store_sync_full = yes\n"
		"bus_registrar_pub = tcp://127.0.0.1:7000\n"
		"bus_registrar_snapshot = tcp://127.0.0.1:7001\n"
		"bus_heartbeat = 2\n"
		"route_edge = udp:127.0.0.1:5073\n";
	struct conf *c = NULL;
	char *msg = NULL;
	int err = parse(&c, text, &msg);

	ok(!err, "a file with every key parses (%s)", msg ? msg : "");
	if (err)
		return;
	ok(!strcmp(c->domain, "office.example"), "domain");
	ok(c->listen_count == 3, "three listen addresses");
	ok(c->listen[0].tp == CONF_TP_UDP && c->listen[0].port == 5070 &&
	   !strcmp(c->listen[0].addr, "127.0.0.1"), "udp listen");
	ok(c->listen[1].tp == CONF_TP_TCP && !strcmp(c->listen[1].addr,
						     "::1"), "tcp on [::1]");
	ok(c->listen[2].tp == CONF_TP_TLS && c->listen[2].port == 5071,
	   "tls listen");
	ok(c->route_edge.tp == CONF_TP_UDP && c->route_edge.port == 5073 &&
	   !strcmp(c->route_edge.addr, "127.0.0.1"), "route_edge");
	ok(!strcmp(c->state_dir, "/var/tmp/lp"), "spaces and CR trimmed");
	ok(!strcmp(c->admin_db, "/var/tmp/admin.db"), "admin_db");
	ok(c->reg_expires_default == 1800 && c->reg_expires_min == 30 &&
	   c->reg_expires_max == 3600 && c->reg_max_contacts == 4,
	   "registrar numbers");
	ok(c->auth_alg_count == 2 && c->auth_algs[0] == DIGEST_SHA256 &&
	   c->auth_algs[1] == DIGEST_MD5, "algorithms in the given order");
	ok(c->store_sync_full, "boolean yes");
	ok(!strcmp(c->bus_registrar_pub, "tcp://127.0.0.1:7000"), "bus");
	ok(c->bus_heartbeat == 2 && c->sip_max_message == 8000 &&
	   c->nonce_lifetime == 60 && c->nonce_cache_size == 1000,
	   "caps and lifetimes");
	mem_deref(c);
	mem_deref(msg);
}

static void defaults(void)
{
	struct conf *c = NULL;
	char *msg = NULL;

	ok(!parse(&c, "", &msg), "an empty file is valid");
	if (!c)
		return;
	ok(!strcmp(c->domain, "localhost"), "default domain");
	ok(c->listen_count == 2 && c->listen[0].port == 5060,
	   "default listen: udp and tcp 127.0.0.1:5060");
	ok(!strcmp(c->admin_db, "/var/lib/lamplight/admin.db"),
	   "admin_db follows state_dir");
	ok(!strcmp(c->bus_registrar_pub,
		   "ipc:///run/lamplight/registrar-pub.ipc"),
	   "bus endpoints under runtime_dir");
	ok(c->reg_expires_default == 3600 && c->reg_expires_min == 60 &&
	   c->reg_expires_max == 7200 && c->reg_max_contacts == 10,
	   "expiry and contact defaults");
	ok(c->auth_alg_count == 1 && c->auth_algs[0] == DIGEST_MD5,
	   "default challenge is MD5 alone (baresip 1.x and phones)");
	ok(!strcmp(c->presence_default_policy, "allow") &&
	   c->pidf_max_size == 6000 && c->notify_timeout == 5000 &&
	   c->subscribe_max_per_watcher == 500 &&
	   !strcmp(c->bus_presence_pub,
		   "ipc:///run/lamplight/presence-pub.ipc"),
	   "presence defaults");
	ok(!strcmp(c->blf_busy_activities, "busy") &&
	   !strcmp(c->blf_unregistered, "idle") &&
	   !strcmp(c->pickup_prefix, "**") && !c->blf_single_dialog &&
	   !c->blf_initiator_confirmed && !c->blf_idle_between &&
	   c->blf_early_while_busy,
	   "busy-lamp and pickup defaults");
	mem_deref(c);
	mem_deref(msg);
}

struct bad_case {
	const char *text;
	const char *msg;
};

static void bad(void)
{
	static const struct bad_case cases[] = {
		{"domain = a\nfoo = 1\n", "test.conf:2: unknown key 'foo'"},
		{"\n\n  nonsense\n", "test.conf:3: expected 'key = value'"},
		{"reg_expires_min = 0\n",
		 "test.conf:1: reg_expires_min = '0' is out of range"},
		{"reg_max_contacts = ten\n",
		 "test.conf:1: bad value 'ten' for reg_max_contacts"},
		{"reg_expires_max = 99999999999\n",
		 "test.conf:1: reg_expires_max = '99999999999' is out"},
		{"listen = udp:0.0.0.0:5060\n",
		 "test.conf:1: bad value 'udp:0.0.0.0:5060' for listen"},
		{"listen = sctp:127.0.0.1:5060\n",
		 "test.conf:1: bad value"},
		{"listen = udp:127.0.0.1\n", "test.conf:1: bad value"},
		{"listen = tls:127.0.0.1:5061\n",
		 "test.conf: a tls listen address needs tls_certificate"},
		{"auth_algorithms = md5, sha-1\n",
		 "test.conf:1: bad value 'md5, sha-1' for auth_algorithms"},
		{"auth_algorithms = md5,md5\n", "test.conf:1: bad value"},
		{"store_sync_full = maybe\n", "test.conf:1: bad value"},
		{"log_level = loud\n", "log_level 'loud' is not one of"},
		{"reg_expires_min = 100\nreg_expires_max = 50\n",
		 "need reg_expires_min <= reg_expires_default"},
		{"domain =\n", "test.conf:1: bad value '' for domain"},
		{"presence_default_policy = maybe\n",
		 "presence_default_policy 'maybe' is not one of"},
		{"blf_unregistered = gone\n",
		 "blf_unregistered 'gone' is not idle or offline"},
		{"blf_single_dialog = sometimes\n", "test.conf:1: bad value"},
		{"subscribe_expires_min = 5000\n",
		 "need publish_ and subscribe_expires_min <= _default"},
		{"route_edge = tcp:127.0.0.1:5073\n",
		 "test.conf: route_edge must be a udp address"},
		{"listen = udp:127.0.0.1:5080\n"
		 "route_edge = udp:127.0.0.1:5080\n",
		 "test.conf: route_edge must not be a listen address"},
		{"route_edge = udp:127.0.0.1:5060\n",
		 "test.conf: route_edge must not be a listen address"},
		{"route_edge = udp:0.0.0.0:5073\n", "test.conf:1: bad value"},
		{"workers = 0\nroute_edge = udp:127.0.0.1:5073\n",
		 "test.conf:1: workers = '0' is out of range"},
		{"workers = 17\nroute_edge = udp:127.0.0.1:5073\n",
		 "test.conf:1: workers = '17' is out of range"},
		{"workers = some\n", "test.conf:1: bad value 'some' for workers"},
		{"workers = 2\n", "workers other than 1 need route_edge"},
		{"workers = auto\n", "workers other than 1 need route_edge"},
		{"route_edge = udp:127.0.0.1:5073\nworkers = 2\n"
		 "route_presence = udp:127.0.0.1:5074\n",
		 "a route_ address falls on route_edge or a worker's port"},
		{"route_edge = udp:127.0.0.1:5073\n"
		 "route_blf = udp:127.0.0.1:5073\n",
		 "a route_ address falls on route_edge"},
		{"listen = udp:127.0.0.1:5074\nworkers = auto\n"
		 "route_edge = udp:127.0.0.1:5073\n",
		 "route_edge must not be a listen address"},
		{"pidf_max_size = 65535\n",
		 "test.conf:1: pidf_max_size = '65535' is out of range"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct conf *c = NULL;
		char *msg = NULL;
		int err = parse(&c, cases[i].text, &msg);

		ok(err && !c && msg && strstr(msg, cases[i].msg),
		   "refused with '%s' (got '%s')", cases[i].msg,
		   msg ? msg : "(none)");
		mem_deref(msg);
	}
}

static void workers(void)
{
	struct conf *c = NULL;
	char *msg = NULL;

	ok(!parse(&c, "", &msg) && c->workers == 1 && conf_workers(c) == 1,
	   "workers: 1 unless set");
	c = mem_deref(c);
	ok(!parse(&c, "route_edge = udp:127.0.0.1:5073\nworkers = 4\n"
		  "listen = udp:127.0.0.1:5077\n", &msg) &&
	   conf_workers(c) == 4,
	   "workers = 4, a listen address above their ports (%s)",
	   msg ? msg : "");
	c = mem_deref(c);
	msg = mem_deref(msg);
	ok(!parse(&c, "route_edge = udp:127.0.0.1:5073\nworkers = AUTO\n",
		  &msg) && c->workers == 0 && conf_workers(c) >= 1 &&
	   conf_workers(c) <= CONF_MAX_WORKERS,
	   "workers = auto: one per core (%u)", c ? conf_workers(c) : 0);
	mem_deref(c);
	mem_deref(msg);
}

static void file(void)
{
	struct conf *c = NULL;
	char *msg = NULL;

	ok(conf_load(&c, "/nonexistent/lamplight.conf", &msg) == ENOENT &&
	   msg && strstr(msg, "/nonexistent/lamplight.conf"),
	   "a missing file is an error naming it");
	mem_deref(msg);
}

/* A node's four ports from its cluster_bus */
static void cluster_ports(void)
{
	char ep[64];

	ok(!conf_cluster_ep(ep, sizeof(ep), "tcp://192.0.2.1:7000",
			    CONF_CLUSTER_PRES_SNAP) &&
	   !strcmp(ep, "tcp://192.0.2.1:7003"), "PORT + 3: %s", ep);
	ok(!conf_cluster_ep(ep, sizeof(ep), "tcp://[::1]:7000",
			    CONF_CLUSTER_REG_PUB) &&
	   !strcmp(ep, "tcp://[::1]:7000"), "an IPv6 address kept: %s", ep);
	ok(conf_cluster_ep(ep, sizeof(ep), "tcp://192.0.2.1:65534",
			   CONF_CLUSTER_PRES_PUB) == EINVAL,
	   "past 65535: EINVAL");
	ok(conf_cluster_ep(ep, sizeof(ep), "tcp://192.0.2.1:7000",
			   CONF_CLUSTER_PORTS) == EINVAL, "no fifth port");
	ok(conf_cluster_ep(ep, 12, "tcp://192.0.2.1:7000",
			   CONF_CLUSTER_REG_SNAP) == EOVERFLOW,
	   "a buffer too small: EOVERFLOW");
	ok(conf_cluster_ep(ep, sizeof(ep), "udp://192.0.2.1:7000",
			   CONF_CLUSTER_REG_PUB) == EINVAL, "not tcp://: EINVAL");
}

int main(void)
{
	libre_init();
	cluster_ports();
	good();
	defaults();
	bad();
	workers();
	file();
	libre_close();
	return tap_done();
}
