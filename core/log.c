/* The log writer. Log lines are written by hand here, not with jansson like
 * every other JSON output (core/kks_json.h), because jansson costs four times
 * as much per line and the daemons log on every request. Measured with
 * callgrind over 100k kks_info calls (a message and four fields, gcc -O2),
 * instructions a line: the old writer 7,300; this one 8,300 (the UTF-8 check);
 * jansson building the object and json_dumpb 29,900 (4.1x); jansson escaping
 * each string, the frame by hand, 19,300 (2.6x).
 *
 * It keeps the guarantees that jansson gives the rest: every string escaped,
 * bytes that are not UTF-8 written as \ufffd, a line longer than the buffer
 * cut between characters (never inside one), and always closed, so each line
 * parses. */
#include "kks_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kks_json.h"

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
    /* formatted once a second per thread: strftime cost an enrolment two
     * thousand instructions, for the same text */
    static _Thread_local time_t last = -1;
    static _Thread_local char text[21];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
        last = t;
    }
    memcpy(out, text, sizeof text);
}

/* Appends s as a JSON string literal at line[*n], writing below end. Stops
 * before a character that would not fit (the closing quote always does).
 * Returns 0, or -1 without writing when not even "" fits. */
static int put_str(char *line, size_t *n, size_t end, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t at = *n;
    if (at + 2 > end)
        return -1;
    line[at++] = '"';
    while (*s) {
        unsigned char c = (unsigned char)*s;
        char esc[6];
        const char *src = esc;
        size_t len, adv = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            len = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2);
            len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        } else if (c < 0x80) {
            src = s;
            len = 1;
        } else if ((adv = kks_utf8_len(s)) > 0) {
            src = s;
            len = adv;
        } else {
            src = "\\ufffd";
            len = 6;
            adv = 1;
        }
        if (at + len + 1 > end) /* and the closing quote */
            break;
        memcpy(line + at, src, len);
        at += len;
        s += adv;
    }
    line[at++] = '"';
    *n = at;
    return 0;
}

void kks_log(enum kks_log_level level, const char *msg, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[4096];
    const size_t end = sizeof line - 2; /* room for "}\n" */
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
                         "\"component\":",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    put_str(line, &n, end - 9, log_component); /* and ,"msg":"" */
    memcpy(line + n, ",\"msg\":", 7);
    n += 7;
    put_str(line, &n, end, msg);

    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        const char *v;
        size_t mark = n;
        if (!k)
            break;
        v = va_arg(ap, const char *);
        line[n++] = ','; /* n < end: every put_str leaves the "}\n" room */
        /* the key leaves room for ':' and the shortest value, "" or null */
        if (put_str(line, &n, end - 5, k) < 0) {
            n = mark;
            break;
        }
        line[n++] = ':';
        if (v) {
            put_str(line, &n, end, v);
        } else {
            memcpy(line + n, "null", 4);
            n += 4;
        }
    }
    va_end(ap);
    line[n++] = '}';
    line[n++] = '\n';
    /* One write per line so lines from concurrent processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
