package ferry

import (
	"fmt"
	"runtime"
	"unicode/utf8"
	"unsafe"
)

// descriptor is a column as the ABI describes it (§8): seven u32s, the
// pointers guest addresses.
type descriptor struct {
	Type, Rows, NullCount, Validity, Values, ValuesLen, Offsets uint32
}

// Column types' tags (§8).
const (
	tagBoolean = 1
	tagInt8    = 2
	tagInt16   = 3
	tagInt32   = 4
	tagInt64   = 5
	tagUint8   = 6
	tagUint16  = 7
	tagUint32  = 8
	tagUint64  = 9
	tagFloat32 = 10
	tagFloat64 = 11
	tagUtf8    = 12
	tagBinary  = 14
)

var tagNames = map[uint32]string{
	tagBoolean: "boolean", tagInt8: "int8", tagInt16: "int16", tagInt32: "int32",
	tagInt64: "int64", tagUint8: "uint8", tagUint16: "uint16", tagUint32: "uint32",
	tagUint64: "uint64", tagFloat32: "float32", tagFloat64: "float64", tagUtf8: "utf8",
	13: "large_utf8", tagBinary: "binary", 15: "date32", 16: "timestamp_us",
}

// ColumnType is what a column's rows may be in Go.
type ColumnType interface {
	bool | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 |
		float32 | float64 | string | []byte
}

// tagOf is the column type T travels as.
func tagOf[T ColumnType]() uint32 {
	switch any(*new(T)).(type) {
	case bool:
		return tagBoolean
	case int8:
		return tagInt8
	case int16:
		return tagInt16
	case int32:
		return tagInt32
	case int64:
		return tagInt64
	case uint8:
		return tagUint8
	case uint16:
		return tagUint16
	case uint32:
		return tagUint32
	case uint64:
		return tagUint64
	case float32:
		return tagFloat32
	case float64:
		return tagFloat64
	case string:
		return tagUtf8
	default:
		return tagBinary
	}
}

// Call is a batch call's columns, as the host handed them in.
type Call struct {
	columns []descriptor
}

// newCall reads the descriptors of a batch call that takes want columns.
func newCall(columnsPtr, count uint32, want int) *Call {
	if int(count) != want {
		panic(&BadArgument{fmt.Sprintf("%d columns, expected %d", count, want)})
	}
	var columns []descriptor
	if count > 0 {
		columns = unsafe.Slice((*descriptor)(unsafe.Pointer(uintptr(columnsPtr))), count)
	}
	return &Call{columns: columns}
}

// rows is how many rows column i has.
func (c *Call) rows(i int) int {
	return int(c.columns[i].Rows)
}

// Column is one argument column: Get reads a row.
type Column[T ColumnType] struct {
	values   []T
	get      func(row int) T
	validity []byte
}

// Arg is column i of the call, whose rows are Ts; a column of another type
// is a bad argument.
func Arg[T ColumnType](c *Call, i int) Column[T] {
	d := c.columns[i]
	want := tagOf[T]()
	if d.Type != want {
		panic(&BadArgument{fmt.Sprintf("argument %d is a %s column, expected %s", i+1, tagNames[d.Type], tagNames[want])})
	}
	rows := int(d.Rows)
	column := Column[T]{}
	if d.Validity != 0 {
		column.validity = at(d.Validity, uint32((rows+7)/8))
	}
	values := at(d.Values, d.ValuesLen)
	switch want {
	case tagBoolean:
		get := func(row int) bool { return values[row>>3]&(1<<(row&7)) != 0 }
		column.get = any(get).(func(int) T)
	case tagUtf8, tagBinary:
		offsets := unsafe.Slice((*int32)(unsafe.Pointer(uintptr(d.Offsets))), rows+1)
		if want == tagUtf8 {
			get := func(row int) string {
				return unsafe.String(unsafe.SliceData(values[offsets[row]:]), offsets[row+1]-offsets[row])
			}
			column.get = any(get).(func(int) T)
		} else {
			get := func(row int) []byte { return values[offsets[row]:offsets[row+1]:offsets[row+1]] }
			column.get = any(get).(func(int) T)
		}
	default:
		size := int(unsafe.Sizeof(*new(T)))
		if len(values) < rows*size {
			panic(&BadArgument{fmt.Sprintf("argument %d has %d bytes for %d rows", i+1, len(values), rows)})
		}
		if rows > 0 {
			column.values = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(values))), rows)
		}
	}
	return column
}

// Get is the value at row, and whether there is one (false for a null).
// Strings and byte slices point into the host's buffers, which live until
// the call returns: copy what must outlive it.
func (c Column[T]) Get(row int) (T, bool) {
	if c.validity != nil && c.validity[row>>3]&(1<<(row&7)) == 0 {
		var zero T
		return zero, false
	}
	if c.get != nil {
		return c.get(row), true
	}
	return c.values[row], true
}

