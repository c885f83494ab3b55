/* Core pieces without processes: error table, log lines, addresses,
 * terminal IDs, the PKI, envelope peeking, and client/server over mutual TLS
 * in one loop (frame caps per peer, replies flushed before a refusal). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_frame.h"
#include "kks_json.h"
#include "kks_log.h"
#include "kks_net.h"
#include "kks_pki.h"
#include "kks_sort.h"
#include "rmtree.h"

Test(err, every_code_has_a_message_and_name)
{
    cr_assert_str_eq(kks_strerror(KKS_ETOOBIG), "frame longer than the cap");
    cr_assert_str_eq(kks_errname(KKS_EPEERROLE), "KKS_EPEERROLE");
    for (int c = -1; c >= KKS_EUNEXPECTED; c--) {
        cr_assert_str_neq(kks_strerror(c), "unknown error", "code %d", c);
        cr_assert_str_neq(kks_errname(c), "KKS_EUNKNOWN", "code %d", c);
    }
    cr_assert_str_eq(kks_strerror(-999), "unknown error");
}

/* What kks_log writes on stderr during fn(). */
static char *log_of(void (*fn)(void))
{
    static char buf[131072];
    FILE *f = tmpfile();
    int saved = dup(2);
    size_t n;
    cr_assert(f && saved >= 0);
    dup2(fileno(f), 2);
    fn();
    dup2(saved, 2);
    close(saved);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* One line, parsed strictly; fails the test with jansson's line and column. */
static json_t *log_line(const char *text)
{
    json_error_t err;
    json_t *v;
    cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line: %s", text);
    v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(v, "%s at %d:%d in %s", err.text, err.line, err.column, text);
    return v;
}

static void log_awkward(void)
{
    kks_log_init("kks-test");
    kks_info("a\"b\\c\nd\x01", "name", "Jos\xE9 \xC3\xA9", "ctl", "\t\x7f/", "gone", NULL);
}

static char long_value[5000];

static void log_long(void)
{
    kks_warn("long", "a", long_value, "b", "never written");
}

Test(log, lines_are_json_with_every_string_escaped)
{
    const char *out = log_of(log_awkward);
    json_t *v = log_line(out);
    cr_assert(strstr(out, "\"level\":\"info\",\"component\":\"kks-test\",\"msg\":"
                          "\"a\\\"b\\\\c\\nd\\u0001\",\"name\":"), "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(v, "msg")), "a\"b\\c\nd\x01");
    cr_assert_str_eq(json_string_value(json_object_get(v, "name")), "Jos\xEF\xBF\xBD \xC3\xA9",
                     "the stray Latin-1 byte is U+FFFD, the real UTF-8 kept");
    cr_assert_str_eq(json_string_value(json_object_get(v, "ctl")), "\t\x7f/");
    cr_assert(json_is_null(json_object_get(v, "gone")));
    json_decref(v);
}

Test(log, a_long_line_is_cut_between_characters_and_closed)
{
    /* 2-byte characters, so a cut at a byte count would split one */
    for (size_t i = 0; i + 2 < sizeof long_value; i += 2)
        memcpy(long_value + i, "\xC3\xA9", 2);
    kks_log_init("kks-test");
    const char *out = log_of(log_long);
    json_t *v = log_line(out); /* json_loads refuses a split character */
    const char *a = json_string_value(json_object_get(v, "a"));
    cr_assert_leq(strlen(out), 4096);
    cr_assert_not_null(a);
    cr_assert_gt(strlen(a), 3000);
    cr_assert_eq(strncmp(a, long_value, strlen(a)), 0, "a prefix of the value");
    cr_assert_null(json_object_get(v, "b"), "no room left for the next field");
    json_decref(v);
}

/* The log of the fn of log_held, as it stands at each of its marks. */
static char held_at[3][2048];

static void held_mark(int i)
{
    char buf[2048];
    ssize_t n = pread(2, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    memcpy(held_at[i], buf, sizeof buf);
}

static void log_held(void)
{
    kks_log_hold(1);
    kks_info("one", "k", "v");
    kks_info("two");
    held_mark(0); /* nothing yet */
    kks_warn("three");
    held_mark(1); /* one, two, three: in order */
    kks_info("four");
    kks_log_flush();
    held_mark(2);
    kks_info("five");
    kks_log_hold(0); /* writes five */
    kks_info("six"); /* at once */
    kks_log_hold(1);
    for (int i = 0; i < 300; i++) /* 300 lines, many times PIPE_BUF: written in whole lines */
        kks_info("many", "i", "0123456789012345678901234567890123456789012345678901234567890123");
    kks_log_hold(0);
}

/* Held lines (kks_log_hold, a daemon's loop): written together at a flush,
 * or before a warning, in the order they were logged, and never lost. */
Test(log, held_lines_are_written_at_a_flush_or_before_a_warning_in_order)
{
    kks_log_init("kks-test");
    const char *out = log_of(log_held);
    const char *msg[] = {"one", "two", "three", "four", "five", "six"};
    const char *at = out;
    cr_assert_str_eq(held_at[0], "");
    cr_assert(strstr(held_at[1], "\"msg\":\"one\",\"k\":\"v\"}\n") &&
                  strstr(held_at[1], "\"msg\":\"two\"") && strstr(held_at[1], "\"msg\":\"three\"") &&
                  !strstr(held_at[1], "four"),
              "%s", held_at[1]);
    cr_assert(strstr(held_at[2], "\"msg\":\"four\"") && !strstr(held_at[2], "five"), "%s",
              held_at[2]);
    for (int i = 0; i < 306; i++) {
        char want[32];
        const char *nl = strchr(at, '\n');
        cr_assert_not_null(nl, "line %d missing: %s", i, out);
        snprintf(want, sizeof want, "\"msg\":\"%s\"", i < 6 ? msg[i] : "many");
        cr_assert(strstr(at, want) && strstr(at, want) < nl, "line %d is not %s: %s", i, want,
                  out);
        char *line = strndup(at, (size_t)(nl - at + 1));
        json_decref(log_line(line));
        free(line);
        at = nl + 1;
    }
    cr_assert_str_eq(at, "");
}

Test(addr, parse_forms)
{
    struct sockaddr_storage sa;
    char buf[64];
    cr_assert_eq(kks_addr_parse("127.0.0.1:0", &sa), 0);
    cr_assert_eq(kks_addr_parse("localhost:8080", &sa), 0);
    kks_addr_format((struct sockaddr *)&sa, buf, sizeof buf);
    cr_assert_str_eq(buf, "127.0.0.1:8080");
    cr_assert_eq(kks_addr_parse("[::1]:443", &sa), 0);
    kks_addr_format((struct sockaddr *)&sa, buf, sizeof buf);
    cr_assert_str_eq(buf, "[::1]:443");
    const char *bad[] = {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "1.2.3.4:-1",
                         "1.2.3.4:80x", "[::1]443", "host.example:80", "999.1.1.1:1", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_eq(kks_addr_parse(bad[i], &sa), KKS_EADDR, "%s", bad[i]);
    cr_assert_eq(kks_addr_parse(NULL, &sa), KKS_EADDR);
}

Test(pki, terminal_ids)
{
    const char *good[] = {"EW-127101-0001", "ATM-BNI-0001", "BR-MEDAN-01", NULL};
    const char *bad[] = {"EW-", "POS-1", "EW-abc", "EW-12/34", "../EW-1", "EW-1 2",
                         "EW-12345678901234567890123456789012345678", NULL};
    for (int i = 0; good[i]; i++)
        cr_assert(kks_terminal_id_valid(good[i]), "%s", good[i]);
    for (int i = 0; bad[i]; i++)
        cr_assert_not(kks_terminal_id_valid(bad[i]), "%s", bad[i]);
}

/* ---- one loop, one server, clients ---- */

/* ---- envelopes, without sockets ---- */

static size_t pack(Kks__Envelope *e, uint8_t *buf)
{
    cr_assert_leq(kks__envelope__get_packed_size(e), 256);
    return kks__envelope__pack(e, buf);
}

Test(envelope, peek_finds_the_body_after_any_id)
{
    Kks__Envelope e = KKS__ENVELOPE__INIT;
    Kks__TxnReply tr = KKS__TXN_REPLY__INIT;
    uint8_t buf[256];
    size_t n, off = 99;
    tr.rc = "96";
    e.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    e.txn_reply = &tr;
    const uint64_t ids[] = {0, 1, 127, 128, 300, UINT64_MAX};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        e.id = ids[i];
        n = pack(&e, buf);
        cr_assert_eq(kks_envelope_peek(buf, n, &off), KKS__ENVELOPE__BODY_TXN_REPLY, "id %zu", i);
        e.id = 7;
        uint8_t other[256];
        size_t m = pack(&e, other), off2;
        kks_envelope_peek(other, m, &off2);
        cr_assert_eq(n - off, m - off2, "the body is the same whatever the id");
        cr_assert_eq(memcmp(buf + off, other + off2, n - off), 0);
    }
    cr_assert_str_eq(kks_envelope_kind(KKS__ENVELOPE__BODY_TXN_REPLY), "txn_reply");
    cr_assert_str_eq(kks_envelope_kind(KKS__ENVELOPE__BODY_CREDIT_RESULT), "credit_result");
    cr_assert_str_eq(kks_envelope_kind(0), "unknown");
    cr_assert_str_eq(kks_envelope_kind(999), "unknown");
}

Test(envelope, peek_refuses_what_is_not_an_envelope)
{
    const uint8_t empty[1] = {0}, only_id[] = {0x08, 0x05}, cut_id[] = {0x08, 0x80},
                  varint_body[] = {0x08, 0x01, 0x10, 0x01}, huge_field[] = {0xfa, 0xff, 0xff, 0x7f};
    cr_assert_eq(kks_envelope_peek(empty, 0, NULL), 0);
    cr_assert_eq(kks_envelope_peek(only_id, sizeof only_id, NULL), 0);
    cr_assert_eq(kks_envelope_peek(cut_id, sizeof cut_id, NULL), 0);
    cr_assert_eq(kks_envelope_peek(varint_body, sizeof varint_body, NULL), 0, "not a message");
    cr_assert_eq(kks_envelope_peek(huge_field, sizeof huge_field, NULL), 0);
}

static char dir[64];
static uv_loop_t loop;
static SSL_CTX *server_ctx, *op_ctx, *sw_ctx;
static kks_server *srv;
static kks_conn *held_conn;
static uint64_t held_id;

/* Error body: held, answered by the test; CardRequest with op N: a Pong
 * whose version is N bytes long; anything else: a Pong. */
static void on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Pong pong = KKS__PONG__INIT;
    char *big = NULL;
    if (req->body_case == KKS__ENVELOPE__BODY_ERROR) { /* "hold": answer later */
        kks_conn_ref(c);
        held_conn = c;
        held_id = req->id;
        return;
    }
    pong.role = "issuer";
    pong.identity = (char *)kks_conn_identity(c);
    pong.version = "test";
    if (req->body_case == KKS__ENVELOPE__BODY_CARD_REQUEST) {
        size_t n = strtoul(req->card_request->op, NULL, 10);
        cr_assert_not_null(big = malloc(n + 1));
        memset(big, 'x', n);
        big[n] = '\0';
        pong.version = big;
    }
    rep.body_case = KKS__ENVELOPE__BODY_PONG;
    rep.pong = &pong;
    kks_conn_reply(c, req->id, &rep);
    free(big);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kks-core-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char pki[128];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    cr_assert_eq(kks_pki_init(pki), 0);
    cr_assert_eq(kks_pki_init(pki), KKS_EEXISTS);
    cr_assert_eq(kks_tls_ctx_from_pki(&server_ctx, 1, pki, "issuer"), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&op_ctx, 0, pki, "operator"), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&sw_ctx, 0, pki, "switch"), 0);
    uv_loop_init(&loop);
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR | KKS_ROLE_SWITCH,
                         .on_request = on_request};
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, &srv), 0);
}

