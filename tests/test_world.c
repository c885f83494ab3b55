/* client/world.c: a private issuer and switch on loopback, started, driven
 * through kksctl, stopped, restarted and killed; kc_run's capture. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kc_world.h"
#include "kks_err.h"

static const char *ping[] = {"ping", NULL};

Test(world, start_drive_restart_and_stop)
{
    uv_loop_t loop;
    kc_world w;
    kc_world_opts o = {.bin_dir = KKS_BIN_DIR, .today = "2026-11-24"};
    char *out = NULL, *err = NULL, dir[KC_PATH_MAX];
    struct stat st;
    uv_loop_init(&loop);
    cr_assert_eq(kc_world_start(&w, &loop, &o), 0, "%s", w.why);
    snprintf(dir, sizeof dir, "%s", w.dir);
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "the world's directory is private");
    cr_assert(strncmp(w.addr[KC_ISSUER], "127.0.0.1:", 10) == 0, "%s", w.addr[KC_ISSUER]);
    cr_assert(strncmp(w.addr[KC_SWITCH], "127.0.0.1:", 10) == 0, "%s", w.addr[KC_SWITCH]);
    cr_assert_neq(strcmp(w.addr[KC_SWITCH], "127.0.0.1:0"), 0, "a real port");

    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) { /* the switch's issuer link comes up */
        free(out);
        free(err);
        rc = kc_world_ctl(&w, ping, &out, &err);
        if (rc != 0 || !strstr(out, "\"up\":true"))
            rc = -1, usleep(100000);
    }
    cr_assert_eq(rc, 0, "kksctl ping: %s %s", out, err);
    free(out);
    free(err);

    cr_assert_eq(kc_world_terminal(&w, "EW-127101-0001"), 0, "%s", w.why);
    cr_assert_eq(kc_world_terminal(&w, "EW-127101-0001"), 0, "a second time: nothing to do");
    cr_assert_eq(kc_world_terminal(&w, "not-a-terminal"), KKS_EINVAL);

    /* down and up on the same address; kill */
    char before[KKS_ADDR_MAX];
    snprintf(before, sizeof before, "%s", w.addr[KC_SWITCH]);
    cr_assert_eq(kc_world_daemon(&w, KC_SWITCH, KC_DOWN), 0);
    cr_assert_eq(w.proc[KC_SWITCH].status, 0, "SIGTERM: exit 0");
    cr_assert_geq(kc_world_ctl(&w, ping, &out, &err), 3, "the switch is down");
    free(out);
    free(err);
    cr_assert_eq(kc_world_daemon(&w, KC_SWITCH, KC_UP), 0, "%s", w.why);
    cr_assert_str_eq(w.addr[KC_SWITCH], before);
    cr_assert_eq(kc_world_daemon(&w, KC_ISSUER, KC_KILL), 0);
    cr_assert_eq(w.proc[KC_ISSUER].signal, 9);
    cr_assert_eq(kc_world_daemon(&w, KC_ISSUER, KC_UP), 0, "%s", w.why);
    cr_assert_eq(kc_world_stop(&w), 0);
    cr_assert_neq(stat(dir, &st), 0, "the directory is gone");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "nothing left on the loop");
}

Test(world, a_daemon_that_cannot_start_is_reported_with_its_log)
{
    uv_loop_t loop;
    kc_world w;
    kc_world_opts o = {.bin_dir = KKS_BIN_DIR, .seeds = "/nonexistent"};
    uv_loop_init(&loop);
    cr_assert_lt(kc_world_start(&w, &loop, &o), 0);
    cr_assert(strstr(w.why, "did not start"), "%s", w.why);
    cr_assert(strstr(w.why, "nonexistent"), "the log says why: %s", w.why);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(world, run_captures_output_and_status)
{
    uv_loop_t loop;
    char *out, *err;
    uv_loop_init(&loop);
    const char *sh[] = {"/bin/sh", "-c", "printf 'a%.0s' $(seq 100000); echo oops >&2; exit 3", NULL};
    cr_assert_eq(kc_run(&loop, sh, &out, &err), 3);
    cr_assert_eq(strlen(out), 100000);
    cr_assert_str_eq(err, "oops\n");
    free(out);
    free(err);
    const char *none[] = {"/nonexistent/program", NULL};
    cr_assert_lt(kc_run(&loop, none, &out, &err), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* An output past the 64 MiB cap is an error, not a shorter output taken for
 * the whole (the load's 600,000-family extract was cut at about 430,000
 * families that way); kc_run_to writes any size to a file. */
Test(world, run_refuses_an_output_past_the_cap_and_run_to_writes_any_size)
{
    uv_loop_t loop;
    char *out, *err, path[] = "/tmp/kks-test-run-XXXXXX";
    struct stat st;
    uv_loop_init(&loop);
    const char *big[] = {"/bin/sh", "-c", "head -c 70000000 /dev/zero", NULL};
    cr_assert_eq(kc_run(&loop, big, &out, &err), KKS_EOUTPUT);
    free(out);
    free(err);
    const char *fits[] = {"/bin/sh", "-c", "head -c 67108864 /dev/zero", NULL};
    cr_assert_eq(kc_run(&loop, fits, &out, &err), 0, "exactly the cap is whole");
    free(out);
    free(err);
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(kc_run_to(&loop, big, fd, &err), 0);
    cr_assert_str_eq(err, "");
    free(err);
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_eq(st.st_size, 70000000);
    close(fd);
    unlink(path);
    const char *fail[] = {"/bin/sh", "-c", "echo partial; echo no >&2; exit 4", NULL};
    fd = open("/dev/null", O_WRONLY);
    cr_assert_eq(kc_run_to(&loop, fail, fd, &err), 4);
    cr_assert_str_eq(err, "no\n");
    free(err);
    close(fd);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}
