/* Statistics against reference values from numpy and SciPy: the numbers
 * below are the output of tests/data/stats-reference.py, pasted as is. */
#include "stats.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

struct ref {
    double median, mean, sd, cv, q1, q3, lo, hi;
    int flags[16];
};
struct pair {
    double ratio, lo, hi, u, p;
    int exact;
};

/* made by tests/data/stats-reference.py (numpy 1.24.2, scipy 1.10.1) */
static const double S_base[] = {101.2, 99.8, 100.4, 102.9, 98.7, 100.1, 101.7, 99.3, 100.9, 103.4};
static const struct ref R_base = {100.65, 100.84, 1.5071680581658977, 0.014946133063922031, 99.875, 101.575, 99.69999999999999, 102.05000000000001, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
static const double S_again[] = {100.6, 101.9, 99.5, 100.2, 102.2, 98.9, 101.1, 100.7, 99.9, 102.6};
static const struct ref R_again = {100.65, 100.76, 1.2020353109991757, 0.01192968748510496, 99.97500000000001, 101.7, 99.85, 101.9, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
static const double S_slower[] = {131.5, 130.2, 133.0, 129.1, 132.4, 130.8, 134.2, 129.9, 131.1, 130.5};
static const struct ref R_slower = {130.95, 131.26999999999998, 1.5449199907366644, 0.01176902560171147, 130.27499999999998, 132.175, 130.2, 132.4, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
static const double S_noisy[] = {48.8, 101.9, 77.0, 290.0, 63.5, 95.2, 410.0, 70.1, 120.4, 55.0};
static const struct ref R_noisy = {86.1, 133.19, 119.7352398697504, 0.8989807032791531, 65.15, 115.775, 62.89125000000001, 195.95, {0, 0, 0, 1, 0, 0, 1, 0, 0, 0}};
static const double S_ties[] = {12.0, 15.0, 15.0, 13.0, 12.0, 14.0, 15.0, 13.0, 20.0};
static const struct ref R_ties = {14.0, 14.333333333333334, 2.449489742783178, 0.170894633217431, 13.0, 15.0, 12.0, 15.0, {0, 0, 0, 0, 0, 0, 0, 0, 1}};
static const double S_ties2[] = {14.0, 16.0, 15.0, 17.0, 16.0, 15.0, 18.0, 16.0, 14.0, 17.0, 16.0};
static const struct ref R_ties2 = {16.0, 15.818181818181818, 1.2504544628399563, 0.07905171891516966, 15.0, 16.5, 15.0, 17.0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
static const double S_three[] = {2.31, 2.27, 2.4};
static const struct ref R_three = {2.31, 2.3266666666666667, 0.06658328118479387, 0.028617456096616277, 2.29, 2.355, 2.27, 2.4, {0, 0, 0}};
static const struct pair P_base_again = {1.0, 0.9846610588817416, 1.0155077538769386, 50.0, 1.0, 1};
static const struct pair P_base_slower = {1.3010432190760057, 1.2831858407079646, 1.32069825436409, 0.0, 1.082508822446903e-05, 1};
static const struct pair P_base_noisy = {0.8554396423248881, 0.6231561609303707, 1.9468455042225532, 62.0, 0.39304812834224606, 1};
static const struct pair P_ties_ties2 = {1.1428571428571428, 1.0, 1.3333333333333333, 21.0, 0.030967823957693003, 0};
static const struct pair P_three_base = {43.57142857142857, 41.64583333333333, 44.691629955947135, 0.0, 0.006993006993006993, 1};

#define N(a) (sizeof(a) / sizeof *(a))

/* Equal to the last few bits: the same arithmetic, in another order. */
static void near(double got, double want, const char *what)
{
    cr_expect(fabs(got - want) <= 1e-12 * fmax(1, fabs(want)), "%s: %.17g, reference %.17g", what, got, want);
}

static void check_summary(const double *x, size_t n, const struct ref *r, const char *name)
{
    assay_summary s;
    unsigned char flags[16];
    cr_assert_eq(assay_stats_summary(&s, flags, x, n, ASSAY_STATS_SEED, ASSAY_STATS_RESAMPLES), 0, "%s",
                 assay_error_last()->message);
    cr_expect_eq(s.n, n);
    near(s.median, r->median, name);
    near(s.mean, r->mean, name);
    near(s.sd, r->sd, name);
    near(s.cv, r->cv, name);
    near(s.q1, r->q1, name);
    near(s.q3, r->q3, name);
    near(s.ci_lo, r->lo, name);
    near(s.ci_hi, r->hi, name);
    size_t outliers = 0;
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(flags[i], r->flags[i], "%s: sample %zu outlier flag %d, reference %d", name, i, flags[i],
                     r->flags[i]);
        outliers += (size_t)r->flags[i];
    }
    cr_expect_eq(s.noutliers, outliers, "%s", name);
}

#define SUMMARY(name) check_summary(S_##name, N(S_##name), &R_##name, #name)

Test(stats, summaries_match_numpy)
{
    SUMMARY(base);
    SUMMARY(again);
    SUMMARY(slower);
    SUMMARY(noisy);
    SUMMARY(ties);
    SUMMARY(ties2);
    SUMMARY(three);
}

static void check_pair(const double *a, size_t na, const double *b, size_t nb, const struct pair *r, const char *name)
{
    double ratio, lo, hi;
    assay_mwu m;
    cr_assert_eq(assay_stats_ratio(&ratio, &lo, &hi, a, na, b, nb, ASSAY_STATS_SEED, ASSAY_STATS_RESAMPLES), 0);
    near(ratio, r->ratio, name);
    near(lo, r->lo, name);
    near(hi, r->hi, name);
    cr_assert_eq(assay_stats_mwu(&m, a, na, b, nb), 0);
    near(m.u, r->u, name);
    near(m.p, r->p, name);
    cr_expect_eq(m.exact, r->exact, "%s: exact %d, reference %d", name, m.exact, r->exact);
}

#define PAIR(x, y) check_pair(S_##x, N(S_##x), S_##y, N(S_##y), &P_##x##_##y, #x " " #y)

Test(stats, comparisons_match_scipy)
{
    PAIR(base, again);
    PAIR(base, slower);
    PAIR(base, noisy);
    PAIR(ties, ties2);
    PAIR(three, base);
}

/* The cases: two runs of the same thing, a version 30% slower, a
 * noisy benchmark. */
Test(stats, verdicts_of_the_reference_pairs)
{
    double ratio, lo, hi;
    assay_mwu m;
    assay_stats_ratio(&ratio, &lo, &hi, S_base, N(S_base), S_again, N(S_again), ASSAY_STATS_SEED, 1000);
    assay_stats_mwu(&m, S_base, N(S_base), S_again, N(S_again));
    cr_expect_eq(assay_stats_verdict(m.p, lo, hi, 0.01), ASSAY_CMP_NONE);

    assay_stats_ratio(&ratio, &lo, &hi, S_base, N(S_base), S_slower, N(S_slower), ASSAY_STATS_SEED, 1000);
    assay_stats_mwu(&m, S_base, N(S_base), S_slower, N(S_slower));
    cr_expect_lt(m.p, 0.01);
    cr_expect_eq(assay_stats_verdict(m.p, lo, hi, 0.01), ASSAY_CMP_HIGHER, "30%% more time is higher");

    /* A difference the U test sees but the ratio's interval does not
     * exclude is not measurable, and the other way round. */
    cr_expect_eq(assay_stats_verdict(0.001, 0.98, 1.2, 0.01), ASSAY_CMP_NONE);
    cr_expect_eq(assay_stats_verdict(0.02, 1.1, 1.2, 0.01), ASSAY_CMP_NONE);
    cr_expect_eq(assay_stats_verdict(0.001, 0.7, 0.9, 0.01), ASSAY_CMP_LOWER);

    assay_summary s;
    assay_stats_summary(&s, NULL, S_noisy, N(S_noisy), ASSAY_STATS_SEED, ASSAY_STATS_RESAMPLES);
    cr_expect_gt(s.ci_rel, 1.0, "the noisy sample's interval is wider than its median");
    assay_stats_summary(&s, NULL, S_base, N(S_base), ASSAY_STATS_SEED, ASSAY_STATS_RESAMPLES);
    cr_expect_lt(s.ci_rel, 0.05);
}

Test(stats, same_seed_same_interval_other_seed_another)
{
    assay_summary a, b, c;
    assay_stats_summary(&a, NULL, S_noisy, N(S_noisy), 7, 2000);
    assay_stats_summary(&b, NULL, S_noisy, N(S_noisy), 7, 2000);
    assay_stats_summary(&c, NULL, S_noisy, N(S_noisy), 8, 2000);
    cr_expect(a.ci_lo == b.ci_lo && a.ci_hi == b.ci_hi);
    cr_expect(a.ci_lo != c.ci_lo || a.ci_hi != c.ci_hi);
}

/* splitmix64's published first outputs from seed 0 (the reference C code
 * of Vigna, prng.di.unimi.it/splitmix64.c). */
Test(stats, splitmix64_known_outputs)
{
    uint64_t st = 0;
    cr_expect_eq(assay_stats_next(&st), 0xe220a8397b1dcdafull);
    cr_expect_eq(assay_stats_next(&st), 0x6e789e6aa1b965f4ull);
    cr_expect_eq(assay_stats_next(&st), 0x06c45d188009454full);
}

Test(stats, refuses_what_it_cannot_summarise)
{
    assay_summary s;
    double bad[] = {1, NAN, 3}, neg[] = {1, -2}, one[] = {4};
    cr_expect_eq(assay_stats_summary(&s, NULL, bad, 0, 1, 10), ASSAY_EINVAL);
    cr_expect_eq(assay_stats_summary(&s, NULL, bad, 3, 1, 10), ASSAY_EINVAL);
    double r, lo, hi;
    cr_expect_eq(assay_stats_ratio(&r, &lo, &hi, one, 1, neg, 2, 1, 10), ASSAY_EINVAL);
    /* One sample: its own median, an interval of no width, no spread. */
    cr_assert_eq(assay_stats_summary(&s, NULL, one, 1, 1, 10), 0);
    cr_expect(s.median == 4 && s.ci_lo == 4 && s.ci_hi == 4 && s.sd == 0 && s.noutliers == 0);
    /* Identical samples: nothing tells them apart. */
    double same[] = {5, 5, 5};
    assay_mwu m;
    cr_assert_eq(assay_stats_mwu(&m, same, 3, same, 3), 0);
    cr_expect_eq(m.p, 1.0);
}
