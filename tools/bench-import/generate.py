#!/usr/bin/env python3
"""Generates a bulk-import data set of >= 1M resources from the Synthea sample set.

Each copy of the 91 patient bundles is re-identified: every UUID (resource ids, fullUrls,
urn:uuid references, MRN identifiers) becomes a new deterministic UUID (uuid5 of the copy
number and the old one), family and given names get a copy suffix, and SSN, driver's licence
and passport numbers are shifted, so no two copies share an identity. UUIDs of the provider
bundles (conditional references to Organization/Location) are kept, so every copy refers to
the one set of providers, which is written once (files `0-*.json`, loaded first).

usage: generate.py SYNTHEA_FHIR_DIR OUT_DIR COPIES
"""
import multiprocessing
import os
import re
import shutil
import sys
import uuid

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NAMESPACE = uuid.UUID("6f1c2d3e-0000-4000-8000-00000000b001")
FAMILY = re.compile(r'("family": ")([^"]*)(")')
GIVEN = re.compile(r'("given": \[\s*")([^"]*)(")')
SSN = re.compile(r'("value": "999-)(\d\d)(-\d{4}")')
LICENCE = re.compile(r'("value": "S99)(\d{6})(")')
PASSPORT = re.compile(r'("value": "X)(\d{8})(X")')


def provider_uuids(source):
    keep = set()
    for name in os.listdir(source):
        if name.startswith("0-"):
            with open(os.path.join(source, name), encoding="utf-8") as f:
                keep.update(UUID.findall(f.read()))
    return keep


def reidentify(text, copy, keep):
    def new_uuid(match):
        old = match.group(0)
        return old if old in keep else str(uuid.uuid5(NAMESPACE, f"{copy}:{old}"))

    text = UUID.sub(new_uuid, text)
    text = FAMILY.sub(lambda m: f"{m.group(1)}{m.group(2)}c{copy}{m.group(3)}", text)
    text = GIVEN.sub(lambda m: f"{m.group(1)}{m.group(2)}c{copy}{m.group(3)}", text)
    text = SSN.sub(lambda m: f"{m.group(1)}{(int(m.group(2)) + copy) % 100:02d}{m.group(3)}", text)
    text = LICENCE.sub(lambda m: f"{m.group(1)}{(int(m.group(2)) + copy * 7919) % 10**6:06d}{m.group(3)}", text)
    text = PASSPORT.sub(lambda m: f"{m.group(1)}{(int(m.group(2)) + copy * 104729) % 10**8:08d}{m.group(3)}", text)
    return text


def make_copy(job):
    source, out, copy, keep = job
    target = os.path.join(out, f"copy-{copy:03d}")
    os.makedirs(target, exist_ok=True)
    for name in sorted(os.listdir(source)):
        if name.startswith("0-") or not name.endswith(".json"):
            continue
        with open(os.path.join(source, name), encoding="utf-8") as f:
            text = reidentify(f.read(), copy, keep)
        new_name = str(uuid.uuid5(NAMESPACE, f"{copy}:{name[:-5]}")) + ".json"
        with open(os.path.join(target, new_name), "w", encoding="utf-8") as f:
            f.write(text)
    return copy


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    keep = provider_uuids(source)
    for name in os.listdir(source):
        if name.startswith("0-"):
            shutil.copy(os.path.join(source, name), os.path.join(out, name))
    jobs = [(source, out, copy, keep) for copy in range(1, copies + 1)]
    with multiprocessing.Pool(min(2, os.cpu_count() or 1)) as pool:
        for done in pool.imap_unordered(make_copy, jobs):
            print(f"copy {done} written", file=sys.stderr)


if __name__ == "__main__":
    main()
