"""Validates recorded HTTP responses against the OpenAPI document's schemas (JSON Schema 2020-12).

Usage: validate_responses.py OPENAPI_JSON SAMPLES_JSONL
Each sample line: {"method": "get", "path": "/v1/memories/{id}", "status": 200, "body": ...}.
Prints one line per failure and exits 1 if any; prints "ok N" otherwise.
"""
import json
import sys

from jsonschema import Draft202012Validator


def main():
    with open(sys.argv[1]) as f:
        document = json.load(f)
    failures, checked = [], 0
    with open(sys.argv[2]) as f:
        for line in f:
            sample = json.loads(line)
            where = f'{sample["method"].upper()} {sample["path"]} {sample["status"]}'
            operation = document["paths"].get(sample["path"], {}).get(sample["method"])
            if operation is None:
                failures.append(f"{where}: not in the document")
                continue
            response = operation["responses"].get(str(sample["status"]))
            if response is None:
                failures.append(f"{where}: status not documented")
                continue
            if "$ref" in response:
                response = document["components"]["responses"][response["$ref"].split("/")[-1]]
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                if sample["body"] is not None:
                    failures.append(f"{where}: a body where the document has none")
                continue
            # The document's components beside the schema, so that "#/components/..." resolves.
            root = dict(schema, components=document["components"])
            validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
            for error in validator.iter_errors(sample["body"]):
                failures.append(f"{where}: {'/'.join(map(str, error.absolute_path))}: {error.message[:300]}")
            checked += 1
    for failure in failures:
        print(failure)
    if failures:
        sys.exit(1)
    print(f"ok {checked}")


if __name__ == "__main__":
    main()
