// The Go twin of the bundled null plugin, for `npm run bench -- --scenario
// tail-null-go`: answers every chunk OK without decoding it, and counts the
// events each chunk declares so the bench can check that all arrived.
package main

import (
	"sync/atomic"

	"sluice.dev/sdk/go/sluice"
)

var records atomic.Int64

func main() {
	sluice.Serve(sluice.Plugin[sluice.NoConfig]{
		Name:        "gonull",
		Version:     "0.1.0",
		Description: "Discards every chunk without decoding it",
		Flush: func(ctx *sluice.Context[sluice.NoConfig], chunk *sluice.Chunk) sluice.Result {
			records.Add(int64(chunk.Count))
			return sluice.OK()
		},
		Metrics: func(ctx *sluice.Context[sluice.NoConfig]) []sluice.Metric {
			return []sluice.Metric{{Name: "null_acked_records_total", Help: "Events acknowledged (the count each chunk declares; never decoded)", Value: float64(records.Load())}}
		},
	})
}
