package ferry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values travel as MessagePack, written and read the way Rust's serde does
// (§3), so a Go type with a Rust type's field names reads and writes the
// same values:
//
//   - a struct is a map keyed by field name: the name in a `ferry:"name"`
//     tag, else the Go name in snake case (LogSum is log_sum); unexported
//     fields and `ferry:"-"` are left out. Reading, unknown keys are
//     skipped and missing fields keep their zero value; an array of the
//     fields in order (serde's compact form) is read too;
//   - slices and arrays are arrays, []byte is binary, maps are maps (their
//     keys written in order, so that a value has one encoding);
//   - a nil pointer or interface is nil, a nil slice or map an empty one;
//     nil reads as a nil pointer, slice, map or interface, and is refused
//     for anything else;
//   - an `any` reads as nil, bool, int64 (uint64 past its range), float64,
//     string, []byte, []any or map[any]any.

// Marshal encodes v as MessagePack.
func Marshal(v any) ([]byte, error) {
	var e encoder
	if err := e.value(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return e.out, nil
}

type encoder struct {
	out []byte
}

// header writes a length: as fix|n below fixLimit, else after eight (the
// 8-bit form's first byte, 0 for types without one), sixteen, or the 32-bit
// form's first byte, sixteen+1.
func (e *encoder) header(fix byte, fixLimit int, eight, sixteen byte, n int) {
	switch {
	case n < fixLimit:
		e.out = append(e.out, fix|byte(n))
	case eight != 0 && n <= math.MaxUint8:
		e.out = append(e.out, eight, byte(n))
	case n <= math.MaxUint16:
		e.out = binary.BigEndian.AppendUint16(append(e.out, sixteen), uint16(n))
	default:
		e.out = binary.BigEndian.AppendUint32(append(e.out, sixteen+1), uint32(n))
	}
}

func (e *encoder) str(s string) {
	e.header(0xa0, 32, 0xd9, 0xda, len(s))
	e.out = append(e.out, s...)
}

func (e *encoder) uint(n uint64) {
	switch {
	case n < 128:
		e.out = append(e.out, byte(n))
	case n <= math.MaxUint8:
		e.out = append(e.out, 0xcc, byte(n))
	case n <= math.MaxUint16:
		e.out = binary.BigEndian.AppendUint16(append(e.out, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		e.out = binary.BigEndian.AppendUint32(append(e.out, 0xce), uint32(n))
	default:
		e.out = binary.BigEndian.AppendUint64(append(e.out, 0xcf), n)
	}
}

func (e *encoder) int(n int64) {
	switch {
	case n >= 0:
		e.uint(uint64(n))
	case n >= -32:
		e.out = append(e.out, byte(n))
	case n >= math.MinInt8:
		e.out = append(e.out, 0xd0, byte(n))
	case n >= math.MinInt16:
		e.out = binary.BigEndian.AppendUint16(append(e.out, 0xd1), uint16(n))
	case n >= math.MinInt32:
		e.out = binary.BigEndian.AppendUint32(append(e.out, 0xd2), uint32(n))
	default:
		e.out = binary.BigEndian.AppendUint64(append(e.out, 0xd3), uint64(n))
	}
}

func (e *encoder) value(v reflect.Value) error {
	if !v.IsValid() {
		e.out = append(e.out, 0xc0)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.out = append(e.out, 0xc0)
			return nil
		}
		return e.value(v.Elem())
	case reflect.Bool:
		e.out = append(e.out, map[bool]byte{false: 0xc2, true: 0xc3}[v.Bool()])
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.uint(v.Uint())
	case reflect.Float32:
		e.out = binary.BigEndian.AppendUint32(append(e.out, 0xca), math.Float32bits(float32(v.Float())))
	case reflect.Float64:
		e.out = binary.BigEndian.AppendUint64(append(e.out, 0xcb), math.Float64bits(v.Float()))
	case reflect.String:
		e.str(v.String())
	case reflect.Slice, reflect.Array:
		// A nil slice is an empty one, as Rust's Vec reads it.
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.header(0, 0, 0xc4, 0xc5, v.Len())
			for i := range v.Len() {
				e.out = append(e.out, byte(v.Index(i).Uint()))
			}
			return nil
		}
		e.header(0x90, 16, 0, 0xdc, v.Len())
		for i := range v.Len() {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		type entry struct{ key, value []byte }
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			var key, value encoder
			if err := key.value(it.Key()); err != nil {
				return err
			}
			if err := value.value(it.Value()); err != nil {
				return err
			}
			entries = append(entries, entry{key.out, value.out})
		}
		slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
		e.header(0x80, 16, 0, 0xde, len(entries))
		for _, entry := range entries {
			e.out = append(append(e.out, entry.key...), entry.value...)
		}
	case reflect.Struct:
		fields := fieldsOf(v.Type())
		e.header(0x80, 16, 0, 0xde, len(fields))
		for _, f := range fields {
			e.str(f.name)
			if err := e.value(v.Field(f.index)); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("a %s cannot be written as MessagePack", v.Type())
	}
	return nil
}

type field struct {
	name  string
	index int
}

func fieldsOf(t reflect.Type) []field {
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		name, tagged := f.Tag.Lookup("ferry")
		if !f.IsExported() || name == "-" {
			continue
		}
		if !tagged {
			name = snakeCase(f.Name)
		}
		fields = append(fields, field{name, i})
	}
	return fields
}

// snakeCase is a Go name as serde names Rust fields: LogSum is log_sum,
// HTTPServer is http_server.
func snakeCase(name string) string {
	var out strings.Builder
	runes := []rune(name)
	for i, r := range runes {
		if unicode.IsUpper(r) && i > 0 {
			before, after := runes[i-1], rune(0)
			if i+1 < len(runes) {
				after = runes[i+1]
			}
			if !unicode.IsUpper(before) || unicode.IsLower(after) {
				out.WriteByte('_')
			}
		}
		out.WriteRune(unicode.ToLower(r))
	}
	return out.String()
}

// tuple is the targets of an input of several parameters: an array.
type tuple []any

// decodeArgument reads data, one MessagePack value, into v (a pointer, or
// a tuple); what names the argument in the error.
func decodeArgument(what string, data []byte, v any) error {
	if len(data) == 0 {
		data = []byte{0xc0} // how hosts before December 2026 passed nil
	}
	d := decoder{data: data}
	var err error
	if targets, ok := v.(tuple); ok {
		err = d.tuple(targets)
	} else {
		err = d.value(reflect.ValueOf(v).Elem())
	}
	if err == nil && d.at != len(d.data) {
		err = d.fail("one value, then more bytes")
	}
	if err != nil {
		return &BadArgument{fmt.Sprintf("%s: %v", what, err)}
	}
	return nil
}

type decoder struct {
	data []byte
	at   int
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf(format+" at byte %d", append(args, d.at)...)
}

func kind(b byte) string {
	switch {
	case b <= 0x7f || b >= 0xe0 || b >= 0xcc && b <= 0xd3:
		return "an integer"
	case b <= 0x8f || b == 0xde || b == 0xdf:
		return "a map"
	case b <= 0x9f || b == 0xdc || b == 0xdd:
		return "an array"
	case b <= 0xbf || b >= 0xd9 && b <= 0xdb:
		return "a string"
	case b == 0xc0:
		return "nil"
	case b == 0xc2 || b == 0xc3:
		return "a boolean"
	case b >= 0xc4 && b <= 0xc6:
		return "binary"
	case b == 0xca || b == 0xcb:
		return "a float"
	}
	return "an extension value"
}

func (d *decoder) peek() (byte, error) {
	if d.at >= len(d.data) {
		return 0, d.fail("the value ends early")
	}
	return d.data[d.at], nil
}

func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.at) {
		return nil, d.fail("the value ends early")
	}
	d.at += int(n)
	return d.data[d.at-int(n) : d.at], nil
}

