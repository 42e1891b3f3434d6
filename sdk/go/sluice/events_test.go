package sluice

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example in docs/protocol.md §8.
const protocolExampleV2 = "92 92 d7 00 65 53 f1 00 1d cd 65 00 80 81 a3 6c 6f 67 a5 68 65 6c 6c 6f"
const protocolExampleV1 = "92 ce 65 53 f1 00 81 a3 6c 6f 67 a5 68 65 6c 6c 6f"

func TestDecodeProtocolExample(t *testing.T) {
	events, err := DecodeEvents(unhex(t, protocolExampleV2))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("got %d events", len(events))
	}
	e := events[0]
	if want := time.Unix(1700000000, 500000000).UTC(); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Errorf("time: got %v, want %v", e.Time, want)
	}
	if e.Time.Format(time.RFC3339Nano) != "2023-11-14T22:13:20.5Z" {
		t.Errorf("time: %s", e.Time.Format(time.RFC3339Nano))
	}
	if !reflect.DeepEqual(e.Metadata, map[string]any{}) || !reflect.DeepEqual(e.Body, map[string]any{"log": "hello"}) {
		t.Errorf("event: %+v", e)
	}
}

func TestDecodeV1Times(t *testing.T) {
	// Integer time (the protocol doc's v1 example): the fraction is gone.
	events, err := DecodeEvents(unhex(t, protocolExampleV1))
	if err != nil {
		t.Fatal(err)
	}
	if !events[0].Time.Equal(time.Unix(1700000000, 0)) || events[0].Body["log"] != "hello" || len(events[0].Metadata) != 0 {
		t.Errorf("v1 int: %+v", events[0])
	}
	// Float time: 1700000000.25 as a float64 (cb ...).
	events, err = DecodeEvents(unhex(t, "92 cb 41 d9 54 fc 40 10 00 00 81 a3 6c 6f 67 a1 78"))
	if err != nil {
		t.Fatal(err)
	}
	if !events[0].Time.Equal(time.Unix(1700000000, 250000000)) {
		t.Errorf("v1 float: %v", events[0].Time)
	}
	// An EventTime without the header array.
	events, err = DecodeEvents(unhex(t, "92 d7 00 65 53 f1 00 00 00 00 07 80"))
	if err != nil {
		t.Fatal(err)
	}
	if !events[0].Time.Equal(time.Unix(1700000000, 7)) || len(events[0].Body) != 0 {
		t.Errorf("v1 EventTime: %+v", events[0])
	}
}

func TestDecodeSeveralAndTypes(t *testing.T) {
	when := time.Unix(1700000001, 123456789).UTC()
	data, err := EncodeEvents(
		Event{Time: when, Metadata: map[string]any{"m": "v"}, Body: map[string]any{
			"s": "x", "i": int64(-5), "u": uint64(1 << 63), "f": 1.5, "b": true, "n": nil, "bin": []byte{1, 2},
			"list": []any{int64(1), "two"}, "map": map[string]any{"k": int64(3)}, "t": when,
		}},
		Event{Time: when, Body: map[string]any{"log": "second"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	c := &Chunk{Data: data, Count: 2}
	events, err := c.Events()
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("got %d events", len(events))
	}
	wantBody := map[string]any{
		"s": "x", "i": int64(-5), "u": uint64(1 << 63), "f": 1.5, "b": true, "n": nil, "bin": []byte{1, 2},
		"list": []any{int64(1), "two"}, "map": map[string]any{"k": int64(3)}, "t": when,
	}
	if !reflect.DeepEqual(events[0].Body, wantBody) {
		t.Errorf("body:\n got %#v\nwant %#v", events[0].Body, wantBody)
	}
	if !events[0].Time.Equal(when) || events[0].Metadata["m"] != "v" || events[1].Body["log"] != "second" {
		t.Errorf("events: %+v", events)
	}
	// Decoded once: the same slice every time.
	again, _ := c.Events()
	if &again[0] != &events[0] {
		t.Error("Events decoded twice")
	}
}

func TestDecodeEmptyAndMalformed(t *testing.T) {
	if events, err := DecodeEvents(nil); err != nil || len(events) != 0 {
		t.Errorf("empty: %v %v", events, err)
	}
	good := unhex(t, protocolExampleV2)
	cases := map[string][]byte{
		"malformed MessagePack":                             append(append([]byte{}, good...), 0x92, 0x92, 0xd7),
		"event must be a 2-element array":                   append(append([]byte{}, good...), 0x93, 0x01, 0x80, 0x80),
		"event body must be a map":                          append(append([]byte{}, good...), 0x92, 0x01, 0xa1, 0x78),
		"event time must be an EventTime, integer or float": append(append([]byte{}, good...), 0x92, 0xa1, 0x78, 0x80),
		"EventTime extension must be 8 bytes":               append(append([]byte{}, good...), 0x92, 0xd6, 0x00, 1, 2, 3, 4, 0x80),
	}
	for want, data := range cases {
		_, err := DecodeEvents(data)
		de, ok := err.(*DecodeError)
		if !ok || !strings.Contains(err.Error(), want) || de.Offset != len(good) {
			t.Errorf("%s: got %v", want, err)
		}
		if ok && !strings.HasSuffix(err.Error(), " at byte offset 24") {
			t.Errorf("%s: message %q", want, err)
		}
	}
}

func TestEncodeMatchesProtocolExample(t *testing.T) {
	data, err := EncodeEvents(Event{Time: time.Unix(1700000000, 500000000), Body: map[string]any{"log": "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(data); got != strings.ReplaceAll(protocolExampleV2, " ", "") {
		t.Errorf("got %s", got)
	}
	if _, err := EncodeEvents(Event{Time: time.Unix(-1, 0)}); err == nil {
		t.Error("a time before 1970 was encoded")
	}
}

func TestJSONLine(t *testing.T) {
	e := Event{Time: time.Unix(1700000000, 500000000), Body: map[string]any{
		"log": "a <b> & c", "n": int64(3), "bin": []byte("hi"), "t": time.Unix(1, 250000000),
	}}
	line, err := e.AppendJSONLine([]byte("prefix "), "date")
	if err != nil {
		t.Fatal(err)
	}
	want := `prefix {"date":1700000000.5,"bin":"aGk=","log":"a <b> & c","n":3,"t":1.25}` + "\n"
	if string(line) != want {
		t.Errorf("got  %s\nwant %s", line, want)
	}
	line, _ = e.AppendJSONLine(nil, "")
	if !strings.HasPrefix(string(line), `{"bin":`) {
		t.Errorf("no date key: %s", line)
	}
	// A body key of the same name wins.
	line, _ = Event{Time: time.Unix(5, 0), Body: map[string]any{"date": "mine"}}.AppendJSONLine(nil, "date")
	if string(line) != `{"date":"mine"}`+"\n" {
		t.Errorf("shadowed: %s", line)
	}
	line, _ = Event{Time: time.Unix(5, 0)}.AppendJSONLine(nil, "date")
	if string(line) != `{"date":5}`+"\n" {
		t.Errorf("empty body: %s", line)
	}
}