static void drained(void *ud)
{
    *(int *)ud = 1;
}

static void teardown(void)
{
    int done = 0;
    kks_server_drain(srv, 1000, drained, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(done);
    kks_server_free(srv);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open");
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(op_ctx);
    SSL_CTX_free(sw_ctx);
    cr_assert_eq(rmtree(dir), 0);
}

TestSuite(net, .init = setup, .fini = teardown, .timeout = 60);

static Kks__Envelope ping_env(void)
{
    static Kks__Ping ping = KKS__PING__INIT;
    Kks__Envelope e = KKS__ENVELOPE__INIT;
    e.body_case = KKS__ENVELOPE__BODY_PING;
    e.ping = &ping;
    return e;
}

Test(pki, files_and_modes)
{
    char d[64], p[160];
    struct stat st;
    snprintf(d, sizeof d, "/tmp/kks-pki-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    size_t dl = strlen(d);
    snprintf(d + dl, sizeof d - dl, "/x");
    cr_assert_eq(kks_pki_init(d), 0);
    cr_assert_eq(kks_pki_terminal(d, "EW-127101-0001"), 0);
    const char *keys[] = {"ca.key", "issuer.key", "switch.key", "operator.key", "keys/tmk.key",
                          "keys/zpk.key", "keys/pvk.key", "terminals/EW-127101-0001.key", NULL};
    for (int i = 0; keys[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, keys[i]);
        cr_assert_eq(stat(p, &st), 0, "%s", p);
        cr_assert_eq(st.st_mode & 0777, 0600, "%s mode %o", keys[i], st.st_mode & 0777);
    }
    uint8_t k[16], k2[16];
    cr_assert_eq(kks_pki_load_key(d, "zpk", k, sizeof k), 0);
    cr_assert_eq(kks_pki_load_key(d, "tmk", k2, sizeof k2), 0);
    cr_assert(memcmp(k, k2, 16) != 0);
    cr_assert_eq(kks_pki_load_key(d, "pvk", k, sizeof k), KKS_EPKI, "wrong length refused");
    cr_assert_eq(kks_pki_terminal(d, "EW-../../x"), KKS_EINVAL);
    d[dl] = '\0'; /* the directory made above, with the PKI in it */
    cr_assert_eq(rmtree(d), 0);
}

/* A key file is exactly 2 x len hex digits and a newline or the end. fuzz_key_file found that
 * a file one digit short loaded (the last byte from its one digit, then a read past the line's
 * end), and sscanf's "%2X" also took a sign, "0x" or a space inside a byte. */
Test(pki, key_file_is_exact_hex)
{
    static const struct {
        const char *text;
        int rc;
    } cases[] = {
        {"00112233445566778899aabbccddeeff\n", 0},
        {"00112233445566778899AABBCCDDEEFF", 0},
        {"00112233445566778899aabbccddeeff\nsecond line\n", 0},
        {"00112233445566778899aabbccddeef\n", KKS_EPKI}, /* one digit short */
        {"00112233445566778899aabbccddeef", KKS_EPKI},
        {"00112233445566778899aabbccddee\n", KKS_EPKI},
        {"0x112233445566778899aabbccddeeff\n", KKS_EPKI},
        {"-1112233445566778899aabbccddeeff\n", KKS_EPKI},
        {" 1112233445566778899aabbccddeeff\n", KKS_EPKI},
        {"00112233445566778899aabbccddeeff0\n", KKS_EPKI},
        {"00112233445566778899aabbccddeeff\r\n", KKS_EPKI},
        {"", KKS_EPKI},
    };
    char p[] = "/tmp/kks-key-XXXXXX";
    int fd = mkstemp(p);
    cr_assert_geq(fd, 0);
    close(fd);
    kks_log_set_level(KKS_LOG_ERROR + 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t k[16];
        FILE *f = fopen(p, "w");
        cr_assert_not_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        memset(k, 0x5a, sizeof k);
        cr_assert_eq(kks_key_file_load(p, k, sizeof k), cases[i].rc, "%s", cases[i].text);
        if (cases[i].rc == 0)
            cr_assert(k[0] == 0x00 && k[10] == 0xaa && k[15] == 0xff, "%s", cases[i].text);
        else
            for (size_t j = 0; j < sizeof k; j++)
                cr_assert_eq(k[j], 0, "a refused key is cleared");
    }
    kks_log_set_level(KKS_LOG_INFO);
    unlink(p);
}

Test(net, call_before_connected_waits_for_the_handshake)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER};
    Kks__Envelope req = ping_env(), *rep = NULL;
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(srv), &o, &cl), 0);
    cr_assert_not(kks_client_is_up(cl));
    cr_assert_eq(kks_client_call_wait(cl, &req, 5000, &rep), 0);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
    cr_assert_str_eq(rep->pong->identity, "operator", "server sees the client's CN");
    cr_assert_str_eq(kks_client_peer_identity(cl), "issuer");
    kks__envelope__free_unpacked(rep, NULL);
    kks_client_free(cl);
}

