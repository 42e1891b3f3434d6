package sluice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	pb "sluice.dev/sdk/go/pluginv1"
)

type streamConfig struct {
	Path string `sluice:"path,required" desc:"p"`
}

// recorder is a plugin whose flushes wait for a release, and that records
// what its hooks saw.
type recorder struct {
	mu         sync.Mutex
	configured []string
	validated  []string
	drains     int
	release    chan struct{}
	entered    chan string // the ids of chunks that started to wait
	released   bool
}

func newRecorder() *recorder {
	return &recorder{release: make(chan struct{}), entered: make(chan string, 100)}
}

func (r *recorder) plugin() Plugin[streamConfig] {
	return Plugin[streamConfig]{
		Name: "rec", Version: "1.0.0",
		Validate: func(ctx *Context[streamConfig]) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.validated = append(r.validated, ctx.Config.Path)
			if ctx.Config.Path == "bad" {
				return KeyError("path", "is bad")
			}
			return nil
		},
		Configure: func(ctx *Context[streamConfig]) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.configured = append(r.configured, ctx.Instance+":"+ctx.Config.Path)
			if ctx.Config.Path == "boom" {
				panic("configure exploded")
			}
			return nil
		},
		Flush: func(ctx *Context[streamConfig], c *Chunk) Result {
			switch c.Tag {
			case "panic":
				panic("kaboom " + c.ID)
			case "wait":
				r.entered <- c.ID
				r.mu.Lock()
				release := r.release
				r.mu.Unlock()
				select {
				case <-release:
				case <-ctx.Done():
					return Retry("cancelled", 0)
				}
			case "error":
				return Error("no")
			}
			return OK()
		},
		Drain: func(*Context[streamConfig]) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.drains++
			if !r.released {
				close(r.release)
				r.released = true
			}
			return nil
		},
	}
}

