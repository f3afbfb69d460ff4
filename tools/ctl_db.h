/* ctl_db: the admin database as every lamplightctl command opens it
 * (ctl_db.c), below the commands and the dispatcher (lamplightctl.c). */
#ifndef LP_CTL_DB_H
#define LP_CTL_DB_H

struct conf;
struct store;

/* The admin database, opened for writing (a message on failure). */
int open_admin(const struct conf *conf, struct store **stp);

#endif
