/*
 * sumx: a small file checksummer, the sample vendor program of ci/demo.sh.
 *
 *   sumx FILE...            FNV-1a 64 of each file ("<hex>  <name>")
 *   sumx --check LIST       verify a list written by sumx; exit 1 on a mismatch
 *   sumx --blocks FILE      digest of the file's 1 MiB block digests
 *   sumx --parallel N FILE  the same, computed by N threads
 *   sumx --bench MB         hash MB MiB in memory; print MB/s on the last line
 *   sumx --version
 *
 * Exit status 2 when a file cannot be read. Written for the demo: it is a
 * real program, with a real adaptation bug when built the way ci/demo.sh
 * builds it for aarch64 (ARMv8.1 atomics, which Phytium FT-2000+ lacks).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK (1u << 20)
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static int file_sum(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sumx: %s: %s\n", path, strerror(errno));
        return 2;
    }
    static unsigned char buf[65536];
    uint64_t h = FNV_OFFSET;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = fnv(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "sumx: %s: read error\n", path);
        return 2;
    }
    *out = h;
    return 0;
}

struct work {
    const unsigned char *data;
    size_t size, nblocks;
    uint64_t *digests;
    long next;       /* next block to take: shared by the threads */
    long done_bytes; /* progress counter: shared by the threads */
};

static void *worker(void *arg)
{
    struct work *w = arg;
    for (;;) {
        long b = __atomic_fetch_add(&w->next, 1, __ATOMIC_SEQ_CST);
        if ((size_t)b >= w->nblocks)
            return NULL;
        size_t off = (size_t)b * BLOCK, n = w->size - off < BLOCK ? w->size - off : BLOCK;
        w->digests[b] = fnv(FNV_OFFSET, w->data + off, n);
        __atomic_fetch_add(&w->done_bytes, (long)n, __ATOMIC_SEQ_CST);
    }
}

static int blocks(const char *path, int threads)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sumx: %s: %s\n", path, strerror(errno));
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size)) {
        fprintf(stderr, "sumx: %s: read error\n", path);
        fclose(f);
        free(data);
        return 2;
    }
    fclose(f);
    struct work w = {data, (size_t)size, ((size_t)size + BLOCK - 1) / BLOCK, NULL, 0, 0};
    w.digests = calloc(w.nblocks ? w.nblocks : 1, sizeof *w.digests);
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        threads = 1;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, &w);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    uint64_t h = fnv(FNV_OFFSET, (const unsigned char *)w.digests, w.nblocks * sizeof *w.digests);
    printf("%016llx  %s  (%zu blocks, %ld bytes)\n", (unsigned long long)h, path, w.nblocks, w.done_bytes);
    free(w.digests);
    free(data);
    return 0;
}

static int check(const char *list)
{
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "sumx: %s: %s\n", list, strerror(errno));
        return 2;
    }
    char line[4200];
    int bad = 0;
    while (fgets(line, sizeof line, f)) {
        char hex[32], name[4096];
        if (sscanf(line, "%31s  %4095[^\n]", hex, name) != 2)
            continue;
        uint64_t h;
        int rc = file_sum(name, &h);
        char got[32];
        snprintf(got, sizeof got, "%016llx", (unsigned long long)h);
        if (rc || strcmp(got, hex)) {
            printf("%s: FAILED\n", name);
            bad = 1;
        } else {
            printf("%s: OK\n", name);
        }
    }
    fclose(f);
    return bad;
}

static int bench(long mb)
{
    size_t n = (size_t)mb << 20;
    unsigned char *p = malloc(n);
    if (!p)
        return 2;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 131u);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile uint64_t h = fnv(FNV_OFFSET, p, n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    (void)h;
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("hashed %ld MiB in %.3f s\n%.1f\n", mb, s, (double)mb / (s > 0 ? s : 1e-9));
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        puts("sumx 1.2.0");
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--check"))
        return check(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--blocks"))
        return blocks(argv[2], 1);
    if (argc == 4 && !strcmp(argv[1], "--parallel"))
        return blocks(argv[3], atoi(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "--bench"))
        return bench(atol(argv[2]));
    if (argc < 2 || argv[1][0] == '-') {
        fputs("usage: sumx FILE... | --check LIST | --blocks FILE | --parallel N FILE | --bench MB | --version\n", stderr);
        return 2;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        uint64_t h;
        int r = file_sum(argv[i], &h);
        if (r)
            rc = r;
        else
            printf("%016llx  %s\n", (unsigned long long)h, argv[i]);
    }
    return rc;
}
