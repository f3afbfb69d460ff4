/* lamplightctl: the command-line tool: users (add, del, passwd, list,
 * import, algorithms), watcher rules and pending requests, web page
 * admins, devices and their keys, status of registrations, bus watch,
 * and `run`,
 * which starts every daemon in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include "lp_config.h"
#include "base/conf.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_loc.h"
#include "ctl_db.h"
#include "ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: lamplightctl [-c FILE] COMMAND ...\n"
"  user add USER [--password PW] [--name NAME] [--algorithms LIST]\n"
"  user del USER\n"
"  user passwd USER [--password PW]\n"
"  user algorithms USER LIST|default\n"
"  user name USER NAME         the full name the page and phones show\n"
"  user list\n"
"  user import FILE.csv        (lines: user,password,name)\n"
"  status                      who is registered, from where, until when\n"
"  watch [TOPIC] [--count N] [--timeout S] [--node ID]\n"
"                              print bus events as JSON (TOPIC: reg,\n"
"                              dialog, pres, pub); --node: that\n"
"                              node's\n"
"  watcher allow|block|polite-block|confirm OWNER WATCHER|*\n"
"                              who may watch OWNER's presence\n"
"  watcher del OWNER WATCHER|*\n"
"  watcher list [OWNER]\n"
"  watcher pending             requests waiting for approve or refuse\n"
"  watcher approve|refuse OWNER WATCHER\n"
"  admin add|passwd NAME [--password PW]   (web page administrators)\n"
"  admin del NAME | admin list\n"
"  device add MAC --vendor yealink|polycom|grandstream|snom|cisco\n"
"             --owner USER [--model MODEL]\n"
"  device set MAC [--vendor V] [--model M] [--owner USER]\n"
"  device del|show|reset|file MAC | device list\n"
"                              show: credentials and keys; reset: new\n"
"                              credentials; file: the provisioning file\n"
"  key set MAC POS blf|speed TARGET [--label LABEL]\n"
"  key del MAC POS\n"
"  run                         start every daemon in the foreground\n"
"  store migrate               bring every database to this version\n"
"  store copy --from PLACE --to PLACE   every database, with the daemons\n"
"                              stopped (PLACE: sqlite:DIRECTORY or a\n"
"                              postgresql:// address)\n"
"  node list | node forget ID | node key   the nodes of a cluster\n"
"LIST is digest algorithms in challenge order: md5, sha-256, "
"sha-512-256\n");
}

struct opts {
	const char *password;
	const char *name;
	const char *algs;
	unsigned count;
	unsigned timeout;
};

static int parse_opts(int argc, char **argv, int first, struct opts *o)
{
	for (int i = first; i < argc; i += 2) {  /* each option and its value */
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--password") && v)
			o->password = v;
		else if (!strcmp(argv[i], "--name") && v)
			o->name = v;
		else if (!strcmp(argv[i], "--algorithms") && v)
			o->algs = v;
		else if (!strcmp(argv[i], "--count") && v)
			o->count = (unsigned)atoi(v);
		else if (!strcmp(argv[i], "--timeout") && v)
			o->timeout = (unsigned)atoi(v);
		else {
			fprintf(stderr, "lamplightctl: unknown option '%s'\n",
				argv[i]);
			return EINVAL;
		}
	}
	return 0;
}

static int check_algs(const char *algs)
{
	enum digest_alg v[DIGEST_ALGS_MAX];
	unsigned n;

	if (conf_parse_algs(v, &n, algs)) {
		fprintf(stderr, "lamplightctl: bad algorithm list '%s' "
			"(md5, sha-256, sha-512-256)\n", algs);
		return EINVAL;
	}
	return 0;
}

static int user_add(const struct conf *conf, const char *user,
		    const struct opts *o)
{
	struct store *st = NULL;
	char pw[32];
	const char *password = o->password;
	int err;

	if (!users_name_valid(user)) {
		fprintf(stderr, "lamplightctl: bad user name '%s' (1-64 of "
			"a-z A-Z 0-9 . _ - +)\n", user);
		return EINVAL;
	}
	if (o->algs && check_algs(o->algs))
		return EINVAL;
	if (!password) {
		(void)users_gen_password(pw, sizeof(pw));
		password = pw;
	}
	err = open_admin(conf, &st);
	if (err)
		return err;
	err = users_add(st, user, o->name, conf->domain, password);
	if (!err && o->algs)
		err = users_set_algs(st, user, o->algs);
	if (err == EEXIST)
		fprintf(stderr, "lamplightctl: user '%s' exists\n", user);
	else if (err)
		fprintf(stderr, "lamplightctl: cannot add '%s': %s\n", user,
			strerror(err));
	else if (!o->password)
		printf("user %s password %s\n", user, password);
	else
		printf("user %s added\n", user);
	mem_deref(st);
	return err;
}

