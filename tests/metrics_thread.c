#include "metrics_thread.h"

#include <criterion/criterion.h>
#include <pthread.h>

static uv_loop_t sloop;
static uv_async_t stop_async;
static kks_metrics_server *srv;
static pthread_t sthread;

static void on_stop(uv_async_t *a)
{
    kks_metrics_close(srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void *serve(void *arg)
{
    uv_run(&sloop, UV_RUN_DEFAULT);
    return NULL;
}

const char *metrics_thread_up(kks_metrics_source_fn source, void *ud)
{
    uv_loop_init(&sloop);
    cr_assert_eq(kks_metrics_listen(&sloop, "127.0.0.1:0", source, ud, &srv), 0);
    uv_async_init(&sloop, &stop_async, on_stop);
    cr_assert_eq(pthread_create(&sthread, NULL, serve, NULL), 0);
    return kks_metrics_address(srv);
}

void metrics_thread_down(void)
{
    uv_async_send(&stop_async);
    pthread_join(sthread, NULL);
    cr_assert_eq(uv_loop_close(&sloop), 0, "every handle closed");
}
