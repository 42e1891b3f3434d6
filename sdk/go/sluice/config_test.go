package sluice

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Path     string            `sluice:"path,required" desc:"File to append to"`
	Mode     string            `sluice:"mode" default:"append" oneof:"append,truncate" desc:"How to open"`
	Sync     bool              `sluice:"sync" default:"off" desc:"fsync"`
	Workers  int               `sluice:"workers" default:"2" min:"1" desc:"How many"`
	Big      int64             `desc:"untagged: named big"`
	Port     uint16            `sluice:"port" desc:"A port"`
	Ratio    float64           `sluice:"ratio" default:"0.5" desc:"A ratio"`
	Timeout  time.Duration     `sluice:"timeout" default:"5s" min:"1ms" desc:"Per request"`
	Buffer   Size              `sluice:"buffer" default:"2M" desc:"Buffer size"`
	Fields   []string          `sluice:"fields" default:"a, b" desc:"Fields"`
	Headers  map[string]string `sluice:"headers" desc:"Headers"`
	Extra    map[string]any    `sluice:"extra" default:"{\"x\":1}" desc:"Anything"`
	Anything any               `sluice:"anything" desc:"Anything at all"`
	Token    string            `sluice:"token,secret" desc:"API token"`
	JSONDate string            `desc:"untagged: named json_date"`
	Skipped  string            `sluice:"-"`
	hidden   string
}