static int user_passwd(const struct conf *conf, const char *user,
		       const struct opts *o)
{
	struct store *st = NULL;
	char pw[32];
	const char *password = o->password;
	int err;

	if (!password) {
		(void)users_gen_password(pw, sizeof(pw));
		password = pw;
	}
	err = open_admin(conf, &st);
	if (err)
		return err;
	err = users_set_password(st, user, conf->domain, password);
	if (err)
		fprintf(stderr, "lamplightctl: user '%s': %s\n", user,
			err == ENOENT ? "no such user" : strerror(err));
	else if (!o->password)
		printf("user %s password %s\n", user, password);
	mem_deref(st);
	return err;
}

static int user_name(const struct conf *conf, const char *user,
		     const char *name)
{
	struct store *st = NULL;
	int err;

	if (users_fullname_check(name)) {
		fprintf(stderr, "lamplightctl: %s\n", users_fullname_check(name));
		return EINVAL;
	}
	err = open_admin(conf, &st);
	if (err)
		return err;
	err = users_set_name(st, user, name);
	if (err)
		fprintf(stderr, "lamplightctl: user '%s': %s\n", user,
			err == ENOENT ? "no such user" : strerror(err));
	mem_deref(st);
	return err;
}

static int user_del(const struct conf *conf, const char *user)
{
	struct store *st = NULL;
	int err = open_admin(conf, &st);

	if (err)
		return err;
	err = users_del(st, user);
	if (err)
		fprintf(stderr, "lamplightctl: user '%s': %s\n", user,
			err == ENOENT ? "no such user" : strerror(err));
	mem_deref(st);
	return err;
}

static int user_algs(const struct conf *conf, const char *user,
		     const char *algs)
{
	struct store *st = NULL;
	int err;

	if (strcmp(algs, "default") && check_algs(algs))
		return EINVAL;
	err = open_admin(conf, &st);
	if (err)
		return err;
	err = users_set_algs(st, user, strcmp(algs, "default") ? algs : NULL);
	if (err)
		fprintf(stderr, "lamplightctl: user '%s': %s\n", user,
			err == ENOENT ? "no such user" : strerror(err));
	mem_deref(st);
	return err;
}

static int list_h(const struct user_rec *u, void *arg)
{
	(void)arg;
	printf("%-24s %-30s %s\n", u->username, u->name,
	       u->algs ? u->algs : "(default algorithms)");
	return 0;
}

static int user_list(const struct conf *conf)
{
	struct store *st = NULL;
	int err = open_admin(conf, &st);

	if (err)
		return err;
	err = users_foreach(st, list_h, NULL);
	mem_deref(st);
	return err;
}

/* One transaction for the whole file: 10,000 users in a few seconds. */
static int user_import(const struct conf *conf, const char *file)
{
	struct store *st = NULL;
	FILE *f;
	char line[1024];
	unsigned lineno = 0, added = 0;
	int err;

	f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "lamplightctl: %s: %s\n", file,
			strerror(errno));
		return errno;
	}
	err = open_admin(conf, &st);
	if (err)
		goto out;
	err = store_begin(st);
	while (!err && fgets(line, sizeof(line), f)) {
		char *user, *pw, *name, *save = NULL;
		size_t l = strlen(line);

		++lineno;
		while (l && (line[l-1] == '\n' || line[l-1] == '\r'))
			line[--l] = '\0';
		if (!l || line[0] == '#')
			continue;
		user = strtok_r(line, ",", &save);
		pw = strtok_r(NULL, ",", &save);
		name = strtok_r(NULL, "", &save);
		if (!user || !pw || !users_name_valid(user) || !*pw) {
			fprintf(stderr, "lamplightctl: %s:%u: expected "
				"user,password,name\n", file, lineno);
			err = EINVAL;
			break;
		}
		err = users_add(st, user, name, conf->domain, pw);
		if (err == EEXIST)
			err = users_set_password(st, user, conf->domain, pw);
		if (err)
			fprintf(stderr, "lamplightctl: %s:%u: '%s': %s\n",
				file, lineno, user, strerror(err));
		else
			++added;
	}
	if (err)
		store_rollback(st);
	else
		err = store_commit(st);
	if (!err)
		printf("%u user(s) imported\n", added);
 out:
	fclose(f);
	mem_deref(st);
	return err;
}

static int status_h(const struct loc_rec *r, void *arg)
{
	uint64_t now = *(uint64_t *)arg;
	long left = r->expires > now ? (long)(r->expires - now) : 0;

	printf("%-16s %-40s %s:%-22s expires in %lds%s%s%s%s\n", r->aor,
	       r->uri, r->tp, r->src, left,
	       r->node && r->node[0] ? "  node " : "",
	       r->node && r->node[0] ? r->node : "",
	       r->user_agent ? "  " : "",
	       r->user_agent ? r->user_agent : "");
	return 0;
}