Test(net, client_refuses_a_server_with_the_wrong_role)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_SWITCH}; /* but it is the issuer */
    Kks__Envelope req = ping_env(), *rep = NULL;
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(srv), &o, &cl), 0);
    cr_assert_eq(kks_client_call_wait(cl, &req, 5000, &rep), KKS_EPEERROLE);
    cr_assert_null(rep);
    cr_assert(strstr(kks_client_last_error(cl), "expected switch"), "%s",
              kks_client_last_error(cl));
    kks_client_free(cl);
}

Test(net, unanswered_request_times_out_and_late_reply_is_dropped)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER};
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep = NULL;
    Kks__Error er = KKS__ERROR__INIT;
    req.body_case = KKS__ENVELOPE__BODY_ERROR; /* the test server holds these */
    req.error = &er;
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(srv), &o, &cl), 0);
    uint64_t t0 = uv_now(&loop);
    cr_assert_eq(kks_client_call_wait(cl, &req, 200, &rep), KKS_ETIMEDOUT);
    cr_assert_geq(uv_now(&loop) - t0, 200);
    cr_assert_not_null(held_conn);
    /* Now the answer comes: no callback remains for it, nothing breaks. */
    Kks__Envelope late = ping_env();
    kks_conn_reply(held_conn, held_id, &late);
    kks_conn_unref(held_conn);
    held_conn = NULL;
    Kks__Envelope again = ping_env();
    cr_assert_eq(kks_client_call_wait(cl, &again, 5000, &rep), 0);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
    kks__envelope__free_unpacked(rep, NULL);
    kks_client_free(cl);
}

struct counter {
    int ok, failed;
    uint64_t ids;
};

static void count_cb(int status, const Kks__Envelope *rep, void *ud)
{
    struct counter *c = ud;
    if (status == 0)
        c->ok++;
    else
        c->failed++;
}

