package sluice

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Level is a log level, from LevelTrace (everything) to LevelOff (nothing).
type Level int

const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelOff
)

var levelNames = [...]string{"trace", "debug", "info", "warn", "error", "off"}

func (l Level) String() string {
	if l < LevelTrace || l > LevelOff {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel reads SLUICE_LOG_LEVEL's spelling: a pino level name (silent,
// fatal, error, warn, info, debug, trace) or an hclog one (off, warning).
// Anything else is info.
func ParseLevel(s string) Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return LevelTrace
	case "debug":
		return LevelDebug
	case "warn", "warning":
		return LevelWarn
	case "error", "fatal":
		return LevelError
	case "silent", "off":
		return LevelOff
	default:
		return LevelInfo
	}
}

// Logger writes JSON lines on stderr in go-hclog's shape ("@level",
// "@message", "@timestamp", then the key/value pairs), which sluice forwards
// into its own log with their level and fields. Safe for concurrent use.
type Logger struct {
	out    *syncWriter
	level  Level
	fields []any // key/value pairs from With
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) write(b []byte) {
	s.mu.Lock()
	_, _ = s.w.Write(b)
	s.mu.Unlock()
}

// NewLogger returns a logger that writes to w at level and above.
func NewLogger(w io.Writer, level Level) *Logger {
	return &Logger{out: &syncWriter{w: w}, level: level}
}

// Log is the plugin's logger on stderr, at the level sluice asks for
// (SLUICE_LOG_LEVEL). Context.Log is this logger with the instance name.
var Log = NewLogger(os.Stderr, ParseLevel(os.Getenv("SLUICE_LOG_LEVEL")))

// With returns a logger that adds these key/value pairs to every line.
func (l *Logger) With(kv ...any) *Logger {
	fields := make([]any, 0, len(l.fields)+len(kv))
	fields = append(append(fields, l.fields...), kv...)
	return &Logger{out: l.out, level: l.level, fields: fields}
}

// Enabled says whether a line at this level is written.
func (l *Logger) Enabled(level Level) bool { return level >= l.level && l.level != LevelOff }

// Level is the level this logger writes at and above.
func (l *Logger) Level() Level { return l.level }

func (l *Logger) Trace(msg string, kv ...any) { l.Log(LevelTrace, msg, kv...) }
func (l *Logger) Debug(msg string, kv ...any) { l.Log(LevelDebug, msg, kv...) }
func (l *Logger) Info(msg string, kv ...any)  { l.Log(LevelInfo, msg, kv...) }
func (l *Logger) Warn(msg string, kv ...any)  { l.Log(LevelWarn, msg, kv...) }
func (l *Logger) Error(msg string, kv ...any) { l.Log(LevelError, msg, kv...) }

// Log writes one line at level: msg, then the key/value pairs (keys are
// strings; an error value is written as its message).
func (l *Logger) Log(level Level, msg string, kv ...any) {
	if !l.Enabled(level) || level >= LevelOff {
		return
	}
	var b bytes.Buffer
	b.WriteString(`{"@level":`)
	writeJSON(&b, level.String())
	b.WriteString(`,"@message":`)
	writeJSON(&b, msg)
	b.WriteString(`,"@timestamp":`)
	writeJSON(&b, time.Now().Format("2006-01-02T15:04:05.000000Z07:00"))
	seen := map[string]bool{"@level": true, "@message": true, "@timestamp": true}
	writePairs(&b, seen, l.fields)
	writePairs(&b, seen, kv)
	b.WriteString("}\n")
	l.out.write(b.Bytes())
}

func writePairs(b *bytes.Buffer, seen map[string]bool, kv []any) {
	for i := 0; i < len(kv); i += 2 {
		var key string
		var val any
		if i+1 < len(kv) {
			key, val = fmt.Sprint(kv[i]), kv[i+1]
		} else {
			key, val = "EXTRA_VALUE_AT_END", kv[i] // as hclog does
		}
		if seen[key] {
			continue // JSON objects with a key twice are read differently by different readers
		}
		seen[key] = true
		b.WriteByte(',')
		writeJSON(b, key)
		b.WriteByte(':')
		writeJSON(b, logValue(val))
	}
}

func logValue(v any) any {
	switch x := v.(type) {
	case error:
		return x.Error()
	case time.Duration:
		return x.String()
	case fmt.Stringer:
		if _, ok := v.(json.Marshaler); !ok {
			return x.String()
		}
	}
	return v
}

func writeJSON(b *bytes.Buffer, v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		enc, _ = json.Marshal(fmt.Sprintf("%+v", v))
	}
	b.Write(enc)
}

// lineWriter turns writes (the standard library's log package, stray text)
// into log lines at one level.
type lineWriter struct {
	log   *Logger
	level Level
}

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.log.Log(w.level, line)
	}
	return len(p), nil
}

// grpcLogger routes grpc-go's own logs through the plugin's logger, below
// info: they are about connections the host opens and closes.
type grpcLogger struct{ log *Logger }

func (g grpcLogger) Info(args ...any)   { g.log.Trace(fmt.Sprint(args...), "@module", "grpc") }
func (g grpcLogger) Infoln(args ...any) { g.log.Trace(sprintln(args...), "@module", "grpc") }
func (g grpcLogger) Infof(format string, args ...any) {
	g.log.Trace(fmt.Sprintf(format, args...), "@module", "grpc")
}
func (g grpcLogger) Warning(args ...any)   { g.log.Debug(fmt.Sprint(args...), "@module", "grpc") }
func (g grpcLogger) Warningln(args ...any) { g.log.Debug(sprintln(args...), "@module", "grpc") }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.log.Debug(fmt.Sprintf(format, args...), "@module", "grpc")
}
func (g grpcLogger) Error(args ...any)   { g.log.Warn(fmt.Sprint(args...), "@module", "grpc") }
func (g grpcLogger) Errorln(args ...any) { g.log.Warn(sprintln(args...), "@module", "grpc") }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log.Warn(fmt.Sprintf(format, args...), "@module", "grpc")
}
func (g grpcLogger) Fatal(args ...any) {
	g.log.Error(fmt.Sprint(args...), "@module", "grpc")
	os.Exit(1)
}
func (g grpcLogger) Fatalln(args ...any) {
	g.log.Error(sprintln(args...), "@module", "grpc")
	os.Exit(1)
}
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log.Error(fmt.Sprintf(format, args...), "@module", "grpc")
	os.Exit(1)
}
func (g grpcLogger) V(l int) bool { return g.log.Enabled(LevelTrace) }

func sprintln(args ...any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }
