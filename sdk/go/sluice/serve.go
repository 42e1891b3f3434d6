package sluice

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "sluice.dev/sdk/go/pluginv1"
)

// The process contract (docs/protocol.md, sdk/src/protocol.ts).
const (
	MagicCookieKey   = "SLUICE_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "c4a1d3f0e7b24e4e9d6a0b5f8e2c7a91"
	// CoreProtocolVersion is go-plugin's, the handshake's first field.
	CoreProtocolVersion = 1
	// MaxMessageBytes bounds a gRPC message both ways: a chunk is about 2 MiB
	// plus its longest record.
	MaxMessageBytes = 64 << 20
	// FlowControlWindow is the HTTP/2 receive window, per stream and per
	// connection, as the host's (FLOW_CONTROL_WINDOW in sdk/src/protocol.ts).
	FlowControlWindow = 16 << 20
)

// ProtocolVersions are the sluice output protocol versions this SDK speaks.
var ProtocolVersions = []int{1, 2}

const (
	exitHookTimeout   = 1500 * time.Millisecond
	stopServerTimeout = 250 * time.Millisecond
	parentPollEvery   = time.Second
	defaultDeadline   = 30 * time.Second
)

const notACommand = `This program is a sluice output plugin. It is not meant to be run by hand:
declare it under plugins: in a sluice config and name it in an output; sluice
starts it. See docs/plugin-authors.md.
`

// Plugin describes an output plugin; C is its config struct (NoConfig for
// none). Only Name, Version and Flush are required. See the package doc.
type Plugin[C any] struct {
	Name        string
	Version     string
	Description string
	// Capabilities are sent in Describe; default ["drain"] when Drain is set.
	Capabilities []string

	// Validate checks ctx.Config beyond its tags without acting on it: open
	// no file, connect nowhere. Called on a hot reload (a validate_only
	// Configure) while the instance this one replaces still runs.
	Validate func(ctx *Context[C]) error
	// Configure is called once with the checked config: check it again, then
	// acquire resources. On a reload the instance this one replaces has
	// exited by then.
	Configure func(ctx *Context[C]) error
	// Flush delivers one chunk. Each call runs in its own goroutine; many
	// run at once. A panic answers RETRY.
	Flush func(ctx *Context[C], chunk *Chunk) Result
	// Drain delivers everything buffered now, without waiting for timers.
	Drain func(ctx *Context[C]) error
	// Exit releases resources before the process exits (bounded to 1.5 s).
	Exit func(ctx *Context[C]) error
	// Metrics returns the plugin's own counters and gauges.
	Metrics func(ctx *Context[C]) []Metric
}

// Context is what every hook gets. It is a context.Context, cancelled when
// the process starts to exit (or, in Flush, when the Flush stream breaks):
// pass it to calls that take one.
type Context[C any] struct {
	context.Context
	// Instance is the output instance name sluice gave (file.0, or an alias).
	Instance string
	// Config is the checked config with its defaults (in Validate: the
	// config being checked; before Configure: the zero value).
	Config *C
	// Log writes to sluice's log; its lines carry the instance name.
	Log *Logger
}

// Metric is one sample from the Metrics hook. sluice shows it as
// sluice_plugin_<Name>{output="<instance>", <Labels>}.
type Metric struct {
	Name string
	Help string
	// Type is Counter (the default) or Gauge.
	Type   string
	Value  float64
	Labels map[string]string
}

const (
	Counter = "counter"
	Gauge   = "gauge"
)

// NegotiateVersion picks the highest version in offered (as
// PLUGIN_PROTOCOL_VERSIONS spells it: "1,2") that is also in ours; 0 when
// there is none.
func NegotiateVersion(offered string, ours []int) int {
	best := 0
	for _, f := range strings.Split(offered, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			continue
		}
		for _, o := range ours {
			if o == v && v > best {
				best = v
			}
		}
	}
	return best
}

