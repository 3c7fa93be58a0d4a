/* With next_b.c: a library that looks itself up with dlsym(RTLD_NEXT), as interposers do. */
#define _GNU_SOURCE
#include <dlfcn.h>

int lw_next_probe(void);
int lw_next_probe(void) { return 1; }

/* The definition after this library's own: next_b's, when dlsym honours its caller. */
int lw_call_next(void);
int lw_call_next(void) {
    int (*next)(void) = (int (*)(void))dlsym(RTLD_NEXT, "lw_next_probe");
    return next ? next() : 0;
}