Test(net, thousands_in_flight_grow_the_table)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER};
    struct counter cnt = {0};
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(srv), &o, &cl), 0);
    for (int i = 0; i < 3000; i++) {
        Kks__Envelope req = ping_env();
        cr_assert_eq(kks_client_call(cl, &req, 20000, count_cb, &cnt), 0);
    }
    while (cnt.ok + cnt.failed < 3000)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(cnt.ok, 3000);
    kks_client_free(cl);
}

Test(net, connection_refused_fails_fast)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER};
    Kks__Envelope req = ping_env(), *rep = NULL;
    cr_assert_eq(kks_client_new(&loop, op_ctx, "127.0.0.1:1", &o, &cl), 0);
    cr_assert_eq(kks_client_call_wait(cl, &req, 5000, &rep), KKS_ECONNREFUSED);
    /* Down between attempts: calls fail at once rather than queue. */
    Kks__Envelope req2 = ping_env();
    cr_assert_eq(kks_client_call(cl, &req2, 5000, count_cb, NULL), KKS_ENOTCONN);
    kks_client_free(cl);
}

static void on_tick(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Runs the test loop for ms milliseconds. */
static void run_for(unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_tick, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void stop_server(kks_server *s2)
{
    int done = 0;
    kks_server_drain(s2, 100, drained, &done);
    run_for(50);
    cr_assert(done);
    kks_server_free(s2);
}

Test(net, silent_peer_is_dropped_after_the_handshake_timeout)
{
    kks_server *s2;
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR, .on_request = on_request,
                         .handshake_ms = 200};
    struct sockaddr_storage sa;
    char byte;
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, &s2), 0);
    cr_assert_eq(kks_addr_parse(kks_server_address(s2), &sa), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in)), 0);
    run_for(100);
    cr_assert_eq(recv(fd, &byte, 1, MSG_DONTWAIT), -1, "closed too early");
    run_for(400);
    cr_assert_eq(recv(fd, &byte, 1, MSG_DONTWAIT), 0, "still open after the handshake timeout");
    close(fd);
    stop_server(s2);
}

/* A test server that closes connections idle for idle_ms, and an operator's
 * client of it. */
static void idle_server(unsigned idle_ms, kks_server **s2, kks_client **cl)
{
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR, .on_request = on_request,
                         .idle_ms = idle_ms};
    kks_client_opts co = {.expect_role = KKS_ROLE_ISSUER};
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, s2), 0);
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(*s2), &co, cl), 0);
}

Test(net, idle_connection_is_closed)
{
    kks_server *s2;
    kks_client *cl;
    Kks__Envelope req = ping_env(), *rep = NULL;
    idle_server(300, &s2, &cl);
    cr_assert_eq(kks_client_call_wait(cl, &req, 5000, &rep), 0);
    kks__envelope__free_unpacked(rep, NULL);
    cr_assert(kks_client_is_up(cl));
    run_for(150);
    cr_assert(kks_client_is_up(cl), "closed before the idle timeout");
    run_for(400);
    cr_assert_not(kks_client_is_up(cl), "idle connection not closed");
    kks_client_free(cl);
    stop_server(s2);
}

Test(net, heartbeat_keeps_an_idle_link_open)
{
    kks_server *s2;
    kks_client *cl;
    /* generous margins: heartbeats every 100 ms against a 1 s idle limit */
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR, .on_request = on_request,
                         .idle_ms = 1000};
    kks_client_opts co = {.expect_role = KKS_ROLE_ISSUER, .heartbeat_ms = 100, .reconnect = 1};
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, &s2), 0);
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(s2), &co, &cl), 0);
    run_for(2500);
    cr_assert(kks_client_is_up(cl), "heartbeats should have kept the link busy");
    kks_client_free(cl);
    stop_server(s2);
}

/* ---- no reply dropped ---- */

/* Asks the test server for a reply of about `size` bytes. */
static int ask_for(kks_client *cl, size_t size, Kks__Envelope **rep)
{
    Kks__Envelope req = KKS__ENVELOPE__INIT;
    Kks__CardRequest cr = KKS__CARD_REQUEST__INIT;
    char op[24];
    snprintf(op, sizeof op, "%zu", size);
    cr.op = op;
    req.body_case = KKS__ENVELOPE__BODY_CARD_REQUEST;
    req.card_request = &cr;
    return kks_client_call_wait(cl, &req, 5000, rep);
}

static void expect_too_large(kks_client *cl, size_t size)
{
    Kks__Envelope *rep = NULL;
    cr_assert_eq(ask_for(cl, size, &rep), 0, "a reply of %zu bytes vanished", size);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ERROR, "%zu bytes sent over the cap", size);
    cr_assert_eq(rep->error->code, KKS_ETOOBIG);
    cr_assert(strstr(rep->error->message, "the reply was too large to send"), "%s",
              rep->error->message);
    kks__envelope__free_unpacked(rep, NULL);
}

static void expect_pong(kks_client *cl, size_t size)
{
    Kks__Envelope *rep = NULL;
    cr_assert_eq(ask_for(cl, size, &rep), 0);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
    cr_assert_eq(strlen(rep->pong->version), size);
    kks__envelope__free_unpacked(rep, NULL);
}

/* A peer that is not an operator may be sent frames of 64 KiB (SPEC §5), an
 * operator 1 MiB: a larger reply is answered with an Error saying so, never
 * sent over the cap and never dropped. */
Test(net, a_reply_over_the_peers_frame_cap_is_answered_with_an_error)
{
    kks_client *sw, *op;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER};
    cr_assert_eq(kks_client_new(&loop, sw_ctx, kks_server_address(srv), &o, &sw), 0);
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(srv), &o, &op), 0);
    expect_pong(sw, 60000);
    expect_too_large(sw, 70000);
    expect_pong(sw, 10); /* the connection goes on */
    expect_pong(op, 70000);
    expect_too_large(op, KKS_FRAME_MAX_BULK + 1000);
    expect_pong(op, 10);
    kks_client_free(sw);
    kks_client_free(op);
}

struct outcome {
    int done, status, body;
};

static void outcome_cb(int status, const Kks__Envelope *rep, void *ud)
{
    struct outcome *o = ud;
    o->done = 1;
    o->status = status;
    o->body = rep ? (int)rep->body_case : 0;
}

