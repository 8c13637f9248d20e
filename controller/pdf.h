/*
 * The adaptation report as a PDF (`assay report RUN --format pdf`): the
 * same document as the html form, made from the verified payload with
 * cairo and pango, on A4, with a CJK font embedded (Noto Sans CJK SC from
 * fonts-noto-cjk, found through fontconfig), and on every page its number,
 * the SHA-256 of the signed DSSE payload and a QR code of the report's
 * verification address (assay_report_verify_address). docs/report.md
 * describes it. cairo, pango and libqrencode belong to this module alone.
 */
#ifndef ASSAY_CTL_PDF_H
#define ASSAY_CTL_PDF_H

#include "report.h"

#include <stddef.h>

/* The PDF of a verified report into *out (binary, *len bytes; the caller
 * frees it). Every string of the payload is laid out as plain text, never
 * as pango markup. Returns 0, or ASSAY_ENOMEM / ASSAY_ETOOBIG / ASSAY_EIO
 * (cairo failed) with *out untouched. */
int assay_report_pdf(unsigned char **out, size_t *len, const assay_report_check *c);

/* The report's verification address, what its QR code holds: the lab's
 * report.verify_url (from the payload) followed by the payload's SHA-256
 * in hex, or "sha256:" and the digest when the lab sets no address. */
void assay_report_verify_address(char *out, size_t outlen, const assay_report_check *c);

#endif
