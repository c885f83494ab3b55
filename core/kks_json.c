#include "kks_json.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. The NUL
 * at the end is not a continuation byte, so reading stops there. */
size_t kks_utf8_len(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

int kks_utf8_valid(const char *s)
{
    if (!s)
        return 1;
    /* ASCII eight bytes at a time (strlen is vectorised): most text is */
    size_t n = strlen(s), i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080u)
            break;
    }
    s += i;
    for (;;) {
        while ((unsigned char)*s - 1u < 0x7Fu) /* ASCII but NUL, the common case, inline */
            s++;
        if (!*s)
            return 1;
        size_t k = kks_utf8_len(s);
        if (k == 0)
            return 0;
        s += k;
    }
}

json_t *kks_json_str(const char *s)
{
    json_t *v;
    char *fixed, *o;
    if (!s)
        return json_null();
    if ((v = json_string(s)))
        return v;
    /* Not UTF-8 (or out of memory): each stray byte becomes U+FFFD (3 bytes). */
    if (!(o = fixed = malloc(strlen(s) * 3 + 1)))
        return NULL;
    for (const char *p = s; *p;) {
        size_t n = kks_utf8_len(p);
        if (n) {
            memcpy(o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    v = json_stringn_nocheck(fixed, (size_t)(o - fixed));
    free(fixed);
    return v;
}

static json_t *pb_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *at = (const char *)m + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)at;
        return kks_json_str(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)at);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: return json_integer(*(const int32_t *)at);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)at);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return json_integer(*(const int64_t *)at);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return json_integer((json_int_t) * (const uint64_t *)at);
    default: assert(!"kks_json_pb: field type not supported"); return NULL;
    }
}

int kks_json_set_pb(json_t **o, const ProtobufCMessage *m, const char *spec)
{
    const char *p = spec;
    while (*o && *p) {
        char tok[128], *eq;
        const char *key, *name;
        size_t n = strcspn(p, " ");
        const ProtobufCFieldDescriptor *f;
        assert(n > 0 && n < sizeof tok);
        memcpy(tok, p, n);
        tok[n] = '\0';
        p += n + (p[n] == ' ');
        key = name = tok;
        if ((eq = strchr(tok, '='))) {
            *eq = '\0';
            name = eq + 1;
        }
        f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
        assert(f && f->label != PROTOBUF_C_LABEL_REPEATED);
        kks_json_set(o, key, pb_value(m, f));
    }
    return *o ? 0 : KKS_ENOMEM;
}

json_t *kks_json_pb(const ProtobufCMessage *m, const char *spec)
{
    json_t *o = json_object();
    kks_json_set_pb(&o, m, spec);
    return o;
}

int kks_json_set(json_t **o, const char *key, json_t *v)
{
    if (json_object_set_new(*o, key, v) == 0)
        return 0;
    json_decref(*o);
    *o = NULL;
    return KKS_ENOMEM;
}

int kks_json_append(json_t **a, json_t *v)
{
    if (json_array_append_new(*a, v) == 0)
        return 0;
    json_decref(*a);
    *a = NULL;
    return KKS_ENOMEM;
}

int kks_json_print(FILE *f, json_t *v)
{
    int rc;
    if (!v)
        return KKS_ENOMEM;
    rc = json_dumpf(v, f, KKS_JSON_FLAGS) < 0 || fputc('\n', f) == EOF ? KKS_EIO : 0;
    json_decref(v);
    return rc;
}
