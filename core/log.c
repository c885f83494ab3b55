/* The log writer. Log lines are written by hand here, not with jansson like
 * every other JSON output (core/kks_json.h), because jansson costs four times
 * as much per line and the daemons log on every request. Measured with
 * callgrind over 100k kks_info calls (a message and four fields, gcc -O2),
 * instructions a line: the old writer 7,300; this one 8,300 (the UTF-8 check);
 * jansson building the object and json_dumpb 29,900 (4.1x); jansson escaping
 * each string, the frame by hand, 19,300 (2.6x). Since then, the switch's
 * "txn" line (a message and six fields, 100k lines, held and written 30 at a
 * time): 8,929 -> 2,520 instructions, with the time formatted once a second
 * and runs of plain ASCII copied whole.
 *
 * It keeps the guarantees that jansson gives the rest: every string escaped,
 * bytes that are not UTF-8 written as \ufffd, a line longer than the buffer
 * cut between characters (never inside one), and always closed, so each line
 * parses. */
#include "kks_log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The bytes a JSON string holds as they are: printable ASCII but the quote
 * and the backslash. */
static inline int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
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
        if (plain(c)) { /* a run of them, copied at once */
            for (len = 1; plain((unsigned char)s[len]); len++)
                ;
            if (at + len + 1 > end)
                len = end - at - 1;
            adv = len;
            src = s;
        } else if (c == '"' || c == '\\') {
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
        } else if ((adv = kks_utf8_len(s)) > 0) {
            src = s;
            len = adv;
        } else {
            src = "\\ufffd";
            len = 6;
            adv = 1;
        }
        if (len == 0 || at + len + 1 > end) /* and the closing quote */
            break;
        memcpy(line + at, src, len);
        at += len;
        s += adv;
    }
    line[at++] = '"';
    *n = at;
    return 0;
}

/* Lines held by this thread (kks_log_hold), written at kks_log_flush. */
#define HELD_MAX (64 * 1024)
static _Thread_local struct {
    int on;
    size_t len;
    char buf[HELD_MAX];
} *held;

/* Whole lines, written with as few calls as a pipe keeps whole: at most
 * PIPE_BUF bytes a call (a line is at most 4 KiB), each ending a line, so that
 * lines from concurrent processes sharing the stream do not interleave; a
 * short write goes on where it stopped. */
static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        size_t k = n;
        if (k > PIPE_BUF) {
            k = PIPE_BUF;
            while (k > 0 && p[k - 1] != '\n')
                k--;
            if (k == 0)
                k = n < 4096 ? n : 4096; /* one line longer than PIPE_BUF */
        }
        ssize_t w = write(STDERR_FILENO, p, k);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to write a log: nothing to tell */
        p += w;
        n -= (size_t)w;
    }
}

void kks_log_flush(void)
{
    if (held && held->len) {
        write_all(held->buf, held->len);
        held->len = 0;
    }
}

void kks_log_hold(int on)
{
    if (!on) {
        kks_log_flush();
        if (held)
            held->on = 0;
        return;
    }
    if (!held) {
        static int registered;
        if (!(held = calloc(1, sizeof *held)))
            return; /* lines are then written one by one, as before */
        if (!registered && atexit(kks_log_flush) == 0)
            registered = 1;
    }
    held->on = 1;
}

void kks_log(enum kks_log_level level, const char *msg, ...)
{
    static const char *const levels[] = {
        "Z\",\"level\":\"debug\",\"component\":", "Z\",\"level\":\"info\",\"component\":",
        "Z\",\"level\":\"warn\",\"component\":", "Z\",\"level\":\"error\",\"component\":"};
    char line[4096];
    const size_t end = sizeof line - 2; /* room for "}\n" */
    size_t n;
    static _Thread_local time_t second = -1;
    static _Thread_local char second_text[64];
    struct timespec ts;
    int ms;
    va_list ap;

    if (level < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != second) { /* formatted once a second: printf was a third of a line */
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(second_text, sizeof second_text, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        second = ts.tv_sec;
    }
    n = strlen(second_text);
    memcpy(line, second_text, n);
    ms = (int)(ts.tv_nsec / 1000000);
    line[n++] = (char)('0' + ms / 100);
    line[n++] = (char)('0' + ms / 10 % 10);
    line[n++] = (char)('0' + ms % 10);
    memcpy(line + n, levels[level], strlen(levels[level]));
    n += strlen(levels[level]);
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
    if (held && held->on && level <= KKS_LOG_INFO) {
        if (held->len + n > sizeof held->buf)
            kks_log_flush();
        memcpy(held->buf + held->len, line, n);
        held->len += n;
        return;
    }
    kks_log_flush(); /* what came before, first */
    write_all(line, n);
}
