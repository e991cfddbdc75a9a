#include "names.h"

#include <string.h>

/* Clone suffixes: those that take a number after them and those that stand
 * alone (".cold" comes both ways: "foo.cold" and "foo.cold.3"). */
static const char *const numbered[] = {
	"part", "isra", "constprop", "lto_priv", "clone", "llvm", "cold", "specialized",
};
static const char *const bare[] = { "cold", "localalias", "part", "isra", "constprop" };

static int is_in(const char *s, size_t n, const char *const *set, size_t nset)
{
	for (size_t i = 0; i < nset; i++)
		if (strlen(set[i]) == n && !memcmp(set[i], s, n))
			return 1;
	return 0;
}

static int all_digits(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Start of the last "."-component of s[0..n), or n when there is no dot
 * after position 0. */
static size_t last_dot(const char *s, size_t n)
{
	for (size_t i = n; i > 1; i--)
		if (s[i - 1] == '.')
			return i - 1;
	return n;
}

size_t names_base_len(const char *name, size_t len)
{
	const char *at;

	/* "memcpy@GLIBC_2.14", "foo@@V1", "puts@plt": the tag starts at the
	 * first '@' that is not the first byte. */
	if (len > 1 && (at = memchr(name + 1, '@', len - 1)))
		len = (size_t)(at - name);
	for (;;) {
		size_t d = last_dot(name, len), c;

		if (d == len)
			break;
		c = len - d - 1;   /* length of the component after the dot */
		if (all_digits(name + d + 1, c)) {
			size_t d2 = last_dot(name, d);

			if (d2 == d || !is_in(name + d2 + 1, d - d2 - 1, numbered,
					      sizeof numbered / sizeof numbered[0]))
				break;
			len = d2;
		} else if (is_in(name + d + 1, c, bare, sizeof bare / sizeof bare[0])) {
			len = d;
		} else {
			break;
		}
	}
	return len;
}

enum { C_SEP, C_LOWER, C_UPPER, C_DIGIT };

static int cls(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return C_LOWER;
	if (c >= 'A' && c <= 'Z')
		return C_UPPER;
	if (c >= '0' && c <= '9')
		return C_DIGIT;
	if (c >= 0x80)
		return C_LOWER;
	return C_SEP;
}

static void add_word(names_words *out, size_t *used, const char *s, size_t n, int flags)
{
	char *dst;

	if (!n)
		return;
	if (cls((unsigned char)s[0]) == C_DIGIT && !(flags & NAMES_DIGITS))
		return;
	if (out->n == NAMES_MAX_WORDS || *used + n > NAMES_MAX_BYTES) {
		out->truncated = 1;
		return;
	}
	dst = out->buf + *used + out->n;  /* one NUL per word before this one */
	for (size_t i = 0; i < n; i++)
		dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	dst[n] = 0;
	out->w[out->n] = dst;
	out->len[out->n] = n;
	out->n++;
	*used += n;
}

void names_split(const char *name, size_t len, int flags, names_words *out)
{
	size_t used = 0, start = 0, i = 0;

	out->n = 0;
	out->truncated = 0;
	while (i < len) {
		int c = cls((unsigned char)name[i]);

		if (c == C_SEP) {
			add_word(out, &used, name + start, i - start, flags);
			start = ++i;
			continue;
		}
		if (i > start) {
			int p = cls((unsigned char)name[i - 1]);
			int cut = 0;

			if ((p == C_DIGIT) != (c == C_DIGIT))
				cut = 1;                        /* letters | digits */
			else if (p == C_LOWER && c == C_UPPER)
				cut = 1;                        /* getConfig */
			if (cut) {
				add_word(out, &used, name + start, i - start, flags);
				start = i;
			}
		}
		if (c == C_UPPER) {
			/* A run of capitals: "HTTPServer" splits before the last
			 * capital when lower case follows, except a lone plural
			 * "s" at the end of the word ("URLs"). */
			size_t j = i;

			while (j < len && cls((unsigned char)name[j]) == C_UPPER)
				j++;
			if (j - i >= 2 && j < len && cls((unsigned char)name[j]) == C_LOWER) {
				int plural = name[j] == 's' &&
					     (j + 1 == len || cls((unsigned char)name[j + 1]) != C_LOWER);

				if (!plural && j - 1 > start) {
					add_word(out, &used, name + start, j - 1 - start, flags);
					start = j - 1;
				}
			}
			i = j;
			continue;
		}
		i++;
	}
	add_word(out, &used, name + start, len - start, flags);
}

size_t names_join(const names_words *w, char sep, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n; i++) {
		if (i && sep) {
			if (n + 1 < cap)
				out[n] = sep;
			n++;
		}
		for (size_t k = 0; k < w->len[i]; k++, n++)
			if (n + 1 < cap)
				out[n] = w->w[i][k];
	}
	if (cap)
		out[n < cap ? n : cap - 1] = 0;
	return n;
}
