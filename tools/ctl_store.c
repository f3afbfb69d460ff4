/* ctl_store: `lamplightctl store`, the databases as a whole: migrate
 * (open each of the configured store's databases for writing, which
 * brings its schema to this version, and say which) and copy (every
 * database from one place to another, SQLite files to PostgreSQL or
 * back, with the daemons stopped, each table counted on both sides). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "base/conf.h"
#include "store/store.h"
#include "store/store_copy.h"
#include "store/store_users.h"
#include "store/store_loc.h"
#include "store/store_subs.h"
#include "store/store_pubs.h"
#include "store/store_msgs.h"
#include "ctl.h"

static const char *const names[] = {
	"admin", "registrar", "presence", "blf", "imrelay",
};

static int open_db(struct store **stp, const char *name, const char *path,
		   bool ro)
{
	struct store_opts o = { .readonly = ro };

	if (!strcmp(name, "admin"))
		return users_open(stp, path, ro);
	if (!strcmp(name, "registrar"))
		return loc_open(stp, path, &o);
	if (!strcmp(name, "presence"))
		return pres_open(stp, path, &o);
	if (!strcmp(name, "blf"))
		return subs_open(stp, path, &o);
	return msgs_open(stp, path, &o);
}

/* Where `name` lives in a place: sqlite:DIR (DIR/name.db) or a
 * PostgreSQL address (its schema name). */
static int place_path(char **pathp, const char *place, const char *name)
{
	if (store_is_pg(place)) {
		if (strchr(place, '#'))
			return EINVAL;
		return re_sdprintf(pathp, "%s#%s", place, name);
	}
	if (!strncmp(place, "sqlite:", 7) && place[7])
		return re_sdprintf(pathp, "%s/%s.db", place + 7, name);
	return EINVAL;
}

static int migrate(const struct conf *conf)
{
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names) && !err; i++) {
		struct store *st = NULL;
		char *path = NULL;

		err = !strcmp(names[i], "admin")
			? str_dup(&path, conf->admin_db)
			: conf_db(conf, names[i], &path);
		err = err ? err : open_db(&st, names[i], path, false);
		if (err)
			fprintf(stderr, "lamplightctl: %s: %s\n", path,
				strerror(err));
		else
			printf("%-10s %s, schema version %d\n", names[i],
			       store_kind(st), store_version(st));
		mem_deref(st);
		mem_deref(path);
	}
	return err;
}

static void counted_h(const char *db, const char *table, uint64_t from,
		      uint64_t to, void *arg)
{
	(void)arg;
	printf("%s.%s: %llu row(s)%s\n", db, table, (unsigned long long)to,
	       from == to ? "" : " -- differs from the source");
	if (from != to)
		fprintf(stderr, "lamplightctl: %s.%s: %llu row(s) in the "
			"source, %llu copied\n", db, table,
			(unsigned long long)from, (unsigned long long)to);
}

/* Opens database `name` in both places: *srcp stays NULL when the
 * source is a SQLite directory without that file (nothing to copy). */
static int open_pair(struct store **srcp, struct store **dstp,
		     const char *name, const char *from, const char *to)
{
	char *ps = NULL, *pd = NULL;
	int err;

	err = place_path(&ps, from, name);
	err = err ? err : place_path(&pd, to, name);
	if (err)
		goto out;
	if (!store_is_pg(ps) && access(ps, F_OK))
		goto out;
	err = open_db(srcp, name, ps, true);
	if (err) {
		fprintf(stderr, "lamplightctl: %s: %s%s\n", ps, strerror(err),
			err == EPROTO ? " (another version: run `lamplightctl "
			"store migrate` on it first)" : "");
		goto out;
	}
	err = open_db(dstp, name, pd, false);
	if (err)
		fprintf(stderr, "lamplightctl: %s: %s\n", pd, strerror(err));
 out:
	mem_deref(ps);
	mem_deref(pd);
	return err;
}

/* Every database is opened and its destination checked empty before the
 * first is copied, so that a refusal copies nothing; then each goes in
 * one transaction of its own. */
static int copy(const char *from, const char *to)
{
	struct store *src[ARRAY_SIZE(names)] = {0};
	struct store *dst[ARRAY_SIZE(names)] = {0};
	unsigned copied = 0;
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names) && !err; i++) {
		err = open_pair(&src[i], &dst[i], names[i], from, to);
		if (err || !src[i])
			continue;
		err = store_copy_empty(dst[i], names[i]);
		if (err == ENOTEMPTY)
			fprintf(stderr, "lamplightctl: %s: the destination "
				"already holds rows; a copy goes into an "
				"empty database only, nothing copied\n",
				names[i]);
		else if (err)
			fprintf(stderr, "lamplightctl: %s: %s (%s)\n",
				names[i], strerror(err),
				store_errmsg(dst[i]));
	}
	for (size_t i = 0; i < ARRAY_SIZE(names) && !err; i++) {
		if (!src[i]) {
			printf("%s: none in the source, nothing to copy\n",
			       names[i]);
			continue;
		}
		err = store_copy(src[i], dst[i], names[i], counted_h, NULL);
		if (err == EBADMSG)
			fprintf(stderr, "lamplightctl: %s: counts differ, "
				"%s not copied\n", names[i], names[i]);
		else if (err)
			fprintf(stderr, "lamplightctl: %s: copy failed, %s "
				"not copied: %s (%s)\n", names[i], names[i],
				strerror(err), store_errmsg(dst[i]));
		if (err && copied)
			fprintf(stderr, "lamplightctl: the %u database(s) "
				"before %s were copied: empty them before "
				"trying again\n", copied, names[i]);
		copied += !err;
	}
	if (!err)
		printf("copied: %u database(s), every table with as many "
		       "rows as its source\n", copied);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		mem_deref(src[i]);
		mem_deref(dst[i]);
	}
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: lamplightctl store migrate\n"
		"       lamplightctl store copy --from PLACE --to PLACE\n"
		"PLACE: sqlite:DIRECTORY (its admin.db, registrar.db, ...) or "
		"a postgresql:// address\n");
	return EINVAL;
}

int ctl_store(const struct conf *conf, int argc, char **argv, int i)
{
	const char *from = NULL, *to = NULL;

	if (!strcmp(argv[i], "migrate") && i + 1 == argc)
		return migrate(conf);
	if (strcmp(argv[i], "copy"))
		return usage();
	for (int k = i + 1; k + 1 < argc; k += 2) {
		if (!strcmp(argv[k], "--from"))
			from = argv[k + 1];
		else if (!strcmp(argv[k], "--to"))
			to = argv[k + 1];
		else
			return usage();
	}
	if (!from || !to || (argc - i - 1) % 2)
		return usage();
	if (!strcmp(from, to)) {
		fprintf(stderr, "lamplightctl: store copy: --from and --to "
			"are the same place\n");
		return EINVAL;
	}
	{
		char *p = NULL;
		int err = place_path(&p, from, "admin");

		p = mem_deref(p);
		err = err ? err : place_path(&p, to, "admin");
		mem_deref(p);
		if (err) {
			fprintf(stderr, "lamplightctl: store copy: a place "
				"is sqlite:DIRECTORY or a postgresql:// "
				"address (without '#')\n");
			return EINVAL;
		}
	}
	return copy(from, to);
}
