// The Go twin of the bundled counter plugin, for `npm run bench -- --scenario
// tail-decode-go`: decodes every event of every chunk and counts them.
package main

import (
	"sync/atomic"

	"sluice.dev/sdk/go/sluice"
)

var records, chunks atomic.Int64

func main() {
	sluice.Serve(sluice.Plugin[sluice.NoConfig]{
		Name:        "godecode",
		Version:     "0.1.0",
		Description: "Decodes every event and counts them",
		Flush: func(ctx *sluice.Context[sluice.NoConfig], chunk *sluice.Chunk) sluice.Result {
			events, err := chunk.Events()
			if err != nil {
				return sluice.Error(err.Error())
			}
			records.Add(int64(len(events)))
			chunks.Add(1)
			return sluice.OK()
		},
		Metrics: func(ctx *sluice.Context[sluice.NoConfig]) []sluice.Metric {
			return []sluice.Metric{
				{Name: "decode_records_total", Help: "Events decoded and counted", Value: float64(records.Load())},
				{Name: "decode_chunks_total", Help: "Chunks received", Value: float64(chunks.Load())},
			}
		},
		Exit: func(ctx *sluice.Context[sluice.NoConfig]) error {
			ctx.Log.Info("decode total", "records", records.Load(), "chunks", chunks.Load())
			return nil
		},
	})
}
