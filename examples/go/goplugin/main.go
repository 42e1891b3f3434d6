// Command goplugin is a sluice output plugin built directly on
// hashicorp/go-plugin (1.0.1 and later), for people who already use
// go-plugin. It appends every event as a JSON line to a file.
//
// New plugins are easier to write with the Go SDK (sluice.dev/sdk/go/sluice);
// this example shows what the SDK does for you, rule by rule, with the
// protocol in docs/protocol.md:
//
//   - go-plugin checks the cookie, negotiates the version (1 or 2, from
//     PLUGIN_PROTOCOL_VERSIONS, through VersionedPlugins), creates the unix
//     socket (in $TMPDIR, which sluice points at PLUGIN_UNIX_SOCKET_DIR),
//     prints the handshake, serves grpc.health.v1.Health and
//     GRPCController/Shutdown, and ignores SIGINT (§2, §3, §5);
//   - this file raises the gRPC message limits to 64 MiB (§5), logs hclog
//     JSON on the real stderr (§4), answers every send exactly once, echoing
//     send_seq in version 2 (§5, Flush), answers the version 2 drain marker
//     after every send before it and implements version 1's Drain (§5,
//     Drain), delivers every chunk also while draining, and exits when stdin
//     closes, when its parent changes and on SIGTERM (§7).
//
// It is compiled and run against sluice by test/e2e/go-plugin.test.ts:
//
//	scripts/go.sh build -o /tmp/goplugin ./examples/go/goplugin
//	sluice plugin check --config path=/tmp/scratch.jsonl -- /tmp/goplugin
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"google.golang.org/grpc"

	pb "sluice.dev/sdk/go/pluginv1"
)

// The magic cookie is fixed by sluice (sdk/src/protocol.ts). It is not a
// security feature: it tells the program that a sluice host started it.
// ProtocolVersion is left out: VersionedPlugins (in main) names the versions.
var handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "SLUICE_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "c4a1d3f0e7b24e4e9d6a0b5f8e2c7a91",
}

// maxMessage is sluice's MAX_MESSAGE_BYTES: a chunk is about 2 MiB plus its
// largest record, and grpc-go receives at most 4 MiB by default.
const maxMessage = 64 << 20

// config is what Configure accepts (see Describe).
type config struct {
	path        string
	jsonDateKey string
	chunkIDKey  string
}

type output struct {
	pb.UnimplementedOutputServer
	log hclog.Logger
	// version is the sluice protocol version go-plugin negotiated: 1 or 2.
	version int

	// mu guards file and cfg, and serialises the writes: a chunk's lines go
	// to the file in one piece, and chunks land in the order they are written.
	mu      sync.Mutex
	file    *os.File
	cfg     config
	records uint64

	// For version 1's Drain, which comes on its own HTTP/2 stream: sends
	// taken and not yet answered, answers so far, and a channel closed (and
	// replaced) at every answer.
	stateMu  sync.Mutex
	pending  int
	answered uint64
	changed  chan struct{}
}

func newOutput(log hclog.Logger) *output {
	return &output{log: log, changed: make(chan struct{})}
}

func (o *output) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{
		Name:        "goplugin-file",
		Version:     "0.1.0",
		Description: "Appends events as JSON lines to a file (an example built on hashicorp/go-plugin)",
		Config: []*pb.ConfigKey{
			{Name: "path", Type: "string", Required: true, Description: "File to append to; it must exist or its directory must"},
			{Name: "json_date_key", Type: "string", Default: "date", Description: "Key that holds the event time (seconds as a float); empty to leave it out"},
			{Name: "chunk_id_key", Type: "string", Description: "Key that holds the chunk's id, to drop duplicates downstream; empty (the default) to leave it out"},
		},
	}, nil
}

