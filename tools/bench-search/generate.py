#!/usr/bin/env python3
"""Generates the search benchmark data set: copies of the Synthea corpus, re-identified.

    python3 tools/bench-search/generate.py [--shared DIR] [--copies N] [--out FILE]

Reads DIR/data/synthea/synthea-r4.tar.xz (default DIR: ../shared next to the repository) with
the standard library only, and writes one resource per line (NDJSON) to FILE (default
bench-data/search-1m.ndjson, git-ignored):

- `urn:uuid:` references and conditional references (`Practitioner?identifier=...`) are
  resolved to `Type/id`, as a server stores them;
- the provider resources (Organization, Location, Practitioner, PractitionerRole) are written
  once and shared by every copy;
- copy k of every patient-bundle resource gets the id `<id>-c<k>` and its references to other
  patient-bundle resources follow; the Patient is re-identified (family name and identifier
  values get the suffix `-c<k>`), so no two copies describe the same person.

16 copies of the 66,307 patient-bundle resources plus 778 provider resources make 1,061,690
resources.
"""

import argparse
import json
import os
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_bundles(archive):
    with tarfile.open(archive, "r:xz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and member.name.endswith(".json"):
                data = tar.extractfile(member)
                if data is not None:
                    yield os.path.basename(member.name), json.load(data)


def rewrite(value, fn):
    if isinstance(value, dict):
        return {k: (fn(v) if k == "reference" and isinstance(v, str) else rewrite(v, fn)) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite(v, fn) for v in value]
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench-data", "search-1m.ndjson"))
    args = parser.parse_args()
    archive = os.path.join(args.shared, "data", "synthea", "synthea-r4.tar.xz")
    if not os.path.exists(archive):
        sys.exit(f"Synthea archive not found: {archive}")

    providers, patients, by_url, by_identifier = [], [], {}, {}
    for name, bundle in read_bundles(archive):
        target = providers if name.startswith("0-") else patients
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            key = f"{resource['resourceType']}/{resource['id']}"
            by_url[entry.get("fullUrl", "")] = key
            for identifier in resource.get("identifier", []):
                if "system" in identifier and "value" in identifier:
                    by_identifier[f"{resource['resourceType']}?identifier={identifier['system']}|{identifier['value']}"] = key
            target.append(resource)

    def resolve(reference):
        return by_url.get(reference) or by_identifier.get(reference) or reference

    providers = [rewrite(r, resolve) for r in providers]
    patients = [rewrite(r, resolve) for r in patients]
    local = {f"{r['resourceType']}/{r['id']}" for r in patients}

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    count = 0
    with open(args.out, "w", encoding="utf-8") as out:
        for resource in providers:
            out.write(json.dumps(resource, separators=(",", ":")) + "\n")
            count += 1
        for k in range(args.copies):
            suffix = f"-c{k}"

            def relink(reference):
                return reference + suffix if reference in local else reference

            for resource in patients:
                copy = rewrite(resource, relink)
                copy["id"] = resource["id"] + suffix
                if copy["resourceType"] == "Patient":
                    for name in copy.get("name", []):
                        if "family" in name:
                            name["family"] += suffix
                    for identifier in copy.get("identifier", []):
                        if "value" in identifier:
                            identifier["value"] += suffix
                out.write(json.dumps(copy, separators=(",", ":")) + "\n")
                count += 1
    print(f"wrote {count} resources ({len(providers)} shared providers, {args.copies} copies of {len(patients)}) to {args.out}")


if __name__ == "__main__":
    main()
