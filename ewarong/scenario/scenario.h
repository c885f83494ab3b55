/* kks-terminal run: scenarios for QA teams.
 *
 * A scenario is a YAML file (libyaml) that names a world (business date,
 * families), then steps: operator actions (through kksctl), terminal
 * transactions (through this program's own one-shot path, in process), faults
 * (daemons down, up or killed; links slowed, dropped or cut by fault proxies,
 * at once or a given time later), sleeps, and time passing (today: both
 * daemons restart with a new business date). Each step may expect reply
 * fields and save values for later steps ($name).
 *
 *   load.c   sc_load    YAML -> node tree (line, column) -> sc_scenario;
 *                       every error names file, line, column and the key
 *   run.c    sc_run     one scenario in its own world (or a given switch),
 *                       step by step, stopping at the first failure
 *   junit.c  sc_junit   the results as JUnit XML
 *   cli.c    sc_cli     files and directories, -j N, the summary, exit codes
 *
 * Bounds: a file is at most SC_FILE_MAX bytes, nesting SC_DEPTH_MAX deep, with
 * at most SC_NODES_MAX nodes and SC_STEPS_MAX steps; a scalar at most
 * SC_SCALAR_MAX bytes. */
#ifndef KKS_SCENARIO_H
#define KKS_SCENARIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define SC_FILE_MAX (1u << 20)
#define SC_DEPTH_MAX 16
#define SC_NODES_MAX 20000
#define SC_STEPS_MAX 500
#define SC_SCALAR_MAX 4096
#define SC_FAMILIES_MAX 1000

/* ---- the YAML tree ---- */

enum sc_node_kind { SC_SCALAR, SC_SEQ, SC_MAP };

typedef struct sc_node sc_node;
struct sc_node {
    enum sc_node_kind kind;
    int line, col; /* 1-based, where the node starts */
    char *scalar;  /* SC_SCALAR */
    int quoted;    /* the scalar was quoted: always a string */
    /* SC_SEQ: items; SC_MAP: keys[i] -> items[i] (keys are scalars) */
    sc_node **items, **keys;
    size_t n;
};

/* ---- a scenario ---- */

enum sc_step_kind {
    SC_ENROLL, SC_ACCOUNTS_OPEN, SC_PRINT, SC_HANDOVER, SC_CARD, SC_CREDIT, SC_SETTLE,
    SC_LEDGER_CHECK, SC_ACCOUNT, SC_COMPLAINT,
    SC_ACTIVATE, SC_BALANCE, SC_WITHDRAW, SC_PURCHASE, SC_PIN_CHANGE, SC_STATEMENT, SC_REVERSE,
    SC_SETTLE_TERMINAL,
    SC_FAULT, SC_SLEEP, SC_TODAY,
    SC_STEP_KINDS
};

typedef struct sc_step {
    enum sc_step_kind kind;
    int line, col;
    const sc_node *params; /* a map (possibly empty) */
    const sc_node *expect; /* a map, or NULL */
    const sc_node *save;   /* a map field -> name, or NULL */
} sc_step;

typedef struct sc_scenario {
    char *file;     /* as given */
    char *name;
    char today[11]; /* "" when not given */
    char *registry; /* a path (resolved against the file's directory), or NULL */
    const sc_node *families; /* a sequence of maps, or NULL */
    const sc_node *tags;
    sc_step *steps;
    size_t nsteps;
    sc_node *root; /* owns every node */
} sc_scenario;

/* The step kind's name as written in a file ("ledger-check"). */
const char *sc_step_name(enum sc_step_kind k);

/* Loads a scenario from a file. 0, or -1 with "FILE:LINE:COL: reason" in err
 * (nothing half loaded). */
int sc_load_file(const char *path, sc_scenario *out, char *err, size_t cap);
/* The same from bytes (for tests and the fuzzer); path names it in messages
 * and anchors a relative registry path. */
int sc_load_mem(const char *path, const char *data, size_t len, sc_scenario *out, char *err,
                size_t cap);
void sc_free(sc_scenario *s);

