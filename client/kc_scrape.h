/* Reading a daemon's Prometheus metrics (its --metrics address) from a client:
 * one plain HTTP/1.1 GET /metrics over TCP on the caller's libuv loop, the
 * response read up to the server's close, then a few named series picked out
 * of it. kksctl credit-run samples the switch's memory and WAL with it.
 *
 * The response comes from the network: it is read into a buffer of at most
 * KC_SCRAPE_MAX bytes (more is an error, never a bigger buffer), and
 * kc_scrape_parse looks at no more than that. The parser does no I/O, so a
 * test and a fuzzer (fuzz/fuzz_scrape.c) give it any bytes. */
#ifndef KC_SCRAPE_H
#define KC_SCRAPE_H

#include <stddef.h>
#include <uv.h>

#define KC_SCRAPE_MAX (256u * 1024u) /* bytes of a response, head and body */
#define KC_SCRAPE_HEAD_MAX 4096      /* bytes of the head, up to its empty line */
#define KC_SCRAPE_LINE_MAX 512       /* a longer body line is skipped, not read */

/* Picks values out of a whole response (buf, len: any bytes, no NUL needed).
 * The response must be "HTTP/1.x 200 ..." with its head ended by an empty line
 * (CRLF or LF) within KC_SCRAPE_HEAD_MAX bytes, and len at most KC_SCRAPE_MAX.
 * For each names[i], values[i] becomes the value of the first sample line
 * "names[i] VALUE" (no labels; an optional timestamp after the value is
 * ignored) whose value is a finite number; a name not found leaves values[i]
 * as it was. Comment lines and lines over KC_SCRAPE_LINE_MAX bytes are
 * skipped. Returns how many names were found (0..n), or KKS_EPROTO (not an
 * HTTP 200 response, no end of head) or KKS_ETOOBIG (len over the bound). */
int kc_scrape_parse(const char *buf, size_t len, const char *const *names, double *values,
                    size_t n);

typedef struct kc_scrape kc_scrape;
/* status 0: buf and len hold the whole response (valid during the call only);
 * else a negative KKS_E* (KKS_ETOOBIG: over KC_SCRAPE_MAX; KKS_ETIMEDOUT;
 * KKS_ECONNREFUSED; KKS_EIO) with buf NULL. */
typedef void (*kc_scrape_cb)(void *ud, int status, const char *buf, size_t len);

/* Starts GET /metrics at addr (HOST:PORT) on loop, giving up after timeout_ms.
 * cb is called once, later on the loop, unless the scrape is cancelled first.
 * Returns 0 (with *out, valid until cb has run or kc_scrape_cancel), or
 * KKS_EADDR / KKS_ENOMEM / KKS_EIO without calling cb. */
int kc_scrape_start(uv_loop_t *loop, const char *addr, unsigned timeout_ms, kc_scrape_cb cb,
                    void *ud, kc_scrape **out);
/* Stops a scrape whose cb has not run yet: cb will not run; its handles
 * close and free themselves on the loop. */
void kc_scrape_cancel(kc_scrape *s);

#endif
