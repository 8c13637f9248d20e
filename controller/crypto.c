/* OpenSSL libcrypto, in one place; see crypto.h. */
#include "crypto.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The handle is OpenSSL's digest context; the struct is never defined. */
assay_sha256 *assay_sha256_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return (assay_sha256 *)ctx;
}

void assay_sha256_update(assay_sha256 *h, const void *data, size_t len)
{
    EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

void assay_sha256_final(assay_sha256 *h, char out[ASSAY_SHA256_HEX])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)h, d, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)h);
    assay_hex(out, d, 32);
}

void assay_sha256_hex(char out[ASSAY_SHA256_HEX], const void *data, size_t len)
{
    unsigned char d[32];
    EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL);
    assay_hex(out, d, 32);
}

int assay_sha256_file(char out[ASSAY_SHA256_HEX], uint64_t *size, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    /* Not static: threads of assay serve hash at once. */
    enum { BUF = 1 << 20 };
    unsigned char *buf = malloc(BUF);
    assay_sha256 *h = buf ? assay_sha256_new() : NULL;
    if (!h) {
        free(buf);
        close(fd);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            assay_sha256_final(h, out);
            return assay_error_set_errno(ASSAY_EIO, e, "read %s", path);
        }
        if (n == 0)
            break;
        assay_sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    free(buf);
    close(fd);
    assay_sha256_final(h, out);
    if (size)
        *size = total;
    return 0;
}

void assay_ssh_fingerprint(char out[60], const unsigned char *blob, size_t len)
{
    unsigned char d[32], b64[48];
    EVP_Digest(blob, len, d, NULL, EVP_sha256(), NULL);
    int n = EVP_EncodeBlock(b64, d, 32); /* 44 chars with one '=' */
    while (n > 0 && b64[n - 1] == '=')
        n--;
    snprintf(out, 60, "SHA256:%.*s", n, (const char *)b64);
}

void assay_hmac_sha256(unsigned char out[32], const void *key, size_t keylen, const void *msg, size_t len)
{
    assay_hmac_sha256_2(out, key, keylen, msg, len, NULL, 0);
}

void assay_hmac_sha256_2(unsigned char out[32], const void *key, size_t keylen, const void *a, size_t alen,
                         const void *b, size_t blen)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    memset(out, 0, 32); /* on an OpenSSL failure: a MAC nothing matches by chance */
    if (!c || !EVP_MAC_init(c, key, keylen, params) || !EVP_MAC_update(c, a, alen) ||
        (blen && !EVP_MAC_update(c, b, blen)) || !EVP_MAC_final(c, out, &n, 32))
        memset(out, 0, 32);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
}

int assay_event_key(unsigned char out[32], const char *keypath, const char *job)
{
    /* A secret only the controller can derive (from the lab's private
     * signing key), different for every agent job: nothing to store, and a
     * key seen on one host says nothing about another job's. */
    static const char label[] = "assay event key v1\n";
    unsigned char buf[16384], k[32];
    int fd = open(keypath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "read %s", keypath);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0) {
        OPENSSL_cleanse(buf, sizeof buf);
        return assay_error_set(ASSAY_EIO, "read %s: empty", keypath);
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, label, sizeof label - 1) &&
             EVP_DigestUpdate(c, buf, (size_t)n) && EVP_DigestFinal_ex(c, k, NULL);
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!ok)
        return assay_error_set(ASSAY_ENOMEM, "sha256: out of memory");
    assay_hmac_sha256(out, k, sizeof k, job, strlen(job));
    OPENSSL_cleanse(k, sizeof k);
    return 0;
}

