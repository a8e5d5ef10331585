;; add_header: a minimal proxy-wasm (ABI 0.2.1) HTTP filter, hand-written in
;; WAT so it builds with nothing but `wat2wasm` and needs no SDK or libc.
;; It adds `x-wasm-filter: add_header` to every response.
;; Intended root_id: "add_header" (the filter does not check it).
(module
  ;; Host functions. Both return a proxy_status_t that we deliberately ignore:
  ;; a failed log line or header insert must never break the request.
  (import "env" "proxy_log"
    (func $proxy_log (param $level i32) (param $ptr i32) (param $len i32)
                     (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $proxy_add_header_map_value
      (param $map_type i32) (param $key_ptr i32) (param $key_len i32)
      (param $value_ptr i32) (param $value_len i32) (result i32)))

  ;; The host reads and writes guest memory directly, so it must be exported.
  (memory (export "memory") 1)

  ;; Static strings live below the heap (1024) so the allocator can never
  ;; hand them out. Lengths are repeated as constants below; keep them in sync.
  (data (i32.const 16) "x-wasm-filter")                      ;; 13 bytes
  (data (i32.const 32) "add_header")                         ;; 10 bytes
  (data (i32.const 48) "plugin configured")                  ;; 17 bytes

  (global $MAP_RESPONSE_HEADERS i32 (i32.const 2))
  (global $LOG_INFO i32 (i32.const 2))
  (global $ACTION_CONTINUE i32 (i32.const 0))

  ;; Bump allocator. Nothing here frees memory, which is acceptable only
  ;; because this filter never asks the host for buffers: Envoy calls the
  ;; allocator solely to hand us data we request (config, header maps).
  (global $heap_top (mut i32) (i32.const 1024))

  ;; Marker export: the host picks the ABI version from this name alone.
  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i32)
    ;; 8-byte alignment keeps any u32/u64 the host writes naturally aligned.
    (local.set $ptr
      (i32.and (i32.add (global.get $heap_top) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    ;; Guard against i32 wrap-around before comparing with memory size.
    (if (i32.lt_u (local.get $end) (local.get $ptr))
      (then (return (i32.const 0))))
    (if (i32.gt_u (local.get $end)
                  (i32.mul (memory.size) (i32.const 65536)))
      (then
        ;; Grow by (shortfall / 64 KiB) + 1 pages: may over-grow by one page,
        ;; but cannot overflow. 0 tells the host the allocation failed.
        (if (i32.eq
              (memory.grow
                (i32.add
                  (i32.shr_u
                    (i32.sub (local.get $end)
                             (i32.mul (memory.size) (i32.const 65536)))
                    (i32.const 16))
                  (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap_top (local.get $end))
    (local.get $ptr))

  ;; Stateless filter: root and stream contexts need no bookkeeping, so
  ;; there is nothing to record when the host creates one.
  (func (export "proxy_on_context_create")
    (param $context_id i32) (param $parent_context_id i32))

  ;; Returning 1 (true) accepts the VM configuration; 0 would fail the load.
  (func (export "proxy_on_vm_start")
    (param $root_context_id i32) (param $vm_config_size i32) (result i32)
    (i32.const 1))

  ;; Plugin configuration is ignored on purpose (the header is fixed), so its
  ;; size is never read. The log line shows in Envoy's log that the module
  ;; really loaded and was configured.
  (func (export "proxy_on_configure")
    (param $root_context_id i32) (param $plugin_config_size i32) (result i32)
    (drop (call $proxy_log (global.get $LOG_INFO) (i32.const 48) (i32.const 17)))
    (i32.const 1))

  (func (export "proxy_on_request_headers")
    (param $context_id i32) (param $num_headers i32) (param $end_of_stream i32)
    (result i32)
    (global.get $ACTION_CONTINUE))

  ;; The only real work. "add" rather than "replace" so an upstream header of
  ;; the same name is kept and the filter's mark is still visible.
  (func (export "proxy_on_response_headers")
    (param $context_id i32) (param $num_headers i32) (param $end_of_stream i32)
    (result i32)
    (drop (call $proxy_add_header_map_value
      (global.get $MAP_RESPONSE_HEADERS)
      (i32.const 16) (i32.const 13)
      (i32.const 32) (i32.const 10)))
    (global.get $ACTION_CONTINUE))

  ;; 1 (true): nothing is pending, so the host may finalize the context now.
  (func (export "proxy_on_done") (param $context_id i32) (result i32)
    (i32.const 1))

  (func (export "proxy_on_log") (param $context_id i32))

  (func (export "proxy_on_delete") (param $context_id i32))
)
