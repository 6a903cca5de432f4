#!/usr/bin/env bash
# Runs every Fuzz target of the module for a bounded number of inputs each.
# Usage: ci/fuzz.sh [fuzztime]   (a -fuzztime value: 100000x or 10s; default 50000x)
set -euo pipefail
cd "$(dirname "$0")/.."
time="${1:-50000x}"
found=0
while IFS= read -r pkg; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		found=1
		echo "fuzz $pkg $target ($time)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"
	done
done < <(go list ./...)
[ "$found" = 1 ] || echo "fuzz: no fuzz targets"
