package sluice

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	pb "sluice.dev/sdk/go/pluginv1"
)

// NoConfig is the config of a plugin that takes no keys.
type NoConfig struct{}

// Size is a number of bytes. In the config it is a number, or a string like
// "512K", "2M", "2MB", "2MiB", "1G" (powers of 1024, as Fluent Bit).
type Size int64

const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// String spells the size as the config would: "2M", "512K", "100".
func (s Size) String() string {
	switch {
	case s != 0 && s%GiB == 0:
		return strconv.FormatInt(int64(s/GiB), 10) + "G"
	case s != 0 && s%MiB == 0:
		return strconv.FormatInt(int64(s/MiB), 10) + "M"
	case s != 0 && s%KiB == 0:
		return strconv.FormatInt(int64(s/KiB), 10) + "K"
	}
	return strconv.FormatInt(int64(s), 10)
}

// ConfigError refuses one key of a config (Key "" for the config as a whole).
type ConfigError struct {
	Key     string
	Message string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return e.Message
	}
	return e.Key + ": " + e.Message
}

// KeyError refuses one key, with a message formatted as fmt.Sprintf does.
// Return it from Validate or Configure.
func KeyError(key, format string, args ...any) *ConfigError {
	return &ConfigError{Key: key, Message: fmt.Sprintf(format, args...)}
}

// ConfigErrors refuses several keys at once. Return it from Validate or
// Configure (a nil or empty ConfigErrors refuses nothing only when returned
// as a nil error: return nil when all is well).
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// configErrorsOf turns what a hook returned into per-key errors.
func configErrorsOf(err error) []*ConfigError {
	var many ConfigErrors
	if errors.As(err, &many) && len(many) > 0 {
		return many
	}
	var one *ConfigError
	if errors.As(err, &one) && one != nil {
		return []*ConfigError{one}
	}
	return []*ConfigError{{Key: "", Message: err.Error()}}
}

// ---- the spec, read from the struct's tags ----

type keyType string

const (
	typeString   keyType = "string"
	typeInt      keyType = "int"
	typeFloat    keyType = "float"
	typeBool     keyType = "bool"
	typeDuration keyType = "duration"
	typeSize     keyType = "size"
	typeList     keyType = "list"
	typeMap      keyType = "map"
	typeAny      keyType = "any"
)

type keySpec struct {
	name        string
	typ         keyType
	index       []int
	fieldType   reflect.Type
	description string
	defaultText string
	hasDefault  bool
	defaultVal  reflect.Value // the parsed default, of fieldType
	required    bool
	secret      bool
	oneOf       []string
	min         *float64 // in the key's unit: seconds for a duration, bytes for a size
	minText     string
}

type configSpec struct {
	typ  reflect.Type
	keys []*keySpec
	by   map[string]*keySpec
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	sizeType     = reflect.TypeOf(Size(0))
)

func typeOfField(t reflect.Type) (keyType, bool) {
	switch t {
	case durationType:
		return typeDuration, true
	case sizeType:
		return typeSize, true
	}
	switch t.Kind() {
	case reflect.String:
		return typeString, true
	case reflect.Bool:
		return typeBool, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return typeInt, true
	case reflect.Float32, reflect.Float64:
		return typeFloat, true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return typeList, true
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && (t.Elem().Kind() == reflect.String || t.Elem().Kind() == reflect.Interface && t.Elem().NumMethod() == 0) {
			return typeMap, true
		}
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return typeAny, true
		}
	}
	return "", false
}

