// Package sluice turns a Go program into a sluice output plugin: a child
// process that sluice starts and speaks to over gRPC, following the
// hashicorp/go-plugin process contract (docs/protocol.md in the sluice
// repository). It is the Go counterpart of serve() in the TypeScript SDK
// (@sluice/sdk) and behaves the same way.
//
// Your code says what to do with a chunk of events; Serve does the rest:
//
//   - the magic cookie check (run by hand, the program prints a note on
//     stderr and exits with status 1);
//   - protocol version negotiation from PLUGIN_PROTOCOL_VERSIONS (it speaks
//     versions 1 and 2 and picks the highest one offered);
//   - the unix socket in PLUGIN_UNIX_SOCKET_DIR, the handshake line, and
//     stdout hygiene: after the handshake, file descriptor 1 is pointed at
//     stderr, so a stray fmt.Println cannot break the protocol;
//   - gRPC message limits of 64 MiB, the health service, go-plugin's
//     GRPCController/Shutdown;
//   - Describe, built from your config struct; Configure, which checks the
//     config key by key before your hooks see it (unknown keys with a "did
//     you mean", wrong types, missing required keys), and validate-only
//     calls;
//   - the Flush stream: one goroutine per chunk, answers matched to sends
//     (send_seq in version 2), drain markers (version 2) and the Drain call
//     (version 1), the host's half-close;
//   - exit on stdin EOF, on a parent change, on Shutdown and on SIGTERM
//     (running your Exit hook, bounded); SIGINT is ignored;
//   - logging: JSON lines on stderr in go-hclog's shape, which sluice
//     forwards into its own log with their level and fields;
//   - the metric sdk_flush_answers_total{status} next to your own.
//
// # A complete plugin
//
//	package main
//
//	import (
//		"os"
//		"sync"
//
//		"sluice.dev/sdk/go/sluice"
//	)
//
//	type Config struct {
//		Path    string `sluice:"path,required" desc:"File to append to"`
//		DateKey string `sluice:"date_key" default:"date" desc:"Key for the event time; empty to leave it out"`
//		Sync    bool   `sluice:"sync" default:"off" desc:"fsync after every chunk"`
//	}
//
//	var (
//		mu   sync.Mutex // one write at a time: lines of a chunk stay together
//		file *os.File
//	)
//
//	func main() {
//		sluice.Serve(sluice.Plugin[Config]{
//			Name:        "jsonfile",
//			Version:     "0.1.0",
//			Description: "Appends events as JSON lines to a file",
//			// Configure acquires resources. Validate (not shown) may only check.
//			Configure: func(ctx *sluice.Context[Config]) error {
//				f, err := os.OpenFile(ctx.Config.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
//				if err != nil {
//					return sluice.KeyError("path", "cannot open: %v", err)
//				}
//				file = f
//				return nil
//			},
//			// Flush runs in its own goroutine, many at once.
//			Flush: func(ctx *sluice.Context[Config], chunk *sluice.Chunk) sluice.Result {
//				events, err := chunk.Events()
//				if err != nil {
//					return sluice.Error(err.Error()) // malformed: can never be delivered
//				}
//				var out []byte
//				for _, e := range events {
//					if out, err = e.AppendJSONLine(out, ctx.Config.DateKey); err != nil {
//						return sluice.Error(err.Error())
//					}
//				}
//				mu.Lock()
//				defer mu.Unlock()
//				if _, err := file.Write(out); err != nil {
//					return sluice.Retry("write failed: "+err.Error(), 0)
//				}
//				if ctx.Config.Sync {
//					if err := file.Sync(); err != nil {
//						return sluice.Retry("fsync failed: "+err.Error(), 0)
//					}
//				}
//				ctx.Log.Debug("wrote a chunk", "chunk_id", chunk.ID, "events", len(events))
//				return sluice.OK() // only once the data is where it must go
//			},
//			Exit: func(ctx *sluice.Context[Config]) error {
//				mu.Lock()
//				defer mu.Unlock()
//				if file == nil {
//					return nil
//				}
//				return file.Close()
//			},
//		})
//	}
//
// # Plugin and hooks
//
// Serve[C](Plugin[C]) never returns: the process exits when sluice is done
// with it. C is your config struct (use NoConfig for none). Every hook gets a
// *Context[C]: a context.Context (cancelled when the process starts to exit,
// or when the Flush stream breaks), the output instance name, the checked
// config with its defaults, and a Logger.
//
//	Name, Version     required; shown in sluice's GET /api/v1/plugins
//	Description       one line
//	Capabilities      sent in Describe; default ["drain"] when Drain is set;
//	                  "chunk_ref" is always added (the SDK reads references)
//	Validate(ctx)     optional. On a hot reload (a validate_only Configure,
//	                  version 2): check ctx.Config further and touch nothing:
//	                  open no file, connect nowhere. The old instance still runs.
//	Configure(ctx)    optional. Called once per process with the checked
//	                  config: check again, then acquire (open files, connect).
//	Flush(ctx, chunk) required. Deliver one chunk, return its Result. Called in
//	                  its own goroutine; many run at once.
//	Drain(ctx)        optional. Deliver everything you buffered, now. The SDK
//	                  then waits for the flushes before the drain marker (or
//	                  the version 1 Drain call) and answers it.
//	Exit(ctx)         optional. Release resources; bounded to 1.5 s.
//	Metrics(ctx)      optional. Your own counters and gauges ([]Metric).
//
// Validate and Configure refuse a config by returning an error: a
// *ConfigError (see KeyError) or ConfigErrors refuse specific keys, any other
// error refuses the config as a whole (key ""). A panic in any hook is
// recovered and its stack logged at error level; the process stays up. A
// panic in Flush answers RETRY with the panic's message.
//
// # Results
//
// Flush returns one of:
//
//	sluice.OK()                  delivered (the zero Result is OK too)
//	sluice.Retry(msg, after)     not delivered; sluice tries again, waiting at
//	                             least `after` (0: sluice's own backoff)
//	sluice.Error(msg)            can never be delivered; sluice gives up on it
//
// Result.Status (StatusOK, StatusRetry, StatusError), Message and RetryAfter
// read a Result back, for your tests.
//
// Answer OK only once the data is where it must go. The same chunk can come
// more than once (after a crash, with the same Chunk.ID): make delivery
// idempotent where you can. Answer well within the output's flush_timeout
// (60 s by default): give slow remote calls their own, shorter timeout.
//
// # Chunks and events
//
// A Chunk has ID, Tag, Attempt (1 on the first delivery), Count and Data, the
// raw MessagePack bytes (forward them untouched when you can). When sluice
// sends the chunk by reference (a file on this machine), the SDK reads Data
// from it before Flush runs; if it cannot, it answers RETRY with
// ref_unreadable and Flush is not called. Events()
// decodes them on its first call and caches the result; a malformed chunk
// gives a *DecodeError naming the byte offset. An Event has Time (a
// time.Time, in UTC, to the nanosecond), Metadata and Body (maps). Both of
// Fluent Bit's shapes are read: [[EventTime, metadata], body] and the older
// [time, body] with an integer, float or EventTime time. In Body, integers
// are int64 (uint64 when they do not fit), floats float64, strings string,
// binary []byte, arrays []any, maps map[string]any. Event.AppendJSONLine
// writes an event as one JSON line, the way the TypeScript SDK's toJsonLine
// does (keys in sorted order). EncodeEvents builds chunk bytes, for tests.
//
// # Config
//
// The config is a struct. Each exported field is one key; its tags say how:
//
//	sluice:"name,required,secret"  the key's name (default: the field name in
//	                               snake_case), and flags; sluice:"-" skips it
//	default:"..."                  the default, written as in the YAML
//	desc:"..."                     one line, sent in Describe
//	oneof:"a,b,c"                  string keys: the allowed values
//	min:"..."                      numbers, durations, sizes: the smallest value
//
// Field types and what they accept (sluice does not coerce values; the SDK
// does, as the TypeScript SDK does):
//
//	string              a string, number or boolean            type "string"
//	bool                true/false, on/off, yes/no, 1/0         type "bool"
//	int, int64, uint... an integer, or a string of one          type "int"
//	float64, float32    a number, or a string of one            type "float"
//	time.Duration       seconds as a number, or 500ms, 5s, 2m, 1h  "duration"
//	sluice.Size         bytes as a number, or 512K, 2M, 2MiB, 1G   "size"
//	                    (powers of 1024)
//	[]string            a YAML list, or a string split on commas and spaces
//	map[string]string   a YAML map of scalars                   type "map"
//	map[string]any      a YAML map                              type "map"
//	any                 anything                                type "any"
//
// A struct with any other field type makes Serve panic at start, so a mistake
// shows at the first run.
//
// # Logging
//
// Context.Log (and the package's Log, usable before Serve) writes JSON lines
// on stderr as go-hclog does: "@level", "@message", "@timestamp" and your
// key/value pairs:
//
//	ctx.Log.Warn("slow response", "chunk_id", chunk.ID, "ms", 1234)
//
// sluice logs each line at its level with its fields, next to the output and
// plugin names. The level comes from SLUICE_LOG_LEVEL (what the host runs
// at). Serve also sends the standard library's log package, and gRPC's own
// logs, through it. Never write to stdout: it carries the handshake. Serve
// points file descriptor 1 at stderr after the handshake, so what is written
// there anyway arrives in sluice's log as a plain line.
//
// # Building
//
// The module is sluice.dev/sdk/go (sdk/go in the sluice repository). It needs
// google.golang.org/grpc and github.com/vmihailenco/msgpack/v5. Check a
// built plugin with
//
//	sluice plugin check --config path=/tmp/scratch.jsonl -- ./myplugin
package sluice
