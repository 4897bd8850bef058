/* Argument helpers every vdb command shares, so that each says the same
 * thing the same way: `--help`/`-h` prints the usage on stdout and exits 0;
 * a bad argument prints "vdb CMD: what is wrong" then the usage on stderr
 * and exits 2; numbers are parsed strictly (the whole text, in range).
 * Not thread-safe (they print); used from main's thread only. */
#ifndef VDB_CLI_CLI_ARGS_H
#define VDB_CLI_CLI_ARGS_H

#include <stdio.h>

/* 1 when arg is --help or -h, else 0; never fails. */
int vdb_cli_is_help(const char *arg);

/* Prints "vdb CMD: <reason>\n" and then usage, both on stderr; returns 2,
 * the usage-error exit status (not an error code). */
int vdb_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses text as a decimal integer in [min, max] into *out. On failure
 * prints why (not a number, out of range) with the usage and returns 2,
 * the usage-error exit status (not an error code); 0 on success. */
int vdb_cli_parse_uint(const char *cmd, const char *usage, const char *flag, const char *text,
                       unsigned long long min, unsigned long long max, unsigned long long *out);

/* The usage error for an argument a command does not take: "unknown
 * option" for a flag, "unexpected argument" otherwise. Returns 2, the
 * usage-error exit status (not an error code). */
int vdb_cli_unknown(const char *cmd, const char *usage, const char *arg);

/* Returns argv[*i + 1] and advances *i, or prints "FLAG needs a value" with
 * the usage and returns NULL. */
const char *vdb_cli_value(const char *cmd, const char *usage, int argc, char **argv, int *i);

#endif