// snakeCase turns a Go field name into a key name: URL → url, JSONDateKey →
// json_date_key, RetryAfter → retry_after.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// specOf reads the config spec from a struct type; an error is the plugin
// author's mistake and stops the plugin at start.
func specOf(t reflect.Type) (*configSpec, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("sluice: the config type %s must be a struct", t)
	}
	spec := &configSpec{typ: t, by: map[string]*keySpec{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("sluice")
		if tag == "-" || !f.IsExported() {
			continue
		}
		parts := strings.Split(tag, ",")
		name := strings.TrimSpace(parts[0])
		if !tagged || name == "" {
			name = snakeCase(f.Name)
		}
		k := &keySpec{name: name, index: f.Index, fieldType: f.Type, description: f.Tag.Get("desc")}
		for _, flag := range parts[1:] {
			switch strings.TrimSpace(flag) {
			case "required":
				k.required = true
			case "secret":
				k.secret = true
			case "":
			default:
				return nil, fmt.Errorf("sluice: config field %s: unknown flag %q in its sluice tag (known: required, secret)", f.Name, flag)
			}
		}
		typ, ok := typeOfField(f.Type)
		if !ok {
			return nil, fmt.Errorf("sluice: config field %s has type %s, which the SDK cannot fill; use string, bool, an integer or float type, time.Duration, sluice.Size, []string, map[string]string, map[string]any or any", f.Name, f.Type)
		}
		k.typ = typ
		if _, dup := spec.by[name]; dup {
			return nil, fmt.Errorf("sluice: config key %q is declared twice", name)
		}
		if oneOf, ok := f.Tag.Lookup("oneof"); ok {
			if typ != typeString {
				return nil, fmt.Errorf("sluice: config field %s: oneof is for string keys", f.Name)
			}
			for _, v := range strings.Split(oneOf, ",") {
				k.oneOf = append(k.oneOf, strings.TrimSpace(v))
			}
		}
		if minText, ok := f.Tag.Lookup("min"); ok {
			var m float64
			var err error
			switch typ {
			case typeInt, typeFloat:
				m, err = strconv.ParseFloat(strings.TrimSpace(minText), 64)
			case typeDuration:
				d, ok := parseDuration(minText)
				m, err = d.Seconds(), okErr(ok)
			case typeSize:
				s, ok := parseSize(minText)
				m, err = float64(s), okErr(ok)
			default:
				err = errors.New("min is for numbers, durations and sizes")
			}
			if err != nil {
				return nil, fmt.Errorf("sluice: config field %s: bad min %q: %v", f.Name, minText, err)
			}
			k.min, k.minText = &m, minText
		}
		if def, ok := f.Tag.Lookup("default"); ok {
			k.hasDefault, k.defaultText = true, def
			var raw any = def
			if typ == typeMap || typ == typeAny {
				var v any
				d := json.NewDecoder(strings.NewReader(def))
				d.UseNumber()
				if err := d.Decode(&v); err == nil {
					raw = normalizeJSON(v)
				} else if typ == typeMap {
					return nil, fmt.Errorf("sluice: config field %s: the default of a map is a JSON object, got %q", f.Name, def)
				}
			}
			v, msg := k.coerce(raw)
			if msg != "" {
				return nil, fmt.Errorf("sluice: config field %s: bad default %q: %s", f.Name, def, msg)
			}
			k.defaultVal = v
		}
		spec.keys = append(spec.keys, k)
		spec.by[name] = k
	}
	return spec, nil
}

func okErr(ok bool) error {
	if ok {
		return nil
	}
	return errors.New("not understood")
}

func (s *configSpec) describe() []*pb.ConfigKey {
	out := make([]*pb.ConfigKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, &pb.ConfigKey{
			Name: k.name, Type: string(k.typ), Default: k.defaultText, Required: k.required, Secret: k.secret, Description: k.description,
		})
	}
	return out
}

func (s *configSpec) names() []string {
	names := make([]string, len(s.keys))
	for i, k := range s.keys {
		names[i] = k.name
	}
	return names
}

// ---- checking a config ----

// parseConfigJSON reads Configure's config_json, keeping the keys' order so
// that errors come in the order the user wrote the keys.
func parseConfigJSON(text string) (keys []string, values map[string]any, err error) {
	values = map[string]any{}
	if strings.TrimSpace(text) == "" {
		return nil, values, nil
	}
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("config_json is not JSON: %v", err)
	}
	if tok == nil {
		return nil, values, nil // null: no keys
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, nil, fmt.Errorf("config_json must be a JSON object")
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("config_json is not JSON: %v", err)
		}
		key := tok.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("config_json is not JSON: %v", err)
		}
		if _, seen := values[key]; !seen {
			keys = append(keys, key)
		}
		values[key] = normalizeJSON(v)
	}
	if _, err := d.Token(); err != nil {
		return nil, nil, fmt.Errorf("config_json is not JSON: %v", err)
	}
	return keys, values, nil
}

// normalizeJSON turns json.Number into int64 (when it is one) or float64.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeJSON(x[k])
		}
	}
	return v
}

// apply checks a config against the spec: converts the types, fills in
// defaults, and reports unknown keys (with a "did you mean"), wrong types and
// missing required keys, key by key. It returns a pointer to a new value of
// the config struct.
func (s *configSpec) apply(keys []string, raw map[string]any) (reflect.Value, []*ConfigError) {
	out := reflect.New(s.typ)
	var errs []*ConfigError
	set := map[string]bool{}
	failed := map[string]bool{}
	for _, key := range keys {
		v := raw[key]
		k := s.by[key]
		if k == nil {
			errs = append(errs, &ConfigError{Key: key, Message: unknownKeyMessage(key, s.names())})
			continue
		}
		if v == nil {
			continue
		}
		val, msg := k.coerce(v)
		if msg != "" {
			errs = append(errs, &ConfigError{Key: key, Message: msg})
			failed[key] = true
			continue
		}
		out.Elem().FieldByIndex(k.index).Set(val)
		set[key] = true
	}
	for _, k := range s.keys {
		if set[k.name] || failed[k.name] {
			continue
		}
		if k.hasDefault {
			out.Elem().FieldByIndex(k.index).Set(copyValue(k.defaultVal))
		} else if k.required {
			errs = append(errs, &ConfigError{Key: k.name, Message: "required key is missing"})
		}
	}
	return out, errs
}