func mustSpec(t *testing.T) *configSpec {
	t.Helper()
	spec, err := specOf(reflect.TypeOf(testConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func applyJSON(t *testing.T, spec *configSpec, text string) (*testConfig, []*ConfigError) {
	t.Helper()
	keys, raw, err := parseConfigJSON(text)
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	v, errs := spec.apply(keys, raw)
	return v.Interface().(*testConfig), errs
}

func errMap(errs []*ConfigError) map[string]string {
	m := map[string]string{}
	for _, e := range errs {
		m[e.Key] = e.Message
	}
	return m
}

func TestDescribeFromTags(t *testing.T) {
	keys := mustSpec(t).describe()
	byName := map[string]int{}
	for i, k := range keys {
		byName[k.Name] = i
	}
	want := []struct {
		name, typ, def   string
		required, secret bool
	}{
		{"path", "string", "", true, false},
		{"mode", "string", "append", false, false},
		{"sync", "bool", "off", false, false},
		{"workers", "int", "2", false, false},
		{"big", "int", "", false, false},
		{"port", "int", "", false, false},
		{"ratio", "float", "0.5", false, false},
		{"timeout", "duration", "5s", false, false},
		{"buffer", "size", "2M", false, false},
		{"fields", "list", "a, b", false, false},
		{"headers", "map", "", false, false},
		{"extra", "map", `{"x":1}`, false, false},
		{"anything", "any", "", false, false},
		{"token", "string", "", false, true},
		{"json_date", "string", "", false, false},
	}
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d: %v", len(keys), len(want), keys)
	}
	for i, w := range want {
		k := keys[i]
		if k.Name != w.name || k.Type != w.typ || k.Default != w.def || k.Required != w.required || k.Secret != w.secret {
			t.Errorf("key %d: got %+v, want %+v", i, k, w)
		}
	}
	if keys[byName["path"]].Description != "File to append to" {
		t.Errorf("description: %q", keys[byName["path"]].Description)
	}
}

func TestDefaults(t *testing.T) {
	c, errs := applyJSON(t, mustSpec(t), `{"path": "/tmp/x"}`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := testConfig{
		Path: "/tmp/x", Mode: "append", Sync: false, Workers: 2, Ratio: 0.5, Timeout: 5 * time.Second,
		Buffer: 2 * MiB, Fields: []string{"a", "b"}, Extra: map[string]any{"x": int64(1)},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got %+v\nwant %+v", *c, want)
	}
	// Each config gets its own copy of a default list or map.
	c.Fields[0] = "changed"
	c.Extra["x"] = "changed"
	c2, _ := applyJSON(t, mustSpec(t), `{"path": "/tmp/x"}`)
	if c2.Fields[0] != "a" || c2.Extra["x"] != int64(1) {
		t.Errorf("defaults are shared: %+v", c2)
	}
}

func TestValuesAsYAMLGivesThem(t *testing.T) {
	c, errs := applyJSON(t, mustSpec(t), `{
		"path": 42, "mode": "truncate", "sync": "On", "workers": "7", "big": 9007199254740993,
		"port": 8080, "ratio": "1.25", "timeout": "500ms", "buffer": "512K", "fields": "x y,z",
		"headers": {"Authorization": "Bearer t", "X-N": 5, "X-B": true}, "anything": [1, "two"], "token": "s3cret",
		"json_date": "d"
	}`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := testConfig{
		Path: "42", Mode: "truncate", Sync: true, Workers: 7, Big: 9007199254740993, Port: 8080, Ratio: 1.25,
		Timeout: 500 * time.Millisecond, Buffer: 512 * KiB, Fields: []string{"x", "y", "z"},
		Headers:  map[string]string{"Authorization": "Bearer t", "X-N": "5", "X-B": "true"},
		Extra:    map[string]any{"x": int64(1)},
		Anything: []any{int64(1), "two"}, Token: "s3cret", JSONDate: "d",
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got %+v\nwant %+v", *c, want)
	}
}

func TestBooleans(t *testing.T) {
	spec := mustSpec(t)
	for text, want := range map[string]bool{
		`true`: true, `false`: false, `"on"`: true, `"OFF"`: false, `"yes"`: true, `"No"`: false,
		`"1"`: true, `"0"`: false, `1`: true, `0`: false, `" true "`: true,
	} {
		c, errs := applyJSON(t, spec, `{"path":"p","sync":`+text+`}`)
		if len(errs) > 0 || c.Sync != want {
			t.Errorf("sync %s: got %v %v, want %v", text, c.Sync, errs, want)
		}
	}
	_, errs := applyJSON(t, spec, `{"path":"p","sync":"maybe"}`)
	if got := errMap(errs)["sync"]; got != `must be a boolean (true/false/on/off), got "maybe"` {
		t.Errorf("sync maybe: %q", got)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`5`: 5 * time.Second, `1.5`: 1500 * time.Millisecond, `"5s"`: 5 * time.Second, `"250ms"`: 250 * time.Millisecond,
		`"2m"`: 2 * time.Minute, `"1h"`: time.Hour, `"0.5s"`: 500 * time.Millisecond, `"10"`: 10 * time.Second, `" 3 S "`: 3 * time.Second,
	} {
		d, ok := parseDuration(mustRaw(t, in))
		if !ok || d != want {
			t.Errorf("duration %s: got %v %v, want %v", in, d, ok, want)
		}
	}
	for _, in := range []string{`"5 seconds"`, `"1h30m"`, `"-5s"`, `true`, `""`} {
		if d, ok := parseDuration(mustRaw(t, in)); ok {
			t.Errorf("duration %s: accepted as %v", in, d)
		}
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]Size{
		`1024`: 1024, `"512K"`: 512 * KiB, `"2M"`: 2 * MiB, `"2MB"`: 2 * MiB, `"2MiB"`: 2 * MiB, `"1G"`: GiB,
		`"1.5k"`: 1536, `"100"`: 100, `"7b"`: 7, `10.9`: 10,
	} {
		s, ok := parseSize(mustRaw(t, in))
		if !ok || s != want {
			t.Errorf("size %s: got %v %v, want %v", in, s, ok, want)
		}
	}
	for _, in := range []string{`"2T"`, `-1`, `"lots"`, `false`} {
		if s, ok := parseSize(mustRaw(t, in)); ok {
			t.Errorf("size %s: accepted as %v", in, s)
		}
	}
	if s := (2 * MiB).String(); s != "2M" {
		t.Errorf("Size.String: %s", s)
	}
	if s := Size(1000).String(); s != "1000" {
		t.Errorf("Size.String: %s", s)
	}
}

func mustRaw(t *testing.T, text string) any {
	t.Helper()
	_, raw, err := parseConfigJSON(`{"v":` + text + `}`)
	if err != nil {
		t.Fatal(err)
	}
	return raw["v"]
}

func TestLists(t *testing.T) {
	spec := mustSpec(t)
	for text, want := range map[string][]string{
		`["a", "b"]`:  {"a", "b"},
		`[1, true]`:   {"1", "true"},
		`"a,b c"`:     {"a", "b", "c"},
		`" a , , b "`: {"a", "b"},
		`""`:          {},
	} {
		c, errs := applyJSON(t, spec, `{"path":"p","fields":`+text+`}`)
		if len(errs) > 0 || !reflect.DeepEqual(c.Fields, want) {
			t.Errorf("fields %s: got %#v %v, want %#v", text, c.Fields, errs, want)
		}
	}
	_, errs := applyJSON(t, spec, `{"path":"p","fields":{"a":1}}`)
	if got := errMap(errs)["fields"]; got != "must be a list, got a map" {
		t.Errorf("fields map: %q", got)
	}
}

func TestErrorsKeyByKey(t *testing.T) {
	_, errs := applyJSON(t, mustSpec(t), `{
		"mod": "x", "workers": 1.5, "ratio": "lots", "timeout": "soon", "buffer": "big", "headers": [1],
		"mode": "replace", "port": 70000, "sync": null, "sluice_check_unknown_key": 1, "extra": "notamap"
	}`)
	got := errMap(errs)
	want := map[string]string{
		"mod":                      `unknown key; did you mean "mode"?`,
		"workers":                  `must be an integer, got 1.5`,
		"ratio":                    `must be a number, got "lots"`,
		"timeout":                  `must be a duration in seconds or like "500ms", "5s", "2m", got "soon"`,
		"buffer":                   `must be a size in bytes or like "512K", "2M", "1G", got "big"`,
		"headers":                  `must be a map, got a list`,
		"mode":                     `must be one of append, truncate, got "replace"`,
		"port":                     `is out of range for uint16, got 70000`,
		"sluice_check_unknown_key": `unknown key; known keys: anything, big, buffer, extra, fields, headers, json_date, mode, path, port, ratio, sync, timeout, token, workers`,
		"extra":                    `must be a map, got string "notamap"`,
		"path":                     `required key is missing`,
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range got {
			if want[k] != v {
				t.Errorf("%s: got %q, want %q", k, v, want[k])
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: no error", k)
			}
		}
	}
	// In the order the user wrote the keys, then the missing required ones.
	if errs[0].Key != "mod" || errs[len(errs)-1].Key != "path" {
		t.Errorf("order: %v", errs)
	}
}

func TestMin(t *testing.T) {
	spec := mustSpec(t)
	_, errs := applyJSON(t, spec, `{"path":"p","workers":0,"timeout":"0s"}`)
	got := errMap(errs)
	if got["workers"] != "must be at least 1, got 0" || got["timeout"] != "must be at least 1ms, got 0s" {
		t.Errorf("min: %v", got)
	}
}

func TestBadConfigJSON(t *testing.T) {
	for _, text := range []string{`[1]`, `{"a":`, `"x"`} {
		if _, _, err := parseConfigJSON(text); err == nil {
			t.Errorf("%s: accepted", text)
		}
	}
	if keys, raw, err := parseConfigJSON(`null`); err != nil || len(keys) != 0 || len(raw) != 0 {
		t.Errorf("null: %v %v %v", keys, raw, err)
	}
}

func TestSpecMistakes(t *testing.T) {
	cases := map[string]any{
		"has type": struct{ C chan int }{},
		"unknown flag": struct {
			A string `sluice:"a,requierd"`
		}{},
		"bad default": struct {
			D time.Duration `default:"soon"`
		}{},
		"declared twice": struct {
			A string `sluice:"x"`
			B string `sluice:"x"`
		}{},
		"oneof is for string": struct {
			N int `oneof:"1,2"`
		}{},
		"must be a struct": 5,
	}
	for want, v := range cases {
		_, err := specOf(reflect.TypeOf(v))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%T: got %v, want an error with %q", v, err, want)
		}
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"URL": "url", "JSONDateKey": "json_date_key", "RetryAfter": "retry_after", "Path": "path",
		"HTTPTimeout": "http_timeout", "Level2Name": "level2_name", "ID": "id",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	known := []string{"path", "mode", "json_date_key", "sync"}
	for in, want := range map[string]string{"pth": "path", "Mode": "mode", "json_dat_key": "json_date_key", "json_date": "", "zzzzzz": ""} {
		if got := didYouMean(in, known); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
	if got := unknownKeyMessage("x", nil); got != "unknown key; this takes no keys" {
		t.Errorf("no keys: %q", got)
	}
}

func TestConfigErrorsOf(t *testing.T) {
	if got := configErrorsOf(KeyError("path", "bad %d", 1)); len(got) != 1 || got[0].Key != "path" || got[0].Message != "bad 1" {
		t.Errorf("KeyError: %v", got)
	}
	if got := configErrorsOf(ConfigErrors{KeyError("a", "x"), KeyError("b", "y")}); len(got) != 2 || got[1].Key != "b" {
		t.Errorf("ConfigErrors: %v", got)
	}
	if got := configErrorsOf(errString("whole")); len(got) != 1 || got[0].Key != "" || got[0].Message != "whole" {
		t.Errorf("plain error: %v", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
