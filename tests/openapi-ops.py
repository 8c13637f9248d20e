#!/usr/bin/env python3
"""Print the operations of an OpenAPI document, one a line:
METHOD PATH OPERATION-ID public|auth (tests/test_serve.c reads them)."""
import sys

import yaml

doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method == "parameters":
            continue
        public = op.get("security", doc.get("security")) == []
        print(method.upper(), path, op["operationId"], "public" if public else "auth")