// parseConfig checks config_json key by key. Values arrive with their YAML
// types and are not coerced to the types Describe declared (§5, Configure).
func parseConfig(js string) (config, []*pb.ConfigError) {
	cfg := config{jsonDateKey: "date"}
	var raw map[string]interface{}
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return cfg, []*pb.ConfigError{{Message: "config_json is not a JSON object: " + err.Error()}}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []*pb.ConfigError
	str := func(k string, nonEmpty bool) string {
		s, ok := raw[k].(string)
		if !ok {
			errs = append(errs, &pb.ConfigError{Key: k, Message: fmt.Sprintf("must be a string, got %v", raw[k])})
		} else if nonEmpty && s == "" {
			errs = append(errs, &pb.ConfigError{Key: k, Message: "must not be empty"})
		}
		return s
	}
	for _, k := range keys {
		switch k {
		case "path":
			cfg.path = str(k, true)
			// Looking is allowed in a validate_only call; opening is not.
			if st, err := os.Stat(cfg.path); err == nil && st.IsDir() {
				errs = append(errs, &pb.ConfigError{Key: k, Message: cfg.path + " is a directory; path names the file to append to"})
			}
		case "json_date_key":
			cfg.jsonDateKey = str(k, false)
		case "chunk_id_key":
			cfg.chunkIDKey = str(k, false)
		default:
			errs = append(errs, &pb.ConfigError{Key: k, Message: "unknown key"})
		}
	}
	if _, ok := raw["path"]; !ok {
		errs = append(errs, &pb.ConfigError{Key: "path", Message: "required key is missing"})
	}
	return cfg, errs
}

func (o *output) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	cfg, errs := parseConfig(req.ConfigJson)
	if len(errs) > 0 || req.ValidateOnly {
		// validate_only (version 2, on a reload): check, touch nothing. The
		// instance this process replaces still runs and holds the file.
		return &pb.ConfigureResponse{Errors: errs}, nil
	}
	// The real call: on a reload the old instance has exited by now.
	f, err := os.OpenFile(cfg.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return &pb.ConfigureResponse{Errors: []*pb.ConfigError{{Key: "path", Message: err.Error()}}}, nil
	}
	if err := dropPartialLine(f, o.log); err != nil {
		f.Close()
		return &pb.ConfigureResponse{Errors: []*pb.ConfigError{{Key: "path", Message: "cannot repair the file's last line: " + err.Error()}}}, nil
	}
	o.mu.Lock()
	if o.file != nil {
		o.file.Close()
	}
	o.file, o.cfg = f, cfg
	o.mu.Unlock()
	o.log.Info("configured", "instance", req.Instance, "path", cfg.path, "protocol_version", o.version)
	return &pb.ConfigureResponse{}, nil
}

// dropPartialLine cuts off half a line left by a process killed in the
// middle of a write. That line's chunk was never answered OK, so sluice
// sends it again: the full copy follows.
func dropPartialLine(f *os.File, log hclog.Logger) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	block := make([]byte, 64<<10)
	keep := int64(0)
	for end := size; end > 0; end -= int64(len(block)) {
		from := end - int64(len(block))
		if from < 0 {
			from = 0
		}
		b := block[:end-from]
		if _, err := f.ReadAt(b, from); err != nil {
			return err
		}
		if end == size && b[len(b)-1] == '\n' {
			return nil
		}
		if nl := bytes.LastIndexByte(b, '\n'); nl >= 0 {
			keep = from + int64(nl) + 1
			break
		}
	}
	if keep == size {
		return nil
	}
	if err := f.Truncate(keep); err != nil {
		return err
	}
	log.Warn("removed a partial last line left by an interrupted write; its chunk is delivered again", "bytes", size-keep, "offset", keep)
	return nil
}

