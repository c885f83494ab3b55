/* A private KKS world: a fresh PKI, an issuer and a switch on 127.0.0.1 with
 * ports the system picks, in a temporary directory of its own, started and
 * stopped by the caller. The scenario runner gives each scenario one; the
 * training mode and the load generator use one when no switch is given.
 *
 *   kc_world_start: DIR (0700) <- PKI; issuer, switch started with
 *                   --listen 127.0.0.1:0 --ready-file, waited for
 *   kc_world_daemon: down (SIGTERM, waited) / up (again, same port and
 *                   database) / kill (SIGKILL) the issuer or the switch
 *   kc_world_ctl:   runs kksctl against the world, output captured
 *   kc_world_stop:  SIGTERM both, waited for; DIR removed unless kept
 *
 * Processes are libuv children of the caller's loop, and every wait here runs
 * that loop: whatever else lives on it (fault proxies, terminals) keeps going.
 * Never a fixed port, never another address than 127.0.0.1. */
#ifndef KC_WORLD_H
#define KC_WORLD_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "kks_net.h"

#define KC_PATH_MAX 512

enum kc_daemon { KC_ISSUER = 0, KC_SWITCH = 1 };
enum kc_action { KC_DOWN, KC_UP, KC_KILL };

typedef struct kc_proc {
    uv_process_t h;
    int running, closed;
    int64_t status;
    int signal;
    char log[KC_PATH_MAX + 32];
} kc_proc;

typedef struct kc_world_opts {
    const char *bin_dir; /* kks-issuer, kks-switch, kksctl; NULL: beside this program */
    const char *seeds;   /* NULL: kks_seeds_default(), passed to both daemons */
    const char *today;   /* the business date of both daemons, or NULL */
    const char *tmp;     /* parent of the world's directory; NULL: $TMPDIR or /tmp */
    /* The switch's link to its issuer goes to this address instead of the
     * issuer's own (a fault proxy in front of the issuer): called once the
     * issuer is up with its address; returns the address to give the switch
     * (or NULL for the issuer's). */
    const char *(*issuer_front)(void *ud, const char *issuer_addr);
    void *ud;
    int keep; /* leave the directory (logs, databases) in place */
    /* The PKI to use (made there if it holds no CA yet) instead of a fresh one
     * in the world's directory: the load generator keeps its thousands of
     * terminal certificates from one run to the next. NULL: fresh. */
    const char *pki;
} kc_world_opts;

typedef struct kc_world {
    uv_loop_t *loop;
    kc_world_opts o;
    char dir[KC_PATH_MAX], pki[KC_PATH_MAX], bin[KC_PATH_MAX];
    char addr[2][KKS_ADDR_MAX]; /* the issuer's and the switch's own */
    char issuer_link[KKS_ADDR_MAX]; /* what the switch dials for its issuer */
    kc_proc proc[2];
    char why[1100]; /* what went wrong last, for people */
} kc_world;

/* Starts a world. 0, or a negative KKS_E* with the reason in w->why (and the
 * daemon's last log lines when it did not start); nothing is left running. */
int kc_world_start(kc_world *w, uv_loop_t *loop, const kc_world_opts *o);
/* The directory of this program (where kksctl and the daemons are installed
 * beside it): 0, or KKS_EIO when it cannot be read or would not fit in cap. */
int kc_bin_dir(char *out, size_t cap);
/* Stops both daemons (SIGTERM, waiting up to 10 s, then SIGKILL) and removes
 * the directory unless kept. Returns 0 when both exited 0, else KKS_EIO. */
int kc_world_stop(kc_world *w);
/* Down, up or kill one daemon. 0 or a negative KKS_E* (w->why). */
int kc_world_daemon(kc_world *w, enum kc_daemon which, enum kc_action what);
/* Makes a terminal's certificate, key and PIN key in the world's PKI (once). */
int kc_world_terminal(kc_world *w, const char *id);

/* Runs kksctl --pki P --issuer A --switch A --json ARGS... (args NULL-ended) on
 * the loop. *out and *err receive its standard output and error (malloc'd,
 * NUL-terminated, at most 64 MiB each; free them). Returns its exit status
 * (0..255), or a negative KKS_E* when it could not run. */
int kc_world_ctl(kc_world *w, const char *const *args, char **out, char **err);

/* Runs the loop for about ms: whatever lives on it keeps being served. */
void kc_pause(uv_loop_t *loop, unsigned ms);

/* Runs a program to completion on loop, capturing its output the same way.
 * An output longer than the cap returns KKS_EOUTPUT (what was read is in *out
 * and *err, cut at the cap). */
int kc_run(uv_loop_t *loop, const char *const *argv, char **out, char **err);
/* The same with its standard output written to out_fd (a file, any size). */
int kc_run_to(uv_loop_t *loop, const char *const *argv, int out_fd, char **err);

#endif
