#!/usr/bin/env bash
# Installs the test dependencies (a fresh machine has only Go, gcc and apt),
# chromium among them for the web dashboard's tests,
# and runs the README's test command with privileged tests required.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in curl:curl dig:dnsutils gnutls-cli:gnutls-bin openssl:openssl ip:iproute2 \
	python3:python3 git:git make:make chromium:chromium unshare:util-linux setpriv:util-linux \
	mount:mount awk:mawk sudo:sudo jq:jq; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
# The dashboard's tests drive a headless chromium; screenshots need a font.
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
if [ "${#need[@]}" -gt 0 ]; then
	echo "ci: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

go version
uname -r
export TRACEP_REQUIRE_PRIVILEGED=1
# A failed harness.Trace test leaves its trace here, for `tracep view`.
export TRACEP_SAVE_TRACES="${TRACEP_SAVE_TRACES:-$PWD/ci/out/traces}"
if ! make test; then
	if [ -d "$TRACEP_SAVE_TRACES" ]; then
		echo "ci: traces of the failed tests (open one with: tracep view FILE):"
		ls "$TRACEP_SAVE_TRACES"
	fi
	exit 1
fi
