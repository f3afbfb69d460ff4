/* keyfile: a secret kept in a file of its own beside the databases
 * (the device key, a node's bus key), mode 0640, made by the first
 * program that needs it: written aside and linked into place, so that
 * programs starting together end up with the same one and none reads
 * it half written. */
#ifndef LP_KEYFILE_H
#define LP_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

/* Write a new secret into buf (at most *lenp bytes), its length in
 * *lenp. */
typedef int (keyfile_make_h)(uint8_t *buf, size_t *lenp, void *arg);

/* Up to `size` bytes of `path` into buf, their count in *lenp; the file
 * made with makeh's secret (and fsynced) when missing. */
int keyfile_load(const char *path, uint8_t *buf, size_t size, size_t *lenp,
		 keyfile_make_h *makeh, void *arg);

#endif
