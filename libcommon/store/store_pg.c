/* store_pg: the PostgreSQL engine (store_engine.h), the one file that
 * knows libpq. A database is a schema of a PostgreSQL database, named
 * after the '#' of its address: postgresql://user@host/db#presence is
 * the schema "presence" (store.h). One connection per database a program
 * opens (a daemon opens its own and the admin database), blocking calls (the server is on the office's network, a
 * statement is a round trip), statements prepared on the server once per
 * connection.
 *
 * Parameters go as text for integers and as bytes for texts and blobs
 * (no copy, no escaping); results come back in binary, so that an
 * integer is read without parsing and a blob without unescaping. A
 * statement's whole result is read at its first step and walked by the
 * next ones, so that a callback over the rows of one statement may run
 * others on the same connection, as SQLite allows.
 *
 * PostgreSQL's text is UTF-8 without NUL, SQLite's any bytes, and a
 * phone may send a Latin-1 User-Agent or display name: a text that is not
 * UTF-8 is stored with each byte that is not (and each NUL) as a
 * character of the Private Use Area, U+F700 plus the byte, and read back
 * as that byte, so that both engines give back what they were given. (A
 * text that really holds U+F700..U+F7FF reads back as those bytes; no
 * SIP header has reason to.)
 *
 * A transaction costs one round trip for the statements whose results
 * nobody reads (store_step_later: a binding's upsert, a NOTIFY's CSeq):
 * BEGIN waits for the transaction's first statement, those statements
 * go in libpq's pipeline mode without waiting, and the commit sends
 * COMMIT and reads every result; a failure among them fails the commit,
 * and the transaction is rolled back. A statement whose result is read
 * reads the pipeline's first.
 *
 * A lost connection is made again in a thread of its own, at once and
 * then at most once a back-off (250 ms doubling to 5 s), and until then
 * every statement fails at once with ENOTCONN: the event loop never
 * waits for a server that is not there (ready). One the server closed
 * itself (it restarted) is made again before the statement. A
 * transaction the loss cut stays failed until it is ended.
 *
 * Migrations run under an advisory lock named after the schema, so
 * nodes and daemons that start together apply each step once; the
 * version is a row of the schema's meta table. store_changed listens for the notices the admin
 * schema's triggers send (store_users.c). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <libpq-fe.h>
#include "base/log.h"
#include "store/store_engine.h"

#define STMT_MAX 64
#define PARAM_MAX 24
#define SCHEMA_MAX 63
#define BACKOFF_MIN 250     /* ms */
#define BACKOFF_MAX 5000
#define COL_MAX 24
#define PUA_LEAD 0xEF        /* U+F700..U+F7FF: EF 9C..9F xx */

struct pg;

struct pg_q {
	struct store_q q;
	struct pg *st;
	const char *sql;
	char name[8];
	int nparams;
	bool prepared;          /* on the current connection */
	const char *vals[PARAM_MAX];
	int lens[PARAM_MAX];
	int fmts[PARAM_MAX];
	char *own[PARAM_MAX];   /* copies the statement keeps */
	char num[PARAM_MAX][24];
	PGresult *res;          /* the result being walked */
	int row;
	uint64_t changes;
	char *dec[COL_MAX];     /* this row's texts with bytes restored */
	size_t dec_len[COL_MAX];
};

struct pg {
	struct store st;
	PGconn *conn;
	char schema[SCHEMA_MAX + 1];
	bool readonly;
	bool in_tx;
	bool tx_lost;           /* the connection went while in_tx */
	bool begin_sent;        /* in_tx: BEGIN has gone to the server */
	bool piped;             /* in pipeline mode: results to read */
	unsigned npending;      /* commands sent in the pipeline */
	int tx_err;             /* a failure the commit will report */
	bool listening;
	bool closing;           /* the server said FATAL: it closes */
	bool reachable;         /* it closed the connection itself: a new
				 * one is made at once (ready) */
	bool broken;            /* a pipeline left half read: made again */
	/* the connection's parameters, for each new one */
	char *url;
	char options[256];
	char app[80];
	/* a new connection made in a thread of its own (connect_main) */
	pthread_t rc_thread;
	pthread_mutex_t rc_mx;
	bool rc_running;
	bool rc_done;           /* rc_mx */
	PGconn *rc_conn;        /* rc_mx */
	uint64_t retry_at;      /* ms, monotonic: the next reconnection */
	uint32_t backoff;
	char errmsg[256];
	int last_err;           /* pg_err's last answer */
	struct pg_q slots[STMT_MAX];
	unsigned nslots;
};

#define PG(s) ((struct pg *)(void *)(s))
#define PQQ(q) ((struct pg_q *)(void *)(q))

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void unbind(struct pg_q *q)
{
	for (int i = 0; i < PARAM_MAX; i++) {
		q->own[i] = mem_deref(q->own[i]);
		q->vals[i] = NULL;
		q->lens[i] = 0;
		q->fmts[i] = 0;
	}
}

