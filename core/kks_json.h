/* JSON for machines: kksctl and kks-terminal --json and the settlement file go
 * through jansson (Debian's libjansson-dev), one library for the whole tree
 * instead of printf and a hand-made escaper in each place. The one exception is
 * the log writer, core/log.c, which says why (jansson costs 4x per log line).
 *
 * Why jansson: it escapes every string and checks that it is UTF-8 (a registry
 * name with a stray Latin-1 byte must not make the output invalid JSON: see
 * kks_json_str); objects keep their keys in insertion order (JSON_PRESERVE_ORDER),
 * so scripts and tests see a stable line; json_dumpf writes straight to a FILE,
 * so a large array is not built up a second time as a string; and json_loads
 * parses strictly with line and column in its errors, for tests and for the
 * scenario runner reading replies.
 *
 * Build values with jansson's own API (json_pack, json_object_set_new, ...);
 * these helpers add what every caller needs on top of it. Reference counts are
 * jansson's: the _new and "o" forms steal the reference they are given. */
#ifndef KKS_JSON_H
#define KKS_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

/* Compact (no spaces after ',' and ':'), keys in the order they were added. */
#define KKS_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* Length of the well-formed UTF-8 sequence (RFC 3629) that starts at s, or 0
 * when the byte at s does not start one. s is NUL-terminated. */
size_t kks_utf8_len(const char *s);
/* 1 when the NUL-terminated s (NULL too) is all well-formed UTF-8, else 0.
 * ASCII is checked eight bytes at a time: most text is. */
int kks_utf8_valid(const char *s);

/* A new JSON string for s, or JSON null for NULL. Bytes that are not UTF-8 are
 * each replaced by U+FFFD, so the result always dumps as valid JSON. NULL only
 * when out of memory. */
json_t *kks_json_str(const char *s);

/* Adds fields of a protobuf-c message to *o, in the order of spec: field names
 * separated by spaces, each either "name" or "key=name" to write it under
 * another key. Strings become strings (unset: ""), integers integers, bools
 * bools; a name that is not a singular field of one of those types is a bug
 * (assert). On failure drops *o as kks_json_set does. Returns 0 or KKS_ENOMEM. */
int kks_json_set_pb(json_t **o, const ProtobufCMessage *m, const char *spec);
/* A new object with those fields; NULL only when out of memory. */
json_t *kks_json_pb(const ProtobufCMessage *m, const char *spec);

/* (*o)[key] = v and *a += v, stealing v. On failure (out of memory, or v NULL
 * from a failed build) they drop the whole *o or *a and leave NULL there, so a
 * later kks_json_print reports the failure instead of printing half an object.
 * Return 0 or KKS_ENOMEM. */
int kks_json_set(json_t **o, const char *key, json_t *v);
int kks_json_append(json_t **a, json_t *v);

/* Writes v compact on one line, then "\n", to f, and drops the reference to v
 * (v NULL, as left by a failed json_pack, writes nothing). Returns 0, KKS_ENOMEM
 * for v NULL, or KKS_EIO when the write failed. */
int kks_json_print(FILE *f, json_t *v);

#endif
