package sluice

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Chunk is one send from sluice: a batch of events with one tag.
type Chunk struct {
	// ID is unique, also across sluice restarts, and the same when the chunk
	// is sent again: use it as an idempotency key.
	ID  string
	Tag string
	// Attempt is 1 on the first delivery, 2 on the first retry, ... Only
	// RETRY answers raise it.
	Attempt int
	// Count is the number of events in Data.
	Count int
	// Data holds the events as MessagePack (docs/protocol.md §8). Forward it
	// untouched when you can.
	Data []byte

	once   sync.Once
	events []Event
	err    error
}

// Events decodes Data on its first call and returns the same result on every
// call (safe for concurrent use). A malformed chunk gives a *DecodeError.
func (c *Chunk) Events() ([]Event, error) {
	c.once.Do(func() { c.events, c.err = DecodeEvents(c.Data) })
	return c.events, c.err
}

// Event is one decoded event.
type Event struct {
	// Time is the event's time, in UTC, to the nanosecond.
	Time time.Time
	// Metadata is empty unless an input set it.
	Metadata map[string]any
	// Body is the record, e.g. {"log": "the line"} from tail.
	Body map[string]any
}

// DecodeError says where a chunk's bytes stopped making sense.
type DecodeError struct {
	Offset int    // the byte offset of the event that failed
	Reason string // what was wrong
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s at byte offset %d", e.Reason, e.Offset)
}

// eventTimeExt is MessagePack's extension type for Fluent Bit's EventTime:
// 8 bytes, uint32 big-endian seconds then uint32 big-endian nanoseconds.
const eventTimeExt = 0

// DecodeEvents decodes a chunk's events: MessagePack values one after the
// other, each [[EventTime, metadata], body] (Fluent Bit's v2 shape) or
// [time, body] (v1), where time is an EventTime, an integer or a float.
func DecodeEvents(data []byte) ([]Event, error) {
	var out []Event
	r := bytes.NewReader(data)
	d := msgpack.NewDecoder(r)
	for r.Len() > 0 {
		offset := len(data) - r.Len()
		e, err := decodeEvent(d)
		if err != nil {
			if de, ok := err.(*DecodeError); ok {
				de.Offset = offset
				return nil, de
			}
			return nil, &DecodeError{Offset: offset, Reason: fmt.Sprintf("malformed MessagePack (%v)", err)}
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeEvent(d *msgpack.Decoder) (Event, error) {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return Event{}, err
	}
	if n != 2 {
		return Event{}, &DecodeError{Reason: "event must be a 2-element array [header, body]"}
	}
	var e Event
	c, err := d.PeekCode()
	if err != nil {
		return Event{}, err
	}
	if msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32 {
		hn, err := d.DecodeArrayLen()
		if err != nil {
			return Event{}, err
		}
		if hn < 1 {
			return Event{}, &DecodeError{Reason: "event header must be [time, metadata]"}
		}
		if e.Time, err = decodeTime(d); err != nil {
			return Event{}, err
		}
		if hn >= 2 {
			meta, err := decodeValue(d)
			if err != nil {
				return Event{}, err
			}
			if m, ok := meta.(map[string]any); ok {
				e.Metadata = m
			}
			for i := 2; i < hn; i++ {
				if err := d.Skip(); err != nil {
					return Event{}, err
				}
			}
		}
	} else if e.Time, err = decodeTime(d); err != nil {
		return Event{}, err
	}
	if e.Metadata == nil {
		e.Metadata = map[string]any{}
	}
	body, err := decodeValue(d)
	if err != nil {
		return Event{}, err
	}
	m, ok := body.(map[string]any)
	if !ok {
		return Event{}, &DecodeError{Reason: "event body must be a map"}
	}
	e.Body = m
	return e, nil
}

func decodeTime(d *msgpack.Decoder) (time.Time, error) {
	v, err := decodeValue(d)
	if err != nil {
		return time.Time{}, err
	}
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case uint64:
		if x > math.MaxInt64 {
			break
		}
		return time.Unix(int64(x), 0).UTC(), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break
		}
		sec := math.Floor(x)
		return time.Unix(int64(sec), int64(math.Round((x-sec)*1e9))).UTC(), nil
	}
	return time.Time{}, &DecodeError{Reason: fmt.Sprintf("event time must be an EventTime, integer or float, got %T", v)}
}

