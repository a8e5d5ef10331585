;; always_503: a proxy-wasm (ABI 0.2.1) HTTP filter that answers every request itself
;; with a local 503, through proxy_send_local_response, so the request never reaches
;; the route. It stands for a broken release in the canary tests: Envoy loads it
;; without complaint and then every request fails, which only a metric gate notices.
;; Same skeleton as examples/filters/add_header/filter.wat; root_id "always_503"
;; (not checked).
(module
  ;; proxy_send_local_response(status, details, body, additional headers, grpc status).
  ;; The additional headers are a serialized header map (see $EMPTY_HEADER_MAP).
  (import "env" "proxy_send_local_response"
    (func $proxy_send_local_response
      (param $status_code i32)
      (param $details_ptr i32) (param $details_len i32)
      (param $body_ptr i32) (param $body_len i32)
      (param $headers_ptr i32) (param $headers_len i32)
      (param $grpc_status i32) (result i32)))

  (memory (export "memory") 1)

  ;; Static data below the heap (1024). Lengths are repeated below; keep them in sync.
  ;; An empty serialized header map: its 32-bit pair count, 0.
  (data (i32.const 16) "\00\00\00\00")                      ;; 4 bytes
  (data (i32.const 32) "always_503")                        ;; 10 bytes
  (data (i32.const 48) "always_503: this filter answers every request with 503\n") ;; 55 bytes

  (global $STATUS i32 (i32.const 503))
  ;; -1: not a gRPC answer, so Envoy sets no grpc-status.
  (global $NO_GRPC_STATUS i32 (i32.const -1))
  ;; Pause: the local response ends the stream, so nothing after this filter runs.
  (global $ACTION_PAUSE i32 (i32.const 1))
  (global $ACTION_CONTINUE i32 (i32.const 0))

  ;; Bump allocator, as in add_header: Envoy only ever hands this filter the
  ;; configuration, which it never asks for, so nothing needs freeing.
  (global $heap_top (mut i32) (i32.const 1024))

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i32)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap_top) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.lt_u (local.get $end) (local.get $ptr))
      (then (return (i32.const 0))))
    (if (i32.gt_u (local.get $end)
                  (i32.mul (memory.size) (i32.const 65536)))
      (then
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

  (func (export "proxy_on_context_create")
    (param $context_id i32) (param $parent_context_id i32))

  (func (export "proxy_on_vm_start")
    (param $root_context_id i32) (param $vm_config_size i32) (result i32)
    (i32.const 1))

  (func (export "proxy_on_configure")
    (param $root_context_id i32) (param $plugin_config_size i32) (result i32)
    (i32.const 1))

  ;; The only work: answer 503 before the request goes anywhere. The status of the
  ;; host call is ignored; if Envoy refused the answer, continuing is all there is.
  (func (export "proxy_on_request_headers")
    (param $context_id i32) (param $num_headers i32) (param $end_of_stream i32)
    (result i32)
    (if (i32.ne
          (call $proxy_send_local_response
            (global.get $STATUS)
            (i32.const 32) (i32.const 10)
            (i32.const 48) (i32.const 55)
            (i32.const 16) (i32.const 4)
            (global.get $NO_GRPC_STATUS))
          (i32.const 0))
      (then (return (global.get $ACTION_CONTINUE))))
    (global.get $ACTION_PAUSE))

  (func (export "proxy_on_response_headers")
    (param $context_id i32) (param $num_headers i32) (param $end_of_stream i32)
    (result i32)
    (global.get $ACTION_CONTINUE))

  (func (export "proxy_on_done") (param $context_id i32) (result i32)
    (i32.const 1))

  (func (export "proxy_on_log") (param $context_id i32))

  (func (export "proxy_on_delete") (param $context_id i32))
)
