#!/usr/bin/env python3
"""Derives the compact code tables of vigil-ingest's mapper from the HL7 V2-to-FHIR guide's
vocabulary maps (CSV, folder `mappings/codesystems` of HL7/v2-to-fhir, shipped as
$VIGIL_SHARED/hl7v2-to-fhir/v2-to-fhir-mappings.tar.xz).

Usage: gen_tables.py MAPPINGS_DIR  (the unpacked `mappings/` folder)

Writes src/mapper/tables/<name>.tsv: one line per v2 code the guide maps,
`v2 code <TAB> FHIR code <TAB> display <TAB> FHIR system`. Rows without a v2 code or without
a FHIR code (the guide leaves them unmapped) are left out; the mapper documents its fallback.
"""
import csv
import pathlib
import sys

TABLES = {
    "administrative_sex": "AdministrativeSex",
    "patient_class": "PatientClass[EncounterClass]",
    "encounter_status": "Event[EncounterStatus]",
    "interpretation": "InterpretationCodes",
    "observation_status": "ObservationResultStatusCodesInterpretation",
    "report_status": "ResultStatus[Non-Queries]",
    "order_control_status": "OrderControlCode[ServiceRequest.status]",
    "order_status": "OrderStatus",
    "appointment_status": "FillerStatusCodes[Appointment]",
    "completion_status": "CompletionStatus",
}


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [next(reader), next(reader)]
        second = header[1]
        # Column positions differ between sheets: find them from the second header line.
        fhir_start = second.index("Code", 1)
        code_col = fhir_start
        display_col = second.index("Display", fhir_start)
        system_col = second.index("Code System", fhir_start)
        for row in reader:
            row = row + [""] * (len(second) - len(row))
            v2 = row[0].strip()
            code = row[code_col].strip()
            if not v2 or not code:
                continue
            display = row[display_col].strip() or row[code_col + 1].strip()
            system = row[system_col].strip()
            yield v2, code, display, system


def main():
    mappings = pathlib.Path(sys.argv[1])
    out = pathlib.Path(__file__).resolve().parent.parent / "src" / "mapper" / "tables"
    out.mkdir(parents=True, exist_ok=True)
    for name, sheet in TABLES.items():
        path = mappings / "codesystems" / f"HL7 Concept Map_ {sheet} - Sheet1.csv"
        lines = [f"# from the V2-to-FHIR guide's concept map '{sheet}' (tools/gen_tables.py)"]
        for v2, code, display, system in rows(path):
            lines.append("\t".join(x.replace("\t", " ") for x in (v2, code, display, system)))
        (out / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
