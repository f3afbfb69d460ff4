/* tcpguard: caps, timeouts and the flood limit on accepted TCP and TLS
 * connections, in front of libre's SIP transport (tcpguard.h). */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "sip/rawreply.h"
#include "sip/rawsip.h"
#include "flood.h"
#include "rfc2543.h"
#include "tcpguard.h"

enum {
	TICK_MS = 250,         /* timeouts are looked at this often */
	LIVE_TICKS = 8,        /* and every guard's socket every 2 s */
	LINE_KEEP = 96,        /* bytes kept of a head line: its name, ':' and
				* a Content-Length value fit */
	FD_SPARE = 256,        /* descriptors kept for everything else */
	TCP_BACKLOG = 1024,    /* connections the kernel queues for accept */
	ANSWER_MAX = 8192,     /* the longest answer to a head refused */
	HELPER_LAYER = 100,    /* our send helper's, above TLS's 0 */
};

/* Where the guard is in the stream of one connection */
enum frame {
	F_START,      /* between messages: CRLF keepalives */
	F_HEAD,       /* in a message head */
	F_BODY,       /* in its body: body_left bytes to come */
};

struct guard {
	struct le le;          /* in g_all */
	struct le he;          /* in g_addr, by the peer's address */
	struct sa peer;
	int fd;
	dev_t dev;             /* fd's socket (alive) */
	ino_t ino;
	/* libre's handlers, called after ours */
	tcp_estab_h *eh;
	tcp_recv_h *rh;
	tcp_close_h *ch;
	void *arg;
	uint64_t accepted;      /* ms */
	uint64_t partial_since; /* ms: a message began; 0: none unfinished */
	bool trusted;           /* a request on it passed authentication */
	bool shut;              /* shut down by us, libre to free it */
	enum frame st;
	uint32_t body_left;
	uint32_t clen;
	bool clen_bad;          /* a Content-Length line too long to read */
	bool clen_seen;         /* this head has a Content-Length */
	const char *refuse;     /* this head ended so that libre would drop
				 * it unanswered, or is over a cap: the
				 * answer's reason */
	uint16_t refuse_code;   /* and its status code */
	size_t head_bytes;      /* of this head so far */
	struct tcp_conn *tc;
	struct mbuf *head;      /* this head as it came: libre gets it once
				 * it is whole (marked if it is RFC 2543's),
				 * or an answer is written from it */
	struct mbuf *out;       /* during scan: what libre is to read */
	bool starved;           /* no memory for it: the connection ends */
	size_t line_len;        /* bytes of this head line so far */
	char line[LINE_KEEP];
};

typedef int (accept_fn)(struct tcp_conn **tcp, struct tcp_sock *ts,
			tcp_estab_h *eh, tcp_recv_h *rh, tcp_close_h *ch,
			void *arg);

static const struct conf *g_conf;
static struct flood *g_flood;
static accept_fn *g_real;
static struct list g_all;
static struct hash *g_addr;
static struct tmr g_tmr;
static unsigned g_ticks;
static uint32_t g_max;          /* tcp_max_connections within the fd limit */
static uint32_t g_open;         /* guards counted against g_max */

static void guard_destructor(void *arg)
{
	struct guard *g = arg;

	list_unlink(&g->le);
	hash_unlink(&g->he);
	mem_deref(g->head);
	if (g->fd >= 0)         /* it was counted */
		--g_open;
}

/* What a log line says, each kind rate-limited on its own: a flood of
 * refused connections does not hide the timeouts that end the slow ones */
enum say_kind {
	SAY_REFUSED,    /* a new connection closed at once */
	SAY_IDLE,       /* tcp_auth_timeout */
	SAY_SLOW,       /* tcp_message_timeout */
	SAY_FLOOD,      /* flood_rate before authenticating */
	SAY_BAD,        /* a head libre would drop, or over a cap: an
			 * answer (400, 513), then the end */
	SAY_KINDS
};

/* One line a second at most of each kind, with a count of the ones of
 * that kind left out */
static void say(enum say_kind kind, const struct sa *peer, const char *what)
{
	static struct log_every every[SAY_KINDS];
	uint32_t unlogged;

	if (log_every(&every[kind], tmr_jiffies(), 1000, &unlogged))
		log_notice("tcp: %J %s%s", peer, what, unlogged ?
			   " (and others like it since the last line)" : "");
}

