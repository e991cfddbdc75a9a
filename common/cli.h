/* cli.h: what every program does the same way: its name in messages,
 * checked number parsing, refusing binary output on a terminal, progress
 * on stderr, and walking its record inputs.
 *
 * Exit status everywhere: 0 ok, 1 runtime or data error, 2 usage. */
#ifndef ASMNAME_CLI_H
#define ASMNAME_CLI_H

#include <stdint.h>

#include "err.h"
#include "rec.h"

enum { CLI_OK = 0, CLI_DATA = 1, CLI_USAGE = 2 };

extern const char *cli_prog;

/* Record the program name and ignore SIGPIPE (a closed pipe becomes EPIPE,
 * which cli_write_failed treats as a normal end). */
void cli_init(const char *argv0);
/* "prog: message" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a failed rec_write/rec_writer_close: exit 0 quietly when the reader
 * went away (| head), else report and exit 1. */
_Noreturn void cli_write_failed(const an_err *e);
/* Exit 2 with "prog: binary records to a terminal; pipe them or use -f"
 * when stdout is a terminal and force is 0. */
void cli_check_stdout(int force);

/* Parse an unsigned number: decimal or 0x hex, with an optional K, M, G
 * suffix (powers of 1024).  -1 on anything else (empty, junk, overflow). */
int cli_parse_u64(const char *s, uint64_t *v);
/* The same for a double ("1e-5", "0.5"); -1 on junk, inf or nan. */
int cli_parse_f64(const char *s, double *v);
/* Parse the option's argument or exit 2 naming the option. */
uint64_t cli_opt_u64(const char *opt, const char *arg, uint64_t min, uint64_t max);
double cli_opt_f64(const char *opt, const char *arg, double min, double max);

/* Progress on stderr, at most every 0.5 s, only when stderr is a terminal
 * or `on` is forced (-v).  cli_progress_done ends the line. */
typedef struct cli_progress {
	int      on, shown;
	double   start, last;
	uint64_t n;
} cli_progress;
void cli_progress_init(cli_progress *p, int force);
void cli_progress_tick(cli_progress *p, uint64_t n, const char *what);
void cli_progress_done(cli_progress *p, const char *what);
double cli_now(void);

/* Walk the record inputs given as operands ("-" or none: stdin). */
typedef struct cli_in {
	char      **paths;
	int         n, i;
	rec_reader *rd;
	char       *stdin_only[2];
} cli_in;
void cli_in_init(cli_in *in, char **paths, int n);
/* 1: a record in r; 0: all inputs done; -1: this input failed (e says why,
 * naming it); the next call goes on with the next input. */
int  cli_in_next(cli_in *in, rec *r, an_err *e);
void cli_in_free(cli_in *in);

#endif