// Flush serves the one Flush stream of the process. Each chunk is handled in
// its own goroutine, so it answers in any order; one Send at a time.
func (o *output) Flush(stream pb.Output_FlushServer) error {
	var sendMu sync.Mutex
	send := func(r *pb.FlushResult) {
		sendMu.Lock()
		err := stream.Send(r)
		sendMu.Unlock()
		if err != nil {
			o.log.Warn("cannot send an answer; the host restarts the plugin and sends the chunk again", "chunk_id", r.ChunkId, "error", err)
		}
	}

	// The sends taken on this stream and not answered yet, each with a
	// channel closed once its answer is sent: a drain marker waits for the
	// ones before it.
	var openMu sync.Mutex
	open := map[uint64]chan struct{}{}
	var next uint64

	var running sync.WaitGroup
	// Never end our side while answers are still to be sent.
	defer running.Wait()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			// The host half-closed the stream before stopping us (§7): the
			// deferred Wait answers what is outstanding, then returning ends
			// our side with status OK.
			o.log.Debug("the host half-closed the Flush stream")
			return nil
		}
		if err != nil {
			return err
		}

		if req.Drain {
			// Version 2's drain marker: it comes after every chunk it covers.
			// Nothing is buffered here, so draining is only waiting for the
			// sends before it to be answered; then the marker is answered.
			openMu.Lock()
			before := make([]chan struct{}, 0, len(open))
			for _, ch := range open {
				before = append(before, ch)
			}
			openMu.Unlock()
			o.log.Debug("draining", "unanswered", len(before), "deadline_ms", req.DeadlineMs)
			running.Add(1)
			go func(seq uint64) {
				defer running.Done()
				for _, ch := range before {
					<-ch
				}
				o.log.Debug("drained", "answered", len(before))
				send(&pb.FlushResult{SendSeq: seq, Drained: true})
			}(req.SendSeq)
			continue
		}

		// A chunk. It is delivered whether or not a drain is under way: a
		// RETRY because of a drain would not be delivered before the stop.
		openMu.Lock()
		next++
		id, done := next, make(chan struct{})
		open[id] = done
		openMu.Unlock()
		o.stateMu.Lock()
		o.pending++
		o.stateMu.Unlock()
		running.Add(1)
		go func(req *pb.FlushRequest) {
			defer running.Done()
			r := o.deliver(req)
			r.ChunkId = req.ChunkId
			if o.version >= 2 {
				r.SendSeq = req.SendSeq // version 1 answers by chunk_id alone
			}
			send(r)
			openMu.Lock()
			delete(open, id)
			openMu.Unlock()
			close(done)
			o.stateMu.Lock()
			o.pending--
			o.answered++
			close(o.changed)
			o.changed = make(chan struct{})
			o.stateMu.Unlock()
		}(req)
	}
}

