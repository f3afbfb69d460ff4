/* ctl: the commands of lamplightctl that live in their own files
 * (ctl_run.c, ctl_watch.c, ctl_watcher.c, ctl_device.c, ctl_store.c,
 * ctl_node.c),
 * called by the dispatcher, lamplightctl.c; they share ctl_db.h, never
 * the dispatcher. */
#ifndef LP_CTL_H
#define LP_CTL_H

struct conf;

int ctl_run(const struct conf *conf, const char *conf_path);
/* node: NULL, this box's bus; else that node's, over CURVE. */
int ctl_watch(const struct conf *conf, const char *topic, const char *node,
	      unsigned count, unsigned timeout_s);
int ctl_watcher(const struct conf *conf, const char *verb, const char *owner,
		const char *watcher);

int ctl_admin(const struct conf *conf, int argc, char **argv, int i);
int ctl_device(const struct conf *conf, int argc, char **argv, int i);
int ctl_key(const struct conf *conf, int argc, char **argv, int i);
int ctl_store(const struct conf *conf, int argc, char **argv, int i);
int ctl_node(const struct conf *conf, int argc, char **argv, int i);

#endif
