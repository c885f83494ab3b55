/* core/kks_json: strings are always valid JSON (escaped, UTF-8 checked), output
 * is compact with keys in the order added, and what is printed parses back with
 * json_loads to the same values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks.pb-c.h"
#include "kks_err.h"
#include "kks_json.h"

/* What kks_json_print writes for v. */
static char *printed(json_t *v)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    cr_assert_eq(kks_json_print(f, v), 0);
    fclose(f);
    return buf;
}

/* Parses a printed line strictly; fails the test with jansson's line and column. */
static json_t *parsed(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(v, "%s at %d:%d in %s", err.text, err.line, err.column, text);
    return v;
}

Test(json, quotes_backslashes_and_controls_are_escaped)
{
    const char *s = "a\"b\\c\nd\x01\x1f\te\x7f/";
    char *out = printed(json_pack("{s:o}", "v", kks_json_str(s)));
    cr_assert_str_eq(out, "{\"v\":\"a\\\"b\\\\c\\nd\\u0001\\u001F\\te\x7f/\"}\n");
    for (const char *p = out; *p; p++)
        cr_assert(*p == '\n' ? p[1] == '\0' : (unsigned char)*p >= 0x20,
                  "no raw control character but the final newline: %s", out);
    json_t *back = parsed(out);
    cr_assert_str_eq(json_string_value(json_object_get(back, "v")), s);
    json_decref(back);
    free(out);
}

Test(json, invalid_utf8_is_replaced_never_emitted)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Jos\xE9 Sim\xF5" "es", "Jos\xEF\xBF\xBD Sim\xEF\xBF\xBD" "es"}, /* Latin-1 */
        {"\x80x", "\xEF\xBF\xBDx"},                                    /* lone continuation */
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                      /* overlong '/' */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},      /* surrogate D800 */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
        {"ok\xE2\x82", "ok\xEF\xBF\xBD\xEF\xBF\xBD"}, /* cut short at the end */
        {"\xFF\"", "\xEF\xBF\xBD\""},                 /* never valid, then a quote */
        {"Sembako \xE2\x80\x93 caf\xC3\xA9 \xF0\x9F\x8D\x9A", /* valid: kept as it is */
         "Sembako \xE2\x80\x93 caf\xC3\xA9 \xF0\x9F\x8D\x9A"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = kks_json_str(cases[i].in);
        cr_assert_not_null(v, "case %zu", i);
        cr_assert_str_eq(json_string_value(v), cases[i].want, "case %zu", i);
        char *out = printed(json_pack("{s:o}", "name", v));
        json_t *back = parsed(out); /* json_loads refuses invalid UTF-8 */
        cr_assert_str_eq(json_string_value(json_object_get(back, "name")), cases[i].want,
                         "case %zu", i);
        json_decref(back);
        free(out);
    }
}

Test(json, null_order_types_and_compact_layout)
{
    json_t *o = json_pack("{s:o,s:o,s:I,s:b,s:o,s:[{s:i}]}", "z", kks_json_str("last?"), "a",
                          kks_json_str(NULL), "n", (json_int_t)-9007199254740993LL, "ok", 1,
                          "empty", kks_json_str(""), "list", "line", 1002);
    char *out = printed(o);
    cr_assert_str_eq(out, "{\"z\":\"last?\",\"a\":null,\"n\":-9007199254740993,\"ok\":true,"
                          "\"empty\":\"\",\"list\":[{\"line\":1002}]}\n");
    json_t *back = parsed(out);
    cr_assert(json_is_null(json_object_get(back, "a")));
    cr_assert_eq(json_integer_value(json_object_get(back, "n")), -9007199254740993LL);
    cr_assert(json_is_true(json_object_get(back, "ok")));
    json_decref(back);
    free(out);
}

Test(json, object_from_a_protobuf_message)
{
    Kks__Link l = KKS__LINK__INIT;
    Kks__SettleLine s = KKS__SETTLE_LINE__INIT;
    l.address = "127.0.0.1:7001";
    l.is_default = 1;
    l.rtt_us = 4000000000u;
    l.error = NULL; /* unset: "" */
    char *out = printed(kks_json_pb(&l.base, "address default=is_default up rtt_us error"));
    cr_assert_str_eq(out, "{\"address\":\"127.0.0.1:7001\",\"default\":true,\"up\":false,"
                          "\"rtt_us\":4000000000,\"error\":\"\"}\n");
    free(out);
    s.kind = "merchant";
    s.name = "Warung \"Bu\" Sri\n\xE9";
    s.count = -2;
    s.total = -150000;
    out = printed(kks_json_pb(&s.base, "kind name count total"));
    cr_assert_str_eq(out, "{\"kind\":\"merchant\","
                          "\"name\":\"Warung \\\"Bu\\\" Sri\\n\xEF\xBF\xBD\","
                          "\"count\":-2,\"total\":-150000}\n");
    json_decref(parsed(out));
    free(out);
}

Test(json, print_reports_a_failed_build)
{
    json_t *o = json_object(), *a = json_array();
    cr_assert_eq(kks_json_set(&o, "v", NULL), KKS_ENOMEM);
    cr_assert_null(o, "the object is dropped, not printed without the key");
    cr_assert_eq(kks_json_set(&o, "w", json_true()), KKS_ENOMEM, "and stays dropped");
    cr_assert_eq(kks_json_append(&a, NULL), KKS_ENOMEM);
    cr_assert_null(a);
    cr_assert_eq(kks_json_print(stdout, NULL), KKS_ENOMEM);
    /* json_pack fails as a whole on a NULL value, so a half-built object never prints */
    cr_assert_null(json_pack("{s:o}", "v", (json_t *)NULL));
}