// Serve runs the plugin: it checks that sluice started the process, speaks
// the protocol until sluice is done with it, and exits. It never returns.
func Serve[C any](p Plugin[C]) {
	s, err := newServer(p, Log)
	if err != nil {
		// The author's mistake: show it at the first run, by hand too.
		panic(err)
	}
	if os.Getenv(MagicCookieKey) != MagicCookieValue {
		fmt.Fprint(os.Stderr, notACommand)
		os.Exit(1)
	}
	offered := os.Getenv("PLUGIN_PROTOCOL_VERSIONS")
	version := NegotiateVersion(offered, ProtocolVersions)
	if version == 0 {
		if offered == "" {
			offered = "(none)"
		}
		s.log.Error(fmt.Sprintf("no common protocol version: the host speaks %s, this plugin speaks %s; upgrade the older side",
			offered, joinInts(ProtocolVersions)))
		os.Exit(1)
	}
	s.run(version)
}

func joinInts(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// server is one plugin process's state.
type server[C any] struct {
	pb.UnimplementedOutputServer
	p    Plugin[C]
	spec *configSpec
	log  *Logger

	// base is cancelled when the process starts to exit.
	base       context.Context
	cancelBase context.CancelFunc

	mu         sync.Mutex
	configured atomic.Bool
	ctx        *Context[C] // the configured instance's context
	draining   atomic.Bool

	flights  inFlight
	answered atomic.Uint64
	okN      atomic.Uint64
	retryN   atomic.Uint64
	errorN   atomic.Uint64

	grpc       *grpc.Server
	socketDir  string
	ownDir     bool
	socketPath string
	exitOnce   sync.Once
	exit       func(code int) // os.Exit, replaced in tests
}

func newServer[C any](p Plugin[C], logger *Logger) (*server[C], error) {
	if p.Name == "" || p.Version == "" {
		return nil, fmt.Errorf("sluice: Plugin needs a Name and a Version")
	}
	if p.Flush == nil {
		return nil, fmt.Errorf("sluice: Plugin %q has no Flush", p.Name)
	}
	spec, err := specOf(reflect.TypeOf((*C)(nil)).Elem())
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	s := &server[C]{p: p, spec: spec, log: logger, base: base, cancelBase: cancel, exit: os.Exit}
	s.ctx = &Context[C]{Context: base, Config: new(C), Log: logger}
	s.flights.m = map[uint64]chan struct{}{}
	return s, nil
}

// inFlight is the set of flushes not answered yet.
type inFlight struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]chan struct{}
}

func (f *inFlight) add() (uint64, chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	done := make(chan struct{})
	f.m[f.next] = done
	return f.next, done
}

func (f *inFlight) remove(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if done, ok := f.m[id]; ok {
		close(done)
		delete(f.m, id)
	}
}

func (f *inFlight) snapshot() []chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]chan struct{}, 0, len(f.m))
	for _, done := range f.m {
		out = append(out, done)
	}
	return out
}

func (f *inFlight) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// settle waits until these flushes are answered, the deadline passes, or ctx
// ends.
func settle(ctx context.Context, flights []chan struct{}, deadline time.Duration) {
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for _, done := range flights {
		select {
		case <-done:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *server[C]) current() *Context[C] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx
}

// guard runs a hook, turning a panic into an error and logging its stack.
func (s *server[C]) guard(hook string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error(hook+" panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("%s panicked: %v", hook, r)
		}
	}()
	return fn()
}

