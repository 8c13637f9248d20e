/* OpenSSL libcrypto, in one place; see crypto.h. */
#include "crypto.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
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
