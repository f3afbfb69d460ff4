/* ctl_watch: `lamplightctl watch TOPIC` prints every bus event of a topic
 * as one JSON line: the snapshot first, then each change as it happens. */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "bus/bus.h"
#include "ctl.h"

struct watch {
	unsigned count;
	unsigned seen;
	struct tmr tmr;
	int err;
};

static void update_h(const struct bus_msg *m, void *arg)
{
	struct watch *w = arg;

	re_printf("%H\n", json_encode_odict, m->root);
	fflush(stdout);
	if (w->count && ++w->seen >= w->count)
		re_cancel();
}

static void timeout_h(void *arg)
{
	struct watch *w = arg;

	w->err = ETIMEDOUT;
	re_cancel();
}

static void signal_h(int sig)
{
	(void)sig;
	re_cancel();
}

int ctl_watch(const struct conf *conf, const char *topic, unsigned count,
	      unsigned timeout_s)
{
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	struct watch w = { .count = count };
	int err;

	const char *pub_ep = conf->bus_registrar_pub;
	const char *snap_ep = conf->bus_registrar_snapshot;

	if (!strcmp(topic, "pres")) {
		pub_ep = conf->bus_presence_pub;
		snap_ep = conf->bus_presence_snapshot;
	}
	else if (strcmp(topic, "reg") && strcmp(topic, "dialog")) {
		fprintf(stderr, "lamplightctl: unknown topic '%s' (reg, "
			"dialog, pres)\n", topic);
		return EINVAL;
	}
	tmr_init(&w.tmr);
	err = bus_alloc(&bus);
	err = err ? err : bus_sub_alloc(&sub, bus, pub_ep, snap_ep, topic,
					NULL, update_h, &w);
	if (err) {
		fprintf(stderr, "lamplightctl: bus: %s\n", strerror(err));
		goto out;
	}
	if (timeout_s)
		tmr_start(&w.tmr, timeout_s * 1000ULL, timeout_h, &w);
	re_main(signal_h);
	err = w.err;
 out:
	tmr_cancel(&w.tmr);
	mem_deref(sub);
	mem_deref(bus);
	return err;
}
