#include "assay/error.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(error, set_returns_code_and_keeps_message)
{
    cr_assert_eq(assay_error_set(ASSAY_EINVAL, "field '%s' is %d", "x", 3), ASSAY_EINVAL);
    cr_assert_eq(assay_error_last()->code, ASSAY_EINVAL);
    cr_assert_str_eq(assay_error_last()->message, "field 'x' is 3");
}

Test(error, errno_variant_appends_strerror)
{
    assay_error_set_errno(ASSAY_EIO, ENOENT, "open %s", "/nope");
    cr_assert_str_eq(assay_error_last()->message, "open /nope: No such file or directory");
}

Test(error, wrap_prefixes_context_and_keeps_code)
{
    assay_error_set(ASSAY_ETIMEOUT, "no answer in 5 s");
    cr_assert_eq(assay_error_wrap("host %s", "kunpeng-1"), ASSAY_ETIMEOUT);
    cr_assert_str_eq(assay_error_last()->message, "host kunpeng-1: no answer in 5 s");
}

Test(error, long_messages_are_truncated_not_overflowed)
{
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assay_error_set(ASSAY_ETOOBIG, "%s", big);
    cr_assert_eq(strlen(assay_error_last()->message), sizeof assay_error_last()->message - 1);
    assay_error_wrap("%s", big); /* prefix longer than the buffer */
    cr_assert_eq(strlen(assay_error_last()->message), sizeof assay_error_last()->message - 1);
}

Test(error, clear_and_names)
{
    assay_error_set(ASSAY_EHOSTKEY, "x");
    assay_error_clear();
    cr_assert_eq(assay_error_last()->code, 0);
    cr_assert_str_eq(assay_error_last()->message, "");
    cr_assert_str_eq(assay_error_name(ASSAY_EHOSTKEY), "EHOSTKEY");
    cr_assert_str_eq(assay_error_name(ASSAY_ECANCELED), "ECANCELED");
    cr_assert_str_eq(assay_error_name(ASSAY_ECLOSED), "ECLOSED");
    cr_assert_str_eq(assay_error_name(-1000), "EUNKNOWN");
    cr_assert_str_eq(assay_error_name(5), "EUNKNOWN");
}
