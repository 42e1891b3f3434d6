// Command file is a sluice output plugin written with the Go SDK: it appends
// every event as a JSON line to one file, like the bundled file plugin
// (plugins/file/main.ts). A chunk is answered OK only after all its lines
// were written (and fsync'ed with sync: on), so a crash of this plugin can
// duplicate a chunk but never lose one. A failed write (disk full) is cut off
// again and answered RETRY.
//
//	scripts/go.sh build -o /tmp/file-go ./examples/go/file
//	sluice plugin check --config path=/tmp/scratch.jsonl -- /tmp/file-go
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"sluice.dev/sdk/go/sluice"
)

type Config struct {
	Path        string `sluice:"path,required" desc:"File to append to"`
	JSONDateKey string `sluice:"json_date_key" default:"date" desc:"Key that holds the event time (seconds as a float); empty to leave it out"`
	Sync        bool   `sluice:"sync" default:"false" desc:"fsync after every chunk before answering OK"`
	Mkdir       bool   `sluice:"mkdir" default:"true" desc:"Create the parent directory if it is missing"`
}

type output struct {
	mu      sync.Mutex // one chunk's write at a time, in the order they arrive here
	file    *os.File
	records int64
}

// validate looks at values only, so it is safe while an old instance still runs.
func (o *output) validate(ctx *sluice.Context[Config]) error {
	if st, err := os.Stat(ctx.Config.Path); err == nil && st.IsDir() {
		return sluice.KeyError("path", "%s is a directory; path names the file to append to", ctx.Config.Path)
	}
	return nil
}

// configure runs once the instance this one replaces has exited (a reload),
// so the partial line it cuts is never another process's write in progress.
func (o *output) configure(ctx *sluice.Context[Config]) error {
	if err := o.validate(ctx); err != nil {
		return err
	}
	c := ctx.Config
	if c.Mkdir {
		if err := os.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
			return sluice.KeyError("path", "cannot create its directory: %v", err)
		}
	}
	f, err := os.OpenFile(c.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return sluice.KeyError("path", "cannot open: %v", err)
	}
	if err := dropPartialLine(f, ctx.Log); err != nil {
		f.Close()
		return sluice.KeyError("path", "cannot repair a partial last line: %v", err)
	}
	o.file = f
	return nil
}

// dropPartialLine: a process killed in the middle of a write can leave half
// a line. That line's chunk was never answered OK, so sluice sends it again:
// cut the half line off rather than leave a corrupt line before the full copy.
func dropPartialLine(f *os.File, log *sluice.Logger) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	block := make([]byte, 64*1024)
	keep := int64(0)
	for end := size; end > 0; end -= int64(len(block)) {
		from := end - int64(len(block))
		if from < 0 {
			from = 0
		}
		n, err := f.ReadAt(block[:end-from], from)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		buf := block[:n]
		if end == size && n > 0 && buf[n-1] == '\n' {
			return nil // ends with a full line
		}
		if nl := bytes.LastIndexByte(buf, '\n'); nl >= 0 {
			keep = from + int64(nl) + 1
			break
		}
	}
	if err := f.Truncate(keep); err != nil {
		return err
	}
	log.Warn("removed a partial last line left by an interrupted write; its chunk is delivered again", "bytes", size-keep, "offset", keep)
	return nil
}

func (o *output) flush(ctx *sluice.Context[Config], chunk *sluice.Chunk) sluice.Result {
	events, err := chunk.Events()
	if err != nil {
		return sluice.Error(err.Error()) // malformed: it can never be written
	}
	var out []byte
	for _, e := range events {
		if out, err = e.AppendJSONLine(out, ctx.Config.JSONDateKey); err != nil {
			return sluice.Error(err.Error())
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file == nil {
		return sluice.Retry("the file is closed: the plugin is exiting", 0)
	}
	st, err := o.file.Stat()
	if err != nil {
		return sluice.Retry(fmt.Sprintf("cannot stat %s: %v", ctx.Config.Path, err), 0)
	}
	start := st.Size()
	// os.File.Write loops over short writes and reports the first error.
	_, err = o.file.Write(out)
	if err == nil && ctx.Config.Sync {
		err = o.file.Sync()
	}
	if err != nil {
		// All or nothing: the retry writes the whole chunk again, so what got through must go.
		_ = o.file.Truncate(start)
		return sluice.Retry(fmt.Sprintf("cannot write %s: %v; the chunk is retried (free space on that disk)", ctx.Config.Path, err), 0)
	}
	o.records += int64(len(events))
	return sluice.OK()
}

func (o *output) exit(*sluice.Context[Config]) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file == nil {
		return nil
	}
	err := o.file.Close()
	o.file = nil
	return err
}

func (o *output) metrics(*sluice.Context[Config]) []sluice.Metric {
	o.mu.Lock()
	defer o.mu.Unlock()
	return []sluice.Metric{{Name: "file_records_total", Help: "Events written", Value: float64(o.records)}}
}

func main() {
	o := &output{}
	sluice.Serve(sluice.Plugin[Config]{
		Name:        "file-go",
		Version:     "0.1.0",
		Description: "Appends events as JSON lines to a file (Go SDK example)",
		Validate:    o.validate,
		Configure:   o.configure,
		Flush:       o.flush,
		Exit:        o.exit,
		Metrics:     o.metrics,
	})
}