/* The guard's connection is still the socket it was: libre frees a
 * connection without telling its handlers (its own timeouts, a message it
 * cannot decode), and the descriptor may then be another's. A socket is
 * known by its inode, which no other socket shares while it is open; its
 * addresses are not enough: once both ends have closed, getpeername()
 * fails on a socket libre still holds (and will still call close_h for),
 * and a guard freed then was used after its free. */
static bool alive(const struct guard *g)
{
	struct stat st;

	return fstat(g->fd, &st) == 0 && st.st_dev == g->dev &&
	       st.st_ino == g->ino;
}

/* The connection is closed (libre reads the end and frees it), unless
 * libre freed it already: its descriptor may then be another's */
static void shut(struct guard *g, enum say_kind kind, const char *why)
{
	if (g->shut || !alive(g))
		return;
	g->shut = true;
	(void)shutdown(g->fd, SHUT_RDWR);   /* libre reads the end */
	say(kind, &g->peer, why);
}

/* Guards of connections libre has freed, found by their sockets */
static void prune(struct list *l)
{
	struct le *le = list_head(l);

	while (le) {
		struct guard *g = le->data;

		le = le->next;
		if (!alive(g))
			mem_deref(g);
	}
}

static void tick_h(void *arg)
{
	const uint64_t now = tmr_jiffies();
	const uint64_t auth_ms = (uint64_t)g_conf->tcp_auth_timeout * 1000;
	const uint64_t msg_ms = (uint64_t)g_conf->tcp_message_timeout * 1000;
	const bool live = ++g_ticks % LIVE_TICKS == 0;
	struct le *le = list_head(&g_all);
	enum say_kind kind;
	const char *why;
	(void)arg;

	while (le) {
		struct guard *g = le->data;

		le = le->next;
		if (live && !alive(g)) {
			mem_deref(g);
			continue;
		}
		if (g->shut)
			continue;
		if (!g->trusted && auth_ms && now - g->accepted >= auth_ms) {
			kind = SAY_IDLE;
			why = "closed: no request authenticated within "
			      "tcp_auth_timeout";
		}
		else if (g->partial_since &&
			 now - g->partial_since >= msg_ms) {
			kind = SAY_SLOW;
			why = "closed: a message left unfinished for "
			      "tcp_message_timeout";
		}
		else {
			continue;
		}
		if (alive(g))
			shut(g, kind, why);
		else
			mem_deref(g);
	}
	if (!list_isempty(&g_all))
		tmr_start(&g_tmr, TICK_MS, tick_h, NULL);
}

static void refuse_as(struct guard *g, uint16_t code, const char *reason)
{
	g->refuse_code = code;
	g->refuse = reason;
}

/* The head, ended: an address header over sip_max_address_header is
 * one libre's guarded parser would drop (reguard.h) with the connection
 * and no answer; a head and body over sip_max_message, libre would hold
 * up to 64 KiB of, then close. Either is answered instead. (Over UDP the
 * fast path has tighter caps on lines and heads, which a datagram must
 * meet before libre decodes it; on a stream libre decodes what it holds
 * in good time, so long valid heads pass.) */
static void head_caps(struct guard *g)
{
	struct rawsip_limits lim = { g_conf->sip_max_address_header,
				     SIZE_MAX, SIZE_MAX };
	struct rawsip_excess ex;

	if (g->head_bytes + g->clen > g_conf->sip_max_message)
		refuse_as(g, 513, "Message Too Large");
	else if (g->head && !rawsip_head_ok((const char *)g->head->buf,
					    g->head->end, &lim, &ex))
		refuse_as(g, 400, "Header Too Long");
}

/* Bytes for libre (scan's g->out; none when it reads for the fuzzer) */
static void emit(struct guard *g, const uint8_t *p, size_t n)
{
	if (g->out && n && mbuf_write_mem(g->out, p, n))
		g->starved = true;
}

/* The head is whole: libre gets it, with a branch in its top Via when
 * it has none (rfc2543.h); one that cannot be given a branch (a folded
 * head) is refused as libre 1.1.0 would drop it */
static void head_emit(struct guard *g)
{
	struct mbuf *h = g->head;

	if (!h || h->end != g->head_bytes) {       /* no memory for it */
		refuse_as(g, 503, "Service Unavailable");
		return;
	}
	h->pos = 0;
	if (rawsip_via_branchless((const char *)h->buf, h->end) &&
	    !rfc2543_mark(h))
		refuse_as(g, 400, "Via Without branch (RFC 2543 Not "
			  "Supported)");
	else
		emit(g, h->buf, h->end);
}

/* A head line ended: the end of the head, or perhaps its length, read
 * as libre reads it (pl_u32) */
