;; A guest that returns what the ABI does not allow, or asks the host for what
;; it must not give, written by hand against docs/abi.md: the tests check that
;; every path (a call, a map, a worker) refuses it the same way, in one line,
;; and goes on serving.
(module
  (import "ferry_v1" "result" (func $result (param i32 i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 64) "\c1\00")
  (data (i32.const 80) "\01\02\03")

  (func (export "ferry_alloc") (param i32 i32) (result i32) (i32.const 4096))
  (func (export "ferry_free") (param i32 i32 i32))

  ;; 0xc1 is reserved: no MessagePack value starts with it.
  (func (export "ferry_fn_reserved_byte") (param i32 i32 i32 i32) (result i32)
    (call $result (i32.const 64) (i32.const 2))
    (i32.const 0))

  ;; The value 1, then two bytes that belong to no value.
  (func (export "ferry_fn_trailing_bytes") (param i32 i32 i32 i32) (result i32)
    (call $result (i32.const 80) (i32.const 3))
    (i32.const 0))

  ;; A result buffer that runs past the end of memory.
  (func (export "ferry_fn_outside") (param i32 i32 i32 i32) (result i32)
    (call $result (i32.const 65520) (i32.const 256))
    (i32.const 0))

  ;; poll_oneoff with 2^28 subscriptions: their size, 48 bytes each, wraps
  ;; to 0 in 32 bits; returns the errno as a MessagePack integer.
  (func (export "ferry_fn_poll_bomb") (param i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 96)
      (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 0x10000000) (i32.const 512)))
    (call $result (i32.const 96) (i32.const 1))
    (i32.const 0))

  (@custom "ferry.functions"
    "{\"abi\":1,\"name\":\"reserved_byte\",\"kind\":\"value\",\"export\":\"ferry_fn_reserved_byte\",\"input\":\"any\",\"output\":\"any\"}\n"
    "{\"abi\":1,\"name\":\"trailing_bytes\",\"kind\":\"value\",\"export\":\"ferry_fn_trailing_bytes\",\"input\":\"any\",\"output\":\"any\"}\n"
    "{\"abi\":1,\"name\":\"outside\",\"kind\":\"value\",\"export\":\"ferry_fn_outside\",\"input\":\"any\",\"output\":\"any\"}\n"
    "{\"abi\":1,\"name\":\"poll_bomb\",\"kind\":\"value\",\"export\":\"ferry_fn_poll_bomb\",\"input\":\"()\",\"output\":\"u32\"}\n")
)
