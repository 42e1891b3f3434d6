module sluice.dev/examples/go

go 1.19

require sluice.dev/sdk/go v0.1.0

// The SDK comes with sluice (sdk/go in this repository), not from a module proxy.
replace sluice.dev/sdk/go => ../../sdk/go
