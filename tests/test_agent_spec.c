/* Job spec validation: every rule, and errors that name the field. */
#include "assay/spec.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOD_STEPS                                                                                 \
    "\"steps\":[{\"id\":\"install\",\"kind\":\"install\",\"command\":\"true\",\"timeout\":10},"   \
    "{\"id\":\"t1\",\"kind\":\"test\",\"name\":\"help\",\"command\":\"x --help\",\"timeout\":5,"  \
    "\"expect_exit\":0},"                                                                          \
    "{\"id\":\"b1\",\"kind\":\"bench\",\"command\":\"x\",\"timeout\":5,\"repeat\":5,\"unit\":\"MB/s\"}," \
    "{\"id\":\"uninstall\",\"kind\":\"uninstall\",\"command\":\"true\",\"timeout\":10}]"

static assay_spec *parse_ok(const char *json)
{
    assay_spec *sp = NULL;
    int rc = assay_spec_parse(&sp, json, strlen(json));
    cr_assert_eq(rc, 0, "rejected: %s", assay_error_last()->message);
    return sp;
}

static void parse_bad(const char *json, const char *want)
{
    assay_spec *sp = NULL;
    int rc = assay_spec_parse(&sp, json, strlen(json));
    cr_assert_lt(rc, 0, "accepted: %s", json);
    cr_assert_null(sp);
    cr_assert(strstr(assay_error_last()->message, want) != NULL, "message '%s' lacks '%s'",
              assay_error_last()->message, want);
}

Test(agent_spec, full_spec_parses)
{
    assay_spec *sp = parse_ok("{\"protocol\":1,\"id\":\"run-7.kunpeng-1\",\"artifact\":\"hello_1.0_arm64.deb\","
                              "\"env\":{\"HELLO_MODE\":\"fast\"},\"inspect\":[\"/usr/bin/hello\"],"
                              "\"log_cap\":\"1048576\",\"kill_grace\":1,\"stop_on_inspect_error\":true," GOOD_STEPS "}");
    cr_assert_str_eq(sp->id, "run-7.kunpeng-1");
    cr_assert_str_eq(sp->artifact, "hello_1.0_arm64.deb");
    cr_assert_eq(sp->nenv, 1);
    cr_assert_str_eq(sp->env[0], "HELLO_MODE=fast");
    cr_assert_eq(sp->ninspect, 1);
    cr_assert_eq(sp->log_cap, 1048576u);
    cr_assert(sp->stop_on_inspect_error);
    cr_assert_eq(sp->nsteps, 4);
    cr_assert_eq(sp->steps[0].kind, ASSAY_STEP_INSTALL);
    cr_assert_str_eq(sp->steps[1].name, "help");
    cr_assert_str_eq(sp->steps[0].name, "install", "name defaults to the id");
    cr_assert_eq(sp->steps[2].repeat.max, 5);
    cr_assert_str_eq(sp->steps[2].unit, "MB/s");
    cr_assert_eq(sp->steps[3].kind, ASSAY_STEP_UNINSTALL);
    assay_spec_free(sp);
}

Test(agent_spec, defaults)
{
    assay_spec *sp = parse_ok("{\"protocol\":1,\"id\":\"j\",\"steps\":[{\"id\":\"b\",\"kind\":\"bench\","
                              "\"command\":\"x\",\"timeout\":0.5}]}");
    cr_assert_eq(sp->log_cap, ASSAY_LOG_CAP_DEFAULT);
    cr_assert_float_eq(sp->kill_grace_s, 2.0, 1e-9);
    cr_assert_eq(sp->steps[0].repeat.max, 1);
    cr_assert_str_eq(sp->steps[0].unit, "s");
    cr_assert_float_eq(sp->steps[0].timeout_s, 0.5, 1e-9);
    cr_assert_null(sp->artifact);
    assay_spec_free(sp);
}

Test(agent_spec, malformed_documents)
{
    parse_bad("", "not valid JSON");
    parse_bad("{\"protocol\":1,", "not valid JSON");
    parse_bad("[1,2]", "must be a JSON object");
    parse_bad("{\"id\":\"j\"," GOOD_STEPS "}", "protocol");
    parse_bad("{\"protocol\":2,\"id\":\"j\"," GOOD_STEPS "}", "protocol: must be 1");
    parse_bad("{\"protocol\":1," GOOD_STEPS "}", "id: missing");
    parse_bad("{\"protocol\":1,\"id\":\"a/b\"," GOOD_STEPS "}", "id: 'a/b'");
    parse_bad("{\"protocol\":1,\"id\":\"..\"," GOOD_STEPS "}", "id: '..'");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"timout\":3," GOOD_STEPS "}", "timout: unknown field");
    parse_bad("{\"protocol\":1,\"id\":\"j\"}", "steps: must be a non-empty array");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"steps\":[]}", "steps: must be a non-empty array");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"steps\":[3]}", "steps[0]: must be an object");
}

static void step_bad(const char *step, const char *want)
{
    char json[2048];
    snprintf(json, sizeof json, "{\"protocol\":1,\"id\":\"j\",\"steps\":[%s]}", step);
    parse_bad(json, want);
}

