/* dlsym(RTLD_NEXT) must resolve relative to the library that called it, not to ours: our dlsym
 * reaches libc's with a tail call so the caller's return address is the one libc sees. */
#include "check.h"

int lw_call_next(void);

int main(void) {
    int got = lw_call_next();
    CHECK(got == 2, "dlsym(RTLD_NEXT) from next_a found definition %d, not next_b's (2)", got);
    printf("ok\n");
    return 0;
}