static void line_end(struct guard *g)
{
	struct rawsip_line ln = { g->line, 0, NULL };
	struct pl v;

	ln.l = g->line_len < LINE_KEEP ? g->line_len : LINE_KEEP;
	if (ln.l && g->line[ln.l - 1] == '\r')
		--ln.l;
	if (!ln.l && g->line_len <= 1) {        /* the empty line */
		g->st = g->clen ? F_BODY : F_START;
		g->body_left = g->clen;
		if (!g->clen_seen)
			refuse_as(g, 400, "Missing Content-Length (Required "
				  "Over TCP)");
		else
			head_caps(g);
		if (!g->refuse)
			head_emit(g);
		/* an idle connection keeps no large head */
		if (!g->refuse && g->head && g->head->size > 4096)
			g->head = mem_deref(g->head);
		return;
	}
	if (!rawsip_hdr(&ln, "Content-Length", 'l', &v))
		return;
	g->clen_seen = true;
	if (g->line_len > LINE_KEEP)
		g->clen_bad = true;
	else
		g->clen = pl_u32(&v);
}

/* The head so far, kept for an answer written from it (a 400 when it
 * ends without Content-Length); past sip_max_message only counted */
static void head_keep(struct guard *g, const uint8_t *p, size_t n)
{
	if (!g->head)
		g->head = mbuf_alloc(512);
	if (!g->head || g->head->end + n > g_conf->sip_max_message)
		return;
	(void)mbuf_write_mem(g->head, p, n);
}

/* Reads [pos, end) of what arrived as libre will, putting in g->out what
 * libre is to read: returns where the part to leave unread begins (end:
 * none) */
static size_t scan(struct guard *g, const struct mbuf *mb, uint64_t now)
{
	const uint8_t *p = mb->buf;
	size_t i = mb->pos;

	while (i < mb->end && !g->clen_bad && !g->refuse) {
		const uint8_t *nl;
		size_t n, keep;

		switch (g->st) {

		case F_START:
			if (p[i] == '\r' || p[i] == '\n') {
				emit(g, p + i, 1);  /* keepalives */
				++i;
				break;
			}
			/* a message begins: one request (or answer) more */
			if (!g->trusted && g_flood &&
			    flood_over(g_flood, &g->peer, now))
				return i;
			g->st = F_HEAD;
			g->line_len = 0;
			g->clen = 0;
			g->clen_seen = false;
			g->head_bytes = 0;
			if (g->head)
				mbuf_rewind(g->head);
			if (!g->partial_since)
				g->partial_since = now;
			break;

		case F_HEAD:
			nl = memchr(p + i, '\n', mb->end - i);
			n = nl ? (size_t)(nl - (p + i)) : mb->end - i;
			keep = g->line_len < LINE_KEEP ?
				LINE_KEEP - g->line_len : 0;
			if (keep)     /* past the kept part only counted */
				memcpy(g->line + g->line_len, p + i,
				       n < keep ? n : keep);
			g->line_len += n;
			g->head_bytes += nl ? n + 1 : n;
			head_keep(g, p + i, nl ? n + 1 : n);
			i += n;
			/* over sip_max_message before its end: libre
			 * would hold it all (up to 64 KiB, then close
			 * unanswered) */
			if (g->head_bytes > g_conf->sip_max_message) {
				refuse_as(g, 513, "Message Too Large");
				break;
			}
			if (nl) {
				++i;
				line_end(g);
				g->line_len = 0;
			}
			break;

		case F_BODY:
			n = mb->end - i;
			if (n > g->body_left)
				n = g->body_left;
			emit(g, p + i, n);
			i += n;
			g->body_left -= (uint32_t)n;
			break;
		}
		if (g->st == F_BODY && !g->body_left)
			g->st = F_START;
		if (g->st == F_START)
			g->partial_since = 0;       /* complete */
	}
	return mb->end;
}

static void estab_h(void *arg)
{
	struct guard *g = arg;

	if (g->eh)
		g->eh(g->arg);
}

/* A head ended so that libre would drop it and the connection with it,
 * or went over a cap (g->refuse): an answer written from it (a
 * request's; an answer gets none; nor does one whose answer would be
 * over ANSWER_MAX, repeating the long header), then the connection is
 * shut */
