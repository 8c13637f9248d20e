/*
 * Events stored per second by one dispatcher with many chatty hosts.
 *
 *   bench_events LAB HOSTS BATCH
 *
 * LAB is a lab whose HOSTS hosts (fake-1...) each have a queued job (see
 * bench/events.sh, which makes it). The hosts are the tests' in-process
 * fake host (tests/fakehost.c): no sshd and no agent, so what is measured is
 * the dispatcher and its store, which is the point. BATCH 0 stores the
 * events of one read in one transaction (group commit); BATCH 1 one
 * transaction per event, as before. Prints one line:
 *   <events> events in <seconds> s: <events/s> events/s
 */
#include "dispatch.h"
#include "fakehost.h"
#include "lab.h"
#include "store.h"
#include "assay/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_events LAB HOSTS BATCH\n");
        return 2;
    }
    assay_lab lab;
    if (assay_lab_open(&lab, argv[1]) < 0) {
        fprintf(stderr, "bench_events: %s\n", assay_error_last()->message);
        return 1;
    }
    fake_host fh;
    fake_host_init(&fh);
    fh.has_agent = fh.has_art = 1;
    fh.split = 16384; /* reads of the size libssh2 hands over */
    assay_transport t = fake_transport(&fh);
    FILE *devnull = fopen("/dev/null", "w");
    assay_dispatch_opts o = {.once = 1, .out = devnull, .transport = &t, .max_starting = atoi(argv[2]),
                             .event_batch = atoi(argv[3])};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = assay_dispatch(&lab, &o);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc < 0) {
        fprintf(stderr, "bench_events: %s\n", assay_error_last()->message);
        return 1;
    }
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    long events = 0;
    assay_job_rec *v;
    size_t n;
    (void)v;
    (void)n;
    /* Every event of every job: last_seq + 1 each. */
    for (int64_t id = 1;; id++) {
        assay_job_rec j;
        if (assay_store_job_get(lab.store, id, &j) < 0)
            break;
        events += j.last_seq + 1;
    }
    printf("%ld events in %.2f s: %.0f events/s\n", events, s, events / s);
    fake_host_free(&fh);
    fclose(devnull);
    assay_lab_close(&lab);
    return 0;
}
