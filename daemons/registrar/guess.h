/* guess: password guessing slowed down, per user and source address.
 * Each failed digest answer for a user name (known or not: the same
 * answer either way) from an address counts; after auth_fail_limit
 * failures that user name is blocked from that address for
 * auth_block_min seconds, twice as long after each further failure up to
 * auth_block_max. While blocked, its requests get 403 with Retry-After
 * before any password is looked at, so a dictionary gets nowhere, while
 * the same user from any other address (the real phone) goes on. A
 * success clears the count. Each block is logged in one line that
 * fail2ban's filter reads (packaging/fail2ban). At most GUESS_MAX
 * entries, the least recently failed go first: names from the wire
 * cannot grow it. With several edge workers each keeps the table, and
 * tells the others of every failure and success (handoff.c), so that a
 * guesser spreading its ports over the workers counts once. */
#ifndef LP_GUESS_H
#define LP_GUESS_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

#define GUESS_MAX 100000

struct guess;
struct conf;

int  guess_alloc(struct guess **gp, const struct conf *conf);
/* Seconds the user must still wait from this address, 0: may try;
 * *first: the first refusal of this block (the one worth a log line). */
uint32_t guess_wait(struct guess *g, const struct pl *user,
		    const struct sa *src, uint64_t now, bool *first);
void guess_failed(struct guess *g, const struct pl *user,
		  const struct sa *src, uint64_t now);
/* A failure another edge worker saw (handoff.c): counted the same, its
 * block logged there, not here. */
void guess_failed_elsewhere(struct guess *g, const struct pl *user,
			    const struct sa *src, uint64_t now);
/* A success: the count cleared; true if there was one. */
bool guess_ok(struct guess *g, const struct pl *user, const struct sa *src);
uint32_t guess_count(const struct guess *g);

#endif
