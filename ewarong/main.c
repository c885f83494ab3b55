/* kks-terminal: an e-warong / ATM / branch terminal simulator (SPEC §8).
 * main() only gathers the real environment (clock, variables, the default
 * loop, stdout and stderr); everything else is term_cli() in cli.c, which the
 * tests run against a switch of their own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kks_log.h"
#include "load/load.h"
#include "scenario/scenario.h"
#include "terminal.h"
#include "train/train.h"

/* The terminal's state (STAN counter, journal) by default: never the
 * working directory, where a run from elsewhere would restart the STAN at 1. */
static const char *default_state(char *buf, size_t cap)
{
    const char *v = getenv("KKS_TERMINAL_STATE"), *xdg = getenv("XDG_STATE_HOME"),
               *home = getenv("HOME");
    if (v && *v)
        return v;
    if (xdg && *xdg == '/' && (size_t)snprintf(buf, cap, "%s/kks/terminals", xdg) < cap)
        return buf;
    if (home && *home == '/' &&
        (size_t)snprintf(buf, cap, "%s/.local/state/kks/terminals", home) < cap)
        return buf;
    return NULL; /* said by the command that needs it */
}

int main(int argc, char **argv)
{
    char state[1024];
    term_env env = {
        .loop = uv_default_loop(),
        .out = stdout,
        .err = stderr,
        .defaults = {.sw = getenv("KKS_SWITCH"),
                     .pki = getenv("KKS_PKI"),
                     .state = default_state(state, sizeof state),
                     .now = time(NULL)},
        /* SPEC §7: repeat the reversal from 0.5 s, doubling to 5 s, for 120 s. */
        .retry = {.first_ms = 500, .max_ms = 5000, .total_ms = 120000},
    };
    int rc;

    kks_log_init("kks-terminal");
    kks_log_set_level(KKS_LOG_ERROR);
    if (argc > 1 && strcmp(argv[1], "run") == 0) /* QA scenarios */
        return sc_cli(argc - 1, argv + 1, stdout, stderr);
    if (argc > 1 && strcmp(argv[1], "load") == 0) /* load testers */
        return load_cli(argc, argv);
    /* trainers: "train" as the command, before or after --id ID */
    if ((argc > 1 && strcmp(argv[1], "train") == 0) ||
        (argc > 3 && strcmp(argv[1], "--id") == 0 && strcmp(argv[3], "train") == 0))
        return train_cli(argc, argv);
    rc = term_cli(&env, argc, argv);
    uv_run(env.loop, UV_RUN_DEFAULT); /* let closing handles finish */
    uv_loop_close(env.loop);
    return rc;
}