/* A duration as written in a file (2, 2s, 1.5s, 500ms; at most an hour) in
 * milliseconds. 0 or -1. */
int sc_duration_ms(const char *s, unsigned *ms);

/* A map's value for key, or NULL. */
const sc_node *sc_get(const sc_node *map, const char *key);

/* ---- running ---- */

/* Where a scenario runs: its own world (switch NULL), or given daemons. */
typedef struct sc_target {
    const char *sw, *issuer, *pki; /* all three, or none */
    const char *bin_dir;           /* kks-issuer, kks-switch, kksctl; NULL: beside us */
    const char *seeds;
    int keep;                      /* keep each world's directory */
    int verbose;                   /* print each step's whole reply (JSON) */
} sc_target;

typedef struct sc_result {
    int passed;
    double seconds;
    size_t steps_run;
    int failed_step; /* index, -1 when passed */
    int failed_line;
    char *failure;   /* what was expected and what came, for people (malloc'd) */
    char *reply;     /* the whole reply of the failed step, JSON (malloc'd) */
} sc_result;

/* Runs s, printing one line per step to out. Fills r (sc_result_free it). */
void sc_run(const sc_scenario *s, const sc_target *t, FILE *out, sc_result *r);
void sc_result_free(sc_result *r);

/* ---- a world kept open (kks-terminal train) ---- */

typedef struct sc_world sc_world;

/* Starts s's world as sc_run does and runs its steps (the setup), but leaves
 * the world running. NULL when the world did not start (r->failure says why);
 * otherwise r tells whether the steps passed. sc_world_close stops it. */
sc_world *sc_world_open(const sc_scenario *s, const sc_target *t, FILE *out, sc_result *r);
void sc_world_close(sc_world *w);
/* The PAN of a family's latest card, or NULL. */
const char *sc_world_card(sc_world *w, const char *kk);
/* The world's own directory (its files, logs, the terminals' state). */
const char *sc_world_dir(sc_world *w);
/* The business date, YYYY-MM-DD. */
const char *sc_world_today(sc_world *w);
/* Runs one kks-terminal command (args: "balance", "--pan", ...) as terminal id
 * against the world, --json, in process; its reply with "exit" (NULL: no memory).
 * reversal_ms bounds the automatic reversal after a lost reply. */
json_t *sc_world_terminal(sc_world *w, const char *id, const char *const *args, unsigned timeout_ms,
                          unsigned reversal_ms);
/* issuer-down, issuer-up, link-drop (in front of the switch), link-ok. 0 or -1. */
int sc_world_fault(sc_world *w, const char *what);
/* The next transaction's reply is lost: the issuer link is slowed and the
 * terminals' link swallows replies while the request is out, then heals before
 * timeout_ms + 500 ms, so that the automatic reversal gets through. 0 or -1. */
int sc_world_reply_lost(sc_world *w, unsigned timeout_ms);
/* kksctl --json ARGS against the world; a card in the reply becomes its
 * family's latest (sc_world_card). */
json_t *sc_world_ctl(sc_world *w, const char *const *args);
/* Runs the world's loop for about ms. */
void sc_world_pause(sc_world *w, unsigned ms);

/* ---- the YAML tree alone (lessons) ---- */

/* Parses one YAML document into a node tree (same bounds and messages as
 * scenarios: "PATH:LINE:COL: reason"). NULL on error. */
sc_node *sc_tree_mem(const char *path, const char *data, size_t len, char *err, size_t cap);
void sc_tree_free(sc_node *n);

/* ---- JUnit ---- */

typedef struct sc_case {
    const sc_scenario *s;
    const sc_result *r;
} sc_case;

/* Writes JUnit XML: one testsuite per file, one testcase per scenario. 0 or -1. */
int sc_junit_write(const char *path, const sc_case *cases, size_t n);

/* kks-terminal run ...: returns the exit code (0 all passed, 1 one failed, 2
 * a file could not be read or the command line is wrong). */
int sc_cli(int argc, char **argv, FILE *out, FILE *err);

#endif
