#!/usr/bin/env bash
# Installs the ecosystems' own validators that the export tests run (tests/e2e/validators.rs):
#   - OCSF 1.7.0: the schema export carried by `ocsf-json-schema`, checked with `jsonschema`;
#   - OTLP: the official protobufs (`opentelemetry-proto`, with `protobuf`);
#   - asciicast v3: asciinema 3 (built from crates.io by cargo install, once per machine).
# Pinned versions; safe to run again (installed ones are kept).
set -euo pipefail

PY_PACKAGES=(jsonschema==4.26.0 ocsf-json-schema==1.2.0 opentelemetry-proto==1.45.2)
ASCIINEMA_VERSION=3.2.0

if ! python3 -c 'import jsonschema, ocsf_json_schema, opentelemetry.proto' >/dev/null 2>&1; then
  echo "installing ${PY_PACKAGES[*]}"
  pip=(python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore)
  "${pip[@]}" "${PY_PACKAGES[@]}" 2>/dev/null \
    || "${pip[@]}" --break-system-packages "${PY_PACKAGES[@]}"
fi

if ! asciinema --version 2>/dev/null | grep -q "^asciinema $ASCIINEMA_VERSION"; then
  echo "installing asciinema $ASCIINEMA_VERSION (cargo install)"
  cargo install asciinema --version "$ASCIINEMA_VERSION" --locked --quiet
fi
