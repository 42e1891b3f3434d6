#!/usr/bin/env bash
# Runs `go` on sluice's Go code offline, as the tests and `npm run bench` do:
# GOPATH mode over Debian's Go packages (/usr/share/gocode; scripts/test-deps.sh
# installs them), with the module sluice.dev/sdk/go linked to sdk/go. A Go
# user with a module proxy uses sdk/go/go.mod instead.
#   scripts/go.sh build -o /tmp/myplugin ./examples/go/file
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GP="$ROOT/.gopath"
mkdir -p "$GP/src/sluice.dev/sdk"
[ -L "$GP/src/sluice.dev/sdk/go" ] || ln -sfn "$ROOT/sdk/go" "$GP/src/sluice.dev/sdk/go"
export GOPATH="$GP:/usr/share/gocode" GO111MODULE=off GOPROXY=off GOFLAGS=
# In GOPATH mode `go` does not follow the symlink when it expands a pattern,
# so sluice.dev/sdk/go/... would match nothing: spell its packages out.
args=()
for a in "$@"; do
  if [[ $a == sluice.dev/sdk/go/... ]]; then
    while IFS= read -r d; do
      args+=("sluice.dev/sdk/go${d#.}")
    done < <(cd "$ROOT/sdk/go" && find . -name '*.go' -not -path '*/testdata/*' -printf '%h\n' | sort -u)
  else
    args+=("$a")
  fi
done
exec go "${args[@]}"
