#pragma once
// Backend: one compute device (CPU, GPU, NPU) behind one interface, as the runtime's executor sees it. A backend
// states what it is (DeviceInfo), answers whether it can run an op (supports), owns a budgeted memory pool for the
// weights, KV cache and scratch placed on it, lays weights out its own way (prepare_weight), and runs the ops a
// model recipe needs. The executor picks a backend per op from the plan: ops a device lacks run on the CPU
// backend, by the fallback policy (docs/architecture.md).
//
// Memory model: the backends here are unified-memory devices (the CPU, and npu-sim standing for an NPU sharing
// the SoC's DRAM, as on phones and Jetson-class boards): buffers are host-visible, and ops take host pointers,
// into the backend's own buffers for weights and into the CPU's for activations and the KV cache. A device with
// its own memory (DeviceInfo::unified_memory false) keeps whole units to itself; the CPU never reads its buffers.

#include <edge_rt/core/result.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/tensor_core/attention.hpp>
#include <edge_rt/tensor_core/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::backend {

enum class DeviceKind : std::uint8_t { kCpu, kGpu, kNpu };
std::string_view kind_name(DeviceKind kind) noexcept;  ///< "cpu", "gpu", "npu"

/// What a device is. Copyable value.
struct DeviceInfo {
  std::string name;  ///< "cpu", "npu-sim"; what --device names.
  DeviceKind kind = DeviceKind::kCpu;
  std::uint64_t memory_total_bytes = 0;  ///< Memory the device can address (host RAM for unified devices).
  memory_manager::MemoryBudget budget = memory_manager::MemoryBudget::unlimited();  ///< This process's share.
  bool unified_memory = true;              ///< Buffers are host memory: the CPU may read them directly.
  std::uint64_t max_allocation_bytes = 0;  ///< Largest single buffer.
  std::uint64_t max_binding_bytes = 0;     ///< Largest range one op may read from one buffer.
  std::uint64_t buffer_alignment = 64;     ///< Tensors inside a buffer start at multiples of it (bytes).
  bool software = false;  ///< Emulated on the CPU (lavapipe): correct, slow; `--device auto` passes it over.
};

/// The ops a recipe's programs need.
enum class Op : std::uint8_t {
  kMatmul,  ///< out = x . W^T (+ bias), W as stored (output-major, or input-major for GPT-2's Conv1D).
  kLayerNorm,
  kRmsNorm,
  kRope,
  kAttention,  ///< Causal attention over the KV cache, GQA.
  kGeluTanh,
  kSwiglu,
  kGeglu,  ///< gate = gelu_tanh(gate) * up (Gemma).
  kAdd,
  kEmbeddingRows,  ///< Rows of an embedding table to F32.
  kCopy,           ///< F32 copy (KV rows, host <-> device).
};
std::string_view op_name(Op op) noexcept;

/// What an op reads, for supports(). Copyable value.
struct OpDesc {
  Op op = Op::kMatmul;
  tensor_core::DType dtype = tensor_core::DType::kF32;  ///< Weight dtype (kMatmul, kEmbeddingRows); else F32.
  std::int64_t rows = 0;                                ///< Weight [rows, cols] as logical [out, in]; 0: none.
  std::int64_t cols = 0;
  bool input_major = false;  ///< kMatmul: the weight is stored [in, out].
  /// kAttention: with a sliding window or logit soft-capping (AttentionArgs::window / softcap).
  bool attention_extras = false;
};

/// Why an op does not run on a device (reason codes of the coverage report).
enum class Reason : std::uint8_t {
  kSupported,
  kOp,      ///< The device has no such op.
  kDType,   ///< Not for this weight dtype.
  kShape,   ///< Not for these shapes (sizes, alignment, binding limits).
  kLayout,  ///< Not for this weight layout (input-major).
  kMemory,  ///< The device budget cannot hold the unit.
  kInit,    ///< The device failed to start (no driver, pipeline creation).
};
std::string_view reason_name(Reason reason) noexcept;  ///< "op", "dtype", "shape", "layout", "memory", "init"

/// Answer of supports(): a code and a static explanation (no allocation). Copyable value.
struct Support {
  Reason reason = Reason::kSupported;
  std::string_view detail;  ///< Static storage; empty when supported.
  bool ok() const noexcept { return reason == Reason::kSupported; }
};

enum class BufferUsage : std::uint8_t { kWeights, kKvCache, kScratch };

/// What a weight is used for: a matmul operand may be re-laid out; an embedding table is read by rows.
enum class WeightUse : std::uint8_t { kMatmul, kRows, kVector };

/// A weight in its backend's layout. `view` keeps the file dtype and the stored shape ([in, out] when
/// input_major); `layout` is the backend's private code (0: rows as in the file). Valid while the buffer holding
/// it lives; only the backend that prepared it may read it with matmul.
struct PreparedWeight {
  tensor_core::TensorView view;
  bool input_major = false;
  std::uint8_t layout = 0;
};