int assay_key_generate(const char *path, assay_key_type type)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    FILE *f = NULL;
    int rc = ASSAY_EIO, fd = -1;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type == ASSAY_KEY_SM2 ? "SM2" : "ED25519", NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_generate(ctx, &key) != 1) {
        rc = assay_error_set(ASSAY_ERROR, "key generation failed: %s",
                             ERR_reason_error_string(ERR_get_error()));
        goto out;
    }
    /* O_EXCL with mode 0600: the private key is never visible to others and
     * never overwrites a key that exists. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? assay_error_set(ASSAY_EEXISTS, "%s exists", path)
                             : assay_error_set_errno(ASSAY_EIO, errno, "create %s", path);
        goto out;
    }
    f = fdopen(fd, "w");
    if (!f) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "open %s", path);
        goto out;
    }
    fd = -1;
    if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        rc = assay_error_set(ASSAY_EIO, "write %s", path);
        goto out;
    }
    rc = 0;
out:
    if (f && fclose(f) != 0 && rc == 0)
        rc = assay_error_set_errno(ASSAY_EIO, errno, "close %s", path);
    if (fd >= 0)
        close(fd);
    if (rc != 0 && rc != ASSAY_EEXISTS)
        unlink(path);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* ---- signing --------------------------------------------------------------
 * The only code that reads the lab's private key. The PEM text and the key
 * object are wiped when done (OPENSSL_cleanse, EVP_PKEY_free clears private
 * material); nothing here logs or returns key material.
 */

#define SM2_ID "1234567812345678" /* GM/T 0009-2012 default user ID */

static int load_private(EVP_PKEY **out, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "signing key %s", path);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        close(fd);
        return assay_error_set(ASSAY_EUNSAFE, "signing key %s must be a private file (mode 600)", path);
    }
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0 || (size_t)n >= sizeof buf) {
        OPENSSL_cleanse(buf, sizeof buf);
        return assay_error_set(ASSAY_EINVAL, "signing key %s: unreadable", path);
    }
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!k)
        return assay_error_set(ASSAY_EINVAL, "signing key %s: not a PEM private key", path);
    *out = k;
    return 0;
}

static int key_info(EVP_PKEY *k, char keyid[ASSAY_SHA256_HEX], char alg[16])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return assay_error_set(ASSAY_EINVAL, "cannot encode the public key");
    assay_sha256_hex(keyid, der, (size_t)n);
    OPENSSL_free(der);
    if (EVP_PKEY_is_a(k, "ED25519"))
        snprintf(alg, 16, "ed25519");
    else if (EVP_PKEY_is_a(k, "SM2"))
        snprintf(alg, 16, "sm2-sm3");
    else
        return assay_error_set(ASSAY_EINVAL, "key is neither Ed25519 nor SM2");
    return 0;
}

/* Ed25519 signs the message itself (no digest); SM2 hashes with SM3 over
 * Z(ID) || message, and OpenSSL 3.0 only uses the GM/T default ID if told. */