static void refuse(struct guard *g)
{
	struct mbuf *out;
	bool sent = false;
	char why[160];

	if (!alive(g))
		return;            /* libre freed it reading what came before */
	out = mbuf_alloc(1024);
	if (out && g->head && g->tc &&
	    !rawreply(out, (const char *)g->head->buf, g->head->end,
		      &g->peer, g->refuse_code, g->refuse, rand_u64(),
		      NULL) && out->end <= ANSWER_MAX) {
		out->pos = 0;
		sent = !tcp_send(g->tc, out);
	}
	mem_deref(out);
	if (sent)
		re_snprintf(why, sizeof(why), "closed: %u %s", g->refuse_code,
			    g->refuse);
	else
		re_snprintf(why, sizeof(why), "closed: %s, unanswered (no "
			    "answer can be written from the head)", g->refuse);
	shut(g, SAY_BAD, why);
}

/* libre reads what scan let through (g->out): keepalives, bodies, and
 * each head once it is whole, never part of one; the connection may be
 * freed by libre meanwhile (its decode errors), which alive() tells */
static void pass(struct guard *g, struct mbuf *out)
{
	out->pos = 0;
	if (out->end && g->rh)
		g->rh(out, g->arg);
}

static void recv_h(struct mbuf *mb, void *arg)
{
	struct guard *g = arg;
	struct mbuf *out;
	size_t cut;
	bool over;

	if (g->shut)
		return;            /* closing: nothing more is read */
	out = mbuf_alloc(mbuf_get_left(mb) + 64);
	if (!out) {
		shut(g, SAY_BAD, "closed: no memory to read it");
		return;
	}
	g->out = out;
	cut = scan(g, mb, tmr_jiffies());
	g->out = NULL;
	if (g->starved) {
		shut(g, SAY_BAD, "closed: no memory to read it");
	}
	else if (g->clen_bad) {
		shut(g, SAY_BAD,
		     "closed: a Content-Length line too long to read");
	}
	else if (g->refuse) {
		/* RFC 3261 §20.14: a stream's messages say their length,
		 * and what follows a head without one cannot be framed;
		 * one libre cannot decode, it drops with the connection.
		 * What came before it goes to libre; then the answer, and
		 * the end. */
		pass(g, out);
		refuse(g);
	}
	else {
		over = cut < mb->end;  /* libre reads up to the first one
					* over the flood limit */
		pass(g, out);
		if (over)
			shut(g, SAY_FLOOD, "closed: requests over flood_rate "
			     "before authenticating");
	}
	mem_deref(out);
}

static void close_h(int err, void *arg)
{
	struct guard *g = arg;

	if (g->ch)
		g->ch(err, g->arg);   /* libre frees the connection */
	mem_deref(g);
}

static bool cmp_peer(struct le *le, void *arg)
{
	const struct guard *g = le->data;

	return sa_cmp(&g->peer, arg, SA_ALL);
}

static uint32_t untrusted_at(const struct sa *peer)
{
	struct le *le;
	uint32_t n = 0;

	prune(hash_list(g_addr, sa_hash(peer, SA_ADDR)));
	le = list_head(hash_list(g_addr, sa_hash(peer, SA_ADDR)));
	for (; le; le = le->next) {
		const struct guard *g = le->data;

		if (!g->trusted && sa_cmp(&g->peer, peer, SA_ADDR))
			++n;
	}
	return n;
}

/* Why a new connection from peer is refused; NULL: it is not. Guards of
 * connections libre freed unseen are dropped first where they count. */
static const char *refusal(const struct sa *peer)
{
	static uint64_t last_prune;

	if (g_open >= g_max && tmr_jiffies() - last_prune >= 100) {
		last_prune = tmr_jiffies();
		prune(&g_all);
	}
	if (g_open >= g_max)
		return "refused: the edge holds tcp_max_connections";
	if (untrusted_at(peer) >= g_conf->tcp_max_unauthenticated)
		return "refused: its address holds tcp_max_unauthenticated "
		       "connections";
	return NULL;
}

/* libre listens with a backlog of 5: a burst of connections (an office's
 * phones after a restart, or a flood) overflowed the kernel's queue
 * before the edge saw them. Its tcp_listen calls this through its PLT. */
int tcp_sock_listen(struct tcp_sock *ts, int backlog)
{
	typedef int (listen_fn)(struct tcp_sock *ts, int backlog);
	static listen_fn *real;

	if (!real)
		real = (listen_fn *)dlsym(RTLD_NEXT, "tcp_sock_listen");
	if (!real)
		return ENOSYS;
	return real(ts, backlog > TCP_BACKLOG ? backlog : TCP_BACKLOG);
}

/* What the edge sends on the connection, above TLS: an answer to a
 * request of RFC 2543's gets the phone's Via back as it sent it */