func (s *server[C]) run(version int) {
	// Everything the process prints goes to sluice's log as lines of ours.
	log.SetFlags(0)
	log.SetOutput(lineWriter{log: s.log, level: LevelInfo})
	grpclog.SetLoggerV2(grpcLogger{log: s.log})

	s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		// All chunks travel on one stream: at HTTP/2's 64 KiB a 2 MiB chunk waits for 32 window updates.
		grpc.InitialWindowSize(FlowControlWindow), grpc.InitialConnWindowSize(FlowControlWindow))
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("plugin", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, hs)
	s.grpc.RegisterService(&controllerServiceDesc, s)
	pb.RegisterOutputServer(s.grpc, s)

	s.watchForExit()

	s.socketDir = os.Getenv("PLUGIN_UNIX_SOCKET_DIR")
	if s.socketDir == "" {
		dir, err := os.MkdirTemp("", "sluice-plugin-")
		if err != nil {
			s.log.Error("cannot make a directory for the plugin socket", "error", err)
			os.Exit(1)
		}
		s.socketDir, s.ownDir = dir, true
	}
	s.socketPath = filepath.Join(s.socketDir, fmt.Sprintf("p%d.sock", os.Getpid()))
	ln, err := net.Listen("unix", s.socketPath)
	if err != nil {
		s.log.Error("cannot listen on the plugin socket; check that PLUGIN_UNIX_SOCKET_DIR is writable", "socket", s.socketPath, "error", err)
		os.Exit(1)
	}
	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(ln) }()

	// Listening: say where. Then stdout is reserved, so point it at stderr.
	line := fmt.Sprintf("%d|%d|unix|%s|grpc\n", CoreProtocolVersion, version, s.socketPath)
	if _, err := os.Stdout.WriteString(line); err != nil {
		s.log.Error("cannot write the handshake on stdout", "error", err)
		os.Exit(1)
	}
	if err := stdoutToStderr(); err != nil {
		s.log.Warn("cannot point stdout at stderr; anything printed on stdout now breaks the protocol", "error", err)
	}
	s.log.Debug("serving", "protocol_version", version, "socket", s.socketPath)

	if err := <-served; err != nil {
		s.log.Error("the gRPC server stopped", "error", err)
		s.shutdown(1)
	}
	select {} // an exit is under way
}

// watchForExit: a plugin never outlives its host.
func (s *server[C]) watchForExit() {
	// stdin closes when the host dies, even by SIGKILL.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		s.log.Debug("stdin closed: the host is gone; exiting")
		s.shutdown(0)
	}()
	parent := os.Getppid()
	go func() {
		t := time.NewTicker(parentPollEvery)
		defer t.Stop()
		for range t.C {
			if os.Getppid() != parent {
				s.log.Debug("the parent process changed: the host is gone; exiting")
				s.shutdown(0)
				return
			}
		}
	}()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGINT {
				// The host owns shutdown; a terminal's Ctrl-C reaches the whole foreground group.
				s.log.Debug("SIGINT ignored; the host drains and stops plugins")
				continue
			}
			s.log.Debug("SIGTERM: exiting")
			s.shutdown(0)
			return
		}
	}()
}

// shutdown runs the Exit hook (bounded), stops the server and exits. Only
// the first call does anything; later ones block until the exit.
func (s *server[C]) shutdown(code int) {
	s.exitOnce.Do(func() {
		s.cancelBase()
		if s.p.Exit != nil {
			done := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), exitHookTimeout)
			c := *s.current()
			c.Context = ctx
			go func() { done <- s.guard("Exit", func() error { return s.p.Exit(&c) }) }()
			select {
			case err := <-done:
				if err != nil {
					s.log.Error("exit hook failed", "error", err)
				}
			case <-ctx.Done():
				s.log.Warn("exit hook still running after its bound; exiting anyway", "bound", exitHookTimeout)
			}
			cancel()
		}
		if s.grpc != nil {
			// GracefulStop lets answers already given go out (Shutdown's own);
			// a call still open cannot hold the exit long.
			stopped := make(chan struct{})
			go func() { s.grpc.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(stopServerTimeout):
				s.grpc.Stop()
			}
		}
		// The host removes its directory too, unless it was killed first.
		if s.socketDir != "" {
			_ = os.RemoveAll(s.socketDir)
		}
		s.exit(code)
	})
}

// ---- GRPCController ----

func (s *server[C]) Shutdown(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	s.log.Debug("Shutdown: exiting")
	go s.shutdown(0)
	return &emptypb.Empty{}, nil
}

// ---- Output ----

