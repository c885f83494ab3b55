/* A daemon's metrics server (core/metrics.c) on a loop of its own thread, for
 * tests that talk to it over sockets (test_metrics, test_scrape). One at a time. */
#ifndef KKS_TEST_METRICS_THREAD_H
#define KKS_TEST_METRICS_THREAD_H

#include "kks_metrics.h"

/* Starts it on 127.0.0.1:0 with source (may be NULL); its address. */
const char *metrics_thread_up(kks_metrics_source_fn source, void *ud);
/* Stops it and checks that every handle closed. */
void metrics_thread_down(void);

#endif
