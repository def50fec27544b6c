;; A ferry guest written by hand against docs/abi.md, with no SDK: what a C or
;; AssemblyScript guest has to provide. Values are MessagePack, so the answer
;; 42 is the single byte 0x2a.
(module
  (import "ferry_v1" "result" (func $result (param i32 i32)))
  (import "ferry_v1" "error" (func $error (param i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 1024) "\2a")
  (data (i32.const 1040) "the input must not be empty")

  ;; A bump allocator: memory is never reused, which is fine for a fresh
  ;; instance per call.
  (global $heap (mut i32) (i32.const 4096))

  (func (export "ferry_alloc") (param $size i32) (param $align i32) (result i32)
    (local $ptr i32)
    (local $pages i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.set $pages
      (i32.sub
        (i32.div_u (i32.add (global.get $heap) (i32.const 65535)) (i32.const 65536))
        (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then (return (i32.const 0))))))
    (local.get $ptr))

  (func (export "ferry_free") (param i32 i32 i32))

  ;; answer() -> 42
  (func (export "ferry_fn_answer") (param i32 i32 i32 i32) (result i32)
    (call $result (i32.const 1024) (i32.const 1))
    (i32.const 0))

  ;; echo(x) -> x, or an error when the input is empty
  (func (export "ferry_fn_echo") (param $env i32) (param $env_len i32) (param $in i32) (param $in_len i32) (result i32)
    (if (i32.eqz (local.get $in_len))
      (then
        (call $error (i32.const 1040) (i32.const 27))
        (return (i32.const 1))))
    (call $result (local.get $in) (local.get $in_len))
    (i32.const 0))

  ;; Integer division by the input's length minus itself: a real div_s trap.
  (func (export "ferry_fn_divide_by_zero") (param i32 i32 i32 i32) (result i32)
    (i32.div_s (i32.const 1) (i32.sub (local.get 3) (local.get 3))))

  (func (export "ferry_fn_unreachable") (param i32 i32 i32 i32) (result i32)
    unreachable)

  (@custom "ferry.functions"
    "{\"abi\":1,\"name\":\"answer\",\"kind\":\"value\",\"export\":\"ferry_fn_answer\",\"input\":\"()\",\"output\":\"u8\"}\n"
    "{\"abi\":1,\"name\":\"echo\",\"kind\":\"value\",\"export\":\"ferry_fn_echo\",\"input\":\"any\",\"output\":\"any\"}\n"
    "{\"abi\":1,\"name\":\"divide_by_zero\",\"kind\":\"value\",\"export\":\"ferry_fn_divide_by_zero\",\"input\":\"()\",\"output\":\"i32\"}\n"
    "{\"abi\":1,\"name\":\"unreachable\",\"kind\":\"value\",\"export\":\"ferry_fn_unreachable\",\"input\":\"()\",\"output\":\"()\"}\n")
)