func newTestServer(t *testing.T, p Plugin[streamConfig]) (*server[streamConfig], *syncBuf) {
	t.Helper()
	buf := &syncBuf{}
	s, err := newServer(p, NewLogger(buf, LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	return s, buf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConfigureHooks(t *testing.T) {
	r := newRecorder()
	s, logs := newTestServer(t, r.plugin())

	if errs := s.configure("rec.0", `{"pth": 1}`, true); len(errs) != 2 || errs[0].Key != "pth" || errs[1].Message != "required key is missing" {
		t.Errorf("spec errors: %v", errs)
	}
	if errs := s.configure("rec.0", `{"path": "bad"}`, true); len(errs) != 1 || errs[0].Key != "path" || errs[0].Message != "is bad" {
		t.Errorf("validate refusal: %v", errs)
	}
	if errs := s.configure("rec.0", `{"path": "fine"}`, true); len(errs) != 0 {
		t.Errorf("validate: %v", errs)
	}
	if len(r.configured) != 0 || s.configured.Load() {
		t.Error("a validate_only Configure configured")
	}
	if errs := s.configure("rec.0", `{"path": "boom"}`, false); len(errs) != 1 || errs[0].Key != "" || !strings.Contains(errs[0].Message, "configure exploded") {
		t.Errorf("panic in Configure: %v", errs)
	}
	if !strings.Contains(logs.String(), `"@message":"Configure panicked"`) {
		t.Errorf("the panic was not logged: %s", logs)
	}
	if errs := s.configure("rec.0", `{"path": "real"}`, false); len(errs) != 0 {
		t.Errorf("configure: %v", errs)
	}
	if errs := s.configure("rec.0", `{"path": "again"}`, false); len(errs) != 1 {
		t.Errorf("second Configure accepted: %v", errs)
	}
	if strings.Join(r.validated, ",") != "bad,fine" || strings.Join(r.configured, ",") != "rec.0:boom,rec.0:real" {
		t.Errorf("hooks saw validated=%v configured=%v", r.validated, r.configured)
	}
	if s.current().Config.Path != "real" || s.current().Instance != "rec.0" {
		t.Errorf("context: %+v", s.current())
	}
}

func TestDescribeAndMetrics(t *testing.T) {
	r := newRecorder()
	p := r.plugin()
	p.Metrics = func(*Context[streamConfig]) []Metric { return []Metric{{Name: "mine", Value: 3}} }
	s, _ := newTestServer(t, p)
	d, _ := s.Describe(context.Background(), &pb.DescribeRequest{})
	if d.Name != "rec" || d.Version != "1.0.0" || len(d.Config) != 1 || strings.Join(d.Capabilities, ",") != "drain,chunk_ref" {
		t.Errorf("describe: %v", d)
	}
	m, _ := s.Metrics(context.Background(), &pb.MetricsRequest{})
	if len(m.Metrics) != 4 || m.Metrics[0].Name != "mine" || m.Metrics[0].Type != "counter" || m.Metrics[1].Name != "sdk_flush_answers_total" {
		t.Errorf("metrics: %v", m.Metrics)
	}
}

// dial serves s on an in-memory listener.
func dial(t *testing.T, s *server[streamConfig]) pb.OutputClient {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	pb.RegisterOutputServer(g, s)
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.Dial("bufnet", grpc.WithInsecure(), grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.Dial() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); g.Stop() })
	return pb.NewOutputClient(conn)
}

func TestFlushStream(t *testing.T) {
	r := newRecorder()
	s, logs := newTestServer(t, r.plugin())
	client := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.Configure(ctx, &pb.ConfigureRequest{Instance: "rec.0", ConfigJson: `{"path":"x"}`}); err != nil {
		t.Fatal(err)
	}
	stream, err := client.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := EncodeEvents(Event{Time: time.Unix(1, 0), Body: map[string]any{"log": "x"}})
	send := func(seq uint64, tag string) {
		if err := stream.Send(&pb.FlushRequest{SendSeq: seq, ChunkId: "c" + tag, Tag: tag, Events: events, Count: 1, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// Two that wait for the drain, one that panics, one refused; then the drain marker.
	send(1, "wait")
	send(2, "wait")
	send(3, "panic")
	send(4, "error")
	if err := stream.Send(&pb.FlushRequest{SendSeq: 5, Drain: true, DeadlineMs: 10000}); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*pb.FlushResult{}
	var order []uint64
	for len(got) < 5 {
		res, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %v: %v", order, err)
		}
		got[res.SendSeq] = res
		order = append(order, res.SendSeq)
	}
	if order[4] != 5 || !got[5].Drained {
		t.Errorf("the drain marker was not answered last: %v", order)
	}
	for seq, want := range map[uint64]pb.FlushStatus{1: pb.FlushStatus_OK, 2: pb.FlushStatus_OK, 3: pb.FlushStatus_RETRY, 4: pb.FlushStatus_ERROR} {
		if got[seq].Status != want || got[seq].ChunkId == "" {
			t.Errorf("send %d: %v", seq, got[seq])
		}
	}
	if got[3].Message != "flush panicked: kaboom cpanic" {
		t.Errorf("panic answer: %q", got[3].Message)
	}
	// The stack is logged at error level, as one hclog line.
	var panicLine map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %s", line)
		}
		if rec["@message"] == "flush panicked; the chunk is answered RETRY" {
			panicLine = rec
		}
	}
	if panicLine == nil || panicLine["@level"] != "error" || panicLine["chunk_id"] != "cpanic" || !strings.Contains(panicLine["stack"].(string), "serve_test.go") {
		t.Errorf("panic log line: %v", panicLine)
	}
	// After the drain every chunk calls Drain again, so a waiting one is released at once.
	send(6, "wait")
	if res, err := stream.Recv(); err != nil || res.SendSeq != 6 || res.Status != pb.FlushStatus_OK {
		t.Errorf("after the drain: %v %v", res, err)
	}
	m, _ := s.Metrics(ctx, &pb.MetricsRequest{})
	counts := map[string]float64{}
	for _, x := range m.Metrics {
		counts[x.Labels["status"]] = x.Value
	}
	if counts["ok"] != 3 || counts["retry"] != 1 || counts["error"] != 1 {
		t.Errorf("sdk_flush_answers_total: %v", counts)
	}
}

func TestHalfClose(t *testing.T) {
	r := newRecorder()
	s, _ := newTestServer(t, r.plugin())
	client := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.Configure(ctx, &pb.ConfigureRequest{Instance: "rec.0", ConfigJson: `{"path":"x"}`}); err != nil {
		t.Fatal(err)
	}
	stream, err := client.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.FlushRequest{SendSeq: 1, ChunkId: "a", Tag: "wait", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.entered:
	case <-ctx.Done():
		t.Fatal("the chunk never reached Flush")
	}
	// Half-close with one outstanding: it is answered, then the stream ends.
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	close(r.release)
	if res, err := stream.Recv(); err != nil || res.SendSeq != 1 || res.Status != pb.FlushStatus_OK {
		t.Errorf("outstanding at half-close: %v %v", res, err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("the stream did not end: %v", err)
	}
}

func TestV1Drain(t *testing.T) {
	r := newRecorder()
	s, _ := newTestServer(t, r.plugin())
	client := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.Configure(ctx, &pb.ConfigureRequest{Instance: "rec.0", ConfigJson: `{"path":"x"}`}); err != nil {
		t.Fatal(err)
	}
	stream, err := client.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.FlushRequest{ChunkId: "a", Tag: "wait", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	// Wait until the chunk is in flight, then drain: its Drain hook releases it.
	select {
	case <-r.entered:
	case <-ctx.Done():
		t.Fatal("the chunk never reached Flush")
	}
	d, err := client.Drain(ctx, &pb.DrainRequest{DeadlineMs: 10000})
	if err != nil || d.Completed != 1 {
		t.Errorf("drain: %v %v", d, err)
	}
	if res, err := stream.Recv(); err != nil || res.ChunkId != "a" || res.SendSeq != 0 || res.Status != pb.FlushStatus_OK {
		t.Errorf("answer: %v %v", res, err)
	}
}

func TestNotConfiguredYet(t *testing.T) {
	r := newRecorder()
	s, _ := newTestServer(t, r.plugin())
	client := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := client.Flush(ctx)
	_ = stream.Send(&pb.FlushRequest{SendSeq: 1, ChunkId: "a"})
	if res, err := stream.Recv(); err != nil || res.Status != pb.FlushStatus_RETRY || res.Message != "plugin is not configured yet" {
		t.Errorf("got %v %v", res, err)
	}
}

func TestNegotiateVersion(t *testing.T) {
	for offered, want := range map[string]int{"1,2": 2, "2,1": 2, " 1 , 2 ": 2, "1": 1, "2": 2, "99": 0, "": 0, "x,1": 1, "1,2,3": 2} {
		if got := NegotiateVersion(offered, ProtocolVersions); got != want {
			t.Errorf("%q: got %d, want %d", offered, got, want)
		}
	}
}

func TestLoggerShape(t *testing.T) {
	buf := &syncBuf{}
	l := NewLogger(buf, LevelInfo).With("instance", "x.0")
	l.Debug("hidden")
	l.Warn("hello", "n", 2, "err", errors.New("bad"), "d", 1500*time.Millisecond, "@level", "nope", "odd")
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf)
	}
	if rec["@level"] != "warn" || rec["@message"] != "hello" || rec["instance"] != "x.0" || rec["n"] != 2.0 ||
		rec["err"] != "bad" || rec["d"] != "1.5s" || rec["EXTRA_VALUE_AT_END"] != "odd" {
		t.Errorf("line: %v", rec)
	}
	if _, err := time.Parse(time.RFC3339Nano, rec["@timestamp"].(string)); err != nil {
		t.Errorf("@timestamp: %v", err)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("lines: %s", buf)
	}
	for in, want := range map[string]Level{"silent": LevelOff, "error": LevelError, "fatal": LevelError, "warn": LevelWarn, "info": LevelInfo, "debug": LevelDebug, "trace": LevelTrace, "": LevelInfo} {
		if got := ParseLevel(in); got != want {
			t.Errorf("ParseLevel(%q) = %v", in, got)
		}
	}
}

// TestFlushByRef: a chunk sent by reference reaches Flush with exactly the
// referenced bytes; a reference that cannot be read (missing, short, wrong
// CRC) is answered RETRY with ref_unreadable naming the path, and Flush never
// sees it.
func TestFlushByRef(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]byte{}
	p := Plugin[streamConfig]{Name: "ref", Version: "1.0.0", Flush: func(_ *Context[streamConfig], c *Chunk) Result {
		mu.Lock()
		defer mu.Unlock()
		seen[c.ID] = c.Data
		return OK()
	}}
	s, _ := newTestServer(t, p)
	client := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if d, _ := s.Describe(ctx, &pb.DescribeRequest{}); strings.Join(d.Capabilities, ",") != "chunk_ref" {
		t.Errorf("capabilities: %v", d.Capabilities)
	}
	if _, err := client.Configure(ctx, &pb.ConfigureRequest{Instance: "ref.0", ConfigJson: `{"path":"x"}`}); err != nil {
		t.Fatal(err)
	}
	stream, err := client.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := EncodeEvents(Event{Time: time.Unix(1, 0), Body: map[string]any{"log": "by reference"}}, Event{Time: time.Unix(2, 0), Body: map[string]any{"log": "two"}})
	dir := t.TempDir()
	file := filepath.Join(dir, "c.chunk")
	if err := os.WriteFile(file, append(append([]byte("header"), events...), "trailer"...), 0o600); err != nil {
		t.Fatal(err)
	}
	good := &pb.ChunkRef{Path: file, Offset: 6, Length: uint64(len(events)), Crc32: crc32.ChecksumIEEE(events)}
	missing := filepath.Join(dir, "gone.chunk")
	cases := []struct {
		id   string
		ref  *pb.ChunkRef
		want string // "" for OK, else what the message says
	}{
		{"good", good, ""},
		{"missing", &pb.ChunkRef{Path: missing, Length: 10}, "cannot read the chunk reference " + missing + " (ENOENT: "},
		{"short", &pb.ChunkRef{Path: file, Offset: 6, Length: uint64(len(events)) + 100, Crc32: good.Crc32}, "short read"},
		{"crc", &pb.ChunkRef{Path: file, Offset: 6, Length: good.Length, Crc32: good.Crc32 + 1}, "CRC-32 mismatch"},
	}
	for i, c := range cases {
		if err := stream.Send(&pb.FlushRequest{SendSeq: uint64(i + 1), ChunkId: c.id, Tag: "t", Count: 2, Attempt: 1, Ref: c.ref}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]*pb.FlushResult{}
	for len(got) < len(cases) {
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got[res.ChunkId] = res
	}
	for _, c := range cases {
		r := got[c.id]
		if c.want == "" {
			if r.Status != pb.FlushStatus_OK || r.RefUnreadable || !bytes.Equal(seen[c.id], events) {
				t.Errorf("%s: %v; Flush saw %q", c.id, r, seen[c.id])
			}
			continue
		}
		if r.Status != pb.FlushStatus_RETRY || !r.RefUnreadable || !strings.Contains(r.Message, c.want) || !strings.Contains(r.Message, c.ref.Path) {
			t.Errorf("%s: %v, want RETRY with ref_unreadable and %q", c.id, r, c.want)
		}
		if _, called := seen[c.id]; called {
			t.Errorf("%s: Flush was called with an unreadable reference", c.id)
		}
	}
}
