/* End to end: issuer and switch as real processes, talking mutual TLS. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kks_net.h"

#include "e2e_util.h"
#include "kks_err.h"
#include "kks_frame.h"

TestSuite(foundation, .init = e2e_setup, .fini = e2e_teardown, .timeout = 120);

static int ctl_ping(char **out, const char *pki, const char *sw, const char *issuer)
{
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)e2e_bin("kksctl");
    argv[n++] = "--pki";
    argv[n++] = (char *)pki;
    argv[n++] = "--json";
    argv[n++] = "ping";
    if (sw) {
        argv[n++] = "--switch";
        argv[n++] = (char *)sw;
    }
    if (issuer) {
        argv[n++] = "--issuer";
        argv[n++] = (char *)issuer;
    }
    argv[n] = NULL;
    return e2e_run(out, argv);
}

/* A ping straight to the peer with the operator's certificate works. */
static void assert_serving(const char *addr)
{
    SSL *ssl = e2e_tls_dial(addr, E.pki, "operator");
    cr_assert_not_null(ssl, "server at %s no longer serving", addr);
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__Ping ping = KKS__PING__INIT;
    req.id = 7;
    req.body_case = KKS__ENVELOPE__BODY_PING;
    req.ping = &ping;
    cr_assert_eq(e2e_send(ssl, &req), 0);
    rep = e2e_recv(ssl);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->id, 7);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
    kks__envelope__free_unpacked(rep, NULL);
    e2e_tls_close(ssl);
}

Test(foundation, ping_through_switch_and_issuer)
{
    char *out = NULL;
    e2e_start_issuer();
    e2e_start_switch();
    int rc = ctl_ping(&out, E.pki, E.switch_addr, E.issuer_addr);
    cr_assert_eq(rc, 0, "kksctl ping: %d %s", rc, out);
    cr_assert(strstr(out, "\"peer\":\"switch\""), "%s", out);
    cr_assert(strstr(out, "\"role\":\"switch\""), "%s", out);
    cr_assert(strstr(out, "\"role\":\"issuer\""), "%s", out);
    /* The switch answered for its issuer link: up, and it is our issuer. */
    char want[128];
    snprintf(want, sizeof want, "\"address\":\"%s\",\"bins\":\"\",\"default\":true,\"up\":true",
             E.issuer_addr);
    cr_assert(strstr(out, want), "no live link in: %s", out);
    free(out);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
}

Test(foundation, switch_reports_and_recovers_a_lost_issuer_link)
{
    char *out = NULL, addr[64];
    e2e_start_issuer();
    e2e_start_switch();
    snprintf(addr, sizeof addr, "%s", E.issuer_addr);
    e2e_kill(E.issuer_pid);
    int rc = ctl_ping(&out, E.pki, E.switch_addr, NULL);
    cr_assert_eq(rc, 3, "a switch without its issuer must not look healthy: %s", out);
    cr_assert(strstr(out, "\"up\":false"), "%s", out);
    free(out);

    /* The issuer comes back on the same address: the switch reconnects. */
    char ready[400], db[400];
    snprintf(ready, sizeof ready, "%s/issuer2.ready", E.dir);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", addr, "--db", db, "--pki",
                    E.pki, "--ready-file", ready, NULL};
    E.issuer_pid = e2e_spawn("issuer2", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0);
    for (int i = 0; i < 100; i++) { /* backoff is at most 5 s */
        rc = ctl_ping(&out, E.pki, E.switch_addr, NULL);
        if (rc == 0)
            break;
        free(out);
        out = NULL;
        usleep(100000);
    }
    cr_assert_eq(rc, 0, "switch did not reconnect: %s", out ? out : "");
    free(out);
}

Test(foundation, refused_without_client_certificate)
{
    e2e_start_issuer();
    SSL *ssl = e2e_tls_dial(E.issuer_addr, E.pki, NULL);
    if (ssl) { /* TLS 1.3: the client may finish before the server refuses */
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        Kks__Ping ping = KKS__PING__INIT;
        req.id = 1;
        req.body_case = KKS__ENVELOPE__BODY_PING;
        req.ping = &ping;
        e2e_send(ssl, &req);
        cr_assert_null(e2e_recv(ssl), "a client with no certificate got an answer");
        e2e_tls_close(ssl);
    }
    assert_serving(E.issuer_addr);
    char *log = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/issuer.log", E.dir);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    log = e2e_slurp(path);
    cr_assert(strstr(log, "peer refused: tls handshake failed"), "%s", log);
    cr_assert(strstr(log, "\"peer\":\"127.0.0.1:"), "refusal not logged with the peer: %s", log);
    free(log);
}

