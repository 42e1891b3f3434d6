#!/usr/bin/env bash
# Regenerates the Go code for the plugin protocol from sdk/proto (the one
# source of truth). The output is checked in, so users of the module need
# neither protoc nor its plugins. Needs protoc, protoc-gen-go and
# protoc-gen-go-grpc (Debian: protobuf-compiler protoc-gen-go protoc-gen-go-grpc).
set -euo pipefail
cd "$(dirname "$0")"
# Only the output service: go-plugin's GRPCController is served by a
# hand-written service description in the sluice package (its messages are
# empty), because generated code for it would register proto type
# plugin.Empty, which go-plugin registers too, and a binary that links both
# panics at start.
protoc -I ../proto \
  --go_out=. --go_opt=module=sluice.dev/sdk/go \
  --go-grpc_out=. --go-grpc_opt=module=sluice.dev/sdk/go \
  sluice/plugin/v1/output.proto
