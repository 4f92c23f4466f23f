//go:build linux && cgo

package main

// An edge's replica keeps its block cache in C memory (malloc), filled from
// whichever thread reads. glibc gives each such thread an arena of its own
// and hands little of it back, so resident memory grew to several times the
// cache: 220 MiB outside the Go heap for a 64 MiB cache, against 90 MiB with
// one arena. The limit is set as the program loads, before any thread can
// make an arena; MALLOC_ARENA_MAX in the environment still has the last word.

/*
#include <malloc.h>
#include <stdlib.h>

__attribute__((constructor)) static void one_malloc_arena(void) {
#ifdef M_ARENA_MAX
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		mallopt(M_ARENA_MAX, 1);
#endif
}
*/
import "C"
