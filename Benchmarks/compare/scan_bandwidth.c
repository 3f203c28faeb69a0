// How fast this machine reads a 1M x 384 float32 matrix once, on 1 and on 2 threads: the floor under any
// exact single-query scan of that size (each query reads every row once), and so the best 2-thread /
// 1-thread ratio such a scan can reach here. No BLAS, no Engram, no top-k: a multiply-add of each of the
// matrix's vectors with the query's, the rows split in two halves for 2 threads.
//
//     cc -O3 -march=native -pthread -o /tmp/scan_bandwidth Benchmarks/compare/scan_bandwidth.c
//     /tmp/scan_bandwidth [rows] [rounds]        # defaults: 1000000 rows of 384, 21 rounds
//
// Rounds alternate 1 and 2 threads; prints each round and the medians.

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DIM = 384 };
typedef float v16 __attribute__((vector_size(64)));

static float *matrix;
static float query[DIM] __attribute__((aligned(64)));

typedef struct {
    size_t first, end;  // rows
    float best;         // a use of the sums, so that the compiler cannot drop the loop
} Part;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *scan(void *argument) {
    Part *part = argument;
    const v16 *q = (const v16 *)query;
    const v16 *m = (const v16 *)(matrix + part->first * DIM);
    size_t vectors = (part->end - part->first) * (DIM / 16);
    // Each row's 24 vectors times the query's, into four accumulators: a multiply-add per load, no
    // dependency chain long enough to hide the memory's speed.
    v16 a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i + 4 <= vectors; i += 4) {
        size_t j = i % (DIM / 16);
        a += m[i] * q[j];
        b += m[i + 1] * q[j + 1];
        c += m[i + 2] * q[j + 2];
        d += m[i + 3] * q[j + 3];
    }
    v16 s = (a + b) + (c + d);
    float best = -1e30f;
    for (int i = 0; i < 16; i++) best = s[i] > best ? s[i] : best;
    part->best = best;
    return NULL;
}

static double timedScan(size_t rows, int threads) {
    pthread_t handles[2];
    Part parts[2];
    double start = now();
    for (int t = 0; t < threads; t++) {
        parts[t].first = rows * (size_t)t / (size_t)threads;
        parts[t].end = rows * (size_t)(t + 1) / (size_t)threads;
        pthread_create(&handles[t], NULL, scan, &parts[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(handles[t], NULL);
    return (now() - start) * 1000;
}

static int ascending(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
    size_t rows = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 21;
    if (rows == 0 || rounds < 1) {
        fprintf(stderr, "usage: scan_bandwidth [rows] [rounds]\n");
        return 2;
    }
    matrix = aligned_alloc(64, rows * DIM * sizeof(float));
    if (!matrix) {
        fprintf(stderr, "cannot allocate %zu rows\n", rows);
        return 1;
    }
    srand(7);
    for (size_t i = 0; i < rows * DIM; i++) matrix[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < DIM; i++) query[i] = (float)rand() / (float)RAND_MAX - 0.5f;

    double one[rounds], two[rounds];
    double gigabytes = (double)(rows * DIM * sizeof(float)) / 1e9;
    for (int r = 0; r < rounds; r++) {
        one[r] = timedScan(rows, 1);
        two[r] = timedScan(rows, 2);
        printf("round %2d: 1 thread %6.1f ms (%4.1f GB/s), 2 threads %6.1f ms (%4.1f GB/s)\n", r + 1, one[r],
               gigabytes / one[r] * 1000, two[r], gigabytes / two[r] * 1000);
    }
    qsort(one, (size_t)rounds, sizeof(double), ascending);
    qsort(two, (size_t)rounds, sizeof(double), ascending);
    double m1 = one[rounds / 2], m2 = two[rounds / 2];
    printf("%zu x %d float32 (%.2f GB), medians of %d: 1 thread %.1f ms, 2 threads %.1f ms, 2 / 1 = %.2fx\n", rows,
           DIM, gigabytes, rounds, m1, m2, m2 / m1);
    free(matrix);
    return 0;
}
