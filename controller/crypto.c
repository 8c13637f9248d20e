/* OpenSSL libcrypto, in one place; see crypto.h. */
#include "crypto.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

static void to_hex(char *out, const unsigned char *d, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void assay_sha256_final(assay_sha256 *h, char out[ASSAY_SHA256_HEX])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)h, d, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)h);
    to_hex(out, d, 32);
}

void assay_sha256_hex(char out[ASSAY_SHA256_HEX], const void *data, size_t len)
{
    unsigned char d[32];
    EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL);
    to_hex(out, d, 32);
}

int assay_sha256_file(char out[ASSAY_SHA256_HEX], uint64_t *size, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    assay_sha256 *h = assay_sha256_new();
    if (!h) {
        close(fd);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    static unsigned char buf[1 << 20];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            assay_sha256_final(h, out);
            return assay_error_set_errno(ASSAY_EIO, e, "read %s", path);
        }
        if (n == 0)
            break;
        assay_sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
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
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, len, out, &n);
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

int assay_verify(const char *pubpem, size_t pemlen, const void *msg, size_t len, const unsigned char *sig,
                 size_t siglen, char keyid[ASSAY_SHA256_HEX], char alg[16])
{
    BIO *b = BIO_new_mem_buf(pubpem, (int)pemlen);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *ctx = NULL;
    int rc;
    BIO_free(b);
    if (!k)
        return assay_error_set(ASSAY_EINVAL, "not a PEM public key");
    if ((rc = key_info(k, keyid, alg)) < 0)
        goto out;
    if (!(ctx = init_ctx(k, 0))) {
        rc = assay_error_set(ASSAY_ERROR, "cannot verify with this key");
        goto out;
    }
    rc = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1 ? 0
         : assay_error_set(ASSAY_EVERIFY, "the signature does not match");
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return rc;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *assay_base64_encode(const unsigned char *in, size_t len)
{
    size_t n = 4 * ((len + 2) / 3);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < len ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? B64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

unsigned char *assay_base64_decode(const char *in, size_t len, size_t *outlen)
{
    if (len % 4)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            const char *p = c ? strchr(B64, c) : NULL;
            if (c == '=' && i + 4 == len && k >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad) { /* a character after '=', or not base64 */
                free(out);
                return NULL;
            }
            v = v << 6 | (uint32_t)(p - B64);
        }
        /* Canonical only: the bits a padded group does not use must be 0,
         * or two encodings would mean the same bytes. */
        if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))) {
            free(out);
            return NULL;
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    *outlen = o;
    return out;
}
