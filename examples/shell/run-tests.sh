#!/bin/sh
# Runs this project's trace tests (tests/*.txtar) with tracep script, with
# the project's programs (scripts/) on PATH. Needs root to trace. Arguments go
# to tracep script: -v, -run REGEXP, -update.
set -eu
cd "$(dirname "$0")"
PATH="$PWD/scripts:$PATH" exec tracep script "$@" tests
