/* What the command lines of every program share: the exit codes, the message
 * for an option that getopt_long refused, and the JSON object an error
 * becomes under --json.
 *
 * The error object is {"error":"why in words","exit":N}; a command that
 * knows more (kks-terminal: the transaction it was sending) adds its own
 * fields to the same object. Whatever a command prints, with --json its stdout
 * is exactly one JSON object per result, an error included; the words for
 * people go to stderr. */
#ifndef KKS_CLI_H
#define KKS_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

enum kks_exit {
    KKS_EXIT_OK = 0,       /* done / approved */
    KKS_EXIT_DECLINED = 1, /* declined by the system: a response code other than 00 */
    KKS_EXIT_USAGE = 2,    /* the command line, or a file or address it names, cannot be used */
    KKS_EXIT_PEER = 3,     /* cannot reach or talk to a peer */
    KKS_EXIT_INTERNAL = 4,
};

/* A few words for an exit code ("usage error"): the error of an object when
 * nothing more was said. */
const char *kks_cli_exit_name(int code);

/* After getopt_long returned ':' (optstring starting with ':', opterr 0) or
 * '?': "option --x needs a value" or "unknown option --x". The option is
 * named as typed up to any '=' (what follows might be a PIN). */
void kks_cli_bad_option(int ret, char **argv, char *out, size_t cap);

/* Keeps what a program says first (said[0] still '\0') as the "error" of its
 * error object: the first line of the text of fmt, without leading line
 * breaks and without prefix ("kksctl: ") when it starts with it. ap is left
 * for the caller to print. */
__attribute__((format(printf, 4, 0))) void kks_cli_keep(char *said, size_t cap, const char *prefix,
                                                        const char *fmt, va_list ap);

/* Adds "error" and "exit" to *o (kks_json_set: on failure *o is dropped).
 * Returns 0 or KKS_ENOMEM. */
int kks_cli_error_set(json_t **o, const char *msg, int exit_code);
/* Prints {"error":msg,"exit":exit_code} on one line on f. 0, KKS_ENOMEM or KKS_EIO. */
int kks_cli_error_json(FILE *f, const char *msg, int exit_code);

#endif