func (s *server[C]) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	caps := append([]string(nil), s.p.Capabilities...)
	if s.p.Capabilities == nil && s.p.Drain != nil {
		caps = []string{"drain"}
	}
	// Every plugin of this SDK reads references: Chunk.Data hides how the bytes came.
	declared := false
	for _, c := range caps {
		declared = declared || c == ChunkRefCapability
	}
	if !declared {
		caps = append(caps, ChunkRefCapability)
	}
	return &pb.DescribeResponse{
		Name: s.p.Name, Version: s.p.Version, Description: s.p.Description,
		Config: s.spec.describe(), Capabilities: caps,
	}, nil
}

func toPB(errs []*ConfigError) *pb.ConfigureResponse {
	out := &pb.ConfigureResponse{Errors: make([]*pb.ConfigError, 0, len(errs))}
	for _, e := range errs {
		out.Errors = append(out.Errors, &pb.ConfigError{Key: e.Key, Message: e.Message})
	}
	return out
}

func (s *server[C]) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	errs := s.configure(req.Instance, req.ConfigJson, req.ValidateOnly)
	return toPB(errs), nil
}

func (s *server[C]) configure(instance, configJSON string, validateOnly bool) []*ConfigError {
	if s.configured.Load() {
		return []*ConfigError{{Message: "Configure was already called for this process"}}
	}
	keys, raw, err := parseConfigJSON(configJSON)
	if err != nil {
		return []*ConfigError{{Message: err.Error()}}
	}
	value, errs := s.spec.apply(keys, raw)
	if len(errs) > 0 {
		return errs
	}
	scoped := &Context[C]{Context: s.base, Instance: instance, Config: value.Interface().(*C), Log: s.log.With("instance", instance)}
	if validateOnly {
		// Check only: the real Configure follows and repeats everything.
		if s.p.Validate != nil {
			if err := s.guard("Validate", func() error { return s.p.Validate(scoped) }); err != nil {
				return configErrorsOf(err)
			}
		}
		return nil
	}
	s.mu.Lock()
	s.ctx = scoped
	s.mu.Unlock()
	if s.p.Configure != nil {
		if err := s.guard("Configure", func() error { return s.p.Configure(scoped) }); err != nil {
			return configErrorsOf(err)
		}
	}
	s.configured.Store(true)
	return nil
}

// drainNow calls the Drain hook; from now on every new chunk calls it again.
func (s *server[C]) drainNow() {
	s.draining.Store(true)
	if s.p.Drain == nil {
		return
	}
	if err := s.guard("Drain", func() error { return s.p.Drain(s.current()) }); err != nil {
		s.log.Error("drain hook failed; outstanding chunks are answered anyway", "error", err)
	}
}

func (s *server[C]) count(r *pb.FlushResult) {
	s.answered.Add(1)
	switch r.Status {
	case pb.FlushStatus_OK:
		s.okN.Add(1)
	case pb.FlushStatus_ERROR:
		s.errorN.Add(1)
	default:
		s.retryN.Add(1)
	}
}

// flushOne calls the Flush hook for one chunk, recovering a panic into a
// RETRY answer.
func (s *server[C]) flushOne(ctx *Context[C], req *pb.FlushRequest) (res *pb.FlushResult) {
	data := req.Events
	if req.Ref != nil {
		var err error
		if data, err = readRef(req.Ref); err != nil {
			return &pb.FlushResult{ChunkId: req.ChunkId, SendSeq: req.SendSeq, Status: pb.FlushStatus_RETRY, Message: err.Error(), RefUnreadable: true}
		}
	}
	chunk := &Chunk{ID: req.ChunkId, Tag: req.Tag, Attempt: int(req.Attempt), Count: int(req.Count), Data: data}
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("flush panicked: %v", r)
			s.log.Error("flush panicked; the chunk is answered RETRY", "chunk_id", req.ChunkId, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			res = resultOf(req, Retry(msg, 0))
		}
	}()
	return resultOf(req, s.p.Flush(ctx, chunk))
}