Test(foundation, refused_with_certificate_from_another_ca)
{
    char other[400], *out = NULL;
    snprintf(other, sizeof other, "%s/other-pki", E.dir);
    char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "init", "--dir", other, NULL};
    cr_assert_eq(e2e_run(NULL, argv), 0);
    e2e_start_issuer();
    e2e_start_switch();
    /* Another CA's operator: both daemons refuse it. */
    cr_assert_eq(ctl_ping(&out, other, E.switch_addr, E.issuer_addr), 3, "%s", out);
    cr_assert_null(strstr(out, "\"ok\":true"), "%s", out);
    free(out);
    SSL *ssl = e2e_tls_dial(E.issuer_addr, other, "operator");
    if (ssl) {
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        Kks__Ping ping = KKS__PING__INIT;
        req.id = 1;
        req.body_case = KKS__ENVELOPE__BODY_PING;
        req.ping = &ping;
        e2e_send(ssl, &req);
        cr_assert_null(e2e_recv(ssl));
        e2e_tls_close(ssl);
    }
    assert_serving(E.issuer_addr);
    assert_serving(E.switch_addr);
}

Test(foundation, refused_with_the_wrong_role)
{
    char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id",
                    "EW-127101-0001", NULL};
    cr_assert_eq(e2e_run(NULL, argv), 0);
    e2e_start_issuer();
    /* A terminal talks to the switch, never to the issuer. */
    SSL *ssl = e2e_tls_dial(E.issuer_addr, E.pki, "terminals/EW-127101-0001");
    cr_assert_not_null(ssl);
    Kks__Envelope *rep = e2e_recv(ssl);
    cr_assert_not_null(rep, "the issuer should say why it refuses");
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ERROR);
    cr_assert_eq(rep->error->code, KKS_EPEERROLE);
    cr_assert(strstr(rep->error->message, "terminal"), "%s", rep->error->message);
    kks__envelope__free_unpacked(rep, NULL);
    cr_assert_null(e2e_recv(ssl), "connection stays open after refusal");
    e2e_tls_close(ssl);
    /* The issuer's own certificate is not an operator's either (issuer -> issuer). */
    ssl = e2e_tls_dial(E.issuer_addr, E.pki, "issuer");
    cr_assert_not_null(ssl);
    rep = e2e_recv(ssl);
    cr_assert(rep && rep->body_case == KKS__ENVELOPE__BODY_ERROR);
    kks__envelope__free_unpacked(rep, NULL);
    e2e_tls_close(ssl);
    assert_serving(E.issuer_addr);
}

/* Sends a bare 4-byte header and expects an Error with code, then a close. */
static void expect_refused_frame(const char *addr, const char *cred, const uint8_t *bytes,
                                 size_t n, int code)
{
    SSL *ssl = e2e_tls_dial(addr, E.pki, cred);
    cr_assert_not_null(ssl);
    cr_assert_eq(SSL_write(ssl, bytes, (int)n), (int)n);
    Kks__Envelope *rep = e2e_recv(ssl);
    cr_assert_not_null(rep, "no error reply");
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ERROR);
    cr_assert_eq(rep->error->code, code, "got %d (%s)", rep->error->code, rep->error->message);
    kks__envelope__free_unpacked(rep, NULL);
    cr_assert_null(e2e_recv(ssl), "connection not closed");
    e2e_tls_close(ssl);
}