static void clear_dec(struct pg_q *q)
{
	for (int i = 0; i < COL_MAX; i++)
		q->dec[i] = mem_deref(q->dec[i]);
}

static void clear_res(struct pg_q *q)
{
	if (q->res)
		PQclear(q->res);
	q->res = NULL;
	q->row = -1;
	clear_dec(q);
}

/* The length of the UTF-8 character at p (at most n bytes), 0 if it is
 * not one (or is a NUL, which PostgreSQL's text cannot hold). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1Fu;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0Fu;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3Fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* A copy of p with each byte that is not UTF-8 as U+F700 + the byte, or
 * NULL when p is UTF-8 already (or memory ran out: the server then
 * refuses the text, EILSEQ). */
static char *escape(const char *p, size_t n, size_t *outn)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, o = 0, bad = 0;
	char *out;

	while (i < n) {
		size_t l = utf8_len(s + i, n - i);

		if (!l) {
			++bad;
			l = 1;
		}
		i += l;
	}
	if (!bad || n > SIZE_MAX / 4)
		return NULL;
	out = mem_alloc(n + 2 * bad + 1, NULL);
	if (!out)
		return NULL;
	for (i = 0; i < n; ) {
		size_t l = utf8_len(s + i, n - i);

		if (l) {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
			continue;
		}
		out[o++] = (char)PUA_LEAD;
		out[o++] = (char)(0x9C | (s[i] >> 6));
		out[o++] = (char)(0x80 | (s[i] & 0x3F));
		++i;
	}
	out[o] = '\0';
	*outn = o;
	return out;
}

/* The bytes escape() stood in for, back in place, and their number;
 * NULL when there is none (the text is as stored). */
static char *unescape(const char *p, size_t n, size_t *outn)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t o = 0;
	char *out;

	if (!memchr(p, PUA_LEAD, n))
		return NULL;
	out = mem_alloc(n + 1, NULL);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; ) {
		if (s[i] == PUA_LEAD && i + 2 < n && s[i+1] >= 0x9C &&
		    s[i+1] <= 0x9F && (s[i+2] & 0xC0) == 0x80) {
			out[o++] = (char)(((s[i+1] & 0x03) << 6) |
					  (s[i+2] & 0x3F));
			i += 3;
			continue;
		}
		out[o++] = (char)s[i++];
	}
	out[o] = '\0';
	*outn = o;
	return out;
}

static void destructor(void *arg)
{
	struct pg *st = arg;

	for (unsigned i = 0; i < st->nslots; i++) {
		clear_res(&st->slots[i]);
		unbind(&st->slots[i]);
	}
	if (st->rc_running)
		pthread_join(st->rc_thread, NULL);
	if (st->rc_conn)
		PQfinish(st->rc_conn);
	pthread_mutex_destroy(&st->rc_mx);
	if (st->conn)
		PQfinish(st->conn);
	mem_deref(st->url);
}

/* What a connection is made with: the address first, then what
 * Lamplight needs, which wins (pg_open). */
/* libpq's connection parameters, after the address's own (which they
 * override): a peer that stops answering is found within 10 s whatever
 * the connection is doing, sending (tcp_user_timeout) or waiting for a
 * result the server acknowledged (keepalives after 5 s of silence). */
#define PARAMS_MAX 12

static void params(const struct pg *st, const char **keys, const char **vals)
{
	int k = 0;

	keys[k] = "dbname";           vals[k++] = st->url;
	keys[k] = "options";          vals[k++] = st->options;
	keys[k] = "application_name"; vals[k++] = st->app;
	keys[k] = "connect_timeout";  vals[k++] = "3";
	keys[k] = "tcp_user_timeout"; vals[k++] = "5000";
	keys[k] = "client_encoding";  vals[k++] = "UTF8";
	keys[k] = "keepalives";       vals[k++] = "1";
	keys[k] = "keepalives_idle";  vals[k++] = "5";
	keys[k] = "keepalives_interval"; vals[k++] = "2";
	keys[k] = "keepalives_count"; vals[k++] = "3";
	keys[k] = NULL;               vals[k] = NULL;
}

static void *connect_main(void *arg)
{
	struct pg *st = arg;
	const char *keys[PARAMS_MAX], *vals[PARAMS_MAX];
	PGconn *c;

	params(st, keys, vals);
	c = PQconnectdbParams(keys, vals, 1);
	pthread_mutex_lock(&st->rc_mx);
	st->rc_conn = c;
	st->rc_done = true;
	pthread_mutex_unlock(&st->rc_mx);
	return NULL;
}

static void set_msg(struct pg *st, const char *msg)
{
	size_t n;

	str_ncpy(st->errmsg, msg ? msg : "", sizeof(st->errmsg));
	n = strlen(st->errmsg);
	while (n && (st->errmsg[n-1] == '\n' || st->errmsg[n-1] == ' '))
		st->errmsg[--n] = '\0';
}

