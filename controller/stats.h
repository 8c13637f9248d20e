/*
 * Statistics of benchmark samples: the figures of the report's benchmark
 * and comparison sections (docs/report.md says what each one means).
 *
 * Every random choice comes from splitmix64 (Steele, Lea, Flood 2014,
 * "Fast splittable pseudorandom number generators"; the generator of
 * java.util.SplittableRandom) started from a seed the report records, so
 * the same samples give the same intervals on every machine. A random
 * index below n is the high 64 bits of the 128-bit product of a draw and
 * n (Lemire's multiply-shift, bias below n/2^64). tests/data/stats-reference.py
 * does the same in Python with numpy and SciPy, and the tests compare.
 */
#ifndef ASSAY_CTL_STATS_H
#define ASSAY_CTL_STATS_H

#include <stddef.h>
#include <stdint.h>

#define ASSAY_STATS_SEED 0x6173736179ull /* "assay": the seed reports record */
#define ASSAY_STATS_RESAMPLES 10000      /* bootstrap resamples */
#define ASSAY_STATS_MAX_SAMPLES 100000   /* more samples than this are refused */

/* The next splitmix64 draw; advances *state. */
uint64_t assay_stats_next(uint64_t *state);

/* The q-quantile (0 <= q <= 1) of n >= 1 sorted values, interpolated
 * linearly between order statistics (Hyndman-Fan type 7, numpy's and R's
 * default). */
double assay_stats_quantile(const double *sorted, size_t n, double q);

typedef struct assay_summary {
    size_t n;
    double median, mean;
    double sd;            /* sample standard deviation (n - 1); 0 when n < 2 */
    double cv;            /* sd / |mean|; 0 when the mean is 0 */
    double min, max, q1, q3;
    double ci_lo, ci_hi;  /* 95% bootstrap percentile interval of the median */
    double ci_rel;        /* (ci_hi - ci_lo) / |median|: the interval's width relative to the median */
    size_t noutliers;     /* samples outside the Tukey fences */
} assay_summary;

/*
 * Summarise n samples x (in any order). The interval is the 2.5% and
 * 97.5% quantiles (type 7) of the medians of `resamples` resamples of x
 * drawn with replacement from `seed`. outlier, when not NULL, gets n flags
 * in x's order: 1 below q1 - 1.5 IQR or above q3 + 1.5 IQR (Tukey's
 * fences), else 0; no sample is dropped from any figure. Returns 0, or
 * ASSAY_EINVAL (n == 0, too many, a value not finite) / ASSAY_ENOMEM.
 */
int assay_stats_summary(assay_summary *out, unsigned char *outlier, const double *x, size_t n, uint64_t seed,
                        int resamples);

/*
 * The ratio median(b) / median(a) and its 95% bootstrap percentile
 * interval: each resample draws na values of a, then nb of b, with
 * replacement, from one splitmix64 stream started at `seed`. Every sample
 * must be positive (times and rates are). Returns 0, or ASSAY_EINVAL /
 * ASSAY_ENOMEM.
 */
int assay_stats_ratio(double *ratio, double *lo, double *hi, const double *a, size_t na, const double *b, size_t nb,
                      uint64_t seed, int resamples);

typedef struct assay_mwu {
    double u;    /* U of a: the pairs (a_i, b_j) with a_i > b_j, ties counted one half */
    double p;    /* two-sided p value */
    int exact;   /* 1: the exact distribution of U; 0: the normal approximation */
} assay_mwu;

/*
 * The Mann-Whitney U test of a against b, two-sided, as SciPy's
 * mannwhitneyu computes it: exact when no value is tied and na + nb <=
 * ASSAY_MWU_EXACT_MAX; otherwise the normal approximation with the tie
 * correction of the variance and a continuity correction of 0.5. Returns
 * 0, or ASSAY_EINVAL (an empty sample) / ASSAY_ENOMEM.
 */
#define ASSAY_MWU_EXACT_MAX 60
int assay_stats_mwu(assay_mwu *out, const double *a, size_t na, const double *b, size_t nb);

/* What a comparison of b against a says. */
typedef enum {
    ASSAY_CMP_NONE,   /* no measurable difference */
    ASSAY_CMP_LOWER,  /* b's values are lower */
    ASSAY_CMP_HIGHER, /* b's values are higher */
} assay_cmp;

/*
 * A difference is measurable only when both tests say so: the U test's p
 * is below `alpha` and the ratio's interval [lo, hi] leaves out 1. Then
 * the direction is the ratio's.
 */
assay_cmp assay_stats_verdict(double p, double lo, double hi, double alpha);

#endif