Test(foundation, oversized_frame_closes_only_that_connection)
{
    uint8_t hdr[4];
    char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id",
                    "ATM-BNI-0001", NULL};
    cr_assert_eq(e2e_run(NULL, argv), 0);
    e2e_start_issuer();
    e2e_start_switch();
    /* A bystander connection, open before and after. */
    SSL *other = e2e_tls_dial(E.switch_addr, E.pki, "operator");
    cr_assert_not_null(other);

    kks_frame_header(hdr, KKS_FRAME_MAX + 1); /* terminals: 64 KiB cap */
    expect_refused_frame(E.switch_addr, "terminals/ATM-BNI-0001", hdr, 4, KKS_ETOOBIG);
    kks_frame_header(hdr, KKS_FRAME_MAX_BULK + 1); /* operators: 1 MiB cap */
    expect_refused_frame(E.switch_addr, "operator", hdr, 4, KKS_ETOOBIG);
    kks_frame_header(hdr, 0xffffffffu);
    expect_refused_frame(E.issuer_addr, "operator", hdr, 4, KKS_ETOOBIG);
    kks_frame_header(hdr, 0);
    expect_refused_frame(E.issuer_addr, "operator", hdr, 4, KKS_EEMPTYFRAME);

    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__Ping ping = KKS__PING__INIT;
    req.id = 99;
    req.body_case = KKS__ENVELOPE__BODY_PING;
    req.ping = &ping;
    cr_assert_eq(e2e_send(other, &req), 0);
    rep = e2e_recv(other);
    cr_assert(rep && rep->id == 99 && rep->body_case == KKS__ENVELOPE__BODY_PONG);
    kks__envelope__free_unpacked(rep, NULL);
    e2e_tls_close(other);
    assert_serving(E.switch_addr);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
}

Test(foundation, garbage_and_truncated_frames)
{
    e2e_start_issuer();
    /* Bytes that are not protobuf. */
    static const uint8_t junk[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_refused_frame(E.issuer_addr, "operator", junk, sizeof junk, KKS_EPROTO);

    /* A frame cut short, then the client goes away: the server just closes. */
    SSL *ssl = e2e_tls_dial(E.issuer_addr, E.pki, "operator");
    cr_assert_not_null(ssl);
    static const uint8_t part[] = {0, 0, 0, 50, 8, 1};
    cr_assert_eq(SSL_write(ssl, part, sizeof part), (int)sizeof part);
    e2e_tls_close(ssl);
    assert_serving(E.issuer_addr);

    /* A valid envelope with an id but no body gets an error reply, not a crash. */
    ssl = e2e_tls_dial(E.issuer_addr, E.pki, "operator");
    static const uint8_t nobody[] = {0, 0, 0, 2, 8, 5}; /* id = 5 */
    cr_assert_eq(SSL_write(ssl, nobody, sizeof nobody), (int)sizeof nobody);
    Kks__Envelope *rep = e2e_recv(ssl);
    cr_assert(rep && rep->id == 5 && rep->body_case == KKS__ENVELOPE__BODY_ERROR);
    kks__envelope__free_unpacked(rep, NULL);
    e2e_tls_close(ssl);
    char path[400];
    snprintf(path, sizeof path, "%s/issuer.log", E.dir);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    char *log = e2e_slurp(path);
    cr_assert(strstr(log, "connection closed inside a frame"), "%s", log);
    free(log);
}

/* A string that is not UTF-8 (protobuf-c does not check) is a protocol
 * error: refused, never stored or echoed back to a strict client. */
Test(foundation, strings_that_are_not_utf8_are_refused)
{
    e2e_start_issuer();
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    Kks__CardRequest cr = KKS__CARD_REQUEST__INIT;
    cr.op = "show";
    cr.pan = "5046\xff\xfe";
    env.id = 7;
    env.body_case = KKS__ENVELOPE__BODY_CARD_REQUEST;
    env.card_request = &cr;
    uint8_t frame[256];
    size_t n = kks__envelope__get_packed_size(&env);
    cr_assert(n + 4 <= sizeof frame);
    kks__envelope__pack(&env, frame + 4);
    frame[0] = (uint8_t)(n >> 24), frame[1] = (uint8_t)(n >> 16);
    frame[2] = (uint8_t)(n >> 8), frame[3] = (uint8_t)n;
    expect_refused_frame(E.issuer_addr, "operator", frame, n + 4, KKS_EPROTO);
    assert_serving(E.issuer_addr);
}

Test(foundation, many_requests_in_flight_on_one_connection)
{
    e2e_start_issuer();
    e2e_start_switch();
    SSL *ssl = e2e_tls_dial(E.switch_addr, E.pki, "operator");
    cr_assert_not_null(ssl);
    Kks__Ping ping = KKS__PING__INIT;
    for (uint64_t id = 1; id <= 50; id++) {
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        req.id = id * 1000;
        req.body_case = KKS__ENVELOPE__BODY_PING;
        req.ping = &ping;
        cr_assert_eq(e2e_send(ssl, &req), 0);
    }
    uint64_t seen = 0;
    for (int i = 0; i < 50; i++) {
        Kks__Envelope *rep = e2e_recv(ssl);
        cr_assert_not_null(rep);
        cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
        cr_assert_eq(rep->id % 1000, 0);
        seen += rep->id / 1000;
        kks__envelope__free_unpacked(rep, NULL);
    }
    cr_assert_eq(seen, 50 * 51 / 2, "every id answered once");
    e2e_tls_close(ssl);
}

Test(foundation, sigterm_exits_zero)
{
    e2e_start_issuer();
    e2e_start_switch();
    SSL *ssl = e2e_tls_dial(E.switch_addr, E.pki, "operator"); /* an open connection */
    cr_assert_not_null(ssl);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    e2e_tls_close(ssl);
}

/* The daemons hold keys: no core file whatever the ulimit they inherit. */
static void assert_no_core(pid_t pid)
{
    char path[64], line[256];
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Max core file size", 18) == 0) {
            unsigned long long soft, hard;
            cr_assert_eq(sscanf(line + 18, "%llu %llu", &soft, &hard), 2, "%s", line);
            cr_assert_eq(soft, 0);
            cr_assert_eq(hard, 0);
            found = 1;
        }
    fclose(f);
    cr_assert(found);
}