/* A new connection: nothing prepared on it, nothing listened to. */
static void fresh(struct pg *st)
{
	for (unsigned i = 0; i < st->nslots; i++)
		st->slots[i].prepared = false;
	st->listening = false;
}

/* The connection is gone: an open transaction is lost. The next
 * statement connects again at once (the server may have restarted and
 * be back); after a failed try, the next waits for the back-off. */
static void lost(struct pg *st)
{
	if (!st->backoff) {
		log_warn("store: %s: connection lost: %s", st->schema,
			 st->errmsg);
		st->backoff = BACKOFF_MIN;
		st->retry_at = 0;
	}
	/* still open (an 08 error the server did not end it with): made
	 * again all the same, its prepared statements with it */
	if (PQstatus(st->conn) == CONNECTION_OK)
		st->broken = true;
	fresh(st);
	st->closing = false;
	st->piped = false;
	st->npending = 0;
	/* a transaction the server had begun is gone with it */
	if (st->in_tx && st->begin_sent)
		st->tx_lost = true;
}

/* An error of a result (or of the connection) as an errno, its message
 * kept for store_errmsg. SQLSTATE classes: 23 integrity (a duplicate
 * key), 40 and 55P03 a lock or serialization conflict, 57014 a timeout,
 * 25006 a read-only transaction, 22021 text that is not UTF-8, 08 and
 * 57P the connection or the server going away, 53 out of resources. */
static int map_err(struct pg *st, const PGresult *res);

static int pg_err(struct pg *st, const PGresult *res)
{
	st->last_err = map_err(st, res);
	return st->last_err;
}

static int map_err(struct pg *st, const PGresult *res)
{
	const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
			       : NULL;

	set_msg(st, res ? PQresultErrorMessage(res)
			: PQerrorMessage(st->conn));
	if (PQstatus(st->conn) != CONNECTION_OK) {
		set_msg(st, PQerrorMessage(st->conn));
		lost(st);
		return ENOTCONN;
	}
	if (!code)
		return EIO;
	if (!strncmp(code, "23", 2))
		return EEXIST;
	if (!strncmp(code, "40", 2) || !strcmp(code, "55P03") ||
	    !strcmp(code, "57014"))
		return EBUSY;
	if (!strcmp(code, "25006") || !strncmp(code, "42501", 5))
		return EACCES;
	if (!strcmp(code, "22021"))
		return EILSEQ;
	if (!strcmp(code, "42P01") || !strcmp(code, "3F000"))
		return ENOENT;
	if (!strncmp(code, "08", 2) || !strncmp(code, "57P", 3)) {
		lost(st);
		return ENOTCONN;
	}
	if (!strcmp(code, "53100"))
		return ENOSPC;
	if (!strncmp(code, "53", 2))
		return ENOMEM;
	return EIO;
}

static void notice_h(void *arg, const char *msg);

/* The new connection connect_main made, if it is done: in place of the
 * old one. */
static bool take_conn(struct pg *st)
{
	PGconn *c;
	bool done;

	pthread_mutex_lock(&st->rc_mx);
	done = st->rc_done;
	c = st->rc_conn;
	st->rc_conn = NULL;
	pthread_mutex_unlock(&st->rc_mx);
	if (!done)
		return false;
	pthread_join(st->rc_thread, NULL);
	st->rc_running = false;
	st->rc_done = false;
	if (c) {
		PQfinish(st->conn);
		st->conn = c;
		(void)PQsetNoticeProcessor(c, notice_h, st);
	}
	return true;
}

/* A new connection in a thread of its own, so that a server whose
 * network is cut (a connection attempt waits up to connect_timeout)
 * never stalls the event loop: until it is made, statements fail at
 * once. Its thread takes no signal meant for the loop. */
static int connect_async(struct pg *st)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&st->rc_thread, NULL, connect_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		st->rc_running = true;
	return err ? err : ENOTCONN;
}

/* Connected, or connected again. A server that closed an idle
 * connection (it restarted, or an administrator ended the session) said
 * so on the socket: read without waiting before each statement, and such
 * a connection is made again at once, before the statement, since that
 * server answers; any other is made again in a thread (connect_async),
 * the first at once, then at most once a back-off. */
