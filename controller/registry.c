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
    cJSON *x, *sum = NULL;
    int rc = assay_report_signed(&env, &chk, lab, run, 0);
    if (rc < 0)
        return rc;
    if ((rc = assay_report_outcome(&sum, chk.statement)) < 0)
        goto out;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(chk.statement, "predicate");
    const cJSON *prod = cJSON_GetObjectItemCaseSensitive(sum, "product");
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(p, "targets"))
    {
        const cJSON *prof = cJSON_GetObjectItemCaseSensitive(x, "profile");
        add_word(cpus, sizeof cpus,
                 assay_json_str(cJSON_GetObjectItemCaseSensitive(prof, "cpu"), "family"));
        add_word(oses, sizeof oses,
                 assay_json_str(cJSON_GetObjectItemCaseSensitive(prof, "os"), "id"));
    }
    /* The entry keeps the very envelope it lists: the registry serves
     * these bytes from now on, whatever later happens to the store's rows
     * or the lab's key. */
    assay_published e = {
        assay_json_str(prod, "name"),
        assay_json_str(prod, "version"),
        assay_json_str(prod, "vendor"),
        cpus,
        oses,
        assay_json_str(sum, "status"),
        assay_json_str(sum, "report_number"),
        assay_json_str(sum, "date"),
        by,
        env,
    };
    if ((rc = assay_store_publish(lab->store, run, &e)) < 0 || !out)
        goto out;
    cJSON *l;
    if ((rc = assay_store_registry(lab->store, run, NULL, NULL, NULL, NULL, &l)) < 0)
        goto out;
    *out = cJSON_DetachItemFromArray(l, 0);
    cJSON_Delete(l);
    rc = *out ? 0
              : assay_error_set(ASSAY_EIO, "run %lld was published but cannot be read back", (long long)run);
out:
    cJSON_Delete(sum);
    cJSON_Delete(chk.statement);
    free(env);
    return rc;
}

/* The check of a kept envelope with the lab's key now, into o: the
 * verification's members, or "valid": false and why. */
static int check_kept(cJSON *o, assay_lab *lab, const char *env, int64_t run)
{
    char *pem = NULL, keyid[ASSAY_SHA256_HEX], alg[16];
    assay_report_check chk = {0};
    cJSON *v = NULL, *x;
    int rc;
    if (!*env) {
        rc = assay_error_set(ASSAY_ENOTFOUND, "run %lld was published before the registry kept signed reports: "
                                              "publish it again",
                             (long long)run);
    } else if ((rc = assay_key_public(lab->key, &pem, keyid, alg)) == 0 &&
               (rc = assay_report_verify(&chk, env, strlen(env), pem, strlen(pem))) == 0 &&
               (rc = assay_report_check_json(&v, &chk)) == 0) {
        /* The statement that verified, for what the page draws beyond the
         * summary (the benchmarks' comparison). */
        cJSON_AddItemToObject(v, "statement", chk.statement);
        chk.statement = NULL;
        while ((x = v->child)) {
            cJSON_DetachItemViaPointer(v, x);
            cJSON_AddItemToObject(o, x->string, x);
        }
    }
    free(pem);
    cJSON_Delete(chk.statement);
    cJSON_Delete(v);
    if (rc == ASSAY_ENOMEM)
        return rc;
    if (rc < 0) {
        /* Shown, never hidden: a buyer must see that this certificate
         * does not verify (a rotated key, a damaged entry). */
        cJSON_AddBoolToObject(o, "valid", 0);
        cJSON_AddStringToObject(o, "error", assay_error_last()->message);
        assay_error_clear();
    }
    return 0;
}

int assay_registry_get(cJSON **out, assay_lab *lab, int64_t run)
{
    cJSON *l, *o;
    char *env = NULL;
    int rc = assay_store_registry(lab->store, run, NULL, NULL, NULL, NULL, &l);
    if (rc < 0)
        return rc;
    if (cJSON_GetArraySize(l) == 0) {
        cJSON_Delete(l);
        return assay_error_set(ASSAY_ENOTFOUND, "no published report of run %lld", (long long)run);
    }
    if ((rc = assay_store_published_envelope(lab->store, run, &env)) < 0) {
        cJSON_Delete(l);
        return rc;
    }
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "entry", cJSON_DetachItemFromArray(l, 0));
    cJSON_Delete(l);
    /* The envelope as kept, byte for byte (raw: cJSON would print it
     * again in its own way), if it is JSON at all. */
    cJSON_AddItemToObject(o, "envelope", *env && assay_json_strict(env, strlen(env)) == 0 ? cJSON_CreateRaw(env)
                                                                                         : cJSON_CreateNull());
    assay_error_clear();
    rc = check_kept(o, lab, env, run);
    free(env);
    if (rc < 0) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}
