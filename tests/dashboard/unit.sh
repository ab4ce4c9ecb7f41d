#!/usr/bin/env bash
# unit.sh - the dashboard's and store's small parsers and writers of outside
# input (tests/tools/dash_unit.c): stored-JSON re-encoding, the health object
# as Prometheus samples, cursors, name patterns, workload references,
# percent-decoding, constant-time comparison, flow JSON.
set -u
: "${EW_BUILD:?EW_BUILD not set}"
[ -x "$EW_BUILD/dash_unit" ] || { echo "SKIP: $EW_BUILD/dash_unit not built"; exit 77; }
exec "$EW_BUILD/dash_unit"
