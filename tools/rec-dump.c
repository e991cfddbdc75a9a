/* rec-dump: records to JSON Lines, and JSON Lines back to records (-r).
 *
 * Typed-array fields named in fields.h (tok, emb, prefix, ...) print as
 * JSON arrays of numbers; any other bin prints as {"$bin": "<base64>"}.
 * -r reverses both, so `rec-dump | jq ... | rec-dump -r` edits a stream. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rec.h"

static const char usage_text[] =
	"usage: rec-dump [-f] [-n N] [FILE...]\n"
	"       rec-dump -r [-f] [-z] [FILE...]\n"
	"Print asmname records as JSON Lines, one object per record (-r: the reverse).\n"
	"  -n, --head N    stop after N records\n"
	"  -r, --reverse   read JSON Lines, write records\n"
	"  -z, --gzip      with -r: gzip the records\n"
	"  -f, --force     with -r: write records even to a terminal\n"
	"  -h, --help      this text\n";

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(FILE *o, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		fputc(b64[v >> 18], o); fputc(b64[v >> 12 & 63], o);
		fputc(b64[v >> 6 & 63], o); fputc(b64[v & 63], o);
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);

		fputc(b64[v >> 18], o); fputc(b64[v >> 12 & 63], o);
		fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', o); fputc('=', o);
	}
}

/* Decode base64; -1 on a character outside the alphabet or a bad length. */
static int get_b64(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
	size_t o = 0;
	unsigned v = 0;
	int bits = 0;

	while (n && s[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++) {
		const char *c = strchr(b64, s[i]);

		if (!c || !s[i])
			return -1;
		v = v << 6 | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	if (n % 4 == 1)
		return -1;
	*outlen = o;
	return 0;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD (the dump is for
 * reading, and JSON cannot carry them). */
static void put_str(FILE *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', o);
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		int ok = len > 0 && i + len <= n;

		for (size_t k = 1; ok && k < len; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && len > 1) {
			unsigned cp = c & (0x7f >> len);

			for (size_t k = 1; k < len; k++)
				cp = cp << 6 | (p[i + k] & 0x3f);
			ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
			     !(len == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
			     !(cp >= 0xd800 && cp <= 0xdfff);
		}
		if (!ok) {
			fputs("\\ufffd", o);
			i++;
			continue;
		}
		if (len == 1) {
			switch (c) {
			case '"':  fputs("\\\"", o); break;
			case '\\': fputs("\\\\", o); break;
			case '\n': fputs("\\n", o); break;
			case '\t': fputs("\\t", o); break;
			case '\r': fputs("\\r", o); break;
			default:
				if (c < 0x20 || c == 0x7f)
					fprintf(o, "\\u%04x", c);
				else
					fputc((int)c, o);
			}
		} else {
			fwrite(p + i, 1, len, o);
		}
		i += len;
	}
	fputc('"', o);
}

/* The shortest text that reads back as the same value. */
static void put_double(FILE *o, double d, int single)
{
	char buf[40];

	if (!isfinite(d)) {
		fputs("null", o);   /* JSON has no NaN or infinity */
		return;
	}
	for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (single ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
			break;
	}
	fputs(buf, o);
}

static void put_obj(FILE *o, const msgpack_object *v);

static void put_typed(FILE *o, enum rec_dtype dt, const unsigned char *p, size_t nb)
{
	size_t es = rec_dtype_size(dt);

	fputc('[', o);
	for (size_t i = 0; i < nb / es; i++) {
		const unsigned char *q = p + i * es;

		if (i)
			fputc(',', o);
		if (dt == REC_DT_F32) {
			float f;
			uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;

			memcpy(&f, &u, 4);
			put_double(o, f, 1);
		} else if (dt == REC_DT_I32) {
			uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;

			fprintf(o, "%ld", (long)(int32_t)u);
		} else {
			uint64_t u = 0;

			for (int b = 7; b >= 0; b--)
				u = u << 8 | q[b];
			fprintf(o, "%llu", (unsigned long long)u);
		}
	}
	fputc(']', o);
}

static void put_obj(FILE *o, const msgpack_object *v)
{
	switch (v->type) {
	case MSGPACK_OBJECT_NIL:              fputs("null", o); break;
	case MSGPACK_OBJECT_BOOLEAN:          fputs(v->via.boolean ? "true" : "false", o); break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(o, "%llu", (unsigned long long)v->via.u64); break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(o, "%lld", (long long)v->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:          put_double(o, v->via.f64, 1); break;
	case MSGPACK_OBJECT_FLOAT64:          put_double(o, v->via.f64, 0); break;
	case MSGPACK_OBJECT_STR:              put_str(o, v->via.str.ptr, v->via.str.size); break;
	case MSGPACK_OBJECT_BIN:
		fputs("{\"$bin\":\"", o);
		put_b64(o, (const unsigned char *)v->via.bin.ptr, v->via.bin.size);
		fputs("\"}", o);
		break;
	case MSGPACK_OBJECT_EXT:
		fprintf(o, "{\"$ext\":%d,\"$bin\":\"", v->via.ext.type);
		put_b64(o, (const unsigned char *)v->via.ext.ptr, v->via.ext.size);
		fputs("\"}", o);
		break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', o);
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			if (i)
				fputc(',', o);
			put_obj(o, &v->via.array.ptr[i]);
		}
		fputc(']', o);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', o);
		for (uint32_t i = 0; i < v->via.map.size; i++) {
			const msgpack_object *k = &v->via.map.ptr[i].key;

			if (i)
				fputc(',', o);
			if (k->type == MSGPACK_OBJECT_STR) {
				put_str(o, k->via.str.ptr, k->via.str.size);
			} else {
				/* JSON keys are strings: write the key's JSON text as one */
				char *buf = NULL;
				size_t len = 0;
				FILE *m = open_memstream(&buf, &len);

				if (m) {
					put_obj(m, k);
					fclose(m);
					put_str(o, buf, len);
					free(buf);
				}
			}
			fputc(':', o);
			put_obj(o, &v->via.map.ptr[i].val);
		}
		fputc('}', o);
		break;
	}
}

static void dump_rec(FILE *o, const rec *r)
{
	fputc('{', o);
	for (size_t i = 0; i < r->n; i++) {
		const rec_field *f = &r->f[i];
		enum rec_dtype dt = rec_field_dtype(f->key, f->klen);

		if (i)
			fputc(',', o);
		put_str(o, f->key, f->klen);
		fputc(':', o);
		if (dt != REC_DT_NONE && f->val.type == MSGPACK_OBJECT_BIN &&
		    f->val.via.bin.size % rec_dtype_size(dt) == 0)
			put_typed(o, dt, (const unsigned char *)f->val.via.bin.ptr, f->val.via.bin.size);
		else
			put_obj(o, &f->val);
	}
	fputs("}\n", o);
}

static int dump(char **paths, int n, uint64_t head)
{
	static char obuf[1 << 16];
	cli_in in;
	rec r;
	an_err e;
	int status = CLI_OK, rc;
	uint64_t count = 0;

	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	rec_init(&r);
	cli_in_init(&in, paths, n);
	while (count < head && (rc = cli_in_next(&in, &r, &e)) != 0) {
		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		dump_rec(stdout, &r);
		count++;
		if (ferror(stdout))
			break;
	}
	cli_in_free(&in);
	rec_free(&r);
	if (fflush(stdout) || ferror(stdout)) {
		if (errno == EPIPE)
			return status;
		cli_die(CLI_DATA, "stdout: %s", strerror(errno));
	}
	return status;
}

/* ---- JSON Lines to records ---- */

static int from_json(msgpack_zone *z, const json_t *j, msgpack_object *o, an_err *e);

static int typed_from_json(rec *r, const char *key, enum rec_dtype dt, const json_t *a, an_err *e)
{
	size_t n = json_array_size(a), es = rec_dtype_size(dt);
	unsigned char *buf = malloc(n * es + 1);
	int rc = 0;

	if (!buf) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const json_t *x = json_array_get(a, i);
		unsigned char *q = buf + i * es;

		if (!json_is_number(x)) {
			an_err_set(e, "field \"%s\": element %zu is not a number", key, i);
			rc = -1;
		} else if (dt == REC_DT_F32) {
			float f = (float)json_number_value(x);

			memcpy(q, &f, 4);
		} else if (!json_is_integer(x)) {
			an_err_set(e, "field \"%s\": element %zu is not an integer", key, i);
			rc = -1;
		} else if (dt == REC_DT_I32) {
			json_int_t v = json_integer_value(x);
			int32_t w = (int32_t)v;

			if (v < INT32_MIN || v > INT32_MAX) {
				an_err_set(e, "field \"%s\": element %zu out of int32 range", key, i);
				rc = -1;
			}
			memcpy(q, &w, 4);
		} else {
			json_int_t v = json_integer_value(x);
			uint64_t w = (uint64_t)v;

			if (v < 0) {
				an_err_set(e, "field \"%s\": element %zu is negative", key, i);
				rc = -1;
			}
			memcpy(q, &w, 8);
		}
	}
	if (rc == 0) {
		if (dt == REC_DT_U64)
			rc = rec_set_u64v(r, key, (const uint64_t *)(void *)buf, n);
		else if (dt == REC_DT_I32)
			rc = rec_set_i32(r, key, (const int32_t *)(void *)buf, n);
		else
			rc = rec_set_f32(r, key, (const float *)(void *)buf, n);
		if (rc)
			an_err_set(e, "field \"%s\": out of memory", key);
	}
	free(buf);
	return rc;
}

static int bin_from_json(msgpack_zone *z, const json_t *j, msgpack_object *o, an_err *e)
{
	const json_t *b = json_object_get(j, "$bin"), *x = json_object_get(j, "$ext");
	size_t n = json_string_length(b), got;
	unsigned char *d = msgpack_zone_malloc(z, n + 1);

	if (!d || get_b64(json_string_value(b), n, d, &got)) {
		an_err_set(e, "\"$bin\" is not base64");
		return -1;
	}
	if (x) {
		if (!json_is_integer(x) || json_integer_value(x) < -128 || json_integer_value(x) > 127) {
			an_err_set(e, "\"$ext\" must be an integer from -128 to 127");
			return -1;
		}
		o->type = MSGPACK_OBJECT_EXT;
		o->via.ext.type = (int8_t)json_integer_value(x);
		o->via.ext.ptr = (const char *)d;
		o->via.ext.size = (uint32_t)got;
	} else {
		o->type = MSGPACK_OBJECT_BIN;
		o->via.bin.ptr = (const char *)d;
		o->via.bin.size = (uint32_t)got;
	}
	return 0;
}

static int is_bin_object(const json_t *j)
{
	const json_t *b = json_object_get(j, "$bin");
	size_t n = json_object_size(j);

	return json_is_object(j) && json_is_string(b) &&
	       (n == 1 || (n == 2 && json_object_get(j, "$ext")));
}

static int from_json(msgpack_zone *z, const json_t *j, msgpack_object *o, an_err *e)
{
	memset(o, 0, sizeof *o);
	switch (json_typeof(j)) {
	case JSON_NULL:  o->type = MSGPACK_OBJECT_NIL; return 0;
	case JSON_TRUE:  o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = true; return 0;
	case JSON_FALSE: o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = false; return 0;
	case JSON_REAL:  o->type = MSGPACK_OBJECT_FLOAT64; o->via.f64 = json_real_value(j); return 0;
	case JSON_INTEGER: {
		json_int_t v = json_integer_value(j);

		if (v < 0) {
			o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
			o->via.i64 = v;
		} else {
			o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
			o->via.u64 = (uint64_t)v;
		}
		return 0;
	}
	case JSON_STRING: {
		size_t n = json_string_length(j);
		char *d = msgpack_zone_malloc(z, n + 1);

		if (!d)
			goto nomem;
		memcpy(d, json_string_value(j), n);
		o->type = MSGPACK_OBJECT_STR;
		o->via.str.ptr = d;
		o->via.str.size = (uint32_t)n;
		return 0;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		msgpack_object *a = msgpack_zone_malloc(z, n * sizeof *a + 1);

		if (!a)
			goto nomem;
		for (size_t i = 0; i < n; i++)
			if (from_json(z, json_array_get(j, i), &a[i], e))
				return -1;
		o->type = MSGPACK_OBJECT_ARRAY;
		o->via.array.ptr = a;
		o->via.array.size = (uint32_t)n;
		return 0;
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(j), i = 0;
		msgpack_object_kv *kv;
		const char *k;
		json_t *v;

		if (is_bin_object(j))
			return bin_from_json(z, j, o, e);
		if (!(kv = msgpack_zone_malloc(z, n * sizeof *kv + 1)))
			goto nomem;
		json_object_foreach((json_t *)j, k, v) {
			size_t kl = strlen(k);
			char *d = msgpack_zone_malloc(z, kl + 1);

			if (!d)
				goto nomem;
			memcpy(d, k, kl);
			kv[i].key.type = MSGPACK_OBJECT_STR;
			kv[i].key.via.str.ptr = d;
			kv[i].key.via.str.size = (uint32_t)kl;
			if (from_json(z, v, &kv[i].val, e))
				return -1;
			i++;
		}
		o->type = MSGPACK_OBJECT_MAP;
		o->via.map.ptr = kv;
		o->via.map.size = (uint32_t)i;
		return 0;
	}
	}
nomem:
	an_err_set(e, "out of memory");
	return -1;
}

static int line_to_rec(const char *line, size_t len, rec *r, msgpack_zone *z, an_err *e)
{
	json_error_t je;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	const char *k;
	json_t *v;
	int rc = 0;

	if (!j) {
		an_err_set(e, "column %d: %s", je.column, je.text);
		return -1;
	}
	if (!json_is_object(j)) {
		an_err_set(e, "expected a JSON object");
		json_decref(j);
		return -1;
	}
	rec_clear(r);
	msgpack_zone_clear(z);
	json_object_foreach(j, k, v) {
		enum rec_dtype dt = rec_field_dtype(k, strlen(k));
		msgpack_object o;

		if (dt != REC_DT_NONE && json_is_array(v)) {
			rc = typed_from_json(r, k, dt, v, e);
		} else if ((rc = from_json(z, v, &o, e)) == 0 && rec_set_obj(r, k, &o)) {
			an_err_set(e, "out of memory");
			rc = -1;
		} else if (rc) {
			an_err_prefix(e, "field \"%s\"", k);
		}
		if (rc)
			break;
	}
	json_decref(j);
	return rc;
}

static int reverse(char **paths, int n, int gz)
{
	char *stdin_only[] = { "-" };
	char *line = NULL;
	size_t cap = 0;
	rec r;
	an_err e;
	msgpack_zone *z = msgpack_zone_new(8192);
	rec_writer *w = rec_writer_fd(1, gz ? 6 : 0, &e);
	int status = CLI_OK;

	if (!w || !z)
		cli_die(CLI_DATA, "%s", w ? "out of memory" : e.msg);
	if (n == 0) {
		paths = stdin_only;
		n = 1;
	}
	rec_init(&r);
	for (int i = 0; i < n; i++) {
		const char *name = strcmp(paths[i], "-") ? paths[i] : "<stdin>";
		FILE *f = strcmp(paths[i], "-") ? fopen(paths[i], "r") : stdin;
		ssize_t got;
		unsigned long lineno = 0;

		if (!f) {
			cli_warn("%s: %s", paths[i], strerror(errno));
			status = CLI_DATA;
			continue;
		}
		while ((got = getline(&line, &cap, f)) >= 0) {
			size_t len = (size_t)got;

			lineno++;
			while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				len--;
			if (strspn(line, " \t") == len)
				continue;
			if (line_to_rec(line, len, &r, z, &e)) {
				cli_warn("%s: line %lu: %s", name, lineno, e.msg);
				status = CLI_DATA;
				continue;
			}
			if (rec_write(w, &r, &e))
				cli_write_failed(&e);
		}
		if (ferror(f)) {
			cli_warn("%s: %s", name, strerror(errno));
			status = CLI_DATA;
		}
		if (f != stdin)
			fclose(f);
	}
	if (rec_writer_close(w, &e))
		cli_write_failed(&e);
	free(line);
	rec_free(&r);
	msgpack_zone_free(z);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "head",    required_argument, NULL, 'n' },
		{ "reverse", no_argument,       NULL, 'r' },
		{ "gzip",    no_argument,       NULL, 'z' },
		{ "force",   no_argument,       NULL, 'f' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t head = UINT64_MAX;
	int c, rev = 0, gz = 0, force = 0;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "n:rzfh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': head = cli_opt_u64("--head", optarg, 0, UINT64_MAX); break;
		case 'r': rev = 1; break;
		case 'z': gz = 1; break;
		case 'f': force = 1; break;
		case 'h': fputs(usage_text, stdout); return CLI_OK;
		default:  fputs(usage_text, stderr); return CLI_USAGE;
		}
	}
	if (rev) {
		cli_check_stdout(force);
		return reverse(argv + optind, argc - optind, gz);
	}
	return dump(argv + optind, argc - optind, head);
}
