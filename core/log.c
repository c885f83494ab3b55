#include "kks_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "kks";
static enum kks_log_level log_min = KKS_LOG_INFO;

void kks_log_init(const char *component)
{
    log_component = component;
}

void kks_log_set_level(enum kks_log_level min)
{
    log_min = min;
}

void kks_utc_now(char out[21])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

size_t kks_json_escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap < 3) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    out[n++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t el = 0;
        if (c == '"' || c == '\\') {
            esc[el++] = '\\';
            esc[el++] = (char)c;
        } else if (c == '\n') {
            esc[el++] = '\\';
            esc[el++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        } else {
            esc[el++] = (char)c;
        }
        if (n + el + 2 > cap) /* room for closing quote and NUL */
            break;
        memcpy(out + n, esc, el);
        n += el;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

void kks_log(enum kks_log_level level, const char *msg, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[4096];
    size_t n;
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (size_t)snprintf(line, sizeof line,
                         "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                         "\"component\":\"%s\",\"msg\":",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000, names[level], log_component);
    n += kks_json_escape(line + n, sizeof line - n, msg);

    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        const char *v;
        if (!k)
            break;
        v = va_arg(ap, const char *);
        if (n + 8 >= sizeof line)
            break;
        line[n++] = ',';
        n += kks_json_escape(line + n, sizeof line - n - 2, k);
        line[n++] = ':';
        if (v)
            n += kks_json_escape(line + n, sizeof line - n - 2, v);
        else if (sizeof line - n > 6)
            n += (size_t)snprintf(line + n, sizeof line - n, "null");
    }
    va_end(ap);
    if (n + 3 > sizeof line)
        n = sizeof line - 3;
    line[n++] = '}';
    line[n++] = '\n';
    /* One write per line so lines from concurrent processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