static EVP_MD_CTX *init_ctx(EVP_PKEY *k, int sign)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;
    if (!ctx)
        return NULL;
    if (EVP_PKEY_is_a(k, "SM2")) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_DIST_ID, (void *)SM2_ID, strlen(SM2_ID)),
            OSSL_PARAM_construct_end()};
        ok = sign ? EVP_DigestSignInit_ex(ctx, NULL, "SM3", NULL, NULL, k, params)
                  : EVP_DigestVerifyInit_ex(ctx, NULL, "SM3", NULL, NULL, k, params);
    } else {
        ok = sign ? EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) : EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k);
    }
    if (ok != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int assay_sign(const char *keypath, const void *msg, size_t len, unsigned char **sig, size_t *siglen,
               char keyid[ASSAY_SHA256_HEX], char alg[16])
{
    EVP_PKEY *k = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *s = NULL;
    size_t n = 0;
    int rc = load_private(&k, keypath);
    if (rc < 0)
        return rc;
    if ((rc = key_info(k, keyid, alg)) < 0)
        goto out;
    rc = assay_error_set(ASSAY_ERROR, "signing failed: %s", "context");
    if (!(ctx = init_ctx(k, 1)))
        goto out;
    if (EVP_DigestSign(ctx, NULL, &n, msg, len) != 1 || !(s = malloc(n)) ||
        EVP_DigestSign(ctx, s, &n, msg, len) != 1) {
        rc = assay_error_set(ASSAY_ERROR, "signing failed: %s", ERR_reason_error_string(ERR_get_error()));
        free(s);
        s = NULL;
        goto out;
    }
    *sig = s;
    *siglen = n;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return rc;
}

int assay_key_public(const char *keypath, char **pem, char keyid[ASSAY_SHA256_HEX], char alg[16])
{
    EVP_PKEY *k = NULL;
    int rc = load_private(&k, keypath);
    if (rc < 0)
        return rc;
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    if ((rc = key_info(k, keyid, alg)) == 0) {
        if (!b || PEM_write_bio_PUBKEY(b, k) != 1 || (n = BIO_get_mem_data(b, &data)) <= 0 ||
            !(*pem = strndup(data, (size_t)n)))
            rc = assay_error_set(ASSAY_ENOMEM, "cannot write the public key");
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    return rc;
}

struct assay_pubkey {
    EVP_PKEY *k;
};

int assay_pubkey_load(assay_pubkey **out, const char *pubpem, size_t pemlen, char keyid[ASSAY_SHA256_HEX],
                      char alg[16])
{
    BIO *b = pemlen <= INT_MAX ? BIO_new_mem_buf(pubpem, (int)pemlen) : NULL;
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    assay_pubkey *key = NULL;
    int rc = k ? key_info(k, keyid, alg) : assay_error_set(ASSAY_EINVAL, "not a PEM public key");
    ERR_clear_error();
    BIO_free(b);
    if (rc == 0 && !(key = malloc(sizeof *key)))
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    if (rc < 0) {
        EVP_PKEY_free(k);
        return rc;
    }
    key->k = k;
    *out = key;
    return 0;
}

int assay_pubkey_verify(const assay_pubkey *key, const void *msg, size_t len, const unsigned char *sig,
                        size_t siglen)
{
    EVP_MD_CTX *ctx = init_ctx(key->k, 0);
    int rc;
    if (!ctx)
        rc = assay_error_set(ASSAY_ERROR, "cannot verify with this key");
    else
        rc = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1
                 ? 0
                 : assay_error_set(ASSAY_EVERIFY, "the signature does not match");
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    return rc;
}

void assay_pubkey_free(assay_pubkey *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->k);
    free(key);
}

char *assay_base64_encode(const unsigned char *in, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)len); /* writes the NUL too */
    return out;
}

/*
 * DSSE lets a signer use the standard or the URL-safe alphabet (RFC 4648
 * sections 4 and 5), and assay also takes either without its '=' padding.
 * What it refuses is every text that does not stand for exactly one byte
 * string: a character outside the alphabet (whitespace, NUL), both
 * alphabets in one string, '=' anywhere but at the end, padding that is
 * there but incomplete, a length no encoding has (4n+1), and bits the last
 * group does not use that are not zero (RFC 4648 section 3.5), which
 * OpenSSL's decoder would take without a word.
 */
unsigned char *assay_base64_decode(const char *in, size_t len, size_t *outlen)
{
    int std = 0, url = 0;
    size_t data = len, pad;
    while (data > 0 && in[data - 1] == '=')
        data--;
    pad = len - data;
    if (len > (size_t)INT_MAX - 4 || data % 4 == 1 || pad > 2 || (pad && len % 4))
        return NULL;
    for (size_t i = 0; i < data; i++) {
        char c = in[i];
        if (c == '+' || c == '/')
            std = 1;
        else if (c == '-' || c == '_')
            url = 1;
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return NULL;
    }
    if (std && url)
        return NULL;
    pad = (4 - data % 4) % 4;
    char *norm = malloc(data + pad + 1), *again = NULL;
    unsigned char *out = malloc((data + pad) / 4 * 3 + 1);
    int n = -1;
    if (norm && out) {
        for (size_t i = 0; i < data; i++)
            norm[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
        memset(norm + data, '=', pad);
        norm[data + pad] = '\0';
        n = EVP_DecodeBlock(out, (const unsigned char *)norm, (int)(data + pad));
    }
    /* EVP_DecodeBlock counts the bytes of the padding as if they were data.
     * Only a padded last group has unused bits: encoding its bytes again
     * must give its four characters back. */
    int ok = n >= 0 && (pad == 0 || n >= 3);
    if (ok && pad) {
        again = assay_base64_encode(out + n - 3, 3 - pad);
        ok = again && !strcmp(again, norm + data + pad - 4);
    }
    if (ok) {
        *outlen = (size_t)n - pad;
    } else {
        free(out);
        out = NULL;
    }
    free(norm);
    free(again);
    return out;
}
