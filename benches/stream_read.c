/* A STREAM-style read-bandwidth kernel, independent of nativebench's probe: each OpenMP
 * thread first-touches and then sums its own slice of a 1 GiB array of 64-bit words
 * (integers, so gcc vectorizes the sum without -ffast-math); the best
 * of 5 rounds, in GB/s (1e9 bytes), is printed. Built and run by benches/roofline.sh. */
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#define BYTES (1UL << 30)
#define ROUNDS 5

int main(void) {
    size_t n = BYTES / sizeof(uint64_t);
    uint64_t *a = malloc(BYTES);
    if (!a) return 1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = i & 1023;
    double best = 1e30;
    uint64_t sink = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = omp_get_wtime();
        uint64_t sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
        for (size_t i = 0; i < n; i++) sum += a[i];
        double t = omp_get_wtime() - t0;
        sink += sum;
        if (t < best) best = t;
    }
    printf("%.2f\n", BYTES / best / 1e9);
    fprintf(stderr, "checksum %llu\n", (unsigned long long)sink);
    free(a);
    return 0;
}
