#!/usr/bin/env bash
# What the tests need beyond npm: Debian packages for the Go SDK (the Go
# toolchain, gRPC and protobuf for Go, hashicorp/go-plugin and go-hclog,
# msgpack), and for the Kafka test broker (a C compiler and librdkafka, whose
# mock cluster test/kafka/mock-cluster.c wraps; kcat to produce and consume;
# socat and openssl for a TLS-terminating proxy and its certificates). Installs only what is missing, so it is
# quick once done; runs before `npm test` (pretest). Nothing here is needed to
# run sluice.
set -euo pipefail

PKGS=(
  golang-go
  golang-google-grpc-dev
  golang-google-protobuf-dev
  golang-github-golang-protobuf-1-5-dev
  golang-github-vmihailenco-msgpack.v5-dev
  golang-github-hashicorp-go-plugin-dev
  golang-github-hashicorp-go-hclog-dev
  protobuf-compiler
  protoc-gen-go
  protoc-gen-go-grpc
  gcc
  libc6-dev
  librdkafka-dev
  kcat
  socat
  openssl
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "test-deps: installing the Debian packages the tests need: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "test-deps: not root and no sudo; install these packages and run the tests again: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test-deps: done" >&2