/* A request read before a frame the server refuses is still answered: its
 * reply (held here as a group commit or an issuer would hold it) goes out
 * before the connection closes. */
Test(net, replies_to_requests_read_before_a_protocol_error_are_not_dropped)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER};
    struct outcome first = {0}, bad = {0};
    Kks__Envelope hold = KKS__ENVELOPE__INIT, big = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    Kks__CardRequest cr = KKS__CARD_REQUEST__INIT;
    char *pad = malloc(KKS_FRAME_MAX + 100);
    cr_assert_not_null(pad);
    memset(pad, 'p', KKS_FRAME_MAX + 99);
    pad[KKS_FRAME_MAX + 99] = '\0';
    hold.body_case = KKS__ENVELOPE__BODY_ERROR; /* the test server holds it */
    hold.error = &er;
    cr.op = "1";
    cr.police_report = pad; /* over the 64 KiB a switch may send */
    big.body_case = KKS__ENVELOPE__BODY_CARD_REQUEST;
    big.card_request = &cr;
    cr_assert_eq(kks_client_new(&loop, sw_ctx, kks_server_address(srv), &o, &cl), 0);
    cr_assert_eq(kks_client_call(cl, &hold, 5000, outcome_cb, &first), 0);
    cr_assert_eq(kks_client_call(cl, &big, 5000, outcome_cb, &bad), 0);
    free(pad);
    while (!held_conn)
        uv_run(&loop, UV_RUN_ONCE);
    run_for(200); /* the bad frame arrives and is refused meanwhile */
    cr_assert_not(first.done, "answered before the server answered it");
    Kks__Envelope late = ping_env();
    late.body_case = KKS__ENVELOPE__BODY_PONG;
    Kks__Pong pong = KKS__PONG__INIT;
    late.pong = &pong;
    kks_conn_reply(held_conn, held_id, &late);
    kks_conn_unref(held_conn);
    held_conn = NULL;
    while (!first.done || !bad.done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(first.status, 0, "the held reply was dropped: %s", kks_strerror(first.status));
    cr_assert_eq(first.body, KKS__ENVELOPE__BODY_PONG);
    cr_assert_eq(bad.status, KKS_ETOOBIG, "the refused request fails with the server's reason");
    kks_client_free(cl);
}

/* A peer waiting for an answer is not idle, however long the answer takes
 * (a ledger check over a national ledger takes minutes); once answered and
 * silent, it is. */
Test(net, a_connection_waiting_for_its_answer_is_not_idle)
{
    kks_server *s2;
    kks_client *cl;
    struct outcome first = {0};
    Kks__Envelope hold = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    hold.body_case = KKS__ENVELOPE__BODY_ERROR; /* the test server holds it */
    hold.error = &er;
    idle_server(300, &s2, &cl);
    cr_assert_eq(kks_client_call(cl, &hold, 10000, outcome_cb, &first), 0);
    while (!held_conn)
        uv_run(&loop, UV_RUN_ONCE);
    run_for(1100); /* over three idle limits */
    cr_assert(kks_client_is_up(cl), "closed while the peer waited for its answer");
    cr_assert_not(first.done);
    Kks__Envelope late = ping_env();
    Kks__Pong pong = KKS__PONG__INIT;
    late.body_case = KKS__ENVELOPE__BODY_PONG;
    late.pong = &pong;
    kks_conn_reply(held_conn, held_id, &late);
    kks_conn_unref(held_conn);
    held_conn = NULL;
    while (!first.done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(first.status, 0, "%s", kks_strerror(first.status));
    cr_assert_eq(first.body, KKS__ENVELOPE__BODY_PONG);
    run_for(1100);
    cr_assert_not(kks_client_is_up(cl), "answered, then idle, and not closed");
    kks_client_free(cl);
    stop_server(s2);
}

static void on_pause(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop for about ms. */
static void pause_ms(uv_loop_t *l, unsigned ms)
{
    uv_timer_t t;
    int fired = 0;
    uv_timer_init(l, &t);
    t.data = &fired;
    uv_timer_start(&t, on_pause, ms, 0);
    while (!fired)
        uv_run(l, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(l, UV_RUN_NOWAIT);
}

/* A flood of connections that never send a ClientHello: at most the budget
 * of them hold TLS state, the rest are closed at once; once their handshake
 * time runs out, a real peer is served. */
Test(net, stalled_handshakes_are_bounded_and_a_real_peer_is_served_after)
{
    kks_server *fl;
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR, .on_request = on_request,
                         .handshake_ms = 400, .max_handshakes = 32,
                         .max_handshakes_per_addr = 32};
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, &fl), 0);
    struct sockaddr_storage sa;
    cr_assert_eq(kks_addr_parse(kks_server_address(fl), &sa), 0);
    int fds[100];
    for (int i = 0; i < 100; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert(fds[i] >= 0);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(struct sockaddr_in)), 0);
        if (i % 10 == 9)
            uv_run(&loop, UV_RUN_NOWAIT); /* the server accepts as they come */
    }
    unsigned hs = 0;
    uint64_t refused = 0;
    for (int k = 0; k < 50 && refused < 68; k++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        kks_server_handshakes(fl, &hs, &refused);
        usleep(2000);
    }
    kks_server_handshakes(fl, &hs, &refused);
    cr_assert_eq(hs, 32, "%u handshakes hold TLS state, the budget is 32", hs);
    cr_assert_eq(refused, 68, "%llu refused, want 68", (unsigned long long)refused);

    kks_client *cl;
    kks_client_opts co = {.expect_role = KKS_ROLE_ISSUER, .reconnect = 1};
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(fl), &co, &cl), 0);
    Kks__Envelope env = ping_env(), *rep = NULL;
    int rc = KKS_ENOTCONN;
    for (int k = 0; k < 100 && rc != 0; k++) { /* refused while full, then served */
        rc = kks_client_call_wait(cl, &env, 1000, &rep);
        if (rc != 0)
            pause_ms(&loop, 100);
    }
    cr_assert_eq(rc, 0, "the real peer was not served: %s", kks_strerror(rc));
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
    kks__envelope__free_unpacked(rep, NULL);
    kks_server_handshakes(fl, &hs, &refused);
    cr_assert_eq(hs, 0, "the stalled handshakes timed out: %u left", hs);
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    kks_client_free(cl);
    int done = 0;
    kks_server_drain(fl, 1000, drained, &done);
    uv_run(&loop, UV_RUN_NOWAIT);
    for (int k = 0; k < 100 && !done; k++)
        uv_run(&loop, UV_RUN_ONCE);
    kks_server_free(fl);
}