// output builds a result column, a row at a time, in order.
type output[T ColumnType] struct {
	tag      uint32
	rows     int
	values   []T
	bytes    []byte // booleans' bits, or text and binary
	offsets  []int32
	validity []byte
	nulls    int
}

func newOutput[T ColumnType](rows int) *output[T] {
	out := &output[T]{tag: tagOf[T](), rows: rows}
	switch out.tag {
	case tagBoolean:
		out.bytes = make([]byte, (rows+7)/8)
	case tagUtf8, tagBinary:
		out.offsets = make([]int32, 1, rows+1)
	default:
		out.values = make([]T, rows)
	}
	return out
}

func (o *output[T]) set(row int, v T) error {
	switch o.tag {
	case tagBoolean:
		if any(v).(bool) {
			o.bytes[row>>3] |= 1 << (row & 7)
		}
	case tagUtf8, tagBinary:
		var data []byte
		if o.tag == tagUtf8 {
			text := any(v).(string)
			if !utf8.ValidString(text) {
				return fmt.Errorf("the result is not UTF-8")
			}
			data = unsafe.Slice(unsafe.StringData(text), len(text))
		} else {
			data = any(v).([]byte)
		}
		o.bytes = append(o.bytes, data...)
		if len(o.bytes) > 1<<31-1 {
			return fmt.Errorf("more than 2 GiB of results in one batch")
		}
		o.offsets = append(o.offsets, int32(len(o.bytes)))
	default:
		o.values[row] = v
	}
	return nil
}

func (o *output[T]) setNull(row int) {
	if o.validity == nil {
		o.validity = make([]byte, (o.rows+7)/8)
		for i := range row {
			o.validity[i>>3] |= 1 << (i & 7)
		}
	}
	o.nulls++
	if o.offsets != nil {
		o.offsets = append(o.offsets, int32(len(o.bytes)))
	}
}

// put writes row: v, or a null if ok is false.
func (o *output[T]) put(row int, v T, ok bool) error {
	if !ok {
		o.setNull(row)
		return nil
	}
	if o.validity != nil {
		o.validity[row>>3] |= 1 << (row & 7)
	}
	return o.set(row, v)
}

// send hands the column to the host, which copies it.
func (o *output[T]) send() {
	values := o.bytes
	if o.values != nil {
		values = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(o.values))), len(o.values)*int(unsafe.Sizeof(*new(T))))
	}
	d := descriptor{
		Type:      o.tag,
		Rows:      uint32(o.rows),
		NullCount: uint32(o.nulls),
		Values:    address(values),
		ValuesLen: uint32(len(values)),
	}
	if o.nulls > 0 {
		d.Validity = address(o.validity)
	}
	if o.offsets != nil {
		d.Offsets = uint32(uintptr(unsafe.Pointer(unsafe.SliceData(o.offsets))))
	}
	hostResultColumn(uint32(uintptr(unsafe.Pointer(&d))))
	runtime.KeepAlive(o)
	runtime.KeepAlive(values)
	runtime.KeepAlive(&d)
}

// Row is a scalar's value at one row: the value, false for a null, or the
// error the row failed with.
type Row[R ColumnType] func(row int) (R, bool, error)

// Scalar runs a scalar call (§8) of a function of args columns: bind
// reads the columns once, and the function it returns gives each row.
func Scalar[R ColumnType](envPtr, envLen, columnsPtr, count uint32, args int, bind func(c *Call) Row[R]) (status uint32) {
	defer endCall(&status)
	c := newCall(columnsPtr, count, args)
	rows := 1
	if args > 0 {
		rows = c.rows(0)
	}
	for i := range args {
		if c.rows(i) != rows {
			return report(&BadArgument{fmt.Sprintf("argument %d has %d rows, argument 1 %d", i+1, c.rows(i), rows)})
		}
	}
	row := bind(c)
	out := newOutput[R](rows)
	for i := range rows {
		v, ok, err := row(i)
		if err == nil {
			err = out.put(i, v, ok)
		}
		if err != nil {
			return report(rowError(i, err))
		}
	}
	out.send()
	return statusOK
}

// Ptr is v as a pointer, nil for a null: how a parameter that takes nulls
// receives its row.
func Ptr[T ColumnType](v T, ok bool) *T {
	if !ok {
		return nil
	}
	return &v
}

// Deref is a row from a result that may be nil (a null).
func Deref[T ColumnType](v *T) (T, bool, error) {
	if v == nil {
		var zero T
		return zero, false, nil
	}
	return *v, true, nil
}

// Checked is a row from a result and an error (the row's failure).
func Checked[T ColumnType](v T, err error) (T, bool, error) {
	return v, err == nil, err
}

// DerefChecked is a row from a result that may be nil, and an error.
func DerefChecked[T ColumnType](v *T, err error) (T, bool, error) {
	if err != nil {
		var zero T
		return zero, false, err
	}
	return Deref(v)
}
