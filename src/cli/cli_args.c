/* Shared argument parsing of the vdb commands; see cli_args.h. */
#include "cli_args.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int vdb_cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int vdb_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vdb %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int vdb_cli_parse_uint(const char *cmd, const char *usage, const char *flag, const char *text,
                       unsigned long long min, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;
    /* strtoull accepts leading blanks and a sign ("-1" wraps to a huge
     * value); only plain digits are a count. */
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return vdb_cli_usage_error(cmd, usage, "%s '%s' is not a number", flag, text ? text : "");
    errno = 0;
    v = strtoull(text, &end, 10);
    if (*end != '\0')
        return vdb_cli_usage_error(cmd, usage, "%s '%s' is not a number", flag, text);
    if (errno == ERANGE || v < min || v > max)
        return vdb_cli_usage_error(cmd, usage, "%s %s is out of range (%llu..%llu)", flag, text,
                                   min, max);
    *out = v;
    return 0;
}

int vdb_cli_unknown(const char *cmd, const char *usage, const char *arg)
{
    return vdb_cli_usage_error(cmd, usage, "%s '%s'",
                               arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
}

const char *vdb_cli_value(const char *cmd, const char *usage, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        vdb_cli_usage_error(cmd, usage, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
