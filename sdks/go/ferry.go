// Package ferry makes Go functions ferry functions: WebAssembly exports
// that keep the ferry guest ABI (docs/abi.md, version 1).
//
// A guest marks its functions with directives, and `ferry build` writes the
// exports and the functions' records from their signatures:
//
//	//ferry:scalar
//	func gcd(a, b int64) int64 { ... }
//
// The functions here are what that generated code calls; a guest rarely
// calls more of this package than [Blob] and [ReadBlobAt].
package ferry

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// live holds every buffer ferry_alloc handed out, so that the collector
// keeps what the host writes into, until the call it was for ends.
var live = map[uintptr][]byte{}

//go:wasmexport ferry_alloc
func ferryAlloc(size, align uint32) uint32 {
	if align == 0 || align&(align-1) != 0 {
		return 0
	}
	buf := make([]byte, uintptr(size)+uintptr(align))
	base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	ptr := (base + uintptr(align) - 1) &^ (uintptr(align) - 1)
	live[ptr] = buf
	return uint32(ptr)
}

//go:wasmexport ferry_free
func ferryFree(ptr, size, align uint32) {
	delete(live, uintptr(ptr))
}

//go:wasmimport ferry_v1 result
func hostResult(ptr, len uint32)

//go:wasmimport ferry_v1 error
func hostError(ptr, len uint32)

//go:wasmimport ferry_v1 panic
func hostPanic(msg, msgLen, file, fileLen, line, column uint32)

//go:wasmimport ferry_v1 result_column
func hostResultColumn(descriptor uint32)

//go:wasmimport ferry_v1 blob_len
func hostBlobLen(name, nameLen uint32) int64

//go:wasmimport ferry_v1 blob_read
func hostBlobRead(name, nameLen uint32, offset int64, dst, dstLen uint32) int64

// address is where b starts in linear memory, 0 for no bytes. The caller
// keeps b alive until the host is done with it.
func address(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// at is the host's buffer at ptr.
func at(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), n)
}

// Blob returns the whole data blob of that name attached to the closure
// being run; ok is false if there is none. For a large blob, read it a
// piece at a time with [ReadBlobAt].
func Blob(name string) (data []byte, ok bool) {
	key := []byte(name)
	n := hostBlobLen(address(key), uint32(len(key)))
	if n < 0 {
		return nil, false
	}
	data = make([]byte, n)
	read, _ := ReadBlobAt(name, 0, data)
	return data[:read], true
}

// ReadBlobAt copies the blob's bytes from offset into dst and returns how
// many it copied (fewer than len(dst) only at the blob's end); ok is false
// if there is no such blob.
func ReadBlobAt(name string, offset int64, dst []byte) (n int, ok bool) {
	key := []byte(name)
	read := hostBlobRead(address(key), uint32(len(key)), offset, address(dst), uint32(len(dst)))
	runtime.KeepAlive(key)
	runtime.KeepAlive(dst)
	return int(read), read >= 0
}

// BadArgument is an argument the function cannot take: a value of the
// wrong shape, a column of the wrong type. A function that returns one
// fails as a bad argument (status 2) rather than as an error.
type BadArgument struct {
	// What is wrong with it, in a line.
	Reason string
}

func (e *BadArgument) Error() string { return e.Reason }

// Status codes of the ABI (§3).
const (
	statusOK          = 0
	statusError       = 1
	statusBadArgument = 2
)

// report tells the host why the call failed and returns the status that
// says how.
func report(err error) uint32 {
	message := []byte(err.Error())
	hostError(address(message), uint32(len(message)))
	runtime.KeepAlive(message)
	if bad := (*BadArgument)(nil); errors.As(err, &bad) {
		return statusBadArgument
	}
	return statusError
}

// rowError is err, failing at row.
func rowError(row int, err error) error {
	return fmt.Errorf("row %d: %w", row, err)
}

// endCall ends every export: it frees what the host handed in, and turns a
// panic into the ABI's panic (a *BadArgument panic into a bad argument, the
// way the SDK refuses columns it cannot read).
func endCall(status *uint32) {
	clear(live)
	caught := recover()
	if caught == nil {
		return
	}
	if bad, ok := caught.(*BadArgument); ok {
		*status = report(bad)
		return
	}
	message := []byte(fmt.Sprint(caught))
	file, line := panicSite()
	path := []byte(file)
	hostPanic(address(message), uint32(len(message)), address(path), uint32(len(path)), uint32(line), 0)
}

// panicSite is where the panic being recovered began: the innermost frame
// that is neither the runtime's nor this package's.
func panicSite() (string, int) {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		frame, more := frames.Next()
		if !strings.HasPrefix(frame.Function, "runtime.") && !strings.HasPrefix(frame.Function, "ferry.") {
			return frame.File, frame.Line
		}
		if !more {
			return "", 0
		}
	}
}

// Args are a value call's environment and input, decoded when the
// function's code asks for them.
type Args struct {
	env, input []byte
}

// Env decodes the captured environment into v, a pointer.
func (a *Args) Env(v any) error {
	return decodeArgument("the environment", a.env, v)
}

// Input decodes the input into vs, pointers: the value itself into one,
// an array of as many values into several.
func (a *Args) Input(vs ...any) error {
	if len(vs) == 1 {
		return decodeArgument("the input", a.input, vs[0])
	}
	return decodeArgument("the input", a.input, tuple(vs))
}

// Value runs a value call (§3): f decodes what it needs from args, and
// returns the result to encode as MessagePack or an error.
func Value(envPtr, envLen, inputPtr, inputLen uint32, f func(args *Args) (any, error)) (status uint32) {
	defer endCall(&status)
	result, err := f(&Args{env: at(envPtr, envLen), input: at(inputPtr, inputLen)})
	if err != nil {
		return report(err)
	}
	encoded, err := Marshal(result)
	if err != nil {
		return report(fmt.Errorf("cannot encode the result: %w", err))
	}
	hostResult(address(encoded), uint32(len(encoded)))
	runtime.KeepAlive(encoded)
	return statusOK
}
