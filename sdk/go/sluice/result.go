package sluice

import (
	"fmt"
	"math"
	"time"

	pb "sluice.dev/sdk/go/pluginv1"
)

// Status is what a Result tells sluice.
type Status int

const (
	// StatusOK: delivered.
	StatusOK Status = iota
	// StatusRetry: not delivered; sluice tries again later.
	StatusRetry
	// StatusError: can never be delivered; sluice gives up on the chunk.
	StatusError
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusRetry:
		return "RETRY"
	case StatusError:
		return "ERROR"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is Flush's answer for a chunk. The zero Result is OK.
type Result struct {
	status     Status
	message    string
	retryAfter time.Duration
}

// OK answers that the chunk is delivered: written, or acknowledged by the
// remote end. sluice then releases it.
func OK() Result { return Result{} }

// Retry answers that the chunk is not delivered and should be sent again.
// sluice waits at least retryAfter (0: its own exponential backoff), and
// gives up after the output's retry_limit.
func Retry(message string, retryAfter time.Duration) Result {
	return Result{status: StatusRetry, message: message, retryAfter: retryAfter}
}

// Error answers that the chunk can never be delivered (the remote end
// rejects the data, say). sluice gives up on it at once and logs message.
func Error(message string) Result {
	return Result{status: StatusError, message: message}
}

func (r Result) Status() Status            { return r.status }
func (r Result) Message() string           { return r.message }
func (r Result) RetryAfter() time.Duration { return r.retryAfter }

func (r Result) String() string {
	switch r.status {
	case StatusOK:
		return "OK"
	case StatusRetry:
		return fmt.Sprintf("RETRY(%q, after %s)", r.message, r.retryAfter)
	}
	return fmt.Sprintf("%s(%q)", r.status, r.message)
}

// resultOf is the FlushResult answering req with r: it echoes send_seq
// (version 2) and chunk_id.
func resultOf(req *pb.FlushRequest, r Result) *pb.FlushResult {
	out := &pb.FlushResult{ChunkId: req.ChunkId, SendSeq: req.SendSeq}
	switch r.status {
	case StatusOK:
		out.Status = pb.FlushStatus_OK
	case StatusError:
		out.Status = pb.FlushStatus_ERROR
		out.Message = r.message
	case StatusRetry:
		out.Status = pb.FlushStatus_RETRY
		out.Message = r.message
		if r.retryAfter > 0 {
			out.RetryAfterMs = uint64(math.Round(float64(r.retryAfter) / float64(time.Millisecond)))
		}
	default:
		out.Status = pb.FlushStatus_RETRY
		out.Message = fmt.Sprintf("plugin returned an unknown status %d", int(r.status))
	}
	return out
}
