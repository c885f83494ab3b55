#include "kks_cli.h"

#include <getopt.h>
#include <string.h>

#include "kks_err.h"
#include "kks_json.h"

const char *kks_cli_exit_name(int code)
{
    static const char *const names[] = {"done", "declined", "usage error", "cannot reach a peer",
                                        "internal error"};
    return names[code >= 0 && code <= KKS_EXIT_INTERNAL ? code : KKS_EXIT_INTERNAL];
}

void kks_cli_bad_option(int ret, char **argv, char *out, size_t cap)
{
    const char *s = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "?";
    size_t n = strcspn(s, "=");
    if (ret == ':')
        snprintf(out, cap, "option %.*s needs a value", (int)(n < 40 ? n : 40), s);
    else
        snprintf(out, cap, "unknown option %.*s", (int)(n < 40 ? n : 40), s);
}

void kks_cli_keep(char *said, size_t cap, const char *prefix, const char *fmt, va_list ap)
{
    char buf[512];
    const char *s = buf;
    va_list copy;
    if (said[0])
        return;
    va_copy(copy, ap);
    vsnprintf(buf, sizeof buf, fmt, copy);
    va_end(copy);
    s += strspn(s, "\r\n");
    if (strncmp(s, prefix, strlen(prefix)) == 0)
        s += strlen(prefix);
    snprintf(said, cap, "%.*s", (int)strcspn(s, "\n"), s);
}

int kks_cli_error_set(json_t **o, const char *msg, int exit_code)
{
    kks_json_set(o, "error", kks_json_str(msg));
    return *o ? kks_json_set(o, "exit", json_integer(exit_code)) : KKS_ENOMEM;
}

int kks_cli_error_json(FILE *f, const char *msg, int exit_code)
{
    json_t *o = json_object();
    if (!o || kks_cli_error_set(&o, msg, exit_code) < 0)
        return KKS_ENOMEM;
    return kks_json_print(f, o);
}
