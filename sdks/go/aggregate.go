package ferry

import (
	"fmt"
	"reflect"
	"unsafe"
)

// An aggregate's state is a struct of plain data (no pointers, slices,
// strings or maps), kept between calls as its bytes (§9): a group without
// a state yet starts from the struct's zero value.

// states reads the states column (column 0) into Ss.
func states[S any](c *Call) []S {
	var zero S
	if t := reflect.TypeOf(zero); !plain(t) {
		panic(fmt.Sprintf("the aggregate state %s holds pointers, slices, strings or maps: it must be plain data", t))
	}
	column := Arg[[]byte](c, 0)
	all := make([]S, c.rows(0))
	for g := range all {
		if state, ok := column.Get(g); ok {
			all[g] = readState[S](state, "a state")
		}
	}
	return all
}

func readState[S any](b []byte, what string) S {
	var s S
	if len(b) != int(unsafe.Sizeof(s)) {
		panic(&BadArgument{fmt.Sprintf("%s of %d bytes, expected %d", what, len(b), unsafe.Sizeof(s))})
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&s)), len(b)), b)
	return s
}

// plain says whether a t's bytes are all of its value.
func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return plain(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !plain(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// sendStates hands the new states to the host: one buffer, a state after
// another.
func sendStates[S any](all []S) {
	size := int(unsafe.Sizeof(*new(S)))
	out := newOutput[[]byte](len(all))
	if len(all) > 0 {
		out.bytes = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(all))), len(all)*size)
	}
	for g := range all {
		out.offsets = append(out.offsets, int32((g+1)*size))
	}
	out.send()
}

// groups reads column 1, the group of each row, checked against the
// number of states.
func groups(c *Call) Column[uint32] {
	column := Arg[uint32](c, 1)
	for row := range c.rows(1) {
		if g, ok := column.Get(row); !ok || int(g) >= c.rows(0) {
			panic(&BadArgument{fmt.Sprintf("row %d names group %d of %d", row, g, c.rows(0))})
		}
	}
	return column
}

// Fold runs an aggregate's update or retract call (§9) for a function of
// args columns: bind reads the argument columns once, and the function it
// returns takes a row into (or out of) its group's state.
func Fold[S any](envPtr, envLen, columnsPtr, count uint32, args int, bind func(c *Call) func(state *S, row int) error) (status uint32) {
	defer endCall(&status)
	c := newCall(columnsPtr, count, 2+args)
	all := states[S](c)
	group := groups(c)
	for i := range args {
		if c.rows(2+i) != c.rows(1) {
			return report(&BadArgument{fmt.Sprintf("argument %d has %d rows, the groups %d", i+1, c.rows(2+i), c.rows(1))})
		}
	}
	step := bind(c)
	for row := range c.rows(1) {
		g, _ := group.Get(row)
		if err := step(&all[g], row); err != nil {
			return report(rowError(row, err))
		}
	}
	sendStates(all)
	return statusOK
}

// Merge runs an aggregate's merge call (§9): merge takes a partial state
// into its group's.
func Merge[S any](envPtr, envLen, columnsPtr, count uint32, merge func(state *S, other S) error) (status uint32) {
	defer endCall(&status)
	c := newCall(columnsPtr, count, 3)
	all := states[S](c)
	group := groups(c)
	partials := Arg[[]byte](c, 2)
	if c.rows(2) != c.rows(1) {
		return report(&BadArgument{fmt.Sprintf("%d partial states, %d groups for them", c.rows(2), c.rows(1))})
	}
	for row := range c.rows(1) {
		partial, ok := partials.Get(row)
		if !ok {
			continue
		}
		g, _ := group.Get(row)
		if err := merge(&all[g], readState[S](partial, "a partial state")); err != nil {
			return report(err)
		}
	}
	sendStates(all)
	return statusOK
}

// Finish runs an aggregate's finish call (§9): finish turns a group's
// state into its result, false for a null.
func Finish[S any, R ColumnType](envPtr, envLen, columnsPtr, count uint32, finish func(state *S) (R, bool, error)) (status uint32) {
	defer endCall(&status)
	c := newCall(columnsPtr, count, 1)
	all := states[S](c)
	out := newOutput[R](len(all))
	for g := range all {
		v, ok, err := finish(&all[g])
		if err == nil {
			err = out.put(g, v, ok)
		}
		if err != nil {
			return report(fmt.Errorf("group %d: %w", g, err))
		}
	}
	out.send()
	return statusOK
}