/* The databases hold personal data: the file and its WAL are 0600. */
Test(db, files_are_private)
{
    char tmp[] = "/tmp/kks-db-XXXXXX", path[64], wal[80];
    static const char *const schema[] = {"CREATE TABLE t(x);"};
    sqlite3 *db;
    struct stat st;
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/x.db", tmp);
    snprintf(wal, sizeof wal, "%s-wal", path);
    mode_t old = umask(022);
    cr_assert_eq(kks_db_open(path, schema, 1, &db), 0);
    cr_assert_eq(kks_db_exec(db, "INSERT INTO t VALUES (1)"), 0);
    umask(old);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "database mode %o", st.st_mode & 0777);
    cr_assert_eq(stat(wal, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "WAL mode %o", st.st_mode & 0777);
    kks_db_close(db);
    cr_assert_eq(rmtree(tmp), 0);
}


/* kks_sort_u64 against a reference: keys over the whole 64-bit range (an
 * invalid KK is UINT64_MAX), many equal keys whose records must keep their
 * order, already-sorted and reversed input, 0 and 1 records. */
typedef struct sort_rec {
    uint32_t seq;
    uint64_t key;
    char pad[5];
} sort_rec;

static int by_key_then_seq(const void *a, const void *b)
{
    const sort_rec *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

Test(sort, stable_by_a_64_bit_key_like_a_reference)
{
    enum { N = 50000 };
    sort_rec *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    cr_assert(a && b);
    uint64_t x = 88172645463325252u;
    for (int shape = 0; shape < 5; shape++) {
        for (uint32_t i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            a[i].seq = i;
            a[i].key = shape == 0   ? x                                  /* all 64 bits */
                       : shape == 1 ? x % 37                             /* many equal */
                       : shape == 2 ? (x & 1 ? UINT64_MAX : x >> 10)     /* invalid KKs */
                       : shape == 3 ? i                                  /* in order */
                                    : (uint64_t)(N - i) * 1000003u;      /* reversed */
        }
        memcpy(b, a, N * sizeof *a);
        qsort(b, N, sizeof *b, by_key_then_seq);
        cr_assert_eq(kks_sort_u64(a, N, sizeof *a, offsetof(sort_rec, key)), 0);
        for (int i = 0; i < N; i++)
            cr_assert(a[i].key == b[i].key && a[i].seq == b[i].seq, "shape %d, record %d", shape,
                      i);
    }
    cr_assert_eq(kks_sort_u64(a, 0, sizeof *a, offsetof(sort_rec, key)), 0);
    cr_assert_eq(kks_sort_u64(a, 1, sizeof *a, offsetof(sort_rec, key)), 0);
    free(a);
    free(b);
}

/* The writer's busy handler, as kks_db_open's, counting its waits. */
static int writer_waits;

static int counting_busy_wait(void *ud, int tries)
{
    (void)ud;
    writer_waits++;
    if (tries >= 10000)
        return 0;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
    return 1;
}

/* The checkpointer under a writer that never stops (commits every few
 * milliseconds, 64 KiB each, then 1 MiB each, 300 MiB in all): the WAL is
 * never emptied under load (an ftruncate under the writer's lock stalled
 * every terminal for 10-28 ms), nor started over by the checkpointer while
 * the writer keeps committing (its copy and fsyncs under the writer's lock
 * stalled them 10-40 ms): the file never shrinks while commits go on (but to
 * KKS_WAL_MAX, its journal_size_limit), it does start over (past
 * KKS_WAL_MAX, by the writer), and it stays below
 * KKS_WAL_MAX plus a few commits. The writer hardly ever waits for the
 * checkpointer's lock (it waited 10-40 ms a round, hundreds of 100 us waits,
 * when the checkpointer started the WAL over under load). Once the writer is
 * idle for a round, the file is emptied to within KKS_WAL_LIMIT. */
Test(db, wal_starts_over_under_load_and_is_emptied_when_idle)
{
    char tmp[] = "/tmp/kks-db-XXXXXX", path[64], wal[80];
    static const char *const schema[] = {"CREATE TABLE t(x BLOB);"};
    sqlite3 *db;
    kks_checkpointer *ck;
    struct stat st;
    long long prev = 0, max = 0, written = 0;
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/x.db", tmp);
    snprintf(wal, sizeof wal, "%s-wal", path);
    cr_assert_eq(kks_db_open(path, schema, 1, &db), 0);
    cr_assert_eq(kks_db_checkpointer_start(db, path, 100, &ck), 0);
    sqlite3_busy_handler(db, counting_busy_wait, NULL);
    writer_waits = 0;
    for (int i = 0; i < 300 + 280; i++) { /* 300 commits of 16 rows, then 280 of 256 */
        char sql[320];
        int rows = i < 300 ? 16 : 256;
        snprintf(sql, sizeof sql,
                 "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE"
                 " i < %d) INSERT INTO t SELECT randomblob(4000) FROM n; DELETE FROM t WHERE"
                 " rowid < (SELECT max(rowid) - %d FROM t); COMMIT;",
                 rows, 4 * rows);
        cr_assert_eq(kks_db_exec(db, sql), 0);
        written += rows * 4120LL;
        cr_assert_eq(stat(wal, &st), 0);
        /* (but to journal_size_limit, when the writer starts it over past it) */
        cr_assert(st.st_size >= prev || st.st_size == KKS_WAL_MAX,
                  "commit %d: the WAL file shrank from %lld to %lld under load", i, prev,
                  (long long)st.st_size);
        prev = st.st_size;
        max = prev > max ? prev : max;
        struct timespec ts = {0, 3000000};
        nanosleep(&ts, NULL);
    }
    /* more than the bound below: a WAL that never started over would break it */
    cr_assert_gt(written, (long long)KKS_WAL_MAX + 64LL * 1024 * 1024);
    /* never started over, it would hold all 300 MiB; it starts over once past
     * KKS_WAL_MAX and everything is copied, a few commits (1 MiB each) later
     * when the checkpointer's thread is slow */
    cr_assert_leq(max, (long long)KKS_WAL_MAX + 64LL * 1024 * 1024,
                  "the WAL did not start over: %lld bytes", max);
    /* room for the checkpointer's thread losing its core while it holds the
     * lock for a moment (a RESTART with nothing to copy, the rare commit
     * that slips in before it) on a loaded machine */
    cr_assert_leq(writer_waits, 200, "the writer waited for the checkpointer %d times (100 us each)",
                  writer_waits);
    for (int i = 0; i < 100 && (stat(wal, &st) != 0 || st.st_size > KKS_WAL_LIMIT); i++) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_leq((long long)st.st_size, (long long)KKS_WAL_LIMIT, "idle WAL %lld bytes",
                  (long long)st.st_size);
    kks_db_checkpointer_stop(ck);
    kks_db_close(db);
    cr_assert_eq(rmtree(tmp), 0);
}

/* This process's write system calls so far (/proc/self/io). */
static long long write_calls(void)
{
    char line[128];
    long long n = -1;
    FILE *f = fopen("/proc/self/io", "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "syscw: %lld", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* The WAL is written once a commit (core/db.c, "a WAL written once a
 * commit"): a commit of 64 pages is a handful of write calls, not two a page;
 * a commit is in the file when COMMIT returns (a child that commits and dies
 * without closing leaves it to the next opener, and another connection reads
 * it at once); a transaction larger than the buffer, spilling to the WAL
 * before its commit, and rolled back, leaves the database as it was; the
 * writer reads back what it spilled. (The commit is written at its last
 * frame, or else at the barrier before its publication: the test fails only
 * when neither writes it, as tried.) */
Test(db, the_wal_is_written_once_a_commit_and_a_commit_is_in_the_file_when_it_returns)
{
    char tmp[] = "/tmp/kks-db-XXXXXX", path[64];
    static const char *const schema[] = {"CREATE TABLE t(k INTEGER PRIMARY KEY, x BLOB);"};
    sqlite3 *db, *other;
    sqlite3_stmt *st;
    long long before;
    pid_t pid;
    int status;
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/x.db", tmp);
    cr_assert_eq(kks_db_open(path, schema, 1, &db), 0);
    before = write_calls();
    cr_assert_eq(kks_db_exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                                 " FROM n WHERE i < 64) INSERT INTO t SELECT i, randomblob(4000)"
                                 " FROM n; COMMIT;"),
                 0);
    /* 64 frames of 4,120 bytes: 3 gathered writes (2 calls a frame, 128, without) */
    cr_assert_leq(write_calls() - before, 8, "%lld write calls for a 64-page commit",
                  write_calls() - before);

    /* committed, then killed before closing: the next opener has it. No
     * connection is open across the fork (SQLite's own state of open files
     * would be the child's too): the child's commit is found from the files
     * alone, its WAL replayed */
    kks_db_close(db);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        sqlite3 *c;
        if (kks_db_open(path, schema, 1, &c) != 0 ||
            kks_db_exec(c, "INSERT INTO t VALUES (1000, x'c0ffee')") != 0)
            _exit(1);
        _exit(0); /* no close: nothing flushed on the way out */
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(kks_db_open(path, schema, 1, &db), 0);
    cr_assert_eq(sqlite3_open_v2(path, &other, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(other, "SELECT hex(x) FROM t WHERE k = 1000", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "the dead child's commit is lost");
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "C0FFEE");
    sqlite3_finalize(st);

    /* over the buffer and spilled before its end, then rolled back; the
     * writer reads its own spilled pages meanwhile */
    cr_assert_eq(kks_db_exec(db, "PRAGMA cache_size=10; BEGIN; WITH RECURSIVE n(i) AS (SELECT 1"
                                 " UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t"
                                 " SELECT 2000 + i, randomblob(4000) FROM n;"),
                 0);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*), sum(length(x)) FROM t WHERE k > 2000",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 200);
    cr_assert_eq(sqlite3_column_int64(st, 1), 800000);
    sqlite3_finalize(st);
    cr_assert_eq(kks_db_exec(db, "ROLLBACK; INSERT INTO t VALUES (3000, x'01')"), 0);

    /* another connection, at once: 65 rows as before, and the last commit */
    cr_assert_eq(sqlite3_prepare_v2(other, "SELECT count(*), (SELECT count(*) FROM t WHERE"
                                           " k > 2000 AND k < 3000) FROM t; PRAGMA",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 66);
    cr_assert_eq(sqlite3_column_int(st, 1), 0);
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(other, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(other);
    kks_db_close(db);
    cr_assert_eq(rmtree(tmp), 0);
}

/* 1 when this process holds an SQLite temporary file (etilqs_*, unlinked). */
static int holds_sqlite_temp_file(void)
{
    char link[PATH_MAX], path[64];
    int found = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof path, "/proc/self/fd/%.20s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            found |= strstr(link, "etilqs_") != NULL;
        }
    }
    closedir(d);
    return found;
}

/* A group transaction of savepoints, one changing 512 KiB of pages, then
 * many changing a few (as the switch's authorisations do): the sub-journal
 * stays in memory. With SQLite's default it spilled to a temporary file past
 * 64 KiB in one savepoint, and once spilled every later savepoint's pages
 * went to that file, two write syscalls a page. */
/* A database in a new directory tmp (a mkdtemp template) with table t of
 * rows (k, 3000 bytes). */
static sqlite3 *blob_db(char *tmp, int rows)
{
    static const char *const schema[] = {"CREATE TABLE t(k INTEGER PRIMARY KEY, x BLOB);"};
    char path[64], fill[200];
    sqlite3 *db;
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/x.db", tmp);
    cr_assert_eq(kks_db_open(path, schema, 1, &db), 0);
    snprintf(fill, sizeof fill,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO t SELECT i, randomblob(3000) FROM n",
             rows);
    cr_assert_eq(kks_db_exec(db, fill), 0);
    return db;
}

Test(db, savepoints_journal_in_memory)
{
    char tmp[] = "/tmp/kks-db-XXXXXX";
    sqlite3 *db = blob_db(tmp, 512);
    cr_assert_eq(kks_db_exec(db, "BEGIN IMMEDIATE; UPDATE t SET x = randomblob(3000) WHERE k = 1"),
                 0);
    cr_assert_eq(kks_db_exec(db, "SAVEPOINT big; UPDATE t SET x = randomblob(3000) WHERE k > 384"),
                 0);
    cr_assert_not(holds_sqlite_temp_file(), "a 512 KiB sub-journal spilled to a temporary file");
    cr_assert_eq(kks_db_exec(db, "RELEASE big"), 0);
    for (int i = 0; i < 64; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SAVEPOINT s; UPDATE t SET x = randomblob(3000) WHERE k IN (%d, %d, %d, %d);"
                 " RELEASE s;",
                 2 + i * 4, 3 + i * 4, 4 + i * 4, 5 + i * 4);
        cr_assert_eq(kks_db_exec(db, sql), 0);
    }
    cr_assert_not(holds_sqlite_temp_file(), "the sub-journal spilled to a temporary file");
    cr_assert_eq(kks_db_exec(db, "COMMIT"), 0);
    kks_db_close(db);
    cr_assert_eq(rmtree(tmp), 0);
}

static const char *one_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/* A statement of a transaction that changes more than the sub-journal keeps
 * in memory (12 MiB of pages against 8 MiB): the journal spills to a file in
 * chunks of 8 MiB, which the unix VFS wrote as 0 bytes and called a full
 * disk. It commits, and the rollback of such a statement still works. */
Test(db, a_statement_larger_than_the_memory_sub_journal_spills_and_commits)
{
    char tmp[] = "/tmp/kks-db-XXXXXX", v[32];
    sqlite3 *db = blob_db(tmp, 3072);
    cr_assert_eq(kks_db_exec(db, "BEGIN IMMEDIATE; UPDATE t SET x = zeroblob(3001) WHERE k = 1"),
                 0);
    cr_assert_eq(kks_db_exec(db, "UPDATE t SET x = zeroblob(3002)"), 0,
                 "a 12 MiB statement in a transaction failed");
    /* a statement that fails halfway is undone from the spilled journal */
    cr_assert_neq(kks_db_exec(db, "UPDATE t SET x = CASE WHEN k < 3000 THEN zeroblob(3003)"
                                  " ELSE abs(-9223372036854775807 - 1) END"),
                  0);
    cr_assert_eq(kks_db_exec(db, "COMMIT"), 0);
    cr_assert_str_eq(one_text(db, "SELECT group_concat(DISTINCT length(x)) FROM t", v, sizeof v),
                     "3002");
    kks_db_close(db);
    cr_assert_eq(rmtree(tmp), 0);
}

/* n rows by one prepared statement: no temporary b-tree (a recursive CTE's
 * queue) with a page cache of its own to count */
static void insert_rows(sqlite3 *db, const char *sql, int n)
{
    sqlite3_stmt *ins;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &ins, NULL), SQLITE_OK);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
}

