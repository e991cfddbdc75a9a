/* err.h: the error value every library call fills instead of exiting.
 *
 * A library function that can fail takes an `an_err *` last and returns
 * -1 (or NULL) with a message in it; the program prints the message after
 * its own name and the place in its input.  Messages are one line, lower
 * case, and name the thing that was wrong ("field \"emb\": expected bin"). */
#ifndef ASMNAME_ERR_H
#define ASMNAME_ERR_H

#include <stddef.h>

#define AN_ERR_LEN 1024

typedef struct an_err {
	int  code;            /* errno where one applies (EPIPE on a closed pipe), else 0 */
	char msg[AN_ERR_LEN];
} an_err;

/* Replace the message. */
void an_err_set(an_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Put "context: " in front of the message already there. */
void an_err_prefix(an_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set the message to "what: strerror(errno)" and code to errno. */
void an_err_sys(an_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
