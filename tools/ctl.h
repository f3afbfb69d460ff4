/* ctl: the parts of lamplightctl that live in their own files. */
#ifndef LP_CTL_H
#define LP_CTL_H

struct conf;
struct store;

int ctl_run(const struct conf *conf, const char *conf_path);
int ctl_watch(const struct conf *conf, const char *topic, unsigned count,
	      unsigned timeout_s);
int ctl_watcher(const struct conf *conf, const char *verb, const char *owner,
		const char *watcher);

/* The admin database, opened for writing (a message on failure). */
int open_admin(const struct conf *conf, struct store **stp);
int ctl_admin(const struct conf *conf, int argc, char **argv, int i);
int ctl_device(const struct conf *conf, int argc, char **argv, int i);
int ctl_key(const struct conf *conf, int argc, char **argv, int i);

#endif
