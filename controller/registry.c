/* The public certificate registry; see registry.h. */
#include "registry.h"

#include "assay/error.h"
#include "assay/json.h"
#include "crypto.h"
#include "report.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The run's signed report, made and verified with the lab's own key: the
 * envelope's text into *env, the check into chk. */
static int signed_report(char **env, assay_report_check *chk, assay_lab *lab, int64_t run)
{
    char *text = NULL, *pem = NULL, keyid[ASSAY_SHA256_HEX], alg[16];
    const char *type;
    int rc = assay_report_make(&text, &type, lab, run, 0, "json");
    if (rc < 0)
        return rc;
    if ((rc = assay_key_public(lab->key, &pem, keyid, alg)) < 0 ||
        (rc = assay_report_verify(chk, text, strlen(text), pem, strlen(pem))) < 0) {
        free(text);
        free(pem);
        return rc;
    }
    free(pem);
    *env = text;
    return 0;
}

/* Append ",word" to a ",a,b," list of at most len bytes, once. */
static void add_word(char *list, size_t len, const char *w)
{
    char probe[96];
    if (!*w)
        return;
    snprintf(probe, sizeof probe, ",%s,", w);
    if (strstr(list, probe))
        return;
    size_t n = strlen(list);
    snprintf(list + n, len - n, "%s,", w);
}

int assay_registry_publish(cJSON **out, assay_lab *lab, int64_t run, const char *by)
{
    char *env = NULL, cpus[512] = ",", oses[512] = ",";
    assay_report_check chk = {0};
    cJSON *x;
    int rc = signed_report(&env, &chk, lab, run);
    if (rc < 0)
        return rc;
    free(env);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(chk.statement, "predicate");
    const cJSON *prod = cJSON_GetObjectItemCaseSensitive(p, "product");
    const cJSON *concl = cJSON_GetObjectItemCaseSensitive(p, "conclusion");
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(p, "targets"))
    {
        const cJSON *prof = cJSON_GetObjectItemCaseSensitive(x, "profile");
        add_word(cpus, sizeof cpus,
                 assay_json_str(cJSON_GetObjectItemCaseSensitive(prof, "cpu"), "family"));
        add_word(oses, sizeof oses,
                 assay_json_str(cJSON_GetObjectItemCaseSensitive(prof, "os"), "id"));
    }
    const char *status = assay_json_str(concl, "status");
    assay_published e = {
        assay_json_str(prod, "name"),
        assay_json_str(prod, "version"),
        assay_json_str(prod, "vendor"),
        cpus,
        oses,
        *status                                                              ? status
        : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(concl, "certified")) ? "certified"
                                                                             : "not-certified",
        assay_json_str(p, "report_number"),
        assay_json_str(p, "date"),
        by,
    };
    rc = assay_store_publish(lab->store, run, &e);
    cJSON_Delete(chk.statement);
    if (rc < 0 || !out)
        return rc;
    cJSON *l;
    if ((rc = assay_store_registry(lab->store, run, NULL, NULL, NULL, NULL, &l)) < 0)
        return rc;
    *out = cJSON_DetachItemFromArray(l, 0);
    cJSON_Delete(l);
    return *out ? 0
                : assay_error_set(ASSAY_EIO, "run %lld was published but cannot be read back",
                                  (long long)run);
}

int assay_registry_get(cJSON **out, assay_lab *lab, int64_t run)
{
    cJSON *l, *o;
    char *env = NULL;
    assay_report_check chk = {0};
    int rc = assay_store_registry(lab->store, run, NULL, NULL, NULL, NULL, &l);
    if (rc < 0)
        return rc;
    if (cJSON_GetArraySize(l) == 0) {
        cJSON_Delete(l);
        return assay_error_set(ASSAY_ENOTFOUND, "no published report of run %lld", (long long)run);
    }
    if ((rc = signed_report(&env, &chk, lab, run)) < 0) {
        cJSON_Delete(l);
        return rc;
    }
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "entry", cJSON_DetachItemFromArray(l, 0));
    cJSON_Delete(l);
    cJSON_AddBoolToObject(o, "valid", 1);
    cJSON_AddStringToObject(o, "algorithm", chk.alg);
    cJSON_AddStringToObject(o, "keyid", chk.keyid);
    cJSON_AddStringToObject(o, "payload_sha256", chk.payload_sha256);
    cJSON_AddItemToObject(o, "envelope", cJSON_Parse(env));
    cJSON_Delete(chk.statement);
    free(env);
    *out = o;
    return 0;
}