static bool unmark_h(int *err, struct mbuf *mb, void *arg)
{
	(void)err;
	(void)arg;
	rfc2543_unmark(mb);
	return false;
}

/* libre's SIP transport accepts through here (see tcpguard.h) */
int tcp_accept(struct tcp_conn **tcp, struct tcp_sock *ts, tcp_estab_h *eh,
	       tcp_recv_h *rh, tcp_close_h *ch, void *arg)
{
	struct guard *g;
	const char *why;
	int err;

	if (!g_real)
		g_real = (accept_fn *)dlsym(RTLD_NEXT, "tcp_accept");
	if (!g_real)
		return ENOSYS;
	if (!g_conf || !tcp)
		return g_real(tcp, ts, eh, rh, ch, arg);

	g = mem_zalloc(sizeof(*g), guard_destructor);
	if (!g)
		return ENOMEM;
	g->fd = -1;
	g->eh = eh;
	g->rh = rh;
	g->ch = ch;
	g->arg = arg;
	err = g_real(tcp, ts, estab_h, recv_h, close_h, g);
	if (err) {
		mem_deref(g);
		return err;
	}
	err = tcp_conn_peer_get(*tcp, &g->peer);
	if (!err) {
		struct stat st;

		if (fstat(tcp_conn_fd(*tcp), &st) < 0) {
			err = errno;
		}
		else {
			g->dev = st.st_dev;
			g->ino = st.st_ino;
		}
	}
	why = err ? "refused: no address" : refusal(&g->peer);
	if (why) {
		*tcp = mem_deref(*tcp);   /* closes it */
		say(SAY_REFUSED, &g->peer, why);
		mem_deref(g);
		return err ? err : EMFILE;
	}
	/* above libre's TLS (layer 0), so it sees the answer in clear */
	err = tcp_register_helper(NULL, *tcp, HELPER_LAYER, NULL, unmark_h,
				  NULL, NULL);
	if (err) {
		*tcp = mem_deref(*tcp);
		mem_deref(g);
		return err;
	}
	g->fd = tcp_conn_fd(*tcp);
	g->tc = *tcp;
	g->accepted = tmr_jiffies();
	++g_open;
	list_append(&g_all, &g->le, g);
	hash_append(g_addr, sa_hash(&g->peer, SA_ADDR), &g->he, g);
	if (!tmr_isrunning(&g_tmr))
		tmr_start(&g_tmr, TICK_MS, tick_h, NULL);
	return 0;
}

void tcpguard_trust(const struct sa *peer)
{
	struct guard *g;

	if (!g_addr || !peer)
		return;
	g = list_ledata(hash_lookup(g_addr, sa_hash(peer, SA_ADDR), cmp_peer,
				    (void *)peer));
	if (g)
		g->trusted = true;
}

bool tcpguard_connected(const struct sa *peer)
{
	const struct guard *g;

	if (!g_addr || !peer)
		return true;           /* not guarding: cannot tell */
	prune(hash_list(g_addr, sa_hash(peer, SA_ADDR)));
	g = list_ledata(hash_lookup(g_addr, sa_hash(peer, SA_ADDR), cmp_peer,
				    (void *)peer));
	return g && !g->shut;
}

/* tcp_max_connections, lowered to what the descriptor limit allows (the
 * soft limit raised to the hard one first, as systemd advises) */
static uint32_t max_within_fds(uint32_t want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return want;
	if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return want;
	log_warn("tcp: the descriptor limit (%llu) allows %llu of the %u "
		 "connections tcp_max_connections asks for",
		 (unsigned long long)rl.rlim_cur,
		 (unsigned long long)(rl.rlim_cur > 2 * FD_SPARE ?
				      rl.rlim_cur - FD_SPARE : FD_SPARE),
		 want);
	return (uint32_t)(rl.rlim_cur > 2 * FD_SPARE ?
			  rl.rlim_cur - FD_SPARE : FD_SPARE);
}

int tcpguard_init(const struct conf *conf, struct flood *flood)
{
	int err;

	if (!g_addr) {
		err = hash_alloc(&g_addr, 256);
		if (err)
			return err;
	}
	g_conf = conf;
	g_flood = flood;
	g_max = max_within_fds(conf->tcp_max_connections);
	return 0;
}

void tcpguard_close(void)
{
	tmr_cancel(&g_tmr);
	g_conf = NULL;
	g_flood = NULL;
	list_flush(&g_all);     /* libre's connections are gone by now */
	g_addr = mem_deref(g_addr);
}
