// Command http is a sluice output plugin written with the Go SDK: it POSTs
// each chunk's events as JSON lines (application/x-ndjson) to a URL, with
// the chunk id as the Idempotency-Key header.
//
// Answers: OK on 2xx; RETRY on 5xx, on 429 (waiting as long as Retry-After
// asks), on a timeout and on a connection error; ERROR on any other status
// (a 4xx: sending the same data again cannot help; a redirect, which it does
// not follow).
//
//	scripts/go.sh build -o /tmp/http-go ./examples/go/http
//	sluice plugin check --config url=http://127.0.0.1:8080/ingest -- /tmp/http-go
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"sluice.dev/sdk/go/sluice"
)

type Config struct {
	URL         string            `sluice:"url,required" desc:"Where to POST the events (http or https)"`
	Timeout     time.Duration     `sluice:"timeout" default:"10s" min:"1ms" desc:"Bound on one request; a request that takes longer is answered RETRY"`
	Headers     map[string]string `sluice:"headers" desc:"Extra request headers, e.g. Authorization"`
	JSONDateKey string            `sluice:"json_date_key" default:"date" desc:"Key that holds the event time (seconds as a float); empty to leave it out"`
}

type output struct {
	client *http.Client
	sent   atomic.Int64
}

// validate looks at values only: it connects nowhere.
func (o *output) validate(ctx *sluice.Context[Config]) error {
	var errs sluice.ConfigErrors
	u, err := url.Parse(ctx.Config.URL)
	if err != nil {
		errs = append(errs, sluice.KeyError("url", "is not a URL: %v", err))
	} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		errs = append(errs, sluice.KeyError("url", "must be an http:// or https:// URL with a host, got %q", ctx.Config.URL))
	}
	for name := range ctx.Config.Headers {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			errs = append(errs, sluice.KeyError("headers", "%q is not a header name", name))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (o *output) configure(ctx *sluice.Context[Config]) error {
	if err := o.validate(ctx); err != nil {
		return err
	}
	o.client = &http.Client{
		Timeout: ctx.Config.Timeout,
		// Go follows a 301 or 302 to a POST with a GET, without the body: the
		// events would be lost behind a 200. Answer the redirect instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

func (o *output) flush(ctx *sluice.Context[Config], chunk *sluice.Chunk) sluice.Result {
	events, err := chunk.Events()
	if err != nil {
		return sluice.Error(err.Error())
	}
	if len(events) == 0 {
		return sluice.OK() // nothing to send
	}
	var body []byte
	for _, e := range events {
		if body, err = e.AppendJSONLine(body, ctx.Config.JSONDateKey); err != nil {
			return sluice.Error(err.Error())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ctx.Config.URL, bytes.NewReader(body))
	if err != nil {
		return sluice.Error(err.Error())
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Idempotency-Key", chunk.ID)
	req.Header.Set("X-Sluice-Tag", chunk.Tag)
	for k, v := range ctx.Config.Headers {
		req.Header.Set(k, v)
	}
	res, err := o.client.Do(req)
	if err != nil {
		// Timeouts, refused connections, resets: the remote end may be back later.
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return sluice.Retry(fmt.Sprintf("no answer within %s from %s", ctx.Config.Timeout, ctx.Config.URL), 0)
		}
		return sluice.Retry(err.Error(), 0)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // lets the connection be reused
	what := fmt.Sprintf("HTTP %d from %s", res.StatusCode, ctx.Config.URL)
	if s := strings.TrimSpace(string(text)); s != "" {
		what += ": " + s
	}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		o.sent.Add(int64(len(events)))
		return sluice.OK()
	case res.StatusCode == http.StatusTooManyRequests:
		return sluice.Retry(what, retryAfter(res.Header.Get("Retry-After"), time.Now()))
	case res.StatusCode >= 500:
		return sluice.Retry(what, retryAfter(res.Header.Get("Retry-After"), time.Now()))
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return sluice.Error(fmt.Sprintf("%s redirects to %q; set url to where events go", what, res.Header.Get("Location")))
	default:
		return sluice.Error(what)
	}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. 0 when
// absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func main() {
	o := &output{}
	sluice.Serve(sluice.Plugin[Config]{
		Name:        "http-go",
		Version:     "0.1.0",
		Description: "POSTs events as JSON lines to a URL (Go SDK example)",
		Validate:    o.validate,
		Configure:   o.configure,
		Flush:       o.flush,
		Exit: func(*sluice.Context[Config]) error {
			if o.client != nil {
				o.client.CloseIdleConnections()
			}
			return nil
		},
		Metrics: func(*sluice.Context[Config]) []sluice.Metric {
			return []sluice.Metric{{Name: "http_records_total", Help: "Events the remote end accepted", Value: float64(o.sent.Load())}}
		},
	})
}