Test(agent_spec, step_fields)
{
    step_bad("{\"kind\":\"test\",\"command\":\"x\",\"timeout\":1}", "steps[0].id: missing");
    step_bad("{\"id\":\"a b\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1}", "steps[0].id: 'a b'");
    step_bad("{\"id\":\"a\",\"kind\":\"exam\",\"command\":\"x\",\"timeout\":1}", "steps[0].kind: 'exam'");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"timeout\":1}", "steps[0].command: missing");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"\",\"timeout\":1}", "steps[0].command: must not be empty");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":7,\"timeout\":1}", "steps[0].command: must be a string");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\"}", "steps[0].timeout: missing");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":0}", "steps[0].timeout: must be in (0");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":-1}", "steps[0].timeout");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1e12}", "steps[0].timeout");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":\"soon\"}", "steps[0].timeout: must be a number");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1,\"expect_exit\":256}", "steps[0].expect_exit");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1,\"expect_exit\":1.5}", "whole number");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1,\"repeat\":3}", "steps[0].repeat: only bench");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1,\"unit\":\"s\"}", "steps[0].unit: only bench");
    step_bad("{\"id\":\"a\",\"kind\":\"bench\",\"command\":\"x\",\"timeout\":1,\"repeat\":0}", "steps[0].repeat");
    step_bad("{\"id\":\"a\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1,\"retries\":3}", "steps[0].retries: unknown field");
}

/* A unit is an identifier shown in every report: markup, quotes, spaces
 * and control characters are refused, and the message names the field
 * without echoing the value. */
Test(agent_spec, bench_units_are_identifiers)
{
    const char *hostile[] = {"<img src=x onerror=alert(1)>", "ops\\u001b[31m", "a b", "\\\"x\\\"", "ops/s;", "\\u00e9"};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        char step[256];
        snprintf(step, sizeof step, "{\"id\":\"a\",\"kind\":\"bench\",\"command\":\"x\",\"timeout\":1,\"unit\":\"%s\"}", hostile[i]);
        step_bad(step, "steps[0].unit: must be 1-32 bytes of A-Z a-z 0-9 / % . _ - and \u00b5");
        cr_assert_null(strstr(assay_error_last()->message, "img"));
    }
    const char *fine[] = {"ops/s", "MB/s", "ms", "\u00b5s", "%", "req_per-s.1"};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        char spec[512];
        snprintf(spec, sizeof spec, "{\"protocol\":1,\"id\":\"j\",\"steps\":[{\"id\":\"a\",\"kind\":\"bench\","
                 "\"command\":\"x\",\"timeout\":1,\"unit\":\"%s\"}]}", fine[i]);
        assay_spec_free(parse_ok(spec));
    }
}

Test(agent_spec, step_order_and_uniqueness)
{
    step_bad("{\"id\":\"t\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1},"
             "{\"id\":\"i\",\"kind\":\"install\",\"command\":\"x\",\"timeout\":1}",
             "steps[1].kind: install after test");
    step_bad("{\"id\":\"b\",\"kind\":\"bench\",\"command\":\"x\",\"timeout\":1},"
             "{\"id\":\"t\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1}",
             "steps[1].kind: test after bench");
    step_bad("{\"id\":\"i\",\"kind\":\"install\",\"command\":\"x\",\"timeout\":1},"
             "{\"id\":\"j\",\"kind\":\"install\",\"command\":\"x\",\"timeout\":1}",
             "steps[1].kind: only one install");
    step_bad("{\"id\":\"t\",\"kind\":\"test\",\"command\":\"x\",\"timeout\":1},"
             "{\"id\":\"t\",\"kind\":\"test\",\"command\":\"y\",\"timeout\":1}",
             "steps[1].id: 't' repeats steps[0].id");
}

Test(agent_spec, env_artifact_inspect_caps)
{
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"env\":{\"ASSAY_JOB_DIR\":\"/\"}," GOOD_STEPS "}", "env.ASSAY_JOB_DIR");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"env\":{\"1X\":\"a\"}," GOOD_STEPS "}", "env.1X: not a valid name");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"env\":{\"X\":1}," GOOD_STEPS "}", "env.X: must be a string");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"env\":[]," GOOD_STEPS "}", "env: must be an object");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"artifact\":\"../etc/passwd\"," GOOD_STEPS "}", "artifact:");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"artifact\":\"a/b.rpm\"," GOOD_STEPS "}", "artifact:");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"artifact\":\"-rf\"," GOOD_STEPS "}", "artifact:");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"artifact\":\"state\"," GOOD_STEPS "}", "artifact:");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"artifact\":\".reserve\"," GOOD_STEPS "}", "artifact:");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"inspect\":\"/bin/x\"," GOOD_STEPS "}", "inspect: must be an array");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"inspect\":[\"\"]," GOOD_STEPS "}", "inspect[0]");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"log_cap\":10," GOOD_STEPS "}", "log_cap");
    parse_bad("{\"protocol\":1,\"id\":\"j\",\"stop_on_inspect_error\":1," GOOD_STEPS "}", "stop_on_inspect_error");
}

Test(agent_spec, oversized_spec_is_refused_before_parsing)
{
    size_t n = (1u << 20) + 10;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[n] = '\0';
    assay_spec *sp = NULL;
    cr_assert_eq(assay_spec_parse(&sp, big, n), ASSAY_ETOOBIG);
    free(big);
}

Test(agent_spec, deep_nesting_does_not_crash)
{
    /* cJSON caps nesting (CJSON_NESTING_LIMIT): a hostile spec is an error. */
    size_t depth = 100000;
    char *s = malloc(2 * depth + 1);
    cr_assert_not_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    assay_spec *sp = NULL;
    cr_assert_lt(assay_spec_parse(&sp, s, 2 * depth), 0);
    free(s);
}
