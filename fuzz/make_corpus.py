#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (not committed).

Structure-aware seeds, so that the fuzzers start from inputs that go deep instead of
rediscovering JSON and FHIR by mutation:

- fhirpath: the expressions of the official FHIRPath suite;
- json_validate: small R4 examples (at most 4 KB, a few per resource type);
- search_query: queries built from the R4 search parameters of Patient and Observation (every
  parameter with a value of its type, modifiers, prefixes, chains, _has, result parameters);
- json_patch, fhirpath_patch: documents over the fixtures' elements (every operation kind);
- bundle: small transaction and batch Bundles cut from the Synthea sample patients, plus
  hand-written entries of every method (conditional ones included).

Usage: python3 make_corpus.py [SHARED_DIR]   (default: $VIGIL_SHARED or ../../shared)
"""

import base64
import glob
import hashlib
import html
import itertools
import json
import os
import re
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = (sys.argv[1] if len(sys.argv) > 1
          else os.environ.get("VIGIL_SHARED", os.path.join(HERE, "..", "..", "shared")))
SCHEMA = os.path.join(HERE, "..", "crates", "vigil-model", "schema", "r4-search-parameters.json")


def write(target, items):
    """Writes each item (str or bytes) as one file named by its hash; returns the count."""
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for item in items:
        data = item.encode() if isinstance(item, str) else item
        with open(os.path.join(folder, hashlib.sha1(data).hexdigest()[:16]), "wb") as out:
            out.write(data)
    print(f"{target}: {len(items)} seeds")


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fhirpath():
    text = open(os.path.join(SHARED, "conformance", "fhirpath-r4", "tests-fhir-r4.xml")).read()
    found = re.findall(r"<expression[^>]*>(.*?)</expression>", text, re.S)
    write("fhirpath", [html.unescape(e) for e in found])


SKIPPED_TYPES = {"StructureDefinition", "SearchParameter", "ValueSet", "CodeSystem",
                 "ConceptMap", "OperationDefinition", "CapabilityStatement",
                 "CompartmentDefinition", "ImplementationGuide", "NamingSystem"}


def json_validate(per_type=4, max_bytes=4096):
    path = os.path.join(SHARED, "fhir-r4", "hl7.fhir.r4.examples-4.0.1.tgz")
    seeds, per = [], {}
    with tarfile.open(path) as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".json") or member.size > max_bytes:
                continue
            data = archive.extractfile(member).read()
            try:
                kind = json.loads(data).get("resourceType")
            except (ValueError, AttributeError):
                continue
            if kind in SKIPPED_TYPES or per.get(kind, 0) >= per_type:
                continue
            per[kind] = per.get(kind, 0) + 1
            seeds.append(data)
    write("json_validate", seeds)


# A typical value per search parameter type, and modifiers/prefixes to combine with it.
VALUES = {
    "string": ["Chalmers", "peter", "Ch%C3%A4"],
    "token": ["male", "http://loinc.org|8867-4", "|12345", "http://example.org/mrn|"],
    "date": ["1974-12-25", "ge2024-03-01T03:00:00Z", "lt2024", "ap1974-12", "ne2023-12-31T23:59:59%2B14:00"],
    "reference": ["Patient/p1", "p1", "Organization/o1", "http://fuzz.example/fhir/Patient/p2"],
    "quantity": ["120.5", "gt80|http://unitsofmeasure.org|mm[Hg]", "le0.0050||/min", "5.4e-3"],
    "number": ["1", "ge0.5", "100"],
    "uri": ["http://example.org/x"],
    "composite": ["http://loinc.org|8480-6$gt100", "8480-6$120.5"],
    "special": ["42.0|-71.0|10|km"],
}
MODIFIERS = {
    "string": [":exact", ":contains", ":missing"],
    "token": [":not", ":text", ":of-type", ":missing", ":in", ":below"],
    "date": [":missing"],
    "reference": [":missing", ":identifier", ":Patient"],
    "quantity": [":missing"],
    "number": [":missing"],
    "uri": [":below", ":above"],
}
HAND_WRITTEN = [
    "Patient?", "Patient?_id=p1", "Patient?_id=p1,p2&_count=1", "Patient?name=Chalmers&_sort=-birthdate,name",
    "Patient?_include=Patient:organization&_revinclude=Observation:subject",
    "Patient?_revinclude:iterate=Observation:patient&_include=*",
    "Patient?_has:Observation:patient:code=8867-4", "Patient?_has:Observation:subject:_has:Encounter:patient:status=finished",
    "Patient?organization.name=ACME", "Patient?general-practitioner:Practitioner.name=Who",
    "Patient?_lastUpdated=gt2020-01-01&_total=accurate&_summary=count",
    "Patient?_elements=name,birthDate&_summary=true", "Patient?_cursor=AAAA", "Patient?_text=peter",
    "Patient?_content=resting", "Patient?_tag=http://x|y", "Patient?_profile=http://x", "Patient?_security:not=R",
    "Patient?name=&name=a,,b", "Patient?birthdate=ge1970&birthdate=le1980", "Patient?identifier:of-type=http://x|MR|12345",
    "Observation?code=http://loinc.org|85354-9&component-code-value-quantity=8480-6$gt100",
    "Observation?subject:Patient.name=Chalmers&_include=Observation:subject:Patient",
    "Observation?value-quantity=0.005||/min&_sort=date", "Observation?patient=p1&date=ap2024-03-01",
    "Observation?combo-code-value-quantity=http://loinc.org|8462-4$80", "Observation?_include:iterate=Observation:encounter",
    "Observation?code:in=http://hl7.org/fhir/ValueSet/observation-vitalsignresult",
    "Observation?subject.organization.name:contains=acme&status:not=final",
    "?_type=Patient,Observation&_id=p1,o1", "?_lastUpdated=le2030&_count=2&_sort=_id", "?_type=Encounter&_revinclude=*",
    "?name=Chalmers", "?_type=Nope", "Patient/p1/Observation?code=8867-4",
    "Patient/p1/Observation?_sort=-date&_include=Observation:performer", "Patient/p1/Observation?",
]


def search_query():
    params = json.load(open(SCHEMA))
    seeds = list(HAND_WRITTEN)
    for prefix, kind in (("Patient", "Patient"), ("Observation", "Observation"), ("", "Resource")):
        for p in params:
            if kind not in p.get("base", []) and "Resource" not in p.get("base", []):
                continue
            values = VALUES.get(p["type"], ["x"])
            seeds.append(f"{prefix}?{p['code']}={values[0]}")
            seeds.append(f"{prefix}?{p['code']}={','.join(values)}&_sort=-{p['code']}")
            for modifier in MODIFIERS.get(p["type"], []):
                value = "true" if modifier == ":missing" else values[-1]
                seeds.append(f"{prefix}?{p['code']}{modifier}={value}")
    write("search_query", sorted(set(seeds)))


POINTERS = ["/name/0/given/1", "/name/-", "/birthDate", "/_birthDate/extension/0", "/contained/0/name/0/family",
            "/identifier/0", "/status", "/component/1/valueQuantity/value", "/subject/reference", "/id",
            "/resourceType", "/a~1b", "/telecom/5", ""]
JSON_VALUES = ["Jim", {"family": "Z"}, 1.50, None, [], {}, {"reference": "Patient/p2"}]


def json_patch():
    seeds = []
    for op, path in itertools.product(["add", "remove", "replace", "move", "copy", "test"], POINTERS):
        step = {"op": op, "path": path}
        if op in ("add", "replace", "test"):
            step["value"] = JSON_VALUES[len(seeds) % len(JSON_VALUES)]
        if op in ("move", "copy"):
            step["from"] = POINTERS[(len(seeds) + 3) % len(POINTERS)]
        seeds.append([step])
    seeds.append([{"op": "test", "path": "/id", "value": "p1"}, {"op": "replace", "path": "/active", "value": False},
                  {"op": "add", "path": "/name/0/given/0", "value": "Pete"}, {"op": "remove", "path": "/telecom/1"}])
    seeds += [[], {}, [{"op": "add"}], [{"op": "copy", "from": "/name", "path": "/name/0/extension"}]]
    write("json_patch", [compact(s) for s in seeds])


def part(name, **value):
    return {"name": name, **value}


def operation(kind, path, *parts):
    return part("operation", part=[part("type", valueCode=kind), part("path", valueString=path), *parts])


FHIRPATH_OPERATIONS = [
    operation("add", "Patient", part("name", valueString="birthDate"), part("value", valueDate="1920-01-01")),
    operation("add", "Patient.name[0]", part("name", valueString="given"), part("value", valueString="Pete")),
    operation("add", "Patient", part("name", valueString="contact"),
              part("value", part=[part("name", valueHumanName={"text": "a name"}), part("gender", valueCode="male")])),
    operation("insert", "Patient.identifier", part("index", valueInteger=0), part("value", valueIdentifier={"value": "z"})),
    operation("insert", "Patient.name[0].given", part("index", valueInteger=2), part("value", valueString="X")),
    operation("delete", "Patient.telecom.where(system = 'email')"),
    operation("delete", "Patient.name[0].given[1]"),
    operation("delete", "Observation.component[0].valueQuantity"),
    operation("replace", "Patient.birthDate", part("value", valueDate="1930-01-01")),
    operation("replace", "Patient.managingOrganization",
              part("value", valueReference={"reference": "Organization/o2"})),
    operation("replace", "Observation.subject.reference", part("value", valueString="Patient/p2")),
    operation("replace", "Observation.value", part("value", valueString="now a string")),
    operation("replace", "Observation.status", part("value", valueCode="cancelled")),
    operation("move", "Patient.identifier", part("source", valueInteger=1), part("destination", valueInteger=0)),
    operation("move", "Observation.component", part("source", valueInteger=0), part("destination", valueInteger=1)),
    operation("add", "Encounter", part("name", valueString="location"),
              part("value", part=[part("location", valueReference={"reference": "Location/l1"}),
                                  part("status", valueCode="active")])),
    operation("replace", "Patient.contained[0]",
              part("value", resource={"resourceType": "Organization", "id": "gp"})),
    operation("add", "Patient.extension.first()", part("name", valueString="valueInteger"),
              part("value", valueInteger=3)),
    operation("replace", "%resource.id", part("value", valueId="other")),
    operation("delete", "Patient"),
]


def fhirpath_patch():
    seeds = [{"resourceType": "Parameters", "parameter": [op]} for op in FHIRPATH_OPERATIONS]
    seeds.append({"resourceType": "Parameters", "parameter": FHIRPATH_OPERATIONS[:6]})
    seeds.append({"resourceType": "Parameters", "parameter": FHIRPATH_OPERATIONS[8:14]})
    seeds.append({"resourceType": "Parameters"})
    write("fhirpath_patch", [compact(s) for s in seeds])


def synthea_entries():
    """Entries of the Synthea sample bundles, grouped per patient."""
    for path in sorted(glob.glob(os.path.join(SHARED, "data", "synthea", "sample", "*.json"))):
        yield json.load(open(path))["entry"]


def without_conditional_references(value):
    """Drops references to `Type?criteria` that the fuzz store cannot resolve (Synthea's
    providers), keeping the rest of the resource."""
    if isinstance(value, dict):
        return {k: without_conditional_references(v) for k, v in value.items()
                if not (isinstance(v, dict) and "?" in str(v.get("reference", "")))}
    if isinstance(value, list):
        return [without_conditional_references(v) for v in value]
    return value


HAND_WRITTEN_ENTRIES = [
    {"request": {"method": "GET", "url": "Patient/p1"}},
    {"request": {"method": "GET", "url": "Observation?subject=Patient/p1&_count=1"}},
    {"request": {"method": "GET", "url": "metadata"}},
    {"request": {"method": "HEAD", "url": "Patient/p2/_history/1"}},
    {"request": {"method": "DELETE", "url": "Observation/o2"}},
    {"request": {"method": "DELETE", "url": "Patient?identifier=http://example.org/mrn|12345"}},
    {"request": {"method": "PUT", "url": "Patient/p2", "ifMatch": "W/\"1\""},
     "resource": {"resourceType": "Patient", "id": "p2", "active": False}},
    {"request": {"method": "PUT", "url": "Patient?identifier=http://example.org/mrn|999"},
     "resource": {"resourceType": "Patient", "identifier": [{"system": "http://example.org/mrn", "value": "999"}]}},
    {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
     "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://example.org/mrn|12345"},
     "resource": {"resourceType": "Patient", "name": [{"family": "New"}]}},
    {"request": {"method": "POST", "url": "Observation"},
     "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}}},
    {"request": {"method": "PATCH", "url": "Patient/p1"},
     "resource": {"resourceType": "Parameters", "parameter": [FHIRPATH_OPERATIONS[8]]}},
    {"request": {"method": "PATCH", "url": "Patient/p2"},
     "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                  "data": base64.b64encode(b'[{"op":"replace","path":"/gender","value":"other"}]').decode()}},
]


def bundle(max_bytes=6000):
    seeds = []
    for entries in synthea_entries():
        patient, rest = entries[0], entries[1:]
        for size in (0, 1, 2, 4, 8):
            for start in range(0, min(len(rest), 40), 10):
                chosen = [patient] + rest[start:start + size]
                body = {"resourceType": "Bundle", "type": "transaction", "entry": chosen}
                seeds.append(without_conditional_references(body))
                seeds.append(body)
    for entry in HAND_WRITTEN_ENTRIES:
        for kind in ("transaction", "batch"):
            seeds.append({"resourceType": "Bundle", "type": kind, "entry": [entry]})
    for kind in ("transaction", "batch"):
        seeds.append({"resourceType": "Bundle", "type": kind, "entry": HAND_WRITTEN_ENTRIES})
    texts = [compact(s) for s in seeds]
    write("bundle", [t for t in texts if len(t.encode()) <= max_bytes])


if __name__ == "__main__":
    fhirpath()
    json_validate()
    search_query()
    json_patch()
    fhirpath_patch()
    bundle()
