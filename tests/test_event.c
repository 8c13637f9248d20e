/* The controller's check of agent event lines (controller/event.c). */
#include "event.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <string.h>

#define JOB "lab-r1-j1-a1"

static int parse(const char *line, int64_t last, assay_event *ev)
{
    int rc = assay_event_parse(ev, line, strlen(line), JOB, last);
    return rc;
}

static void refused(const char *line, int64_t last, const char *why)
{
    assay_event ev;
    cr_assert_eq(parse(line, last, &ev), ASSAY_EPROTO, "accepted: %s", line);
    cr_assert_null(ev.json);
    cr_assert(strstr(assay_error_last()->message, why), "%s: %s", line,
              assay_error_last()->message);
}

Test(event, the_agents_events_pass)
{
    assay_event ev;
    cr_assert_eq(parse("{\"v\":1,\"seq\":0,\"ts\":\"t\",\"type\":\"job-start\",\"job\":\"" JOB
                       "\"}",
                       -1, &ev),
                 0);
    cr_assert_not_null(ev.json);
    cr_assert_str_eq(ev.type, "job-start");
    cJSON_Delete(ev.json);
    cr_assert_eq(
        parse("{\"v\":1,\"seq\":1,\"ts\":\"t\",\"type\":\"step-start\",\"step\":\"a\"} \r", 0, &ev),
        0);
    cr_assert_eq(ev.seq, 1);
    cJSON_Delete(ev.json);
    cr_assert_eq(
        parse("{\"v\":1,\"seq\":7,\"type\":\"job-end\",\"job\":null,\"reason\":\"\xe4\xb8\xad\"}",
              6, &ev),
        0);
    cJSON_Delete(ev.json);
}

Test(event, a_resumed_stream_repeats_what_is_stored_and_it_is_skipped)
{
    assay_event ev;
    cr_assert_eq(parse("{\"v\":1,\"seq\":3,\"type\":\"step-end\"}", 5, &ev), 0);
    cr_assert_null(ev.json);
    cr_assert_eq(ev.seq, 3);
}

Test(event, what_is_refused)
{
    refused("hello", -1, "not a JSON object");
    refused("[1,2]", -1, "not a JSON object");
    refused("{\"v\":1,\"seq\":0,\"type\":\"job-start\",\"job\":\"" JOB "\"} trailing", -1,
            "more than one JSON object");
    refused("{\"v\":1,\"seq\":0,\"type\":\"job-start\",\"job\":\"" JOB "\"}{\"v\":1}", -1,
            "more than one JSON object");
    refused("{\"v\":1,\"seq\":0,\"type\":\"job-start\",\"job\":\"" JOB "\\u0000x\"}", -1,
            "\\u0000");
    refused("{\"v\":2,\"seq\":0,\"type\":\"job-start\"}", -1, "not a protocol 1 event");
    refused("{\"v\":1,\"seq\":0.5,\"type\":\"error\"}", -1, "whole number");
    refused("{\"v\":1,\"seq\":-1,\"type\":\"error\"}", -1, "whole number");
    refused("{\"v\":1,\"seq\":\"1\",\"type\":\"error\"}", -1, "whole number");
    refused("{\"v\":1,\"seq\":1,\"type\":\"rm -rf\"}", 0, "not an event type");
    refused("{\"v\":1,\"seq\":2,\"type\":\"error\"}", 0, "sequence gap: event 2 after 0");
    refused("{\"v\":1,\"seq\":0,\"type\":\"step-end\"}", -1, "event 0 is a step-end");
    refused("{\"v\":1,\"seq\":3,\"type\":\"job-start\",\"job\":\"" JOB "\"}", 2,
            "event 3 is a job-start");
    refused("{\"v\":1,\"seq\":0,\"type\":\"job-start\",\"job\":\"lab-r9-j9-a1\"}", -1,
            "is for job lab-r9-j9-a1");
    refused("{\"v\":1,\"seq\":0,\"type\":\"job-start\",\"job\":null}", -1, "is for job (none)");
    refused("{\"v\":1,\"seq\":4,\"type\":\"job-end\",\"job\":7}", 3, "is for job (none)");
    refused("{\"v\":1,\"seq\":0,\"type\":\"job-start\",\"m\":\"\xc3\x28\"}", -1, "not valid UTF-8");
}

Test(event, utf8)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"plain", 1},
        {"\xe4\xb8\xad\xe6\x96\x87", 1},
        {"\xf0\x9f\x98\x80", 1},
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 0},     /* overlong */
        {"\xed\xa0\x80", 0},     /* a surrogate */
        {"\xf4\x90\x80\x80", 0}, /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"\xe4\xb8", 0}, /* truncated */
        {"\x80", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq(assay_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok, "case %zu", i);
    cr_assert_eq(assay_utf8_valid("a\0b", 3), 0, "a NUL byte");
}