static int ready(struct pg *st)
{
	bool now_ok = false;

	if (PQstatus(st->conn) == CONNECTION_OK && !st->broken) {
		/* in a transaction the server has begun, or a pipeline: in
		 * use. Otherwise idle: PQisBusy parses what was read, a FATAL
		 * goes to notice_h (notifications stay queued for
		 * pg_changed) */
		if (st->piped || (st->in_tx && st->begin_sent) ||
		    (PQconsumeInput(st->conn) && !PQisBusy(st->conn) &&
		     !st->closing))
			return 0;
		set_msg(st, st->closing ? "the server closed the connection"
				       : PQerrorMessage(st->conn));
		st->reachable = true;
		lost(st);
	}
	else if (st->broken && PQstatus(st->conn) == CONNECTION_OK) {
		st->reachable = true;
		lost(st);
	}
	else if (!st->backoff) {
		lost(st);        /* gone without a statement seeing it */
	}
	if (st->in_tx && st->begin_sent)
		st->tx_lost = true;
	now_ok = st->reachable;
	st->reachable = false;
	if (st->rc_running) {
		if (!take_conn(st))
			return ENOTCONN;
	}
	else if (now_ms() < st->retry_at) {
		return ENOTCONN;
	}
	else if (now_ok) {
		PQreset(st->conn);
	}
	else {
		return connect_async(st);
	}
	if (PQstatus(st->conn) != CONNECTION_OK) {
		set_msg(st, PQerrorMessage(st->conn));
		if (st->backoff < BACKOFF_MIN)
			st->backoff = BACKOFF_MIN;
		st->retry_at = now_ms() + st->backoff;
		st->backoff = st->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
							    : st->backoff * 2;
		return ENOTCONN;
	}
	log_notice("store: %s: connected again", st->schema);
	fresh(st);
	st->broken = false;
	st->backoff = 0;
	st->retry_at = 0;
	return 0;
}