// copyValue gives each config its own copy of a default list or map.
func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			c.SetMapIndex(iter.Key(), iter.Value())
		}
		return c
	}
	return v
}

// jsString spells a scalar as JavaScript's String() does, as the TypeScript
// SDK sees it.
func jsString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		if math.Abs(x) < 1e21 {
			return strconv.FormatFloat(x, 'f', -1, 64), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// quote spells a value as JSON.stringify does (no escaping of <, > and &).
func quote(v any) string {
	b, err := appendJSONValue(nil, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case string:
		return "string " + quote(x)
	case bool:
		return "boolean " + quote(x)
	case int64, float64:
		return "number " + quote(x)
	}
	return fmt.Sprintf("%T", v)
}

var (
	trueWords  = map[string]bool{"true": true, "on": true, "yes": true, "1": true}
	falseWords = map[string]bool{"false": true, "off": true, "no": true, "0": true}
)

// parseBool reads Fluent Bit's booleans: true/false, on/off, yes/no, 1/0, in
// any case.
func parseBool(v any) (bool, bool) {
	if b, ok := v.(bool); ok {
		return b, true
	}
	s, ok := jsString(v)
	if !ok {
		return false, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if trueWords[s] {
		return true, true
	}
	if falseWords[s] {
		return false, true
	}
	return false, false
}

var durationRe = regexp.MustCompile(`(?i)^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$`)

// parseDuration reads seconds as a number, or "250ms", "5s", "2m", "1h".
func parseDuration(v any) (time.Duration, bool) {
	var secs float64
	switch x := v.(type) {
	case int64:
		secs = float64(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false
		}
		secs = x
	case string:
		m := durationRe.FindStringSubmatch(x)
		if m == nil {
			return 0, false
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]float64{"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}[strings.ToLower(m[2])]
		secs = n * unit
	default:
		return 0, false
	}
	ns := math.Round(secs * 1e9)
	if math.Abs(ns) > math.MaxInt64 {
		return 0, false
	}
	return time.Duration(ns), true
}

var sizeRe = regexp.MustCompile(`(?i)^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$`)

// parseSize reads bytes as a number, or "512K", "2M", "2MB", "2MiB", "1G".
func parseSize(v any) (Size, bool) {
	var n float64
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, false
		}
		return Size(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return 0, false
		}
		n = x
	case string:
		m := sizeRe.FindStringSubmatch(x)
		if m == nil {
			return 0, false
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		n = f * map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[strings.ToLower(m[2])]
	default:
		return 0, false
	}
	n = math.Floor(n)
	if n > math.MaxInt64 {
		return 0, false
	}
	return Size(n), true
}

var listSplit = regexp.MustCompile(`[,\s]+`)

// number reads a number, or a string of one.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// coerce converts a raw value (from JSON, or a default's text) to the
// field's type; a non-empty message says what is wrong.
func (k *keySpec) coerce(v any) (reflect.Value, string) {
	t := k.fieldType
	switch k.typ {
	case typeAny:
		out := reflect.New(t).Elem()
		if v != nil {
			out.Set(reflect.ValueOf(v))
		}
		return out, ""
	case typeString:
		s, ok := jsString(v)
		if !ok {
			return reflect.Value{}, "must be a string, got " + describeValue(v)
		}
		if k.oneOf != nil && !contains(k.oneOf, s) {
			return reflect.Value{}, fmt.Sprintf("must be one of %s, got %s", strings.Join(k.oneOf, ", "), quote(s))
		}
		return reflect.ValueOf(s).Convert(t), ""
	case typeBool:
		b, ok := parseBool(v)
		if !ok {
			return reflect.Value{}, "must be a boolean (true/false/on/off), got " + quote(v)
		}
		return reflect.ValueOf(b).Convert(t), ""
	case typeInt:
		var i int64
		var u uint64
		isBig := false
		switch x := v.(type) {
		case int64:
			i = x
		default:
			f, ok := number(v)
			if !ok || f != math.Trunc(f) {
				return reflect.Value{}, "must be an integer, got " + quote(v)
			}
			if f >= math.MaxInt64 {
				if f >= math.MaxUint64 {
					return reflect.Value{}, fmt.Sprintf("is out of range for %s, got %s", t, quote(v))
				}
				u, isBig = uint64(f), true
			} else if f < math.MinInt64 {
				return reflect.Value{}, fmt.Sprintf("is out of range for %s, got %s", t, quote(v))
			} else {
				i = int64(f)
			}
		}
		if !isBig {
			if msg := k.checkMin(float64(i)); msg != "" {
				return reflect.Value{}, msg
			}
		}
		out := reflect.New(t).Elem()
		switch t.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if !isBig {
				if i < 0 {
					return reflect.Value{}, fmt.Sprintf("must be at least 0, got %d", i)
				}
				u = uint64(i)
			}
			if out.OverflowUint(u) {
				return reflect.Value{}, fmt.Sprintf("is out of range for %s, got %s", t, quote(v))
			}
			out.SetUint(u)
		default:
			if isBig || out.OverflowInt(i) {
				return reflect.Value{}, fmt.Sprintf("is out of range for %s, got %s", t, quote(v))
			}
			out.SetInt(i)
		}
		return out, ""
	case typeFloat:
		f, ok := number(v)
		if !ok {
			return reflect.Value{}, "must be a number, got " + quote(v)
		}
		if msg := k.checkMin(f); msg != "" {
			return reflect.Value{}, msg
		}
		out := reflect.New(t).Elem()
		out.SetFloat(f)
		return out, ""
	case typeDuration:
		d, ok := parseDuration(v)
		if !ok {
			return reflect.Value{}, `must be a duration in seconds or like "500ms", "5s", "2m", got ` + quote(v)
		}
		if k.min != nil && d.Seconds() < *k.min {
			return reflect.Value{}, fmt.Sprintf("must be at least %s, got %s", k.minText, d)
		}
		return reflect.ValueOf(d).Convert(t), ""
	case typeSize:
		s, ok := parseSize(v)
		if !ok {
			return reflect.Value{}, `must be a size in bytes or like "512K", "2M", "1G", got ` + quote(v)
		}
		if k.min != nil && float64(s) < *k.min {
			return reflect.Value{}, fmt.Sprintf("must be at least %s, got %s", k.minText, s)
		}
		return reflect.ValueOf(s).Convert(t), ""
	case typeList:
		var items []string
		switch x := v.(type) {
		case []any:
			items = make([]string, 0, len(x))
			for _, item := range x {
				s, ok := jsString(item)
				if !ok {
					return reflect.Value{}, "must be a list of strings, got " + describeValue(item) + " in it"
				}
				items = append(items, s)
			}
		case string:
			items = []string{}
			for _, s := range listSplit.Split(x, -1) {
				if s != "" {
					items = append(items, s)
				}
			}
		default:
			return reflect.Value{}, "must be a list, got " + describeValue(v)
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, s := range items {
			out.Index(i).SetString(s)
		}
		return out, ""
	case typeMap:
		m, ok := v.(map[string]any)
		if !ok {
			return reflect.Value{}, "must be a map, got " + describeValue(v)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		stringValues := t.Elem().Kind() == reflect.String
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			item := m[key]
			var val reflect.Value
			if stringValues {
				s, ok := jsString(item)
				if !ok {
					return reflect.Value{}, fmt.Sprintf("must be a map of strings, got %s at %s", describeValue(item), quote(key))
				}
				val = reflect.ValueOf(s).Convert(t.Elem())
			} else if item == nil {
				val = reflect.Zero(t.Elem())
			} else {
				val = reflect.ValueOf(item)
			}
			out.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), val)
		}
		return out, ""
	}
	return reflect.Value{}, "has a type the SDK does not know"
}

