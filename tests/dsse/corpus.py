#!/usr/bin/env python3
"""Build the DSSE tamper corpus from one real signed report.

    corpus.py ENVELOPE PUBKEY PRIVKEY OUTDIR

Writes OUTDIR/<case>.json and OUTDIR/expected.tsv, one line per case:
name, the answer DSSE gives (valid/invalid), the answer Debian's
securesystemslib gives where it differs from DSSE (else "="), the SHA-256
of the payload a valid case hands on (else "-"), and why.
PRIVKEY is the lab's key (used to sign cases that only the key holder could
make: another payload type, a payload that is no statement); an attacker's
Ed25519 key is made here with openssl.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys

env_path, pub_path, key_path, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)
raw = open(env_path, "rb").read()
E = json.loads(raw)
TYPE = E["payloadType"]
P = base64.b64decode(E["payload"], validate=True)
SIG = E["signatures"][0]["sig"]
KID = E["signatures"][0]["keyid"]
cases = []


def b64(b, url=False, pad=True):
    s = (base64.urlsafe_b64encode if url else base64.standard_b64encode)(b).decode()
    return s if pad else s.rstrip("=")


def pae(t, body):
    return b"DSSEv1 %d %s %d %s" % (len(t.encode()), t.encode(), len(body), body)


def sign(key, msg, sm2):
    with open(os.path.join(out, ".msg"), "wb") as f:
        f.write(msg)
    args = ["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", os.path.join(out, ".msg")]
    if sm2:
        args += ["-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    s = subprocess.run(args, check=True, capture_output=True).stdout
    os.unlink(os.path.join(out, ".msg"))
    return s


def keyid(pem):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


SM2 = b"SM2" in subprocess.run(["openssl", "pkey", "-pubin", "-in", pub_path, "-noout", "-text"],
                               capture_output=True).stdout
evil = os.path.join(out, ".evil.pem")
subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", evil], check=True)
subprocess.run(["openssl", "pkey", "-in", evil, "-pubout", "-out", evil + ".pub"], check=True)
EVIL_KID = keyid(evil + ".pub")


def env(payload=None, ptype=None, sigs=None, **extra):
    e = {"payloadType": TYPE if ptype is None else ptype,
         "payload": E["payload"] if payload is None else payload,
         "signatures": [{"keyid": KID, "sig": SIG}] if sigs is None else sigs}
    e.update(extra)
    return e


def one(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def case(name, data, dsse, sslib="=", why=""):
    if isinstance(data, dict):
        data = one(data)
    # What a verifier must hand on for a valid case: the payload's bytes.
    digest = "-"
    if dsse == "valid":
        text = json.loads(data)["payload"].replace("-", "+").replace("_", "/")
        digest = hashlib.sha256(base64.b64decode(text + "=" * (-len(text) % 4), validate=True)).hexdigest()
    cases.append((name, dsse, sslib, digest, why))
    with open(os.path.join(out, name + ".json"), "wb") as f:
        f.write(data)


forged = P.replace(b'"verdict":"fail"', b'"verdict":"pass"', 1)
assert forged != P, "the report's verdict is not fail"
FORGED = b64(forged)
bad = bytearray(base64.b64decode(SIG))
bad[10] ^= 1
BAD = b64(bytes(bad))
evil_sig = b64(sign(evil, pae(TYPE, forged), False))

case("genuine", raw, "valid")
case("verdict-flip", env(payload=FORGED), "invalid")
case("decoy-nested", env(payload=FORGED, x={"payload": E["payload"], "signatures": E["signatures"]}), "invalid",
     why="the genuine payload in an unknown member is ignored")
case("genuine-with-forged-decoy", env(x={"payload": FORGED}), "valid", why="unknown members are ignored")
case("decoy-appended", raw + one(env(payload=FORGED)), "invalid", why="a second JSON value")
case("forged-then-genuine-duplicate", one(env(payload=FORGED))[:-2] + b',"payload":"' + E["payload"].encode() + b'"}\n',
     "invalid", "valid", "a name twice: Python keeps the last")
case("genuine-then-forged-duplicate", raw[:-2] + b',"payload":"' + FORGED.encode() + b'"}\n', "invalid",
     why="a name twice")
case("sig-duplicate-in-entry", raw.replace(b'"sig":', b'"sig":"' + BAD.encode() + b'","sig":', 1), "invalid", "valid",
     "a name twice in a signature: Python keeps the last")
case("payloadtype-changed", env(ptype="application/json"), "invalid")
case("payloadtype-signed-other", env(ptype="application/json",
                                     sigs=[{"keyid": KID, "sig": b64(sign(key_path, pae("application/json", P), SM2))}]),
     "invalid", why="signed, but not the in-toto payload type")
case("payload-not-statement", env(payload=b64(b'{"hello":1}'),
                                  sigs=[{"keyid": KID, "sig": b64(sign(key_path, pae(TYPE, b'{"hello":1}'), SM2))}]),
     "invalid", why="signed, but not an assay statement")
pretty = json.dumps(json.loads(P), indent=1, ensure_ascii=False).encode()
case("payload-pretty-printed-signed", env(payload=b64(pretty),
                                          sigs=[{"keyid": KID, "sig": b64(sign(key_path, pae(TYPE, pretty), SM2))}]),
     "valid", why="the payload is JSON: its layout is the signer's")
case("payload-trailing-bytes-signed", env(payload=b64(P + b"x"),
                                          sigs=[{"keyid": KID, "sig": b64(sign(key_path, pae(TYPE, P + b"x"), SM2))}]),
     "invalid", why="signed, but not one JSON value")
for field in ("payloadType", "payload", "keyid", "sig"):
    for where in ("end", "inside"):
        e = env()
        holder = e["signatures"][0] if field in ("keyid", "sig") else e
        v = holder[field]
        holder[field] = v + "\u0000" if where == "end" else v[:8] + "\u0000" + v[8:]
        text = json.dumps(e, separators=(",", ":")).encode() + b"\n"
        assert b"\\u0000" in text
        case("nul-%s-%s" % (where, field.lower()), text, "invalid", "=",
             "the keyid then names no key" if field == "keyid" else "")
case("nul-in-unknown-member", env(x="a\u0000b"), "invalid", "valid",
     "stricter than DSSE: assay refuses a NUL anywhere (C strings end at NUL)")
case("bad-then-good", env(sigs=[{"keyid": KID, "sig": BAD}, {"keyid": KID, "sig": SIG}]), "valid", "invalid",
     "securesystemslib refuses two signatures with one keyid")
case("good-then-bad", env(sigs=[{"keyid": KID, "sig": SIG}, {"keyid": KID, "sig": BAD}]), "valid", "invalid",
     "securesystemslib refuses two signatures with one keyid")
case("other-key-then-good", env(sigs=[{"keyid": EVIL_KID, "sig": evil_sig}, {"keyid": KID, "sig": SIG}]), "valid")
case("good-then-other-key", env(sigs=[{"keyid": KID, "sig": SIG}, {"keyid": EVIL_KID, "sig": evil_sig}]), "valid")
case("forged-signed-by-other-key", env(payload=FORGED, sigs=[{"keyid": EVIL_KID, "sig": evil_sig},
                                                             {"keyid": KID, "sig": SIG}]), "invalid")
case("forged-other-key-with-our-keyid", env(payload=FORGED, sigs=[{"keyid": KID, "sig": evil_sig}]), "invalid")
case("genuine-sig-other-keyid", env(sigs=[{"keyid": EVIL_KID, "sig": SIG}]), "invalid",
     why="a keyid that names another key is not counted")
fill = [{"keyid": "k%d" % i, "sig": BAD} for i in range(256)]
case("256-signatures-last-good", env(sigs=fill[:255] + [{"keyid": KID, "sig": SIG}]), "valid")
case("257-signatures-last-good", env(sigs=fill + [{"keyid": KID, "sig": SIG}]), "invalid", "valid",
     "assay's cap: at most 256 signatures")
case("signatures-empty", env(sigs=[]), "invalid")
case("signatures-not-array", env(sigs={"keyid": KID, "sig": SIG}), "invalid")
case("payload-missing", {"payloadType": TYPE, "signatures": E["signatures"]}, "invalid")
case("sig-malformed-entry-with-good", env(sigs=[{"keyid": KID, "sig": SIG}, {"keyid": KID}]), "invalid",
     why="an entry that does not decode rejects the envelope")
case("url-safe", env(payload=b64(P, url=True), sigs=[{"keyid": KID, "sig": b64(base64.b64decode(SIG), url=True)}]),
     "valid")
case("unpadded", env(payload=b64(P, pad=False), sigs=[{"keyid": KID, "sig": b64(base64.b64decode(SIG), pad=False)}]),
     "valid", "invalid", "DSSE does not say padding may be left out; securesystemslib requires it")
case("url-safe-unpadded", env(payload=b64(P, url=True, pad=False),
                              sigs=[{"keyid": KID, "sig": b64(base64.b64decode(SIG), url=True, pad=False)}]),
     "valid", "invalid", "securesystemslib requires padding")
std = E["payload"]
if "+" in std and "/" in std:
    case("mixed-alphabets", env(payload=std.replace("+", "-")), "invalid", "valid",
         "Python decodes '-' and '_' and keeps '+' and '/' when both alphabets are in one string")
if SIG.endswith("="):
    # Set the unused low bits of the last data character.
    d = SIG.rstrip("=")
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    i = alpha.index(d[-1])
    noncanon = d[:-1] + alpha[i | (0x0f if SIG.endswith("==") else 0x03)] + SIG[len(d):]
    assert noncanon != SIG
    case("sig-noncanonical-bits", env(sigs=[{"keyid": KID, "sig": noncanon}]), "invalid", "valid",
         "unused bits not zero: a second spelling of the same bytes (RFC 4648 3.5); Python ignores them")
case("sig-incomplete-padding", env(sigs=[{"keyid": KID, "sig": SIG[:-1] if SIG.endswith("==") else SIG + "=="}]),
     "invalid")
case("payload-with-newline", env(payload=std[:40] + "\n" + std[40:]), "invalid")
case("unknown-members", env(extra={"a": [1, 2]}, sigs=[{"keyid": KID, "sig": SIG, "cert": None}]), "valid")
case("keyid-missing", env(sigs=[{"sig": SIG}]), "valid", "invalid", "securesystemslib requires a keyid")
case("keyid-empty", env(sigs=[{"keyid": "", "sig": SIG}]), "valid", "invalid",
     "DSSE: unset and empty are the same; securesystemslib matches keyids exactly")
case("keyid-null", env(sigs=[{"keyid": None, "sig": SIG}]), "valid", "invalid", "securesystemslib matches keyids exactly")
case("keyid-not-string", env(sigs=[{"keyid": 7, "sig": SIG}]), "invalid", "=", "")
case("unknown-member-64-levels", one(env())[:-2] + b',"x":' + b"[" * 63 + b"]" * 63 + b"}\n", "valid")
case("unknown-member-65-levels", one(env())[:-2] + b',"x":' + b"[" * 64 + b"]" * 64 + b"}\n", "invalid", "valid",
     "assay's limit: at most 64 levels")
case("crlf", raw.rstrip(b"\n") + b"\r\n", "valid")
case("pretty-printed", json.dumps(E, indent=2).encode() + b"\n", "valid")
case("pretty-printed-crlf", json.dumps(E, indent=2).replace("\n", "\r\n").encode() + b"\r\n", "valid")
case("reordered-members", json.dumps({"signatures": E["signatures"], "payload": E["payload"], "payloadType": TYPE})
     .encode(), "valid")
case("trailing-garbage", raw + b"x", "invalid")
case("not-utf8-in-unknown-member", one(env(x="AB"))[:-3] + b'\xff"}\n', "invalid")

with open(os.path.join(out, "expected.tsv"), "w") as f:
    for c in cases:
        f.write("\t".join(c) + "\n")
for p in (evil, evil + ".pub"):
    os.unlink(p)