/* One call that returns no rows, its result checked, as it is. */
static int exec_raw(struct pg *st, const char *sql)
{
	PGresult *res;
	int err = 0;

	err = ready(st);
	if (err)
		return err;
	res = PQexec(st->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		err = pg_err(st, res);
	else if (!strcmp(sql, "COMMIT") &&
		 !strcmp(PQcmdStatus(res), "ROLLBACK"))
		err = EIO;     /* the transaction had failed */
	PQclear(res);
	return err;
}

/* Every result of the pipeline read, and pipeline mode left: the first
 * failure among them, which the transaction keeps (tx_err). */
static int drain(struct pg *st)
{
	PGresult *res;
	int err = 0;

	if (!st->piped)
		return 0;
	if (!PQpipelineSync(st->conn)) {
		/* no Sync will come back: the connection is made again */
		err = pg_err(st, NULL);
		st->broken = true;
	}
	/* every command's results, the first failure kept: one after a
	 * failure is PGRES_PIPELINE_ABORTED, and all must be read */
	for (unsigned k = 0; !st->broken && k < st->npending &&
		     PQstatus(st->conn) == CONNECTION_OK; k++) {
		while ((res = PQgetResult(st->conn))) {
			ExecStatusType rs = PQresultStatus(res);

			if (!err && rs == PGRES_FATAL_ERROR)
				err = pg_err(st, res);
			else if (!err && rs == PGRES_PIPELINE_ABORTED)
				err = EIO;
			else if (!err && rs == PGRES_COMMAND_OK &&
				 !strcmp(PQcmdStatus(res), "ROLLBACK"))
				err = EIO;     /* COMMIT of a failed one */
			PQclear(res);
		}
	}
	if (PQstatus(st->conn) != CONNECTION_OK)
		err = err ? err : pg_err(st, NULL);
	/* the Sync's own result, then nothing */
	while (!st->broken && PQstatus(st->conn) == CONNECTION_OK &&
	       (res = PQgetResult(st->conn))) {
		ExecStatusType rs = PQresultStatus(res);

		if (!err && rs == PGRES_FATAL_ERROR)
			err = pg_err(st, res);
		PQclear(res);
		if (rs == PGRES_PIPELINE_SYNC)
			break;
	}
	if (st->broken || (PQstatus(st->conn) == CONNECTION_OK &&
			   !PQexitPipelineMode(st->conn))) {
		/* results left unread: the connection is made again */
		set_msg(st, PQerrorMessage(st->conn));
		st->broken = true;
		if (st->in_tx && st->begin_sent)
			st->tx_lost = true;
		err = err ? err : ENOTCONN;
	}
	st->piped = false;
	st->npending = 0;
	if (err && !st->tx_err)
		st->tx_err = err;
	return err;
}

/* Before a statement whose result is read: the pipeline read, and the
 * transaction's BEGIN sent if it was waiting. */
static int sync_point(struct pg *st)
{
	int err;

	if (st->tx_lost)
		return ENOTCONN;
	err = drain(st);
	if (err)
		return err;
	if (st->tx_err)
		return st->tx_err;
	if (st->in_tx && !st->begin_sent) {
		st->begin_sent = true;
		err = exec_raw(st, "BEGIN");
		if (err)
			st->tx_err = err;
	}
	return err;
}

/* A statement failed in a transaction: so does its commit. (After an
 * error, PostgreSQL answers COMMIT with a rollback, which libpq does not
 * call an error; SQLite would have committed the rest.) */
static int tx_fail(struct pg *st, int err)
{
	if (err && st->in_tx && !st->tx_err)
		st->tx_err = err;
	return err;
}

/* One call that returns no rows, its result checked. */
static int run(struct pg *st, const char *sql)
{
	int err = sync_point(st);

	return tx_fail(st, err ? err : exec_raw(st, sql));
}

static int pg_exec(struct store *st, const char *sql)
{
	return run(PG(st), sql);
}

static const char *pg_errmsg(struct store *st)
{
	return PG(st)->errmsg[0] ? PG(st)->errmsg : "no error";
}

/* The statement's text with ?N turned into $N (outside quotes), and the
 * highest N. */
static int rewrite(char **outp, int *np, const char *sql)
{
	size_t n = strlen(sql);
	char *out = mem_alloc(n + 1, NULL);
	char quote = 0;
	int max = 0;

	if (!out)
		return ENOMEM;
	for (size_t i = 0; i <= n; i++) {
		char c = sql[i];

		if (quote) {
			if (c == quote)
				quote = 0;
		}
		else if (c == '\'' || c == '"') {
			quote = c;
		}
		else if (c == '?' && i + 1 < n &&
			 sql[i+1] >= '0' && sql[i+1] <= '9') {
			int v = atoi(sql + i + 1);

			if (v > max)
				max = v;
			c = '$';
		}
		out[i] = c;
	}
	if (max > PARAM_MAX) {
		mem_deref(out);
		return E2BIG;
	}
	*outp = out;
	*np = max;
	return 0;
}

static int prepare(struct pg_q *q)
{
	struct pg *st = q->st;
	PGresult *res;
	char *text = NULL;
	int err, n = 0;

	err = rewrite(&text, &n, q->sql);
	if (err)
		return err;
	res = PQprepare(st->conn, q->name, text, n, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* 42P05: prepared on this session already */
		err = code && !strcmp(code, "42P05") ? 0 : pg_err(st, res);
	}
	PQclear(res);
	mem_deref(text);
	if (!err) {
		q->nparams = n;
		q->prepared = true;
	}
	return err;
}

static struct store_q *pg_stmt(struct store *base, const char *sql)
{
	struct pg *st = PG(base);
	struct pg_q *q;

	for (unsigned i = 0; i < st->nslots; i++) {
		q = &st->slots[i];
		if (q->sql == sql) {
			clear_res(q);
			unbind(q);
			return &q->q;
		}
	}
	if (st->nslots >= STMT_MAX)
		return NULL;
	q = &st->slots[st->nslots];
	q->q.eng = &store_pg;
	q->st = st;
	q->sql = sql;
	q->row = -1;
	(void)re_snprintf(q->name, sizeof(q->name), "lp%u", st->nslots);
	++st->nslots;
	return &q->q;
}

static bool param_ok(const struct pg_q *q, int i)
{
	return i >= 1 && i <= PARAM_MAX && q;
}

/* A text (escaped when it is not UTF-8) or a blob (as it is), in binary
 * format: its bytes. */
static void bind_bytes(struct store_q *qq, int i, const char *p, size_t n,
		       bool copy, bool text)
{
	struct pg_q *q = PQQ(qq);

	if (!param_ok(q, i))
		return;
	--i;
	q->own[i] = mem_deref(q->own[i]);
	q->fmts[i] = 1;
	if (!p) {
		q->vals[i] = NULL;
		q->lens[i] = 0;
		return;
	}
	if (n == STORE_NTS)
		n = strlen(p);
	if (n > INT32_MAX)
		n = 0;
	if (text) {
		size_t en = 0;
		char *e = escape(p, n, &en);

		if (e) {
			q->own[i] = e;
			q->vals[i] = e;
			q->lens[i] = (int)en;
			return;
		}
	}
	if (copy) {
		q->own[i] = mem_alloc(n + 1, NULL);
		if (q->own[i]) {
			memcpy(q->own[i], p, n);
			q->own[i][n] = '\0';
		}
		else {
			n = 0;
		}
		p = q->own[i] ? q->own[i] : "";
	}
	q->vals[i] = p;
	q->lens[i] = (int)n;
}

static void pg_text(struct store_q *qq, int i, const char *p, size_t n,
		    bool copy)
{
	bind_bytes(qq, i, p, n, copy, true);
}

static void pg_int(struct store_q *qq, int i, int64_t v)
{
	struct pg_q *q = PQQ(qq);

	if (!param_ok(q, i))
		return;
	--i;
	q->own[i] = mem_deref(q->own[i]);
	(void)re_snprintf(q->num[i], sizeof(q->num[i]), "%lld",
			  (long long)v);
	q->vals[i] = q->num[i];
	q->lens[i] = 0;
	q->fmts[i] = 0;
}

static void pg_blob(struct store_q *qq, int i, const void *p, size_t n)
{
	bind_bytes(qq, i, p ? p : "", n, false, false);
}

static int pg_step(struct store_q *qq)
{
	struct pg_q *q = PQQ(qq);
	struct pg *st = q->st;
	const char *tuples;
	int err;

	if (q->res) {
		clear_dec(q);
		if (PQresultStatus(q->res) == PGRES_TUPLES_OK &&
		    q->row + 1 < PQntuples(q->res)) {
			++q->row;
			return STORE_ROW;
		}
		return STORE_DONE;
	}
	err = sync_point(st);
	err = err ? err : ready(st);
	err = err ? err : q->prepared ? 0 : prepare(q);
	if (err)
		return tx_fail(st, err);
	q->res = PQexecPrepared(st->conn, q->name, q->nparams, q->vals,
				q->lens, q->fmts, 1);
	switch (PQresultStatus(q->res)) {

	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		tuples = PQcmdTuples(q->res);
		q->changes = tuples && *tuples ? strtoull(tuples, NULL, 10)
					       : 0;
		if (PQresultStatus(q->res) == PGRES_TUPLES_OK &&
		    PQntuples(q->res) > 0) {
			q->row = 0;
			return STORE_ROW;
		}
		return STORE_DONE;

	default:
		err = pg_err(st, q->res);
		clear_res(q);
		return tx_fail(st, err);
	}
}

static bool have(const struct pg_q *q, int i)
{
	return q->res && q->row >= 0 && i >= 0 && i < PQnfields(q->res) &&
		!PQgetisnull(q->res, q->row, i);
}

#define BYTEA_OID 17    /* pg_type.h's BYTEAOID */

/* Column i of the row as text, the bytes escape() stood in for back in
 * place (dec[i], kept until the next step or reset). */
static const char *text_of(struct pg_q *q, int i, size_t *np)
{
	const char *v = PQgetvalue(q->res, q->row, i);
	size_t n = (size_t)PQgetlength(q->res, q->row, i);

	if (i >= COL_MAX) {
		*np = n;
		return v;
	}
	if (!q->dec[i])
		q->dec[i] = unescape(v, n, &q->dec_len[i]);
	*np = q->dec[i] ? q->dec_len[i] : n;
	return q->dec[i] ? q->dec[i] : v;
}

static const char *pg_col_text(struct store_q *qq, int i)
{
	struct pg_q *q = PQQ(qq);
	size_t n;

	/* a binary text value is its bytes, which libpq ends with a NUL */
	return have(q, i) ? text_of(q, i, &n) : NULL;
}

static int64_t pg_col_int(struct store_q *qq, int i)
{
	struct pg_q *q = PQQ(qq);
	const unsigned char *p;
	uint64_t v = 0;
	int n;

	if (!have(q, i))
		return 0;
	p = (const unsigned char *)PQgetvalue(q->res, q->row, i);
	n = PQgetlength(q->res, q->row, i);
	if (n != 1 && n != 2 && n != 4 && n != 8)
		return 0;
	/* network order, sign-extended from the first byte */
	v = (p[0] & 0x80) ? UINT64_MAX : 0;
	for (int k = 0; k < n; k++)
		v = (v << 8) | p[k];
	return (int64_t)v;
}

static const void *pg_col_blob(struct store_q *qq, int i)
{
	struct pg_q *q = PQQ(qq);

	return have(q, i) ? PQgetvalue(q->res, q->row, i) : NULL;
}

/* The bytes of the column as q_col_blob gives it (a BYTEA) or as
 * q_col_text does (a text, its bytes restored), whichever is asked
 * first. */
static size_t pg_col_bytes(struct store_q *qq, int i)
{
	struct pg_q *q = PQQ(qq);
	size_t n;

	if (!have(q, i))
		return 0;
	if (PQftype(q->res, i) == BYTEA_OID)
		return (size_t)PQgetlength(q->res, q->row, i);
	(void)text_of(q, i, &n);
	return n;
}

static bool pg_col_null(struct store_q *qq, int i)
{
	return !have(PQQ(qq), i);
}

static void pg_reset(struct store_q *qq)
{
	clear_res(PQQ(qq));
}

static uint64_t pg_changes(struct store_q *qq)
{
	return PQQ(qq)->changes;
}

/* BEGIN goes with the transaction's first statement (sync_point,
 * pg_later). */
static int pg_begin(struct store *base)
{
	struct pg *st = PG(base);

	if (st->in_tx)
		return EALREADY;
	st->in_tx = true;
	st->tx_lost = false;
	st->begin_sent = false;
	st->tx_err = 0;
	return 0;
}

static void end_tx(struct pg *st)
{
	st->in_tx = false;
	st->tx_lost = false;
	st->begin_sent = false;
	st->tx_err = 0;
}

static void pg_rollback(struct store *base)
{
	struct pg *st = PG(base);

	if (st->piped)
		(void)drain(st);
	if (st->in_tx && st->begin_sent && !st->tx_lost && !st->broken &&
	    PQstatus(st->conn) == CONNECTION_OK) {
		PGresult *res = PQexec(st->conn, "ROLLBACK");

		PQclear(res);
	}
	end_tx(st);
}

/* A commit whose answer was lost may have been applied: ENOTCONN says
 * that nothing is known, and nothing is acknowledged on it. */
static int pg_commit(struct store *base)
{
	struct pg *st = PG(base);
	int err;

	if (!st->in_tx)
		return 0;
	if (!st->begin_sent && !st->piped) {
		err = st->tx_err;      /* nothing was sent */
		end_tx(st);
		return err;
	}
	if (st->tx_lost) {
		err = ENOTCONN;
	}
	else if (st->piped && !st->tx_err) {
		/* the statements and COMMIT: one round trip */
		if (PQsendQueryParams(st->conn, "COMMIT", 0, NULL, NULL, NULL,
				      NULL, 0)) {
			++st->npending;
			err = drain(st);
		}
		else {
			err = pg_err(st, NULL);
		}
	}
	else if (st->piped) {
		err = drain(st);
	}
	else {
		err = st->tx_err ? st->tx_err : exec_raw(st, "COMMIT");
	}
	err = err ? err : st->tx_err;
	if (err)
		pg_rollback(base);
	end_tx(st);
	return err;
}

/* A statement without rows whose result nobody reads: inside a
 * transaction, into the pipeline (its failure fails the commit);
 * outside one, at once. */
static int pg_later(struct store_q *qq)
{
	struct pg_q *q = PQQ(qq);
	struct pg *st = q->st;
	int err;

	if (!st->in_tx) {
		int rc = pg_step(qq);

		clear_res(q);
		return rc == STORE_DONE || rc == STORE_ROW ? 0 : rc;
	}
	if (st->tx_lost)
		return tx_fail(st, ENOTCONN);
	if (st->tx_err)
		return st->tx_err;
	if (!st->piped) {
		/* may connect again: nothing prepared on the new one */
		err = ready(st);
		if (err)
			return tx_fail(st, err);
	}
	if (!q->prepared) {
		/* once a connection: prepared outside the pipeline */
		err = drain(st);
		err = err ? err : prepare(q);
		if (err)
			return tx_fail(st, err);
	}
	if (!st->piped) {
		if (!PQenterPipelineMode(st->conn))
			return tx_fail(st, pg_err(st, NULL));
		st->piped = true;
	}
	if (!st->begin_sent) {
		if (!PQsendQueryParams(st->conn, "BEGIN", 0, NULL, NULL,
				       NULL, NULL, 0))
			return tx_fail(st, pg_err(st, NULL));
		++st->npending;
		st->begin_sent = true;
	}
	/* libpq copies the parameters into its buffer here */
	if (!PQsendQueryPrepared(st->conn, q->name, q->nparams, q->vals,
				 q->lens, q->fmts, 1))
		return tx_fail(st, pg_err(st, NULL));
	++st->npending;
	clear_res(q);
	return 0;
}

static int pg_version(struct store *base)
{
	struct pg *st = PG(base);
	PGresult *res;
	int v = -1;

	if (sync_point(st) || ready(st))
		return -1;
	res = PQexec(st->conn, "SELECT value FROM meta "
		     "WHERE key = 'schema_version'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		v = PQntuples(res) ? atoi(PQgetvalue(res, 0, 0)) : 0;
	else if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		(void)pg_err(st, res);
	PQclear(res);
	return v;
}

/* Commits that changed the schema's announced tables since the last
 * call. The first call, and the first after the connection came back,
 * listen and say yes: what happened before is unknown. */
static bool pg_changed(struct store *base)
{
	struct pg *st = PG(base);
	PGnotify *nt;
	bool changed = false;

	if (!st->listening) {
		char sql[96];

		(void)re_snprintf(sql, sizeof(sql), "LISTEN lamplight_%s",
				  st->schema);
		if (st->in_tx || run(st, sql))
			return false;
		st->listening = true;
		return true;
	}
	if (!PQconsumeInput(st->conn)) {
		/* the server closed the socket: it is there to reconnect to */
		if (PQstatus(st->conn) == CONNECTION_OK || !st->backoff)
			st->reachable = true;
		set_msg(st, PQerrorMessage(st->conn));
		lost(st);
		return false;
	}
	while ((nt = PQnotifies(st->conn))) {
		changed = true;
		PQfreemem(nt);
	}
	return changed;
}

const struct store_engine store_pg = {
	.name = "postgresql",
	.exec = pg_exec,
	.errmsg = pg_errmsg,
	.stmt = pg_stmt,
	.text = pg_text,
	.integer = pg_int,
	.blob = pg_blob,
	.step = pg_step,
	.col_text = pg_col_text,
	.col_int = pg_col_int,
	.col_blob = pg_col_blob,
	.col_bytes = pg_col_bytes,
	.col_null = pg_col_null,
	.reset = pg_reset,
	.changes = pg_changes,
	.later = pg_later,
	.version = pg_version,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.changed = pg_changed,
};

/* Each step in a transaction of its own, under the schema's lock, the
 * version read inside it. */
static int migrate(struct pg *st, const struct store_schema *schema)
{
	const char *const *steps = schema->pg ? schema->pg : schema->sqlite;
	char sql[320];
	int err;

	for (;;) {
		int v;

		err = pg_begin(&st->st);
		if (err)
			return err;
		(void)re_snprintf(sql, sizeof(sql),
				  "SET LOCAL lock_timeout = 0;"
				  "SET LOCAL statement_timeout = 0;"
				  "SELECT pg_advisory_xact_lock("
				  "hashtext('lamplight.%s'));"
				  "CREATE SCHEMA IF NOT EXISTS %s;"
				  "CREATE TABLE IF NOT EXISTS meta ("
				  "key TEXT PRIMARY KEY, value TEXT NOT NULL)",
				  st->schema, st->schema);
		err = run(st, sql);
		v = err ? -1 : pg_version(&st->st);
		if (v < 0 || (unsigned)v >= schema->n) {
			pg_rollback(&st->st);
			if (err || v < 0)
				return err ? err : st->last_err ? st->last_err
								: EIO;
			/* above n: a newer Lamplight wrote this schema */
			return (unsigned)v > schema->n ? EPROTO : 0;
		}
		err = run(st, steps[v]);
		if (!err) {
			(void)re_snprintf(sql, sizeof(sql),
					  "INSERT INTO meta (key, value) "
					  "VALUES ('schema_version', '%d') "
					  "ON CONFLICT (key) DO UPDATE SET "
					  "value = excluded.value", v + 1);
			err = run(st, sql);
		}
		if (err) {
			pg_rollback(&st->st);
			return err;
		}
		err = pg_commit(&st->st);
		if (err)
			return err;
	}
}

/* The schema after the '#': a lower-case SQL name. */
static int split(char **urlp, char *schema, const char *path)
{
	const char *hash = strrchr(path, '#');
	size_t n;

	if (!hash || !hash[1] || strlen(hash + 1) > SCHEMA_MAX)
		return EINVAL;
	for (const char *p = hash + 1; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || *p == '_' ||
		      (p > hash + 1 && *p >= '0' && *p <= '9')))
			return EINVAL;
	}
	str_ncpy(schema, hash + 1, SCHEMA_MAX + 1);
	n = (size_t)(hash - path);
	*urlp = mem_alloc(n + 1, NULL);
	if (!*urlp)
		return ENOMEM;
	memcpy(*urlp, path, n);
	(*urlp)[n] = '\0';
	return 0;
}