// deliver writes one chunk and says how it went. OK only once the lines are
// in the file. The same chunk can come twice (after a crash): use its
// chunk_id (chunk_id_key) to drop duplicates downstream.
func (o *output) deliver(req *pb.FlushRequest) *pb.FlushResult {
	o.mu.Lock()
	cfg, f := o.cfg, o.file
	o.mu.Unlock()
	if f == nil {
		// sluice opens the Flush stream only after Configure accepted.
		return &pb.FlushResult{Status: pb.FlushStatus_RETRY, Message: "not configured", RetryAfterMs: 1000}
	}
	lines, n, err := jsonLines(req.Events, cfg, req.ChunkId)
	if err != nil {
		// The bytes are broken: no retry will help.
		return &pb.FlushResult{Status: pb.FlushStatus_ERROR, Message: "cannot decode the chunk's events: " + err.Error()}
	}
	if n != int(req.Count) {
		o.log.Warn("the chunk holds a different number of events than its count says", "chunk_id", req.ChunkId, "count", req.Count, "decoded", n)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	st, err := o.file.Stat()
	if err == nil {
		// os.File.Write goes on after short writes until all is written or it fails.
		_, err = o.file.Write(lines)
		if err != nil {
			// All or nothing: the retry writes the whole chunk again.
			_ = o.file.Truncate(st.Size())
		}
	}
	if err != nil {
		return &pb.FlushResult{Status: pb.FlushStatus_RETRY, Message: fmt.Sprintf("cannot write %s: %v", cfg.path, err), RetryAfterMs: 5000}
	}
	o.records += uint64(n)
	o.log.Debug("wrote chunk", "chunk_id", req.ChunkId, "count", n, "attempt", req.Attempt, "bytes", len(lines))
	return &pb.FlushResult{Status: pb.FlushStatus_OK}
}

// Drain is version 1's drain, a unary call on its own HTTP/2 stream: chunks
// sent before it may still be on their way (they are delivered as they come,
// never refused). It waits until every send taken is answered, or until
// deadline_ms, and says how many were answered meanwhile. Version 2 uses the
// marker on the Flush stream; sluice does not call this then.
func (o *output) Drain(ctx context.Context, req *pb.DrainRequest) (*pb.DrainResponse, error) {
	o.stateMu.Lock()
	before, pending := o.answered, o.pending
	o.stateMu.Unlock()
	o.log.Debug("draining (version 1)", "unanswered", pending, "deadline_ms", req.DeadlineMs)
	// Answer at deadline_ms: the call's own gRPC deadline (deadline_ms + 1 s)
	// would turn the answer into DEADLINE_EXCEEDED.
	var deadline <-chan time.Time
	if req.DeadlineMs > 0 {
		t := time.NewTimer(time.Duration(req.DeadlineMs) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	for {
		o.stateMu.Lock()
		pending, answered, changed := o.pending, o.answered, o.changed
		o.stateMu.Unlock()
		if pending == 0 {
			o.log.Debug("drained (version 1)", "completed", answered-before)
			return &pb.DrainResponse{Completed: answered - before}, nil
		}
		select {
		case <-changed:
		case <-deadline:
			o.log.Warn("drain deadline passed with sends unanswered", "pending", pending, "completed", answered-before)
			return &pb.DrainResponse{Completed: answered - before}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (o *output) Metrics(context.Context, *pb.MetricsRequest) (*pb.MetricsResponse, error) {
	o.mu.Lock()
	n := o.records
	o.mu.Unlock()
	return &pb.MetricsResponse{Metrics: []*pb.Metric{
		{Name: "goplugin_records_total", Help: "Events written", Type: "counter", Value: float64(n)},
	}}, nil
}

// close waits for a write in progress (up to a bound: a write stuck on a
// dead disk must not keep the process alive) and closes the file.
func (o *output) close() {
	locked := make(chan struct{})
	go func() {
		o.mu.Lock()
		close(locked)
	}()
	select {
	case <-locked:
		if o.file != nil {
			o.file.Close()
		}
	case <-time.After(2 * time.Second):
		o.log.Warn("a write is still in progress; exiting anyway")
	}
}

// jsonLines decodes a chunk (MessagePack events, concatenated; §8) into one
// JSON line per event: the body's keys, plus the time and the chunk id under
// the configured keys. Keys come out sorted (Go maps have no order).
func jsonLines(events []byte, cfg config, chunkID string) ([]byte, int, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	dec := msgpack.NewDecoder(bytes.NewReader(events))
	n := 0
	for {
		t, body, err := decodeEvent(dec)
		if err == io.EOF {
			return out.Bytes(), n, nil
		}
		if err != nil {
			return nil, n, fmt.Errorf("event %d: %w", n, err)
		}
		if body == nil {
			body = map[string]interface{}{}
		}
		if cfg.jsonDateKey != "" {
			body[cfg.jsonDateKey] = t
		}
		if cfg.chunkIDKey != "" {
			body[cfg.chunkIDKey] = chunkID
		}
		if err := enc.Encode(body); err != nil { // Encode ends the line with \n
			return nil, n, fmt.Errorf("event %d: %w", n, err)
		}
		n++
	}
}

// decodeEvent reads one event, [[time, metadata], body] (Fluent Bit's v2
// format, what sluice sends) or the older [time, body]. It returns the time
// in seconds and the body; io.EOF at the end of the chunk.
func decodeEvent(dec *msgpack.Decoder) (float64, map[string]interface{}, error) {
	if _, err := dec.PeekCode(); err != nil {
		return 0, nil, err // io.EOF: no more events
	}
	if n, err := dec.DecodeArrayLen(); err != nil {
		return 0, nil, err
	} else if n != 2 {
		return 0, nil, fmt.Errorf("an event is an array of 2, got %d", n)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	var t float64
	if msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32 {
		// v2 header: [time, metadata]; the metadata is not written here.
		if n, err := dec.DecodeArrayLen(); err != nil {
			return 0, nil, err
		} else if n != 2 {
			return 0, nil, fmt.Errorf("an event header is an array of 2, got %d", n)
		}
		if t, err = decodeTime(dec); err != nil {
			return 0, nil, unexpectedEOF(err)
		}
		if err := dec.Skip(); err != nil {
			return 0, nil, unexpectedEOF(err)
		}
	} else if t, err = decodeTime(dec); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	body, err := dec.DecodeMap()
	return t, body, unexpectedEOF(err)
}

// decodeTime reads an EventTime (extension type 0: uint32 seconds, uint32
// nanoseconds, big-endian), or an integer or float number of seconds.
func decodeTime(dec *msgpack.Decoder) (float64, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return 0, err
	}
	if msgpcode.IsExt(c) {
		id, n, err := dec.DecodeExtHeader()
		if err != nil {
			return 0, err
		}
		if id != 0 || n != 8 {
			return 0, fmt.Errorf("the time is extension type %d of %d bytes, not an EventTime (type 0, 8 bytes)", id, n)
		}
		var b [8]byte
		if err := dec.ReadFull(b[:]); err != nil {
			return 0, err
		}
		return float64(binary.BigEndian.Uint32(b[:4])) + float64(binary.BigEndian.Uint32(b[4:]))/1e9, nil
	}
	return dec.DecodeFloat64() // also reads integers
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// go-plugin glue: a gRPC-only plugin, one set per protocol version.
type outputPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	version int
	impl    *output
}

func (p *outputPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	// go-plugin calls this only for the version it negotiated.
	p.impl.version = p.version
	pb.RegisterOutputServer(s, p.impl)
	return nil
}

func (p *outputPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, errors.New("the host side is sluice, not Go")
}

// logLevel maps SLUICE_LOG_LEVEL (a pino level name) to hclog's.
func logLevel() hclog.Level {
	switch l := os.Getenv("SLUICE_LOG_LEVEL"); l {
	case "silent":
		return hclog.Error + 1 // hclog 0.11 has no Off
	case "trace", "debug", "info", "warn", "error":
		return hclog.LevelFromString(l)
	default:
		return hclog.Info
	}
}

func main() {
	// Bind the logger to the real stderr now: plugin.Serve replaces
	// os.Stdout and os.Stderr with pipes that nobody reads (go-plugin 1.0.1
	// never reads them in gRPC mode; sluice never reads the stdio stream of
	// later versions), so a write through them blocks once about 64 KiB
	// piled up. hclog's JSON lines keep their levels in sluice's log (§4).
	logger := hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: logLevel(), JSONFormat: true})
	o := newOutput(logger)

	// Exit when sluice is gone: go-plugin watches neither stdin nor the
	// parent. stdin is a pipe that closes when sluice exits, even on SIGKILL.
	exit := func(why string) {
		logger.Info("exiting: " + why)
		o.close()
		os.Exit(0)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		exit("stdin closed, sluice is gone")
	}()
	go func() {
		parent := os.Getppid()
		for range time.Tick(time.Second) {
			if os.Getppid() != parent {
				exit("the parent process changed, sluice is gone")
			}
		}
	}()
	// SIGTERM: clean up and exit 0 (§7). go-plugin already ignores SIGINT.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		exit("SIGTERM")
	}()

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		// go-plugin picks the highest version in PLUGIN_PROTOCOL_VERSIONS that
		// is a key here, prints it in the handshake and serves that set.
		VersionedPlugins: map[int]plugin.PluginSet{
			1: {"output": &outputPlugin{version: 1, impl: o}},
			2: {"output": &outputPlugin{version: 2, impl: o}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
			return grpc.NewServer(opts...)
		},
		// go-plugin's own lines (the socket address at debug level), as hclog JSON.
		Logger: logger.Named("go-plugin"),
	})
	// Serve returns after GRPCController/Shutdown stopped the gRPC server.
	o.close()
	logger.Debug("exiting: Shutdown")
}