// decodeValue decodes any MessagePack value into plain Go values: nil,
// bool, int64 (uint64 when it does not fit), float64, string, []byte, []any,
// map[string]any (other keys are spelled with fmt.Sprint), time.Time for an
// EventTime, and msgpack.RawMessage for another extension.
func decodeValue(d *msgpack.Decoder) (any, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return d.DecodeBool()
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64,
		c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32:
		return d.DecodeInt64()
	case c == msgpcode.Uint64:
		u, err := d.DecodeUint64()
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case c == msgpcode.Float || c == msgpcode.Double:
		return d.DecodeFloat64()
	case msgpcode.IsString(c):
		return d.DecodeString()
	case msgpcode.IsBin(c):
		return d.DecodeBytes()
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, n)
		for i := 0; i < n; i++ {
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, n)
		for i := 0; i < n; i++ {
			k, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			switch ks := k.(type) {
			case string:
				out[ks] = v
			case []byte:
				out[string(ks)] = v
			default:
				out[fmt.Sprint(k)] = v
			}
		}
		return out, nil
	case msgpcode.IsExt(c):
		id, n, err := d.DecodeExtHeader()
		if err != nil {
			return nil, err
		}
		payload := make([]byte, n)
		if err := d.ReadFull(payload); err != nil {
			return nil, err
		}
		if id == eventTimeExt {
			if n != 8 {
				return nil, &DecodeError{Reason: fmt.Sprintf("EventTime extension must be 8 bytes, got %d", n)}
			}
			sec := binary.BigEndian.Uint32(payload[0:4])
			nsec := binary.BigEndian.Uint32(payload[4:8])
			return time.Unix(int64(sec), int64(nsec)).UTC(), nil
		}
		return msgpack.RawMessage(payload), nil
	}
	return nil, fmt.Errorf("unknown MessagePack code 0x%02x", c)
}

// EncodeEvents encodes events in Fluent Bit's v2 shape, one after the other,
// as sluice sends them: for tests, and for plugins that pass events on. A
// nil Metadata or Body is written as an empty map. Times before 1970 or after
// 2106 do not fit an EventTime and give an error.
func EncodeEvents(events ...Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	for _, e := range events {
		if err := enc.EncodeArrayLen(2); err != nil {
			return nil, err
		}
		if err := enc.EncodeArrayLen(2); err != nil {
			return nil, err
		}
		if err := encodeTime(enc, e.Time); err != nil {
			return nil, err
		}
		for _, m := range []map[string]any{e.Metadata, e.Body} {
			if m == nil {
				m = map[string]any{}
			}
			if err := encodeValue(enc, m); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), nil
}

func encodeTime(enc *msgpack.Encoder, t time.Time) error {
	sec := t.Unix()
	if sec < 0 || sec > math.MaxUint32 {
		return fmt.Errorf("time %s does not fit an EventTime", t.Format(time.RFC3339Nano))
	}
	if err := enc.EncodeExtHeader(eventTimeExt, 8); err != nil {
		return err
	}
	var b [8]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(sec))
	binary.BigEndian.PutUint32(b[4:8], uint32(t.Nanosecond()))
	_, err := enc.Writer().Write(b[:])
	return err
}

func encodeValue(enc *msgpack.Encoder, v any) error {
	switch x := v.(type) {
	case time.Time:
		return encodeTime(enc, x)
	case map[string]any:
		if err := enc.EncodeMapLen(len(x)); err != nil {
			return err
		}
		for _, k := range sortedKeys(x) {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := encodeValue(enc, x[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, item := range x {
			if err := encodeValue(enc, item); err != nil {
				return err
			}
		}
		return nil
	}
	return enc.Encode(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// UnixSeconds is the time as seconds since the epoch with a fraction, as
// Fluent Bit's json_date_format "double" writes it.
func UnixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// AppendJSONLine appends the event to dst as one JSON line (with "\n"): the
// body's keys in sorted order, and, unless dateKey is "", the time under
// dateKey as seconds with a fraction, first (a body key of the same name
// wins). []byte values are written in base64, an EventTime in a body as its
// seconds. It is the TypeScript SDK's toJsonLine.
func (e Event) AppendJSONLine(dst []byte, dateKey string) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	if _, shadowed := e.Body[dateKey]; dateKey != "" && !shadowed {
		dst = appendJSON(dst, dateKey)
		dst = append(dst, ':')
		dst = strconv.AppendFloat(dst, UnixSeconds(e.Time), 'f', -1, 64)
		first = false
	}
	for _, k := range sortedKeys(e.Body) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSON(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendJSONValue(dst, jsonValue(e.Body[k])); err != nil {
			return dst, fmt.Errorf("event body key %q: %v", k, err)
		}
	}
	return append(dst, '}', '\n'), nil
}

func appendJSON(dst []byte, s string) []byte {
	dst, _ = appendJSONValue(dst, s)
	return dst
}

// appendJSONValue writes v as JSON.stringify would: no escaping of <, > and &.
func appendJSONValue(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...), nil
}

// jsonValue makes decoded values JSON-friendly: EventTimes as seconds,
// other extensions as base64 of their payload, non-finite floats as null.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return UnixSeconds(x)
	case msgpack.RawMessage:
		return []byte(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[k] = jsonValue(item)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = jsonValue(item)
		}
		return out
	}
	return v
}