static int status(const struct conf *conf)
{
	struct store *st = NULL;
	struct store_opts so = { .readonly = true };
	char *path = NULL;
	uint64_t now = (uint64_t)time(NULL);
	int err;

	err = conf_db(conf, "registrar", &path);
	if (err)
		return err;
	if (!store_is_pg(path) && access(path, R_OK)) {
		printf("no registrations (the registrar has not run yet)\n");
		mem_deref(path);
		return 0;
	}
	err = loc_open(&st, path, &so);
	if (err == ENOENT) {
		/* PostgreSQL: the schema is made by the first writer */
		printf("no registrations (the registrar has not run yet)\n");
		mem_deref(path);
		return 0;
	}
	if (err) {
		fprintf(stderr, "lamplightctl: %s: %s\n", path,
			strerror(err));
		mem_deref(path);
		return err;
	}
	printf("%-16s %-40s %-26s\n", "USER", "CONTACT", "FROM");
	err = loc_foreach(st, status_h, &now);
	mem_deref(st);
	mem_deref(path);
	return err;
}

int main(int argc, char **argv)
{
	const char *conf_path = NULL;
	struct conf *conf = NULL;
	struct opts o;
	char *msg = NULL;
	int i = 1, err = EINVAL;

	memset(&o, 0, sizeof(o));
	if (i + 1 < argc && !strcmp(argv[i], "-c")) {
		conf_path = argv[i + 1];
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "-h") ||
	    !strcmp(argv[i], "--help")) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	if (!strcmp(argv[i], "--version")) {
		printf("lamplightctl %s\n", LP_VERSION);
		return 0;
	}
	if (conf_load(&conf, conf_path, &msg)) {
		fprintf(stderr, "lamplightctl: %s\n",
			msg ? msg : "cannot read configuration");
		mem_deref(msg);
		return 1;
	}
	if (libre_init())
		return 1;

	if (!strcmp(argv[i], "user") && i + 1 < argc) {
		const char *sub = argv[i + 1];
		const char *user = i + 2 < argc ? argv[i + 2] : NULL;

		if (!strcmp(sub, "list") && i + 2 == argc)
			err = user_list(conf);
		else if (!user)
			usage(stderr);
		else if (!strcmp(sub, "add") &&
			 !parse_opts(argc, argv, i + 3, &o))
			err = user_add(conf, user, &o);
		else if (!strcmp(sub, "passwd") &&
			 !parse_opts(argc, argv, i + 3, &o))
			err = user_passwd(conf, user, &o);
		else if (!strcmp(sub, "del") && i + 3 == argc)
			err = user_del(conf, user);
		else if (!strcmp(sub, "name") && i + 4 == argc)
			err = user_name(conf, user, argv[i + 3]);
		else if (!strcmp(sub, "import") && i + 3 == argc)
			err = user_import(conf, user);
		else if (!strcmp(sub, "algorithms") && i + 4 == argc)
			err = user_algs(conf, user, argv[i + 3]);
		else
			usage(stderr);
	}
	else if (!strcmp(argv[i], "status") && i + 1 == argc) {
		err = status(conf);
	}
	else if (!strcmp(argv[i], "watch")) {
		const char *topic = "reg", *node = NULL;
		char *rest[16];
		int first = i + 1, n = 0;

		if (first < argc && argv[first][0] != '-')
			topic = argv[first++];
		/* --node ID anywhere; the rest are parse_opts's */
		for (int k = first; k < argc && n < 16; k++) {
			if (!strcmp(argv[k], "--node") && k + 1 < argc)
				node = argv[++k];
			else
				rest[n++] = argv[k];
		}
		if (first + n + (node ? 2 : 0) != argc)
			usage(stderr);
		else if (!parse_opts(n, rest, 0, &o))
			err = ctl_watch(conf, topic, node, o.count,
					o.timeout);
	}
	else if (!strcmp(argv[i], "watcher") && i + 1 < argc &&
		 i + 4 >= argc) {
		err = ctl_watcher(conf, argv[i + 1],
				  i + 2 < argc ? argv[i + 2] : NULL,
				  i + 3 < argc ? argv[i + 3] : NULL);
	}
	else if (!strcmp(argv[i], "admin") && i + 1 < argc) {
		err = ctl_admin(conf, argc, argv, i + 1);
	}
	else if (!strcmp(argv[i], "device") && i + 1 < argc) {
		err = ctl_device(conf, argc, argv, i + 1);
	}
	else if (!strcmp(argv[i], "key") && i + 1 < argc) {
		err = ctl_key(conf, argc, argv, i + 1);
	}
	else if (!strcmp(argv[i], "store") && i + 1 < argc) {
		err = ctl_store(conf, argc, argv, i + 1);
	}
	else if (!strcmp(argv[i], "node") && i + 1 < argc) {
		err = ctl_node(conf, argc, argv, i + 1);
	}
	else if (!strcmp(argv[i], "run") && i + 1 == argc) {
		err = ctl_run(conf, conf_path);
	}
	else {
		usage(stderr);
	}

	mem_deref(conf);
	libre_close();
	return err ? 1 : 0;
}
