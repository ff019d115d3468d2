#!/usr/bin/env python3
"""Validate Kubernetes manifests against the official JSON schemas (PyPI kubernetes-validate), strictly.

Usage: validate_manifests.py VERSION FILE...   (multi-document YAML files)
Prints one line per document; exits 1 if any document is invalid.
"""
import sys

import kubernetes_validate
import yaml


def main():
    version, files = sys.argv[1], sys.argv[2:]
    bad = 0
    for f in files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        if not docs:
            print(f"INVALID {f}: no documents")
            bad += 1
        for i, doc in enumerate(docs):
            what = f"{f}[{i}] {doc.get('kind')}"
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                print(f"VALID {what}")
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                print(f"INVALID {what}: {path}: {e.message}")
                bad += 1
    sys.exit(1 if bad else 0)


main()
