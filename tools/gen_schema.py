#!/usr/bin/env python3
"""Generate Vigil's compact FHIR R4 schema from the official R4 package.

Reads ``<shared>/fhir-r4/hl7.fhir.r4.examples-4.0.1.tgz`` directly with ``tarfile`` (nothing is
unpacked) and writes three compact JSON files into ``crates/vigil-model/schema/``:

* ``r4-types.json``: every resource type, complex type and primitive type of R4 (the
  StructureDefinitions with ``derivation=specialization``, plus the abstract roots ``Resource``
  and ``Element``), each with its elements taken from the snapshot. Backbone elements become
  their own anonymous types named by path (``Patient.contact``). Required bindings whose value
  set can be enumerated from the package are kept as an index into a shared, deduplicated table
  of code lists.
* ``r4-search-parameters.json``: the SearchParameter resources, compacted.
* ``r4-compartments.json``: the CompartmentDefinitions (resource type -> parameters).

``--check`` regenerates in memory and exits 1 when a committed file differs.

Stdlib only (Python 3.11). The output is deterministic: keys are sorted where order does not
matter, element order follows the snapshot (the order FHIR JSON uses), and lists are sorted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "crates" / "vigil-model" / "schema"
PACKAGE = "fhir-r4/hl7.fhir.r4.examples-4.0.1.tgz"

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def load_package(path: Path) -> list[dict]:
    """Return every JSON resource in the package, in archive order."""
    resources = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            name = member.name.rsplit("/", 1)[-1]
            if name == "package.json" or name.startswith("."):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = json.loads(handle.read())
            if isinstance(data, dict) and "resourceType" in data:
                resources.append(data)
    return resources


# --------------------------------------------------------------------------------------------
# Value sets: enumerate required bindings where the package allows it.


class Terminology:
    """Code systems and value sets of the package, for enumerating required bindings."""

    def __init__(self, resources: list[dict]):
        self.code_systems: dict[str, dict] = {}
        self.value_sets: dict[str, dict] = {}
        for res in resources:
            if res["resourceType"] == "CodeSystem" and "url" in res:
                self.code_systems.setdefault(res["url"], res)
            elif res["resourceType"] == "ValueSet" and "url" in res:
                self.value_sets.setdefault(res["url"], res)
        self.cache: dict[str, list[str] | None] = {}
        self.skipped: dict[str, str] = {}

    @staticmethod
    def _flatten(concepts: list[dict]) -> list[str]:
        out = []
        for concept in concepts:
            out.append(concept["code"])
            out.extend(Terminology._flatten(concept.get("concept", [])))
        return out

    def _system_codes(self, system: str) -> list[str] | None:
        cs = self.code_systems.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        return self._flatten(cs.get("concept", []))

    def _include(self, inc: dict, url: str, depth: int) -> list[str] | None:
        if inc.get("filter"):
            self.skipped.setdefault(url, "include uses a filter")
            return None
        codes: list[str] = []
        if "concept" in inc:
            codes.extend(c["code"] for c in inc["concept"])
        elif "system" in inc:
            system_codes = self._system_codes(inc["system"])
            if system_codes is None:
                self.skipped.setdefault(url, f"code system {inc['system']} not complete in package")
                return None
            codes.extend(system_codes)
        for imported in inc.get("valueSet", []):
            sub = self.enumerate(imported, depth + 1)
            if sub is None:
                self.skipped.setdefault(url, f"imports {imported}")
                return None
            if "system" in inc or "concept" in inc:
                # An include with both a system and value sets is their intersection.
                keep = set(sub)
                codes = [c for c in codes if c in keep]
            else:
                codes.extend(sub)
        return codes

    def enumerate(self, canonical: str, depth: int = 0) -> list[str] | None:
        """Sorted, deduplicated codes of a value set, or None when not enumerable here."""
        url = canonical.split("|", 1)[0]
        if url in self.cache:
            return self.cache[url]
        result: list[str] | None = None
        vs = self.value_sets.get(url)
        if depth > 8:
            self.skipped.setdefault(url, "import depth")
        elif vs is None:
            self.skipped.setdefault(url, "value set not in package")
        elif "compose" not in vs:
            self.skipped.setdefault(url, "no compose")
        else:
            codes: list[str] | None = []
            for inc in vs["compose"].get("include", []):
                part = self._include(inc, url, depth)
                if part is None:
                    codes = None
                    break
                codes.extend(part)
            if codes is not None:
                for exc in vs["compose"].get("exclude", []):
                    if "concept" not in exc or exc.get("filter") or exc.get("valueSet"):
                        self.skipped.setdefault(url, "exclude not an explicit concept list")
                        codes = None
                        break
                    drop = {c["code"] for c in exc["concept"]}
                    codes = [c for c in codes if c not in drop]
            if codes:
                result = sorted(set(codes))
            elif codes is not None:
                self.skipped.setdefault(url, "empty expansion")
        self.cache[url] = result
        return result


# --------------------------------------------------------------------------------------------
# Structure definitions -> types.


def type_code(t: dict, path: str, is_resource: bool) -> str:
    """The FHIR type code of an ElementDefinition.type entry (System.* mapped back to FHIR)."""
    code = t["code"]
    if code.startswith(SYSTEM_PREFIX):
        for ext in t.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                code = ext.get("valueUrl") or ext.get("valueUri") or code
                break
        else:
            code = {"String": "string", "Boolean": "boolean", "Integer": "integer",
                    "Decimal": "decimal", "Date": "date", "DateTime": "dateTime",
                    "Time": "time"}.get(code[len(SYSTEM_PREFIX):], "string")
        # R4 types Resource.id as System.String/"string"; the JSON format and every server
        # treat a resource's logical id as the `id` primitive, so keep that.
        if is_resource and path.count(".") == 1 and path.endswith(".id"):
            code = "id"
    return code


def target_names(t: dict) -> list[str]:
    names = []
    for profile in t.get("targetProfile", []):
        names.append(profile.rsplit("/", 1)[-1])
    return names


def convert_sd(sd: dict, term: Terminology, code_lists: dict[tuple, int],
               types: dict[str, dict], stats: dict) -> None:
    """Add the type of one StructureDefinition (and its backbone types) to ``types``."""
    kind = {"resource": "r", "complex-type": "c", "primitive-type": "p"}[sd["kind"]]
    is_resource = kind == "r"
    name = sd["type"]
    elements = sd["snapshot"]["element"]
    children: dict[str, list[dict]] = {}
    for e in elements[1:]:
        parent = e["path"].rsplit(".", 1)[0]
        children.setdefault(parent, []).append(e)

    def make_type(path: str, base: str | None, tkind: str, abstract: bool) -> None:
        entry: dict = {"k": tkind}
        if base:
            entry["b"] = base
        if abstract:
            entry["a"] = 1
        entry["e"] = [make_element(e) for e in children.get(path, [])]
        types[path] = entry

    def make_element(e: dict) -> dict:
        path = e["path"]
        el: dict = {"n": path.rsplit(".", 1)[-1]}
        if "contentReference" in e:
            ref = e["contentReference"].lstrip("#")
            el["t"] = [ref]
            el["r"] = ref
        elif path in children:
            # A backbone element: its own anonymous type named by path.
            base = type_code(e["type"][0], path, is_resource) if e.get("type") else "Element"
            make_type(path, base, "c", False)
            el["t"] = [path]
        else:
            codes = []
            targets = {}
            for t in e.get("type", []):
                code = type_code(t, path, is_resource)
                if code not in codes:
                    codes.append(code)
                tn = target_names(t)
                if tn and code in ("Reference", "canonical", "CodeableReference"):
                    targets[code] = sorted(set(targets.get(code, []) + tn))
            el["t"] = codes
            if targets:
                el["p"] = targets
        if e.get("min", 0):
            el["min"] = e["min"]
        mx = e.get("max", "1")
        if mx != "1":
            el["max"] = mx if mx == "*" else int(mx)
        if e.get("isSummary"):
            el["s"] = 1
        if e.get("isModifier"):
            el["m"] = 1
        if path.endswith("[x]"):
            el["c"] = 1
        binding = e.get("binding")
        if binding and binding.get("strength") == "required" and "valueSet" in binding:
            stats["required"] += 1
            codes = term.enumerate(binding["valueSet"])
            if codes is None:
                stats["skipped"] += 1
                stats["skipped_sets"].add(binding["valueSet"].split("|", 1)[0])
            else:
                key = tuple(codes)
                if key not in code_lists:
                    code_lists[key] = len(code_lists)
                el["v"] = code_lists[key]
                el["vs"] = binding["valueSet"].split("|", 1)[0]
        return el

    base = sd.get("baseDefinition", "").rsplit("/", 1)[-1] or None
    make_type(name, base, kind, bool(sd.get("abstract")))


def build_types(resources: list[dict]) -> tuple[dict, dict]:
    term = Terminology(resources)
    code_lists: dict[tuple, int] = {}
    types: dict[str, dict] = {}
    stats = {"required": 0, "skipped": 0, "skipped_sets": set()}
    sds = [r for r in resources if r["resourceType"] == "StructureDefinition"
           and r["kind"] in ("resource", "complex-type", "primitive-type")
           and r.get("derivation", "specialization") == "specialization"
           and r.get("url", "").startswith(SD_PREFIX)
           and "snapshot" in r]
    for sd in sorted(sds, key=lambda r: r["type"]):
        convert_sd(sd, term, code_lists, types, stats)
    tables = [list(k) for k, _ in sorted(code_lists.items(), key=lambda kv: kv[1])]
    skipped = sorted(stats["skipped_sets"])
    out = {
        "fhirVersion": "4.0.1",
        "generator": "tools/gen_schema.py",
        "comment": (
            f"{stats['required']} required bindings; {stats['required'] - stats['skipped']} "
            f"enumerated into {len(tables)} code lists; {stats['skipped']} bindings over "
            f"{len(skipped)} value sets not enumerable from the package (listed in "
            "skippedValueSets: external code systems, filters, incomplete code systems)"),
        "skippedValueSets": skipped,
        "codes": tables,
        "types": {k: types[k] for k in sorted(types)},
    }
    return out, stats


# --------------------------------------------------------------------------------------------
# Search parameters and compartments.


def build_search_parameters(resources: list[dict]) -> list[dict]:
    out = []
    for sp in resources:
        if sp["resourceType"] != "SearchParameter":
            continue
        entry: dict = {"url": sp["url"], "id": sp["id"], "code": sp["code"],
                       "base": sp.get("base", []), "type": sp["type"]}
        for key in ("expression", "xpathUsage", "multipleOr", "multipleAnd"):
            if key in sp:
                entry[key] = sp[key]
        for key in ("target", "comparator", "modifier", "chain"):
            if key in sp:
                entry[key] = sorted(sp[key])
        if "component" in sp:
            entry["component"] = [{"definition": c["definition"], "expression": c["expression"]}
                                  for c in sp["component"]]
        out.append(entry)
    out.sort(key=lambda e: (e["url"], e["id"]))
    return out


def build_compartments(resources: list[dict]) -> dict:
    out = {}
    for cd in resources:
        if cd["resourceType"] != "CompartmentDefinition" or cd.get("id") == "example":
            continue
        if not cd.get("url", "").startswith("http://hl7.org/fhir/CompartmentDefinition/"):
            continue
        members = {}
        for r in cd.get("resource", []):
            if r.get("param"):
                members[r["code"]] = list(r["param"])
        out[cd["code"]] = {k: members[k] for k in sorted(members)}
    return {k: out[k] for k in sorted(out)}


def dump(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"


def generate(shared: Path) -> dict[str, str]:
    resources = load_package(shared / PACKAGE)
    types, stats = build_types(resources)
    return {
        "r4-types.json": dump(types),
        "r4-search-parameters.json": dump(build_search_parameters(resources)),
        "r4-compartments.json": dump(build_compartments(resources)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared",
                        help="folder holding fhir-r4/ (default: ../shared next to the repo)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed files differ from a fresh generation")
    args = parser.parse_args()
    package = args.shared / PACKAGE
    if not package.is_file():
        print(f"gen_schema: {package} not found", file=sys.stderr)
        return 2
    outputs = generate(args.shared)
    if args.check:
        stale = [n for n, text in outputs.items()
                 if not (OUT_DIR / n).is_file() or (OUT_DIR / n).read_text("utf-8") != text]
        for n in stale:
            print(f"gen_schema: {OUT_DIR / n} is out of date; run tools/gen_schema.py",
                  file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for n, text in outputs.items():
        (OUT_DIR / n).write_text(text, "utf-8")
        print(f"wrote {OUT_DIR / n} ({len(text.encode('utf-8')):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