/* The server's notices and warnings ("terminating connection due to
 * administrator command"), in the log instead of on stderr. */
static void notice_h(void *arg, const char *msg)
{
	struct pg *st = arg;
	char line[256];
	size_t n;

	str_ncpy(line, msg, sizeof(line));
	n = strlen(line);
	while (n && (line[n-1] == '\n' || line[n-1] == ' '))
		line[--n] = '\0';
	log_info("store: %s: the server says: %s", st->schema, line);
	/* said to an idle connection only as the server ends it */
	if (!strncmp(line, "FATAL", 5))
		st->closing = true;
}

int pg_open(struct store **stp, const char *path,
	    const struct store_schema *schema,
	    const struct store_opts *opts)
{
	bool ro = opts && opts->readonly;
	const char *keys[PARAMS_MAX], *vals[PARAMS_MAX];
	struct pg *st;
	int err;

	st = mem_zalloc(sizeof(*st), destructor);
	if (!st)
		return ENOMEM;
	st->st.eng = &store_pg;
	st->readonly = ro;
	pthread_mutex_init(&st->rc_mx, NULL);
	err = split(&st->url, st->schema, path);
	if (err)
		goto out;

	/* the address first, then what Lamplight needs, which wins: the
	 * schema, waits for locks as long as SQLite's busy handler, a
	 * statement never longer than 15 s, a dead peer found in 5 s, the
	 * server's notices ("already exists, skipping") kept quiet */
	(void)re_snprintf(st->options, sizeof(st->options),
			  "-c search_path=%s -c lock_timeout=5000 "
			  "-c statement_timeout=15000 "
			  "-c client_min_messages=warning%s", st->schema,
			  ro ? " -c default_transaction_read_only=on" : "");
	(void)re_snprintf(st->app, sizeof(st->app), "lamplight-%s",
			  st->schema);
	params(st, keys, vals);
	st->conn = PQconnectdbParams(keys, vals, 1);
	if (!st->conn) {
		err = ENOMEM;
		goto out;
	}
	(void)PQsetNoticeProcessor(st->conn, notice_h, st);
	if (PQstatus(st->conn) != CONNECTION_OK) {
		set_msg(st, PQerrorMessage(st->conn));
		log_warn("store: %s: cannot connect: %s", st->schema,
			 st->errmsg);
		err = ENOTCONN;
		goto out;
	}
	if (!ro) {
		err = migrate(st, schema);
	}
	else {
		int v = pg_version(&st->st);

		/* ENOENT: no such schema (yet) */
		if (v < 0)
			err = st->last_err ? st->last_err : EIO;
		else if ((unsigned)v != schema->n)
			err = EPROTO;
	}

 out:
	if (err)
		mem_deref(st);
	else
		*stp = &st->st;
	return err;
}