func (k *keySpec) checkMin(n float64) string {
	if k.min != nil && n < *k.min {
		return fmt.Sprintf("must be at least %s, got %s", k.minText, strconv.FormatFloat(n, 'f', -1, 64))
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- unknown keys ----

func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		diag := prev[0]
		prev[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			next := min3(prev[j]+1, prev[j-1]+1, diag+cost)
			diag = prev[j]
			prev[j] = next
		}
	}
	return prev[len(rb)]
}

func min3(a, b, c int) int {
	if b < a {
		a = b
	}
	if c < a {
		a = c
	}
	return a
}

// didYouMean returns the closest known name, if it is close enough to be a
// typo (the same rule as the TypeScript SDK).
func didYouMean(name string, known []string) string {
	best, bestD := "", math.MaxInt
	for _, k := range known {
		if d := distance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	limit := len([]rune(name)) / 3
	if limit < 2 {
		limit = 2
	}
	if best != "" && bestD <= limit {
		return best
	}
	return ""
}

func unknownKeyMessage(key string, known []string) string {
	names := append([]string(nil), known...)
	sort.Strings(names)
	if len(names) == 0 {
		return "unknown key; this takes no keys"
	}
	if guess := didYouMean(key, names); guess != "" {
		return fmt.Sprintf("unknown key; did you mean %q?", guess)
	}
	return "unknown key; known keys: " + strings.Join(names, ", ")
}
