#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void an_err_set(an_err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

void an_err_prefix(an_err *e, const char *fmt, ...)
{
	char pre[AN_ERR_LEN], old[AN_ERR_LEN];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	snprintf(e->msg, sizeof e->msg, "%s: %s", pre, old);
}

void an_err_sys(an_err *e, const char *fmt, ...)
{
	int saved = errno;
	char what[AN_ERR_LEN];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(e->msg, sizeof e->msg, "%s: %s", what, strerror(saved));
	e->code = saved;
}
