#!/usr/bin/env python3
"""Verify each case of the DSSE corpus with securesystemslib's DSSE Envelope.

    sslib_verify.py KEYID TYPE < corpus.tar

The tar holds pub.pem (Ed25519) and the cases (*.json). Prints one line per
case: name, "valid" or "invalid", and the reason. The envelope's own checks
are all securesystemslib's (Envelope.from_dict, Envelope.verify with
threshold 1); around them only what DSSE leaves to the application: the
payload type must be TYPE and the payload an in-toto statement.
"""
import base64
import json
import sys
import tarfile

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

keyid, ptype = sys.argv[1:3]
files = {}
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
    for m in tar:
        if m.isfile():
            files[m.name.split("/")[-1]] = tar.extractfile(m).read()
pem = b"".join(line for line in files.pop("pub.pem").splitlines() if not line.startswith(b"-----"))
# An Ed25519 SubjectPublicKeyInfo is 12 bytes of header, then the key.
key = SSlibKey(keyid, "ed25519", "ed25519", {"public": base64.b64decode(pem)[-32:].hex()})

for name in sorted(files):
    try:
        env = Envelope.from_dict(json.loads(files[name]))
        env.verify([key], 1)
        if env.payload_type != ptype:
            raise ValueError("payload type %r" % env.payload_type)
        st = json.loads(env.payload)
        if st.get("_type") != "https://in-toto.io/Statement/v1":
            raise ValueError("not an in-toto statement")
        if st.get("predicateType") != "https://in-toto.io/attestation/assay-adaptation-report/v1":
            raise ValueError("not an assay report")
        print("%s\tvalid\t" % name[:-5])
    except Exception as e:  # every refusal, whatever its kind, is "invalid"
        print("%s\tinvalid\t%s: %s" % (name[:-5], type(e).__name__, str(e).replace("\n", " ")[:120]))
