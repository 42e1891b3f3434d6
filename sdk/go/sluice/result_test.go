package sluice

import (
	"testing"
	"time"

	pb "sluice.dev/sdk/go/pluginv1"
)

func TestResultMapping(t *testing.T) {
	req := &pb.FlushRequest{ChunkId: "c1", SendSeq: 42}
	cases := []struct {
		name string
		r    Result
		want *pb.FlushResult
	}{
		{"ok", OK(), &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_OK}},
		{"zero", Result{}, &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_OK}},
		{"retry", Retry("busy", 1500*time.Millisecond), &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_RETRY, Message: "busy", RetryAfterMs: 1500}},
		{"retry rounds", Retry("x", 2400*time.Microsecond), &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_RETRY, Message: "x", RetryAfterMs: 2}},
		{"retry negative", Retry("x", -time.Second), &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_RETRY, Message: "x"}},
		{"error", Error("bad data"), &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_ERROR, Message: "bad data"}},
		{"unknown", Result{status: Status(9)}, &pb.FlushResult{ChunkId: "c1", SendSeq: 42, Status: pb.FlushStatus_RETRY, Message: "plugin returned an unknown status 9"}},
	}
	for _, c := range cases {
		got := resultOf(req, c.r)
		if got.ChunkId != c.want.ChunkId || got.SendSeq != c.want.SendSeq || got.Status != c.want.Status ||
			got.Message != c.want.Message || got.RetryAfterMs != c.want.RetryAfterMs || got.Drained {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Version 1: send_seq 0 stays 0.
	if got := resultOf(&pb.FlushRequest{ChunkId: "c2"}, OK()); got.SendSeq != 0 || got.ChunkId != "c2" {
		t.Errorf("v1: %v", got)
	}
	r := Retry("m", time.Second)
	if r.Status() != StatusRetry || r.Message() != "m" || r.RetryAfter() != time.Second || r.Status().String() != "RETRY" {
		t.Errorf("accessors: %v", r)
	}
}
