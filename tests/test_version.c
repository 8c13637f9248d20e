#include "assay/error.h"
#include "assay/version.h"

#include <criterion/criterion.h>
#include <string.h>

Test(version, identity_strings)
{
    cr_assert_str_eq(assay_version(), "0.1.0");
    cr_assert(strstr(assay_build_triple(), "-linux-") != NULL, "triple %s", assay_build_triple());
    cr_assert(strlen(assay_build_commit()) > 0);
}

Test(version, build_id_is_hex_of_the_linked_note)
{
    char id[129];
    /* Test binaries are linked with the toolchain's default --build-id. */
    cr_assert_eq(assay_build_id(id, sizeof id), 0, "%s", assay_error_last()->message);
    cr_assert(strlen(id) >= 16 && strlen(id) % 2 == 0, "id %s", id);
    cr_assert_eq(strspn(id, "0123456789abcdef"), strlen(id));
}

Test(version, build_id_refuses_a_short_buffer)
{
    char id[8];
    cr_assert_eq(assay_build_id(id, sizeof id), ASSAY_ETOOBIG);
}