/// One device. Not copyable or movable (buffers point into its pool). Ops run in the calling thread's order and
/// may return before the work is done on asynchronous devices: synchronize() waits. One thread at a time.
/// Ops: shapes as backend/cpu/kernels.hpp states them; arguments a device reported unsupported are a programmer
/// error (checked).
class Backend {
 public:
  virtual ~Backend() = default;

  virtual const DeviceInfo& info() const noexcept = 0;
  /// Cheap and allocation-free.
  virtual Support supports(const OpDesc& op) const noexcept = 0;

  /// `bytes` (> 0) of device memory from its budget, 64-byte aligned (`alignment` up to 4096 for direct reads).
  /// Errors: kBudgetExceeded (the message names the device).
  virtual Result<memory_manager::BufferGuard> allocate(std::uint64_t bytes, BufferUsage usage,
                                                       std::size_t alignment = 64) = 0;
  virtual memory_manager::PoolStats pool_stats() const = 0;

  /// Takes a weight whose bytes lie in a kWeights buffer this backend allocated (file dtype, logical `shape`,
  /// stored input-major when `input_major`) and returns it in the backend's layout, rewriting in place where
  /// the layout differs (CPU: Q4_0 matmul operands become Q4_0x8 on x86, and more formats with AVX512-VNNI).
  virtual PreparedWeight prepare_weight(std::span<std::byte> bytes, tensor_core::DType dtype,
                                        const tensor_core::Shape& shape, bool input_major, WeightUse use) = 0;

  virtual void matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w, std::span<const float> bias,
                      std::span<float> out) = 0;
  virtual void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma,
                          std::span<const float> beta, float eps, std::span<float> out) = 0;
  virtual void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps,
                        std::span<float> out) = 0;
  /// inv_freq: [head_dim / 2], tensor_core::rope_inv_freq or model_ir::rope_inv_freq (cpu::rope has the maths).
  virtual void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim,
                    std::size_t pos0, std::span<const float> inv_freq, bool interleaved) = 0;
  virtual void attention(const tensor_core::AttentionArgs& args, std::span<const float> q,
                         std::span<const float> k_cache, std::span<const float> v_cache, std::span<float> scratch,
                         std::span<float> out) = 0;
  virtual void gelu_tanh(std::span<float> x) = 0;
  virtual void swiglu(std::span<float> gate, std::span<const float> up) = 0;
  /// gate = gelu_tanh(gate) * up, elementwise (GeGLU, Shazeer 2020; Gemma's MLP).
  virtual void geglu(std::span<float> gate, std::span<const float> up) = 0;
  virtual void add(std::span<const float> x, std::span<float> out) = 0;
  /// out[i, :] = table row rows[i] as F32 (accumulate: out += it). Table: rank 2, file dtype.
  virtual void embedding_rows(const PreparedWeight& table, std::span<const std::int64_t> rows, std::span<float> out,
                              bool accumulate) = 0;
  /// F32 copy; `from` and `to` must not overlap. Host <-> device for discrete devices.
  virtual void copy(std::span<const float> from, std::span<float> to) = 0;
  /// Waits for every op issued so far.
  virtual void synchronize() = 0;

  /// Threads the device's kernels use from now on: min(n, the configured count), at least 1; 0 restores the
  /// configured count. Between passes only. Returns the count in effect (1 for devices without host threads).
  virtual std::size_t limit_threads(std::size_t n) = 0;
};

/// How to start a backend. Copyable value.
struct BackendOptions {
  memory_manager::MemoryBudget budget = memory_manager::MemoryBudget::unlimited();
  std::size_t n_threads = 1;  ///< Host threads for kernels, the caller included (>= 1).
  std::size_t index = 0;      ///< Which device of that name (NAME:INDEX).
};

using BackendFactory = Result<std::unique_ptr<Backend>> (*)(const BackendOptions& options);

/// The backends a process can start, registered by explicit calls (no static initialisers). Copyable value.
class Registry final {
 public:
  struct Entry {
    std::string name;
    DeviceKind kind = DeviceKind::kCpu;
    BackendFactory factory = nullptr;
    bool automatic = true;  ///< Considered by `--device auto` (test delegates are not).
  };
  /// Errors: kInvalidArgument for a name already registered or empty.
  Result<void> add(Entry entry);
  /// nullptr when absent.
  const Entry* find(std::string_view name) const noexcept;
  std::span<const Entry> entries() const noexcept { return entries_; }

 private:
  std::vector<Entry> entries_;
};

/// Registers "cpu", "npu-sim" and "vulkan" (see cpu_backend.hpp, npu_sim.hpp and vulkan.hpp; a build without
/// Vulkan registers a "vulkan" whose start fails, saying so).
Result<void> register_builtin_backends(Registry& registry);

}  // namespace edge_rt::backend