Test(foundation, daemons_make_no_core_dumps)
{
    e2e_start_issuer();
    e2e_start_switch();
    assert_no_core(E.issuer_pid);
    assert_no_core(E.switch_pid);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
}

Test(foundation, bad_flags_are_usage_errors)
{
    char *argv1[] = {(char *)e2e_bin("kks-issuer"), "--listen", "127.0.0.1:0", NULL};
    cr_assert_eq(e2e_run(NULL, argv1), 2);
    char *argv2[] = {(char *)e2e_bin("kks-switch"), "--listen", "nonsense", "--db", "x.db",
                     "--pki", E.pki, "--issuer", "127.0.0.1:1", NULL};
    cr_assert_eq(e2e_run(NULL, argv2), 2);
    char *argv3[] = {(char *)e2e_bin("kksctl"), "pki", "init", "--dir", E.pki, NULL};
    cr_assert_eq(e2e_run(NULL, argv3), 2, "pki init over an existing PKI must refuse");
    char *argv4[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id",
                     "../../etc/x", NULL};
    cr_assert_eq(e2e_run(NULL, argv4), 2);
    char *out = NULL;
    cr_assert_eq(ctl_ping(&out, E.pki, NULL, "127.0.0.1:1"), 3, "unreachable peer: %s", out);
    free(out);
}

Test(foundation, metrics_in_prometheus_text)
{
    char ready[400], db[400], logp[400], addr[64];
    snprintf(ready, sizeof ready, "%s/im.ready", E.dir);
    snprintf(db, sizeof db, "%s/im.db", E.dir);
    snprintf(logp, sizeof logp, "%s/im.log", E.dir);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", "127.0.0.1:0", "--db", db, "--pki",
                    E.pki, "--ready-file", ready, "--metrics", "127.0.0.1:0", NULL};
    pid_t pid = e2e_spawn("im", argv);
    cr_assert_eq(e2e_wait_ready(ready, pid, addr, sizeof addr), 0);
    assert_serving(addr);
    /* The metrics address is logged ("metrics listening") before the ready file. */
    char *log = e2e_slurp(logp), *m = strstr(log, "\"msg\":\"metrics listening\",\"addr\":\"");
    cr_assert_not_null(m, "%s", log);
    char maddr[64];
    cr_assert_eq(sscanf(m + strlen("\"msg\":\"metrics listening\",\"addr\":\""), "%63[^\"]", maddr),
                 1);
    free(log);
    struct sockaddr_storage sa;
    cr_assert_eq(kks_addr_parse(maddr, &sa), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in)), 0);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char buf[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    cr_assert(strstr(buf, "HTTP/1.1 200 OK"), "%s", buf);
    cr_assert(strstr(buf, "# TYPE kks_connections_accepted_total counter"), "%s", buf);
    cr_assert(strstr(buf, "\nkks_requests_total 1\n"), "one ping so far: %s", buf);
    cr_assert_eq(e2e_stop(pid), 0);
}
