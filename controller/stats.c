/* Statistics of benchmark samples; see stats.h. */
#include "stats.h"
#include "assay/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t assay_stats_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform index below n (Lemire's multiply-shift). */
static size_t below(uint64_t *state, size_t n)
{
    return (size_t)(((unsigned __int128)assay_stats_next(state) * n) >> 64);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double assay_stats_quantile(const double *sorted, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static double median_sorted(const double *s, size_t n)
{
    return assay_stats_quantile(s, n, 0.5);
}

static int check(const double *x, size_t n, const char *what)
{
    if (n == 0)
        return assay_error_set(ASSAY_EINVAL, "%s: no samples", what);
    if (n > ASSAY_STATS_MAX_SAMPLES)
        return assay_error_set(ASSAY_EINVAL, "%s: more than %d samples", what, ASSAY_STATS_MAX_SAMPLES);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return assay_error_set(ASSAY_EINVAL, "%s: sample %zu is not a finite number", what, i + 1);
    return 0;
}

/* The k-th smallest of a[0..n) (from 0), moving a's values so that
 * a[0..k) <= a[k] <= a[k+1..n): Hoare's selection, the middle value as
 * pivot. Linear on average, where a sort is n log n: the bootstrap takes
 * 10000 medians per figure. */
static double select_k(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

/* The median of n values of x drawn with replacement, in tmp (n slots):
 * the same number median_sorted() gives for the sorted draw. */
static double resample_median(uint64_t *state, const double *x, size_t n, double *tmp)
{
    for (size_t i = 0; i < n; i++)
        tmp[i] = x[below(state, n)];
    size_t mid = (n - 1) / 2;
    double lo = select_k(tmp, n, mid);
    if (n % 2)
        return lo;
    double hi = tmp[mid + 1];
    for (size_t i = mid + 2; i < n; i++)
        hi = tmp[i] < hi ? tmp[i] : hi;
    return lo + 0.5 * (hi - lo);
}

int assay_stats_summary(assay_summary *out, unsigned char *outlier, const double *x, size_t n, uint64_t seed,
                        int resamples)
{
    int rc = check(x, n, "summary");
    if (rc < 0)
        return rc;
    if (resamples < 1)
        return assay_error_set(ASSAY_EINVAL, "summary: %d bootstrap resamples", resamples);
    double *s = malloc(n * sizeof *s), *tmp = malloc(n * sizeof *tmp),
           *meds = malloc((size_t)resamples * sizeof *meds);
    if (!s || !tmp || !meds) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    assay_summary r = {.n = n};
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    /* Welford's sums: no cancellation when the spread is small against the mean. */
    double mean = 0, m2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        mean += d / (double)(i + 1);
        m2 += d * (x[i] - mean);
    }
    r.mean = mean;
    r.sd = n > 1 ? sqrt(m2 / (double)(n - 1)) : 0;
    r.cv = mean != 0 ? r.sd / fabs(mean) : 0;
    r.median = median_sorted(s, n);
    r.min = s[0];
    r.max = s[n - 1];
    r.q1 = assay_stats_quantile(s, n, 0.25);
    r.q3 = assay_stats_quantile(s, n, 0.75);
    double iqr = r.q3 - r.q1, lo = r.q1 - 1.5 * iqr, hi = r.q3 + 1.5 * iqr;
    for (size_t i = 0; i < n; i++) {
        int o = x[i] < lo || x[i] > hi;
        r.noutliers += (size_t)o;
        if (outlier)
            outlier[i] = (unsigned char)o;
    }
    uint64_t st = seed;
    for (int b = 0; b < resamples; b++)
        meds[b] = resample_median(&st, x, n, tmp);
    qsort(meds, (size_t)resamples, sizeof *meds, cmp_double);
    r.ci_lo = assay_stats_quantile(meds, (size_t)resamples, 0.025);
    r.ci_hi = assay_stats_quantile(meds, (size_t)resamples, 0.975);
    r.ci_rel = r.median != 0 ? (r.ci_hi - r.ci_lo) / fabs(r.median) : INFINITY;
    *out = r;
    rc = 0;
out:
    free(s);
    free(tmp);
    free(meds);
    return rc;
}

int assay_stats_ratio(double *ratio, double *lo, double *hi, const double *a, size_t na, const double *b, size_t nb,
                      uint64_t seed, int resamples)
{
    int rc;
    if ((rc = check(a, na, "ratio")) < 0 || (rc = check(b, nb, "ratio")) < 0)
        return rc;
    for (size_t i = 0; i < na + nb; i++)
        if ((i < na ? a[i] : b[i - na]) <= 0)
            return assay_error_set(ASSAY_EINVAL, "ratio: a sample is not positive");
    if (resamples < 1)
        return assay_error_set(ASSAY_EINVAL, "ratio: %d bootstrap resamples", resamples);
    size_t nmax = na > nb ? na : nb;
    double *tmp = malloc(nmax * sizeof *tmp), *rs = malloc((size_t)resamples * sizeof *rs);
    if (!tmp || !rs) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(tmp, a, na * sizeof *tmp);
    qsort(tmp, na, sizeof *tmp, cmp_double);
    double ma = median_sorted(tmp, na);
    memcpy(tmp, b, nb * sizeof *tmp);
    qsort(tmp, nb, sizeof *tmp, cmp_double);
    double mb = median_sorted(tmp, nb);
    uint64_t st = seed;
    for (int k = 0; k < resamples; k++) {
        double ra = resample_median(&st, a, na, tmp);
        rs[k] = resample_median(&st, b, nb, tmp) / ra;
    }
    qsort(rs, (size_t)resamples, sizeof *rs, cmp_double);
    *ratio = mb / ma;
    *lo = assay_stats_quantile(rs, (size_t)resamples, 0.025);
    *hi = assay_stats_quantile(rs, (size_t)resamples, 0.975);
    rc = 0;
out:
    free(tmp);
    free(rs);
    return rc;
}

struct ranked {
    double v;
    int from_a;
};

static int cmp_ranked(const void *x, const void *y)
{
    return cmp_double(&((const struct ranked *)x)->v, &((const struct ranked *)y)->v);
}

/* P(U >= u) for samples of m and n distinct values: the share of the
 * m-subsets of the ranks 1..m+n whose rank sum is at least u + m(m+1)/2.
 * Counted as doubles: C(60, 30) ~ 1.2e17 loses digits past 2^53 only in
 * the last place of a probability. */
static int exact_sf(double *out, size_t m, size_t n, double u)
{
    size_t N = m + n, maxsum = N * (N + 1) / 2;
    double *dp = calloc((m + 1) * (maxsum + 1), sizeof *dp);
    if (!dp)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
#define DP(k, s) dp[(k) * (maxsum + 1) + (s)]
    DP(0, 0) = 1;
    for (size_t item = 1; item <= N; item++)
        for (size_t k = item < m ? item : m; k >= 1; k--)
            for (size_t s = maxsum; s >= item; s--)
                DP(k, s) += DP(k - 1, s - item);
    double total = 0, tail = 0, from = u + (double)(m * (m + 1) / 2);
    for (size_t s = 0; s <= maxsum; s++) {
        total += DP(m, s);
        if ((double)s >= from)
            tail += DP(m, s);
    }
#undef DP
    free(dp);
    *out = tail / total;
    return 0;
}

int assay_stats_mwu(assay_mwu *out, const double *a, size_t na, const double *b, size_t nb)
{
    int rc;
    if ((rc = check(a, na, "U test")) < 0 || (rc = check(b, nb, "U test")) < 0)
        return rc;
    size_t N = na + nb;
    struct ranked *r = malloc(N * sizeof *r);
    if (!r)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (size_t i = 0; i < N; i++)
        r[i] = i < na ? (struct ranked){a[i], 1} : (struct ranked){b[i - na], 0};
    qsort(r, N, sizeof *r, cmp_ranked);
    /* Ranks from 1, tied values share the mean of their ranks. */
    double ra = 0, ties = 0;
    for (size_t i = 0; i < N;) {
        size_t j = i;
        while (j + 1 < N && r[j + 1].v == r[i].v)
            j++;
        double t = (double)(j - i + 1), rank = (double)(i + j) / 2 + 1;
        ties += t * t * t - t;
        for (size_t k = i; k <= j; k++)
            if (r[k].from_a)
                ra += rank;
        i = j + 1;
    }
    free(r);
    double n1 = (double)na, n2 = (double)nb, n = (double)N;
    double u1 = ra - n1 * (n1 + 1) / 2, u = fmax(u1, n1 * n2 - u1), p = 1;
    assay_mwu res = {.u = u1};
    if (ties == 0 && N <= ASSAY_MWU_EXACT_MAX) {
        if ((rc = exact_sf(&p, na, nb, u)) < 0)
            return rc;
        res.exact = 1;
    } else {
        double s = sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))));
        /* Every value the same: nothing tells the samples apart. */
        p = s > 0 ? 0.5 * erfc((u - n1 * n2 / 2 - 0.5) / s / sqrt(2.0)) : 0.5;
    }
    res.p = fmin(2 * p, 1.0);
    *out = res;
    return 0;
}

assay_cmp assay_stats_verdict(double p, double lo, double hi, double alpha)
{
    if (!(p < alpha))
        return ASSAY_CMP_NONE;
    if (hi < 1)
        return ASSAY_CMP_LOWER;
    if (lo > 1)
        return ASSAY_CMP_HIGHER;
    return ASSAY_CMP_NONE;
}
