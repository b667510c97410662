"""Peer benchmark: fhirpathpy (compiled expressions, R4 model) over the cases in cases.json.

Prints one JSON object per line: {"engine", "name", "evals_per_sec", "result"}.
Usage: python bench_fhirpathpy.py <input-json dir> [seconds per case]
"""
import json
import os
import sys
import time

from fhirpathpy import compile as fp_compile
from fhirpathpy.models import models

HERE = os.path.dirname(os.path.abspath(__file__))


def load_inputs(input_dir):
    def load(name):
        with open(os.path.join(input_dir, name + ".json"), encoding="utf-8") as f:
            return json.load(f)

    inputs = {}
    for name in ["patient-example", "observation-example", "questionnaire-example",
                 "valueset-example-expansion"]:
        inputs[name] = load(name)
    inputs["bundle"] = {
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "http://example.org/fhir/Patient/example", "resource": load("patient-example")},
            {"fullUrl": "http://example.org/fhir/Observation/example", "resource": load("observation-example")},
        ],
    }
    return inputs


def main():
    input_dir = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with open(os.path.join(HERE, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    inputs = load_inputs(input_dir)
    for case in cases:
        resource = inputs[case["input"]]
        try:
            fn = fp_compile(case["expression"], models["r4"])
            result = fn(resource, {})
            n = 0
            start = time.perf_counter()
            deadline = start + seconds
            while True:
                for _ in range(50):
                    fn(resource, {})
                n += 50
                now = time.perf_counter()
                if now >= deadline:
                    break
            rate = n / (now - start)
            out = {"engine": "fhirpathpy", "name": case["name"], "evals_per_sec": rate,
                   "result": json.loads(json.dumps(result, default=str))}
        except Exception as e:  # an unsupported expression is reported, not fatal
            out = {"engine": "fhirpathpy", "name": case["name"], "evals_per_sec": None,
                   "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