func (d *decoder) expected(what string) error {
	b, err := d.peek()
	if err != nil {
		return err
	}
	return d.fail("expected %s, found %s", what, kind(b))
}

// size reads a big-endian length or number of width bytes.
func (d *decoder) size(width int) (uint64, error) {
	b, err := d.take(uint64(width))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n, nil
}

// text reads a string's or binary's bytes; ok is false, and nothing read,
// for any other value.
func (d *decoder) text() ([]byte, bool, error) {
	b, err := d.peek()
	if err != nil {
		return nil, false, err
	}
	d.at++
	var n uint64
	switch {
	case b >= 0xa0 && b <= 0xbf:
		n = uint64(b - 0xa0)
	case b >= 0xd9 && b <= 0xdb:
		n, err = d.size(1 << (b - 0xd9))
	case b >= 0xc4 && b <= 0xc6:
		n, err = d.size(1 << (b - 0xc4))
	default:
		d.at--
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	bytes, err := d.take(n)
	return bytes, true, err
}

func (d *decoder) arrayLen() (int, bool, error) {
	return d.count(0x90, 0xdc)
}

func (d *decoder) mapLen() (int, bool, error) {
	return d.count(0x80, 0xde)
}

// count reads how many values an array or map holds: fix|n for fewer than
// 16, else a 16- or 32-bit count after sixteen or sixteen+1. ok is false,
// and nothing read, for any other value.
func (d *decoder) count(fix, sixteen byte) (int, bool, error) {
	b, err := d.peek()
	if err != nil {
		return 0, false, err
	}
	switch {
	case b >= fix && b <= fix+0x0f:
		d.at++
		return int(b - fix), true, nil
	case b == sixteen || b == sixteen+1:
		d.at++
		n, err := d.size(2 << (b - sixteen))
		return int(n), true, err
	}
	return 0, false, nil
}

// number reads an integer (as int64 or, past its range, uint64) or a
// float.
func (d *decoder) number() (any, error) {
	b, err := d.peek()
	if err != nil {
		return nil, err
	}
	d.at++
	switch {
	case b <= 0x7f:
		return int64(b), nil
	case b >= 0xe0:
		return int64(int8(b)), nil
	case b >= 0xcc && b <= 0xcf:
		n, err := d.size(1 << (b - 0xcc))
		if n > math.MaxInt64 {
			return n, err
		}
		return int64(n), err
	case b >= 0xd0 && b <= 0xd3:
		width := 1 << (b - 0xd0)
		n, err := d.size(width)
		shift := 64 - 8*width
		return int64(n<<shift) >> shift, err
	case b == 0xca:
		n, err := d.size(4)
		return float64(math.Float32frombits(uint32(n))), err
	case b == 0xcb:
		n, err := d.size(8)
		return math.Float64frombits(n), err
	}
	d.at--
	return nil, d.expected("a number")
}

func (d *decoder) skip() error {
	var ignored any
	return d.value(reflect.ValueOf(&ignored).Elem())
}

func (d *decoder) tuple(targets tuple) error {
	n, ok, err := d.arrayLen()
	if err != nil {
		return err
	}
	if !ok {
		return d.expected(fmt.Sprintf("an array of %d values", len(targets)))
	}
	if n != len(targets) {
		return d.fail("expected %d values, found %d", len(targets), n)
	}
	for _, target := range targets {
		if err := d.value(reflect.ValueOf(target).Elem()); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) value(v reflect.Value) error {
	b, err := d.peek()
	if err != nil {
		return err
	}
	if b == 0xc0 {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			d.at++
			v.SetZero()
			return nil
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		target := reflect.New(v.Type().Elem())
		if err := d.value(target.Elem()); err != nil {
			return err
		}
		v.Set(target)
	case reflect.Interface:
		return d.anyValue(v)
	case reflect.Bool:
		if b != 0xc2 && b != 0xc3 {
			return d.expected("a boolean")
		}
		d.at++
		v.SetBool(b == 0xc3)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return d.integer(v)
	case reflect.Float32, reflect.Float64:
		start := d.at
		n, err := d.number()
		if err != nil {
			return err
		}
		switch n := n.(type) {
		case int64:
			v.SetFloat(float64(n))
		case uint64:
			v.SetFloat(float64(n))
		case float64:
			v.SetFloat(n)
		}
		if v.Kind() == reflect.Float32 && d.data[start] == 0xcb && float64(float32(v.Float())) != v.Float() && !math.IsNaN(v.Float()) {
			d.at = start
			return d.fail("the float %v does not fit in a float32", v.Float())
		}
	case reflect.String:
		start := d.at
		text, ok, err := d.text()
		if err != nil {
			return err
		}
		if !ok {
			return d.expected("a string")
		}
		if !utf8.Valid(text) {
			d.at = start
			return d.fail("the string is not UTF-8")
		}
		v.SetString(string(text))
	case reflect.Slice, reflect.Array:
		return d.sequence(v)
	case reflect.Map:
		n, ok, err := d.mapLen()
		if err != nil {
			return err
		}
		if !ok {
			return d.expected("a map")
		}
		m := reflect.MakeMapWithSize(v.Type(), min(n, 1024))
		for range n {
			key, value := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			if err := d.value(key); err != nil {
				return err
			}
			if !key.Comparable() {
				return d.fail("a map key that is binary, an array or a map")
			}
			if err := d.value(value); err != nil {
				return err
			}
			m.SetMapIndex(key, value)
		}
		v.Set(m)
	case reflect.Struct:
		return d.structure(v)
	default:
		return fmt.Errorf("a %s cannot be read from MessagePack", v.Type())
	}
	return nil
}

func (d *decoder) integer(v reflect.Value) error {
	start := d.at
	b, _ := d.peek()
	if kind(b) != "an integer" {
		return d.expected("an integer")
	}
	n, err := d.number()
	if err != nil {
		return err
	}
	signed := v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64
	fits := false
	switch n := n.(type) {
	case int64:
		if signed {
			fits = !v.OverflowInt(n)
		} else {
			fits = n >= 0 && !v.OverflowUint(uint64(n))
		}
		if fits && signed {
			v.SetInt(n)
		} else if fits {
			v.SetUint(uint64(n))
		}
	case uint64:
		fits = !signed && !v.OverflowUint(n)
		if fits {
			v.SetUint(n)
		}
	}
	if !fits {
		d.at = start
		return d.fail("the integer %v does not fit in a %s", n, v.Type())
	}
	return nil
}

func (d *decoder) sequence(v reflect.Value) error {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		if b, ok, err := d.text(); err != nil || ok {
			if err == nil && v.Kind() == reflect.Array && len(b) != v.Len() {
				return d.fail("expected %d bytes, found %d", v.Len(), len(b))
			}
			if err == nil && v.Kind() == reflect.Slice {
				v.SetBytes(bytes.Clone(b))
			} else if err == nil {
				reflect.Copy(v, reflect.ValueOf(b))
			}
			return err
		}
	}
	n, ok, err := d.arrayLen()
	if err != nil {
		return err
	}
	if !ok {
		return d.expected("an array")
	}
	if v.Kind() == reflect.Array && n != v.Len() {
		return d.fail("expected %d values, found %d", v.Len(), n)
	}
	if v.Kind() == reflect.Slice {
		// Grown as values arrive, so that a length the input lies about
		// cannot ask for more memory than the input has bytes.
		v.Set(reflect.MakeSlice(v.Type(), 0, min(n, len(d.data)-d.at)))
	}
	for i := range n {
		if v.Kind() == reflect.Slice {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		}
		if err := d.value(v.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) structure(v reflect.Value) error {
	fields := fieldsOf(v.Type())
	if n, ok, err := d.arrayLen(); err != nil || ok {
		if err == nil && n != len(fields) {
			return d.fail("expected %d fields, found %d", len(fields), n)
		}
		for _, f := range fields[:n] {
			if err := d.value(v.Field(f.index)); err != nil {
				return err
			}
		}
		return err
	}
	n, ok, err := d.mapLen()
	if err != nil {
		return err
	}
	if !ok {
		return d.expected("a map")
	}
	v.SetZero()
	for range n {
		start := d.at
		key, ok, err := d.text()
		if err != nil {
			return err
		}
		if !ok {
			d.at = start
			return d.expected("a field name")
		}
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == string(key) })
		if i < 0 {
			err = d.skip()
		} else {
			err = d.value(v.Field(fields[i].index))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) anyValue(v reflect.Value) error {
	b, _ := d.peek()
	var out any
	switch kind(b) {
	case "nil":
		d.at++
	case "a boolean":
		d.at++
		out = b == 0xc3
	case "an integer", "a float":
		n, err := d.number()
		if err != nil {
			return err
		}
		out = n
	case "a string":
		var s string
		if err := d.value(reflect.ValueOf(&s).Elem()); err != nil {
			return err
		}
		out = s
	case "binary":
		var bin []byte
		if err := d.sequence(reflect.ValueOf(&bin).Elem()); err != nil {
			return err
		}
		out = bin
	case "an array":
		var items []any
		if err := d.sequence(reflect.ValueOf(&items).Elem()); err != nil {
			return err
		}
		out = items
	case "a map":
		var m map[any]any
		if err := d.value(reflect.ValueOf(&m).Elem()); err != nil {
			return err
		}
		out = m
	default:
		return d.expected("a value ferry reads")
	}
	if out == nil {
		v.SetZero()
	} else {
		v.Set(reflect.ValueOf(out))
	}
	return nil
}
