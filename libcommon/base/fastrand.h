/* fastrand: libre's random numbers (rand_u16, rand_u32, rand_u64,
 * rand_bytes) from the kernel's generator (glibc's arc4random_buf, one
 * getrandom call for 512 bytes), instead of one OpenSSL RAND_bytes call
 * each.
 * libre draws a random tag for every message it decodes and calls these
 * through its PLT, so the definitions in fastrand.c, linked into each
 * program, take their place: at thousands of messages a second OpenSSL's
 * locking DRBG was 9 % of the edge's CPU, and a getrandom call each
 * still 4 %. Both are cryptographically secure (tags, branches and
 * nonce salts need unpredictability). */
#ifndef LP_FASTRAND_H
#define LP_FASTRAND_H

/* Called once at start by every daemon (daemon_args): it makes the
 * linker take fastrand.c from libcommon's archive. */
void fastrand_init(void);

#endif
