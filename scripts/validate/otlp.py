#!/usr/bin/env python3
"""Validates OTLP/JSON trace files with the official OpenTelemetry protobufs.

usage: python3 otlp.py FILE...

Each file is parsed into an ExportTraceServiceRequest (`opentelemetry-proto`, strict: unknown
fields are errors), then checked against the conventions' required attributes: HTTP client
spans (http.request.method, url.full, server.address, server.port), GenAI invoke_agent and
execute_tool spans (gen_ai.operation.name, gen_ai.provider.name not "unknown",
gen_ai.tool.name); span ids unique, parents present, no span ending before it starts. Prints
the counts; exit 1 on any error.
"""
import collections
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

HTTP_CLIENT = ("http.request.method", "url.full", "server.address", "server.port")


def attributes(span):
    return {a.key: a.value for a in span.attributes}


def check_span(span, ids):
    """The problems of one span."""
    attrs, problems = attributes(span), []
    if span.end_time_unix_nano < span.start_time_unix_nano:
        problems.append("ends before it starts")
    if span.parent_span_id and span.parent_span_id not in ids:
        problems.append("its parent is not in the trace")
    if span.kind == Span.SPAN_KIND_CLIENT:
        problems += [f"no {k}" for k in HTTP_CLIENT if k not in attrs]
    operation = attrs.get("gen_ai.operation.name")
    if operation and operation.string_value == "invoke_agent":
        provider = attrs.get("gen_ai.provider.name")
        if provider is None or provider.string_value in ("", "unknown"):
            problems.append("gen_ai.provider.name missing or unknown")
    if operation and operation.string_value == "execute_tool" and "gen_ai.tool.name" not in attrs:
        problems.append("no gen_ai.tool.name")
    return problems


def main(paths):
    counts, errors = collections.Counter(), 0
    for path in paths:
        request = ExportTraceServiceRequest()
        json_format.Parse(open(path, encoding="utf-8").read(), request)
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        ids = collections.Counter(s.span_id for s in spans)
        for span in spans:
            problems = check_span(span, ids)
            if ids[span.span_id] > 1:
                problems.append("span id not unique")
            for p in problems:
                print(f"{path}: span {span.name!r} ({span.span_id.hex()}): {p}")
            errors += len(problems)
            counts[Span.SpanKind.Name(span.kind)] += 1
            counts["with duration"] += span.end_time_unix_nano > span.start_time_unix_nano
        counts["files"] += 1
    print("OTLP ExportTraceServiceRequest: " + ", ".join(f"{k}={n}" for k, n in sorted(counts.items())))
    print(f"{errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