func (s *server[C]) Flush(stream pb.Output_FlushServer) error {
	// The stream's context ends when the stream does; flushes also stop when the process exits.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.base.Done():
			cancel()
		case <-ctx.Done():
		}
	}()

	var sendMu sync.Mutex // grpc-go: one Send at a time per stream
	closed := false       // no Send once this handler has returned
	send := func(r *pb.FlushResult) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if closed {
			return
		}
		if err := stream.Send(r); err != nil {
			s.log.Debug("cannot send an answer on the Flush stream", "chunk_id", r.ChunkId, "send_seq", r.SendSeq, "error", err)
		}
	}
	var running sync.WaitGroup // flushes and drain answers of this stream
	defer func() {
		sendMu.Lock()
		closed = true
		sendMu.Unlock()
	}()

	for {
		req, err := stream.Recv()
		if err == io.EOF {
			// The host half-closed its side (before Shutdown): answer what is
			// outstanding, then end ours by returning.
			s.log.Debug("the host half-closed the Flush stream; answering what is outstanding, then closing it", "outstanding", s.flights.size())
			running.Wait()
			return nil
		}
		if err != nil {
			s.log.Debug("flush stream closed", "error", err)
			return err
		}
		if req.Drain {
			// Version 2: the marker comes after every chunk it covers, so a
			// snapshot of what is in flight is exactly those.
			before := s.flights.snapshot()
			deadline := time.Duration(req.DeadlineMs) * time.Millisecond
			if deadline <= 0 {
				deadline = defaultDeadline
			}
			running.Add(1)
			go func(seq uint64) {
				defer running.Done()
				s.drainNow()
				settle(ctx, before, deadline)
				send(&pb.FlushResult{SendSeq: seq, Status: pb.FlushStatus_OK, Drained: true})
			}(req.SendSeq)
			continue
		}
		if !s.configured.Load() {
			r := resultOf(req, Retry("plugin is not configured yet", 0))
			s.count(r)
			send(r)
			continue
		}
		id, _ := s.flights.add()
		running.Add(1)
		go func(req *pb.FlushRequest) {
			defer running.Done()
			fc := *s.current()
			fc.Context = ctx
			r := s.flushOne(&fc, req)
			s.count(r)
			send(r)
			s.flights.remove(id)
		}(req)
		// After a drain, buffering is pointless: the host is about to stop this process.
		if s.draining.Load() {
			go s.drainNow()
		}
	}
}

// Drain is version 1's drain: a unary call that can overtake chunks.
func (s *server[C]) Drain(ctx context.Context, req *pb.DrainRequest) (*pb.DrainResponse, error) {
	before := s.answered.Load()
	s.drainNow()
	deadline := time.Duration(req.DeadlineMs) * time.Millisecond
	if deadline <= 0 {
		deadline = defaultDeadline
	}
	settle(ctx, s.flights.snapshot(), deadline)
	return &pb.DrainResponse{Completed: s.answered.Load() - before}, nil
}

func (s *server[C]) Metrics(context.Context, *pb.MetricsRequest) (*pb.MetricsResponse, error) {
	var own []Metric
	if s.p.Metrics != nil {
		if err := s.guard("Metrics", func() error { own = s.p.Metrics(s.current()); return nil }); err != nil {
			s.log.Error("metrics hook failed; only the SDK's metrics are reported", "error", err)
			own = nil
		}
	}
	out := &pb.MetricsResponse{}
	for _, m := range own {
		typ := m.Type
		if typ == "" {
			typ = Counter
		}
		labels := m.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out.Metrics = append(out.Metrics, &pb.Metric{Name: m.Name, Help: m.Help, Type: typ, Value: m.Value, Labels: labels})
	}
	for _, c := range []struct {
		status string
		n      *atomic.Uint64
	}{{"ok", &s.okN}, {"retry", &s.retryN}, {"error", &s.errorN}} {
		out.Metrics = append(out.Metrics, &pb.Metric{
			Name: "sdk_flush_answers_total", Help: "Chunks answered, by status", Type: Counter,
			Value: float64(c.n.Load()), Labels: map[string]string{"status": c.status},
		})
	}
	return out, nil
}