/* The page cache layer (core/pcache.c). Small commits into an index of
 * random keys split pages, and SQLite renumbers split pages through the
 * pending-byte page: SQLite's own cache then walked its whole hash table at
 * the next commit's truncation. Those truncations are skipped here, while a
 * rolled-back transaction that grew the file has its pages beyond the end
 * dropped, and the database stays whole. */
Test(db, page_cache_truncations_only_when_a_page_is_beyond_the_end)
{
    char tmp[] = "/tmp/kks-db-XXXXXX", path[64], text[64];
    static const char *const schema[] = {
        "CREATE TABLE t(id INTEGER PRIMARY KEY, k BLOB NOT NULL);"
        "CREATE INDEX t_k ON t(k);"};
    unsigned long long skipped0, done0, skipped, done;
    sqlite3 *db;
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/x.db", tmp);
    cr_assert_eq(kks_db_open(path, schema, 1, &db), 0);
    cr_assert_eq(kks_pcache_register(), 0, "the layer is installed by kks_db_open");
    cr_assert_eq(kks_db_exec(db, "PRAGMA cache_size=-65536;"), 0);
    kks_pcache_stats(&skipped0, &done0);
    /* 2,000 commits of 5 random 40-byte keys: hundreds of leaf splits */
    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(kks_db_exec(db, "BEGIN"), 0);
        insert_rows(db, "INSERT INTO t(k) VALUES (randomblob(40))", 5);
        cr_assert_eq(kks_db_exec(db, "COMMIT"), 0);
    }
    kks_pcache_stats(&skipped, &done);
    cr_assert_geq(skipped - skipped0, 1900, "%llu of 2,000 commits' truncations skipped",
                  skipped - skipped0);
    cr_assert_leq(done - done0, 100, "%llu truncations passed on for 2,000 commits",
                  done - done0);
    cr_assert_str_eq(one_text(db, "SELECT count(*) FROM t", text, sizeof text), "10000");

    /* a transaction that grows the file by about 1,000 pages, rolled back:
     * its pages beyond the end must leave the cache */
    long pages = strtol(one_text(db, "PRAGMA page_count", text, sizeof text), NULL, 10);
    kks_pcache_stats(&skipped0, &done0);
    cr_assert_eq(kks_db_exec(db, "BEGIN"), 0);
    insert_rows(db, "INSERT INTO t(k) VALUES (randomblob(4000))", 1000);
    cr_assert_eq(kks_db_exec(db, "ROLLBACK"), 0);
    kks_pcache_stats(&skipped, &done);
    cr_assert_geq(done - done0, 1, "the rollback's truncation was passed on");
    cr_assert_eq(strtol(one_text(db, "PRAGMA page_count", text, sizeof text), NULL, 10), pages);
    /* the file grows again over those page numbers, with other content */
    cr_assert_eq(kks_db_exec(db, "BEGIN"), 0);
    insert_rows(db, "INSERT INTO t(k) VALUES (randomblob(3008))", 500);
    cr_assert_eq(kks_db_exec(db, "COMMIT"), 0);
    cr_assert_str_eq(one_text(db, "PRAGMA integrity_check", text, sizeof text), "ok");
    cr_assert_str_eq(one_text(db, "SELECT count(*) || ' ' || sum(length(k) = 3008) FROM t", text,
                              sizeof text),
                     "10500 500");
    kks_db_close(db);

    /* and another connection reads the same from the files */
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_str_eq(one_text(db, "PRAGMA integrity_check", text, sizeof text), "ok");
    cr_assert_str_eq(one_text(db, "SELECT count(*) FROM t", text, sizeof text), "10500");
    sqlite3_close(db);
    cr_assert_eq(rmtree(tmp), 0);
}
