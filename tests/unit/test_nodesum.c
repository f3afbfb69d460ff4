/* test_nodesum: each node's count of a key and their sum: this node's
 * alone costs no allocation; another node's is added, changed and
 * taken back; the last other node's going frees what it needed; a
 * source out of range changes nothing. */
#include <re.h>
#include "cluster/follow.h"
#include "cluster/nodesum.h"
#include "tap.h"

int main(void)
{
	struct nodesum s = { 0 };

	libre_init();
	ok(nodesum_set(&s, FOLLOW_LOCAL, 2) == 2 && !s.other,
	   "this node's 2: sum 2, nothing allocated");
	ok(nodesum_set(&s, 3, 0) == 2 && !s.other,
	   "another node's 0: nothing allocated");
	ok(nodesum_set(&s, 3, 1) == 3 && s.other,
	   "node 3 says 1: sum 3");
	ok(nodesum_set(&s, FOLLOW_NODES_MAX, 4) == 7,
	   "the last source says 4: sum 7");
	ok(nodesum_set(&s, 3, 1) == 7, "the same again: no change");
	ok(nodesum_set(&s, FOLLOW_NODES_MAX + 1, 9) == 7,
	   "a source out of range changes nothing");
	ok(nodesum_set(&s, FOLLOW_LOCAL, 0) == 5, "this node's 0: sum 5");
	ok(nodesum_set(&s, 3, 0) == 4 && s.other, "node 3's 0: sum 4");
	ok(nodesum_set(&s, FOLLOW_NODES_MAX, 0) == 0 && !s.other,
	   "the last other node's 0: sum 0, freed");
	ok(nodesum_set(&s, 2, 5) == 5, "then node 2's 5");
	nodesum_reset(&s);
	ok(s.sum == 0 && !s.other && !s.local, "reset: all gone");
	libre_close();
	return tap_done();
}
