#!/usr/bin/env python3
"""Validates OCSF events (one JSON object per line) against the OCSF 1.7.0 JSON schema.

usage: python3 ocsf.py FILE...

The JSON schema of each event's class, with the profiles the event names in metadata.profiles,
is generated from the schema export that the pinned `ocsf-json-schema` package carries, and
checked with `jsonschema` (draft 2020-12). Prints the count per class; exit 1 on any error.
"""
import collections
import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

VERSION = "1.7.0"


def main(paths):
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(VERSION))
    validators, counts, errors = {}, collections.Counter(), 0
    for path in paths:
        for no, line in enumerate(open(path, encoding="utf-8"), 1):
            if not line.strip():
                continue
            event = json.loads(line)
            profiles = tuple(sorted(event.get("metadata", {}).get("profiles", [])))
            key = (event.get("class_uid"), profiles)
            if key not in validators:
                name = schema.lookup_class_name_from_uid(event["class_uid"])
                validators[key] = jsonschema.Draft202012Validator(schema.get_class_schema(name, list(profiles)))
            found = sorted(validators[key].iter_errors(event), key=lambda e: list(e.path))
            for e in found:
                print(f"{path}:{no}: class {event['class_uid']}: /{'/'.join(map(str, e.path))}: {e.message[:300]}")
            errors += len(found)
            counts[event["class_uid"]] += 1
    print("OCSF " + VERSION + " events per class: " + ", ".join(f"{c}={n}" for c, n in sorted(counts.items())))
    print(f"{sum(counts.values())} events, {errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
