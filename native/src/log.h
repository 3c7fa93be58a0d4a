/* One-line messages on stderr, each prefixed so a user can tell who is talking. */
#ifndef LOADWISE_LOG_H
#define LOADWISE_LOG_H

/* write(2) of a single formatted line: no stdio locks, safe after fork and inside hooks. */
void lw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
