module sluice.dev/sdk/go

go 1.19

require (
	github.com/vmihailenco/msgpack/v5 v5.3.5
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
