#include <edge_rt/backend/vulkan.hpp>

#include "vulkan/shaders.hpp"

#include <vulkan/vulkan.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>

namespace edge_rt::backend {

namespace tc = tensor_core;

namespace {

std::atomic<std::uint64_t> g_validation_messages{0};

// A Vulkan info struct, zeroed, with its sType.
template <class T>
T make(VkStructureType type) {
  T value{};
  value.sType = type;
  return value;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data, void* /*user*/) {
  if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    g_validation_messages.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "[vulkan] validation: %s\n", data && data->pMessage ? data->pMessage : "?");
  }
  return VK_FALSE;
}

const char* result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
  }
}

Error vk_failure(const char* what, VkResult r) {
  return Error{ErrorCode::kUnsupported, std::string("[vulkan] ") + what + " failed: " + result_name(r) + " (" +
                                            std::to_string(static_cast<int>(r)) + ")"};
}

bool validation_requested() {
  const char* v = std::getenv("EDGE_RT_VULKAN_VALIDATION");
  return v != nullptr && std::string_view(v) == "1";
}

std::string version_text(std::uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
         std::to_string(VK_API_VERSION_PATCH(v));
}

// The instance (and, with validation, its debug messenger). Neither copy nor move.
class Instance final {
 public:
  static Result<std::unique_ptr<Instance>> create() {
    std::uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&loader_version) != VK_SUCCESS || loader_version < VK_API_VERSION_1_1) {
      return fail(ErrorCode::kUnsupported,
                  "[vulkan] the Vulkan loader is " + version_text(loader_version) + "; 1.1 or newer is needed");
    }
    const bool validate = validation_requested();
    std::vector<const char*> layers;
    std::vector<const char*> extensions;
    if (validate) {
      std::uint32_t count = 0;
      vkEnumerateInstanceLayerProperties(&count, nullptr);
      std::vector<VkLayerProperties> available(count);
      vkEnumerateInstanceLayerProperties(&count, available.data());
      const bool found = std::any_of(available.begin(), available.end(), [](const VkLayerProperties& l) {
        return std::string_view(l.layerName) == "VK_LAYER_KHRONOS_validation";
      });
      if (!found) {
        return fail(ErrorCode::kUnsupported,
                    "[vulkan] EDGE_RT_VULKAN_VALIDATION=1 but the layer VK_LAYER_KHRONOS_validation is not installed "
                    "(Debian: vulkan-validationlayers)");
      }
      layers.push_back("VK_LAYER_KHRONOS_validation");
      extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
    auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
    app.pApplicationName = "edge-rt";
    app.pEngineName = "edge-rt";
    app.apiVersion = VK_API_VERSION_1_1;
    auto info = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
    info.pApplicationInfo = &app;
    info.enabledLayerCount = static_cast<std::uint32_t>(layers.size());
    info.ppEnabledLayerNames = layers.data();
    info.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();
    std::unique_ptr<Instance> self(new Instance());  // private constructor
    const VkResult r = vkCreateInstance(&info, nullptr, &self->instance_);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
      return fail(
          ErrorCode::kUnsupported,
          "[vulkan] no Vulkan driver (ICD) is installed: vkCreateInstance returned VK_ERROR_INCOMPATIBLE_DRIVER");
    }
    if (r != VK_SUCCESS) return vk_failure("vkCreateInstance", r);
    if (validate) {
      auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(self->instance_, "vkCreateDebugUtilsMessengerEXT"));
      auto m = make<VkDebugUtilsMessengerCreateInfoEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
      m.messageSeverity =
          VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
      m.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
      m.pfnUserCallback = on_validation_message;
      if (create_messenger == nullptr)
        return fail(ErrorCode::kUnsupported, "[vulkan] no vkCreateDebugUtilsMessengerEXT");
      const VkResult mr = create_messenger(self->instance_, &m, nullptr, &self->messenger_);
      if (mr != VK_SUCCESS) return vk_failure("vkCreateDebugUtilsMessengerEXT", mr);
    }
    return self;
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance() {
    if (messenger_ != VK_NULL_HANDLE) {
      auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
      if (destroy) destroy(instance_, messenger_, nullptr);
    }
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
  }
  VkInstance get() const noexcept { return instance_; }

  Result<std::vector<VkPhysicalDevice>> devices() const {
    std::uint32_t count = 0;
    VkResult r = vkEnumeratePhysicalDevices(instance_, &count, nullptr);
    if (r != VK_SUCCESS) return vk_failure("vkEnumeratePhysicalDevices", r);
    if (count == 0) return fail(ErrorCode::kUnsupported, "[vulkan] no Vulkan device: the loader lists none");
    std::vector<VkPhysicalDevice> list(count);
    r = vkEnumeratePhysicalDevices(instance_, &count, list.data());
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_failure("vkEnumeratePhysicalDevices", r);
    list.resize(count);
    return list;
  }

 private:
  Instance() = default;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
};

bool has_extension(VkPhysicalDevice pd, std::string_view name) {
  std::uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> list(count);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &count, list.data());
  return std::any_of(list.begin(), list.end(),
                     [&](const VkExtensionProperties& e) { return std::string_view(e.extensionName) == name; });
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

// The first queue family with compute.
std::optional<std::uint32_t> compute_family(VkPhysicalDevice pd) {
  std::uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, families.data());
  for (std::uint32_t i = 0; i < count; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return i;
  }
  return std::nullopt;
}

// A host-visible, host-coherent memory type among `allowed`, device-local as well when one is.
std::optional<std::uint32_t> host_visible_type(const VkPhysicalDeviceMemoryProperties& mem, std::uint32_t allowed) {
  constexpr VkMemoryPropertyFlags kNeed = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  std::optional<std::uint32_t> found;
  for (std::uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    if (!(allowed & (1u << i)) || (mem.memoryTypes[i].propertyFlags & kNeed) != kNeed) continue;
    if (mem.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) return i;
    if (!found) found = i;
  }
  return found;
}

VulkanDeviceReport describe(VkPhysicalDevice pd, std::size_t index) {
  VulkanDeviceReport rep;
  rep.index = index;
  auto subgroup = make<VkPhysicalDeviceSubgroupProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto maint3 =
      make<VkPhysicalDeviceMaintenance3Properties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES);
  maint3.pNext = &subgroup;
  auto props = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  props.pNext = &maint3;
  vkGetPhysicalDeviceProperties2(pd, &props);
  rep.name = props.properties.deviceName;
  rep.type = type_name(props.properties.deviceType);
  rep.api_version = version_text(props.properties.apiVersion);
  rep.max_storage_buffer_range = props.properties.limits.maxStorageBufferRange;
  rep.max_allocation_bytes = maint3.maxMemoryAllocationSize;
  rep.subgroup_size = subgroup.subgroupSize;
  rep.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                            (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                            (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);

  auto f16i8 =
      make<VkPhysicalDeviceShaderFloat16Int8Features>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES);
  auto s8 = make<VkPhysicalDevice8BitStorageFeatures>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES);
  auto s16 = make<VkPhysicalDevice16BitStorageFeatures>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES);
  const bool has_f16i8 = has_extension(pd, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
  const bool has_s8 = has_extension(pd, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
  void* chain = &s16;
  if (has_s8) {
    s8.pNext = chain;
    chain = &s8;
  }
  if (has_f16i8) {
    f16i8.pNext = chain;
    chain = &f16i8;
  }
  auto features = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  features.pNext = chain;
  vkGetPhysicalDeviceFeatures2(pd, &features);
  rep.storage_16bit = s16.storageBuffer16BitAccess == VK_TRUE;
  rep.storage_8bit = has_s8 && s8.storageBuffer8BitAccess == VK_TRUE;
  rep.shader_float16 = has_f16i8 && f16i8.shaderFloat16 == VK_TRUE;
  rep.shader_int8 = has_f16i8 && f16i8.shaderInt8 == VK_TRUE;
  rep.cooperative_matrix = has_extension(pd, "VK_KHR_cooperative_matrix");
  rep.memory_budget = has_extension(pd, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

  auto budget =
      make<VkPhysicalDeviceMemoryBudgetPropertiesEXT>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT);
  auto mem = make<VkPhysicalDeviceMemoryProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2);
  if (rep.memory_budget) mem.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(pd, &mem);
  for (std::uint32_t h = 0; h < mem.memoryProperties.memoryHeapCount; ++h) {
    const VkMemoryHeap& heap = mem.memoryProperties.memoryHeaps[h];
    rep.heaps.push_back(
        {heap.size, (heap.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0, rep.memory_budget ? budget.heapBudget[h] : 0});
  }
  if (props.properties.apiVersion < VK_API_VERSION_1_1) {
    rep.why_not = "Vulkan " + rep.api_version + "; 1.1 or newer is needed";
  } else if (!compute_family(pd)) {
    rep.why_not = "no compute queue";
  } else if (!host_visible_type(mem.memoryProperties, ~0u)) {
    rep.why_not = "no host-visible coherent memory";
  }
  rep.usable = rep.why_not.empty();
  return rep;
}

// The device budget when none is given: 80% of the largest device-local heap (its heapBudget where known).
std::uint64_t default_budget_bytes(const VulkanDeviceReport& rep) {
  std::uint64_t best = 0;
  for (const auto& h : rep.heaps) {
    if (!h.device_local) continue;
    best = std::max(best, h.budget_bytes != 0 ? h.budget_bytes : h.bytes);
  }
  return best / 5 * 4;
}

// Where a span lives for the device: a buffer and a byte offset in it.
struct Loc {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize buffer_bytes = 0;
};

// A descriptor binding built from a Loc: the buffer range bound and the element offset to pass the shader.
struct Binding {
  VkDescriptorBufferInfo info{};
  std::uint32_t element = 0;
};

enum class Access : std::uint8_t { kRead, kWrite, kReadWrite };

// One span an op touches.
struct Arg {
  const std::byte* data = nullptr;
  std::size_t bytes = 0;
  Access access = Access::kRead;
};

template <class T>
Arg read(std::span<const T> s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size_bytes(), Access::kRead};
}
template <class T>
Arg write(std::span<T> s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size_bytes(), Access::kWrite};
}
template <class T>
Arg read_write(std::span<T> s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size_bytes(), Access::kReadWrite};
}

// One device memory allocation with its buffer, mapped.
struct Block {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  std::byte* mapped = nullptr;
  VkDeviceSize bytes = 0;
};

constexpr std::uint32_t kMaxBindings = 5;
constexpr std::uint32_t kPushBytes = 64;
constexpr std::uint32_t kDescriptorSets = 512;  // per submission
constexpr std::uint32_t kMaxGroups = 65535;     // per dispatch dimension (the minimum every device allows)

struct Pipeline {
  VkShaderModule module = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  std::uint32_t n_bindings = 0;
};

std::string_view weight_suffix(tc::DType d) {
  switch (d) {
    case tc::DType::kF32: return "f32";
    case tc::DType::kF16: return "f16";
    case tc::DType::kBF16: return "bf16";
    case tc::DType::kQ8_0: return "q8_0";
    case tc::DType::kQ4_0: return "q4_0";
    default: return "?";  // supports() refuses the other block formats
  }
}

// Units of a weight buffer's binding in the shaders: floats for F32, halfwords for the rest.
std::size_t weight_unit(tc::DType d) {
  return d == tc::DType::kF32 ? 4 : 2;
}

class VulkanBackend final : public Backend, public memory_manager::BlockSource {
 public:
  static Result<std::unique_ptr<Backend>> create(const BackendOptions& options);
  ~VulkanBackend() override;

  const DeviceInfo& info() const noexcept override { return info_; }
  Support supports(const OpDesc& op) const noexcept override;
  Result<memory_manager::BufferGuard> allocate(std::uint64_t bytes, BufferUsage usage, std::size_t alignment) override;
  memory_manager::PoolStats pool_stats() const override { return pool_->stats(); }
  PreparedWeight prepare_weight(std::span<std::byte> bytes, tc::DType dtype, const tc::Shape& shape, bool input_major,
                                WeightUse /*use*/) override {
    // The shaders read the file's layouts: nothing to rewrite.
    return {tc::TensorView::contiguous(bytes.data(), dtype, shape), input_major, 0};
  }
  void matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w, std::span<const float> bias,
              std::span<float> out) override;
  void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                  float eps, std::span<float> out) override {
    norm(true, x, d, gamma, beta, eps, out);
  }
  void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps,
                std::span<float> out) override {
    norm(false, x, d, w, {}, eps, out);
  }
  void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
            std::span<const float> inv_freq, bool interleaved) override;
  void attention(const tc::AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
                 std::span<const float> v_cache, std::span<float> scratch, std::span<float> out) override;
  void gelu_tanh(std::span<float> x) override { eltwise("gelu", x, {}); }
  void geglu(std::span<float>, std::span<const float>) override {
    EDGE_RT_CHECK(false, "vulkan geglu: supports() refuses it, so placement never sends it");
  }
  void swiglu(std::span<float> gate, std::span<const float> up) override {
    EDGE_RT_CHECK(gate.size() == up.size(), "vulkan swiglu: size mismatch");
    eltwise("swiglu", gate, up);
  }
  void add(std::span<const float> x, std::span<float> out) override {
    EDGE_RT_CHECK(x.size() == out.size(), "vulkan add: size mismatch");
    eltwise("add", out, x);
  }
  void embedding_rows(const PreparedWeight& table, std::span<const std::int64_t> rows, std::span<float> out,
                      bool accumulate) override;
  void copy(std::span<const float> from, std::span<float> to) override;
  void synchronize() override { flush(); }
  std::size_t limit_threads(std::size_t /*n*/) override { return 1; }

  // BlockSource: the pool's fresh blocks are mapped device memory.
  std::byte* acquire(std::size_t class_bytes, std::size_t alignment) noexcept override;
  void release(std::byte* data, std::size_t class_bytes) noexcept override;

 private:
  VulkanBackend() = default;
  Result<void> init(const BackendOptions& options);
  Result<Block> make_block(VkDeviceSize bytes);
  void free_block(Block& b) noexcept;
  Pipeline& pipeline(std::string_view name);
  // Resolves every arg to a device location, staging host spans (see the file comment in vulkan.hpp).
  // `sets`: descriptor sets the op's dispatches take (a submission now, if the pool is short, not mid-op).
  template <std::size_t N>
  std::array<Loc, N> locate(const std::array<Arg, N>& args, std::size_t sets);
  std::optional<Loc> device_loc(const std::byte* data, std::size_t bytes) const;
  Binding bind(const Loc& loc, std::size_t bytes, std::size_t unit) const;
  Loc dummy() const { return {dummy_.buffer, 0, dummy_.bytes}; }
  void begin();
  void barrier();
  void dispatch(Pipeline& p, std::span<const Binding> bindings, const void* push, std::size_t push_bytes,
                std::uint32_t gx, std::uint32_t gy = 1, std::uint32_t gz = 1);
  void flush();
  void ensure_staging(std::size_t bytes);
  // Makes an internal device buffer (scores, quantized activations) hold at least `bytes`.
  void grow(Block& block, std::size_t bytes);
  VkDeviceSize stage_alloc(std::size_t bytes);
  void norm(bool layer, std::span<const float> x, std::size_t d, std::span<const float> g, std::span<const float> b,
            float eps, std::span<float> out);
  void eltwise(std::string_view op, std::span<float> x, std::span<const float> y);
  std::string variant(std::string_view base) const { return std::string(base) + (subgroups_ ? "_sg" : "_sh"); }

  DeviceInfo info_;
  std::unique_ptr<Instance> instance_;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  std::uint32_t family_ = 0;
  std::uint32_t memory_type_ = 0;
  VkDeviceSize offset_alignment_ = 4;
  VkDeviceSize max_range_ = 0;
  bool storage_16bit_ = false;
  bool subgroups_ = false;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::map<std::string, Pipeline, std::less<>> pipelines_;
  bool recording_ = false;
  bool first_command_ = true;
  std::uint32_t sets_used_ = 0;

  mutable std::mutex blocks_mutex_;           // acquire/release may come from the loader thread
  std::map<const std::byte*, Block> blocks_;  // by mapped start
  Block dummy_;
  Block staging_;
  VkDeviceSize staging_used_ = 0;
  struct Pending {
    std::byte* host;
    std::size_t bytes;
    VkDeviceSize offset;  // in staging_
  };
  std::vector<Pending> pending_;  // host spans to copy back after the submission completes
  Block scores_;                  // attention scores, device-only use
  Block act_q_;                   // activations quantized for Q8_0/Q4_0 matmuls: int8 values, then block scales
  std::unique_ptr<memory_manager::MemoryPool> pool_;
};

Result<std::unique_ptr<Backend>> VulkanBackend::create(const BackendOptions& options) {
  std::unique_ptr<VulkanBackend> self(new VulkanBackend());  // private constructor
  EDGE_RT_TRY(self->init(options));
  return std::unique_ptr<Backend>(std::move(self));
}

Result<void> VulkanBackend::init(const BackendOptions& options) {
  EDGE_RT_TRY(instance_, Instance::create());
  EDGE_RT_TRY(auto list, instance_->devices());
  if (options.index >= list.size()) {
    return fail(ErrorCode::kUnsupported, "[vulkan] no device vulkan:" + std::to_string(options.index) + "; " +
                                             std::to_string(list.size()) + " device(s) found (edge-rt status)");
  }
  physical_ = list[options.index];
  const VulkanDeviceReport rep = describe(physical_, options.index);
  if (!rep.usable) return fail(ErrorCode::kUnsupported, "[vulkan] " + rep.name + ": " + rep.why_not);
  family_ = *compute_family(physical_);
  storage_16bit_ = rep.storage_16bit;
  // EDGE_RT_VULKAN_SUBGROUPS=0 takes the shared-memory reductions on a device with subgroups (to test them).
  const char* subgroups = std::getenv("EDGE_RT_VULKAN_SUBGROUPS");
  subgroups_ =
      rep.subgroup_arithmetic && rep.subgroup_size >= 4 && (subgroups == nullptr || std::string_view(subgroups) != "0");
  max_range_ = rep.max_storage_buffer_range;

  const float priority = 1.0f;
  auto queue = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  queue.queueFamilyIndex = family_;
  queue.queueCount = 1;
  queue.pQueuePriorities = &priority;
  auto s16 = make<VkPhysicalDevice16BitStorageFeatures>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES);
  s16.storageBuffer16BitAccess = storage_16bit_ ? VK_TRUE : VK_FALSE;
  std::vector<const char*> extensions;
  if (rep.memory_budget) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  auto dinfo = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  dinfo.pNext = &s16;
  dinfo.queueCreateInfoCount = 1;
  dinfo.pQueueCreateInfos = &queue;
  dinfo.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
  dinfo.ppEnabledExtensionNames = extensions.data();
  VkResult r = vkCreateDevice(physical_, &dinfo, nullptr, &device_);
  if (r != VK_SUCCESS) return vk_failure("vkCreateDevice", r);
  vkGetDeviceQueue(device_, family_, 0, &queue_);

  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical_, &props);
  offset_alignment_ = std::max<VkDeviceSize>(4, props.limits.minStorageBufferOffsetAlignment);

  // The memory type: host-visible and coherent, among those a storage buffer may use.
  auto probe = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  probe.size = 256;
  probe.usage =
      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VkBuffer probe_buffer = VK_NULL_HANDLE;
  r = vkCreateBuffer(device_, &probe, nullptr, &probe_buffer);
  if (r != VK_SUCCESS) return vk_failure("vkCreateBuffer", r);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, probe_buffer, &req);
  vkDestroyBuffer(device_, probe_buffer, nullptr);
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical_, &mem);
  const auto type = host_visible_type(mem, req.memoryTypeBits);
  if (!type) return fail(ErrorCode::kUnsupported, "[vulkan] " + rep.name + ": no host-visible coherent storage memory");
  memory_type_ = *type;

  auto cp = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  cp.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cp.queueFamilyIndex = family_;
  r = vkCreateCommandPool(device_, &cp, nullptr, &command_pool_);
  if (r != VK_SUCCESS) return vk_failure("vkCreateCommandPool", r);
  auto ca = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ca.commandPool = command_pool_;
  ca.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ca.commandBufferCount = 1;
  r = vkAllocateCommandBuffers(device_, &ca, &cmd_);
  if (r != VK_SUCCESS) return vk_failure("vkAllocateCommandBuffers", r);
  auto fi = make<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  r = vkCreateFence(device_, &fi, nullptr, &fence_);
  if (r != VK_SUCCESS) return vk_failure("vkCreateFence", r);
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kDescriptorSets * kMaxBindings};
  auto dp = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
  dp.maxSets = kDescriptorSets;
  dp.poolSizeCount = 1;
  dp.pPoolSizes = &size;
  r = vkCreateDescriptorPool(device_, &dp, nullptr, &descriptor_pool_);
  if (r != VK_SUCCESS) return vk_failure("vkCreateDescriptorPool", r);
  auto pc = make<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  r = vkCreatePipelineCache(device_, &pc, nullptr, &cache_);
  if (r != VK_SUCCESS) return vk_failure("vkCreatePipelineCache", r);
  EDGE_RT_TRY(dummy_, make_block(256));
  EDGE_RT_TRY(staging_, make_block(4 << 20));

  info_.name = "vulkan";
  info_.kind = DeviceKind::kGpu;
  info_.software = rep.type == "cpu";
  info_.unified_memory = true;
  for (const auto& h : rep.heaps) {
    if (h.device_local) info_.memory_total_bytes = std::max(info_.memory_total_bytes, h.bytes);
  }
  if (options.budget.is_unlimited()) {
    EDGE_RT_TRY(info_.budget, memory_manager::MemoryBudget::from_bytes(default_budget_bytes(rep)));
  } else {
    info_.budget = options.budget;
  }
  info_.max_allocation_bytes = rep.max_allocation_bytes;
  info_.max_binding_bytes = rep.max_storage_buffer_range;
  info_.buffer_alignment = std::max<std::uint64_t>(64, offset_alignment_);
  pool_ = std::make_unique<memory_manager::MemoryPool>(info_.budget, this);
  return boost::outcome_v2::success();
}

VulkanBackend::~VulkanBackend() {
  if (device_ == VK_NULL_HANDLE) {
    return;  // init failed before the device: nothing else was made
  }
  if (recording_) flush();
  vkDeviceWaitIdle(device_);
  pool_.reset();  // frees its cached blocks through release()
  free_block(act_q_);
  free_block(scores_);
  free_block(staging_);
  free_block(dummy_);
  for (auto& [ptr, b] : blocks_) free_block(b);
  for (auto& [name, p] : pipelines_) {
    vkDestroyPipeline(device_, p.pipeline, nullptr);
    vkDestroyPipelineLayout(device_, p.layout, nullptr);
    vkDestroyDescriptorSetLayout(device_, p.set_layout, nullptr);
    vkDestroyShaderModule(device_, p.module, nullptr);
  }
  if (cache_) vkDestroyPipelineCache(device_, cache_, nullptr);
  if (descriptor_pool_) vkDestroyDescriptorPool(device_, descriptor_pool_, nullptr);
  if (fence_) vkDestroyFence(device_, fence_, nullptr);
  if (command_pool_) vkDestroyCommandPool(device_, command_pool_, nullptr);
  vkDestroyDevice(device_, nullptr);
}

Result<Block> VulkanBackend::make_block(VkDeviceSize bytes) {
  Block b;
  b.bytes = bytes;
  auto bi = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VkResult r = vkCreateBuffer(device_, &bi, nullptr, &b.buffer);
  if (r != VK_SUCCESS) return vk_failure("vkCreateBuffer", r);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, b.buffer, &req);
  auto ai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = memory_type_;
  r = vkAllocateMemory(device_, &ai, nullptr, &b.memory);
  if (r != VK_SUCCESS) {
    free_block(b);
    return vk_failure("vkAllocateMemory", r);
  }
  void* mapped = nullptr;
  r = vkBindBufferMemory(device_, b.buffer, b.memory, 0);
  if (r == VK_SUCCESS) r = vkMapMemory(device_, b.memory, 0, VK_WHOLE_SIZE, 0, &mapped);
  if (r != VK_SUCCESS) {
    free_block(b);
    return vk_failure("vkMapMemory", r);
  }
  b.mapped = static_cast<std::byte*>(mapped);
  return b;
}

void VulkanBackend::free_block(Block& b) noexcept {
  if (b.memory != VK_NULL_HANDLE) vkFreeMemory(device_, b.memory, nullptr);  // unmaps
  if (b.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device_, b.buffer, nullptr);
  b = Block{};
}

std::byte* VulkanBackend::acquire(std::size_t class_bytes, std::size_t alignment) noexcept {
  // Mapped memory is aligned to minMemoryMapAlignment (>= 64); the extra bytes cover a stricter request.
  auto block = make_block(class_bytes + alignment);
  if (!block) return nullptr;
  std::byte* base = block.value().mapped;
  const auto misalign = reinterpret_cast<std::uintptr_t>(base) % alignment;
  std::byte* data = base + (misalign == 0 ? 0 : alignment - misalign);
  const std::lock_guard lock(blocks_mutex_);
  try {
    blocks_.emplace(data, block.value());
  } catch (...) {
    free_block(block.value());
    return nullptr;
  }
  return data;
}

void VulkanBackend::release(std::byte* data, std::size_t /*class_bytes*/) noexcept {
  Block b;
  {
    const std::lock_guard lock(blocks_mutex_);
    auto it = blocks_.find(data);
    if (it == blocks_.end()) return;
    b = it->second;
    blocks_.erase(it);
  }
  free_block(b);
}

Result<memory_manager::BufferGuard> VulkanBackend::allocate(std::uint64_t bytes, BufferUsage /*usage*/,
                                                            std::size_t alignment) {
  if (bytes > info_.max_allocation_bytes) {
    return fail(ErrorCode::kBudgetExceeded, "[vulkan] an allocation of " + std::to_string(bytes) +
                                                " bytes passes the device's largest allocation of " +
                                                std::to_string(info_.max_allocation_bytes));
  }
  auto block = pool_->allocate(static_cast<std::size_t>(bytes), alignment);
  if (!block) return fail(block.error().code, "[vulkan] " + block.error().message);
  return block;
}

Support VulkanBackend::supports(const OpDesc& op) const noexcept {
  if (op.op == Op::kGeglu) return {Reason::kOp, "no Vulkan GeGLU kernel yet"};
  if (op.op == Op::kAttention && op.attention_extras) {
    return {Reason::kOp, "no Vulkan kernel for sliding-window or soft-capped attention yet"};
  }
  const bool weights = op.op == Op::kMatmul || op.op == Op::kEmbeddingRows;
  if (!weights) return {};
  if (op.dtype != tc::DType::kF32 && op.dtype != tc::DType::kF16 && op.dtype != tc::DType::kBF16 &&
      op.dtype != tc::DType::kQ8_0 && op.dtype != tc::DType::kQ4_0) {
    return {Reason::kDType, "no Vulkan kernel for Q4_1, Q5_0, Q5_1 or the K-quants yet"};
  }
  if (op.dtype != tc::DType::kF32 && !storage_16bit_) {
    return {Reason::kDType, "this Vulkan device lacks 16-bit storage: F32 weights only"};
  }
  if (op.op == Op::kEmbeddingRows) return {};
  if (op.input_major) {
    if (tc::is_quantized(op.dtype)) return {Reason::kLayout, "quantized weights must be stored output-major"};
    if (tc::row_bytes(op.dtype, static_cast<std::size_t>(op.cols)) * static_cast<std::uint64_t>(op.rows) >
        max_range_ - offset_alignment_) {
      return {Reason::kShape, "an input-major weight larger than maxStorageBufferRange"};
    }
    return {};
  }
  if (tc::row_bytes(op.dtype, static_cast<std::size_t>(op.cols)) > max_range_ - offset_alignment_) {
    return {Reason::kShape, "one weight row is larger than maxStorageBufferRange"};
  }
  return {};
}

Pipeline& VulkanBackend::pipeline(std::string_view name) {
  if (auto it = pipelines_.find(name); it != pipelines_.end()) return it->second;
  const vulkan::detail::Shader* shader = nullptr;
  for (const auto& s : vulkan::detail::shaders()) {
    if (s.name == name) shader = &s;
  }
  EDGE_RT_CHECK(shader != nullptr, "vulkan: a shader the backend names is not embedded");
  // Binding counts by source (the generated table holds code only).
  std::uint32_t n = 4;
  if (name.starts_with("attention") || name.starts_with("matmul_q")) n = 5;
  if (name == "quantize_q8") n = 3;
  if (name.starts_with("embedding")) n = 3;
  if (name.starts_with("rope") || name == "gelu" || name == "swiglu" || name == "add") n = 2;
  Pipeline p;
  p.n_bindings = n;
  auto mi = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  mi.codeSize = shader->code.size_bytes();
  mi.pCode = shader->code.data();
  VkResult r = vkCreateShaderModule(device_, &mi, nullptr, &p.module);
  std::array<VkDescriptorSetLayoutBinding, kMaxBindings> bindings{};
  for (std::uint32_t i = 0; i < n; ++i) {
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  auto li = make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  li.bindingCount = n;
  li.pBindings = bindings.data();
  if (r == VK_SUCCESS) r = vkCreateDescriptorSetLayout(device_, &li, nullptr, &p.set_layout);
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
  auto pl = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &p.set_layout;
  pl.pushConstantRangeCount = 1;
  pl.pPushConstantRanges = &push;
  if (r == VK_SUCCESS) r = vkCreatePipelineLayout(device_, &pl, nullptr, &p.layout);
  auto ci = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  ci.stage = make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = p.module;
  ci.stage.pName = "main";
  ci.layout = p.layout;
  if (r == VK_SUCCESS) r = vkCreateComputePipelines(device_, cache_, 1, &ci, nullptr, &p.pipeline);
  EDGE_RT_CHECK(r == VK_SUCCESS, "vulkan: creating a compute pipeline failed (driver out of memory?)");
  return pipelines_.emplace(std::string(name), p).first->second;
}

std::optional<Loc> VulkanBackend::device_loc(const std::byte* data, std::size_t bytes) const {
  const std::lock_guard lock(blocks_mutex_);
  auto it = blocks_.upper_bound(data);  // the block starting at or before `data`
  if (it == blocks_.begin()) return std::nullopt;
  const Block& b = std::prev(it)->second;
  if (data + bytes > b.mapped + b.bytes) return std::nullopt;
  return Loc{b.buffer, static_cast<VkDeviceSize>(data - b.mapped), b.bytes};
}

void VulkanBackend::ensure_staging(std::size_t bytes) {
  if (staging_used_ + bytes <= staging_.bytes) return;
  flush();
  if (bytes <= staging_.bytes) return;
  free_block(staging_);
  auto grown = make_block(std::bit_ceil(static_cast<VkDeviceSize>(bytes)));
  EDGE_RT_CHECK(grown.has_value(), "vulkan: cannot grow the staging ring (device out of memory)");
  staging_ = grown.value();
}

VkDeviceSize VulkanBackend::stage_alloc(std::size_t bytes) {
  const VkDeviceSize at = staging_used_;
  staging_used_ += (bytes + offset_alignment_ - 1) / offset_alignment_ * offset_alignment_;
  return at;
}

template <std::size_t N>
std::array<Loc, N> VulkanBackend::locate(const std::array<Arg, N>& args, std::size_t sets) {
  EDGE_RT_CHECK(sets <= kDescriptorSets, "vulkan: one op needs more descriptor sets than the pool holds");
  if (sets_used_ + sets > kDescriptorSets) flush();
  auto overlaps = [](const Arg& a, const Pending& p) { return a.data < p.host + p.bytes && p.host < a.data + a.bytes; };
  auto contained = [](const Arg& a, const Pending& p) {
    return a.data >= p.host && a.data + a.bytes <= p.host + p.bytes;
  };
  // A host span that a recorded op writes, read or written now without lying inside that write: the device must
  // finish first so that the copy-back lands before this op stages the span.
  bool must_flush = false;
  std::size_t need = 0;
  for (const Arg& a : args) {
    if (a.bytes == 0 || device_loc(a.data, a.bytes)) continue;
    bool inside = false;
    for (const Pending& p : pending_) {
      if (contained(a, p)) {
        inside = true;
      } else if (overlaps(a, p)) {
        must_flush = true;
      }
    }
    if (!inside) need += a.bytes + offset_alignment_;
  }
  if (must_flush) {
    flush();
    need = 0;
    for (const Arg& a : args) {
      if (a.bytes != 0 && !device_loc(a.data, a.bytes)) need += a.bytes + offset_alignment_;
    }
  }
  ensure_staging(need);  // may flush: pending_ is then empty and every host span is staged afresh

  // Only earlier ops' writes hold data: a span this op both reads and writes is staged twice, in and out.
  const std::size_t earlier = pending_.size();
  std::array<Loc, N> locs{};
  for (std::size_t i = 0; i < N; ++i) {
    const Arg& a = args[i];
    if (a.bytes == 0) {
      locs[i] = dummy();
      continue;
    }
    if (auto d = device_loc(a.data, a.bytes)) {
      locs[i] = *d;
      continue;
    }
    std::optional<Loc> found;
    for (std::size_t j = 0; j < earlier; ++j) {
      const Pending& p = pending_[j];
      if (contained(a, p)) {
        found = Loc{staging_.buffer, p.offset + static_cast<VkDeviceSize>(a.data - p.host), staging_.bytes};
      }
    }
    if (found) {
      locs[i] = *found;
      continue;
    }
    const VkDeviceSize at = stage_alloc(a.bytes);
    if (a.access != Access::kWrite) std::memcpy(staging_.mapped + at, a.data, a.bytes);
    if (a.access != Access::kRead) pending_.push_back({const_cast<std::byte*>(a.data), a.bytes, at});
    locs[i] = {staging_.buffer, at, staging_.bytes};
  }
  return locs;
}

Binding VulkanBackend::bind(const Loc& loc, std::size_t bytes, std::size_t unit) const {
  const VkDeviceSize aligned = loc.offset / offset_alignment_ * offset_alignment_;
  const VkDeviceSize range = std::min<VkDeviceSize>(loc.buffer_bytes - aligned, max_range_ / 4 * 4);
  EDGE_RT_CHECK(loc.offset - aligned + bytes <= range, "vulkan: a binding passes maxStorageBufferRange");
  Binding b;
  b.info = {loc.buffer, aligned, range};
  b.element = static_cast<std::uint32_t>((loc.offset - aligned) / unit);
  return b;
}

void VulkanBackend::begin() {
  if (recording_) return;
  auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  const VkResult r = vkBeginCommandBuffer(cmd_, &bi);
  EDGE_RT_CHECK(r == VK_SUCCESS, "vulkan: vkBeginCommandBuffer failed");
  recording_ = true;
  first_command_ = true;
}

// Every command waits for the ones before it: ops read what the previous ones wrote.
void VulkanBackend::barrier() {
  if (first_command_) {
    first_command_ = false;
    return;
  }
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  constexpr VkPipelineStageFlags kStages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd_, kStages, kStages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void VulkanBackend::dispatch(Pipeline& p, std::span<const Binding> bindings, const void* push, std::size_t push_bytes,
                             std::uint32_t gx, std::uint32_t gy, std::uint32_t gz) {
  EDGE_RT_CHECK(bindings.size() == p.n_bindings && push_bytes <= kPushBytes, "vulkan: dispatch arguments");
  EDGE_RT_CHECK(sets_used_ < kDescriptorSets, "vulkan: descriptor sets not reserved by locate()");
  begin();
  auto ai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  ai.descriptorPool = descriptor_pool_;
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &p.set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  const VkResult r = vkAllocateDescriptorSets(device_, &ai, &set);
  EDGE_RT_CHECK(r == VK_SUCCESS, "vulkan: vkAllocateDescriptorSets failed");
  ++sets_used_;
  std::array<VkWriteDescriptorSet, kMaxBindings> writes{};
  for (std::uint32_t i = 0; i < bindings.size(); ++i) {
    writes[i] = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &bindings[i].info;
  }
  vkUpdateDescriptorSets(device_, static_cast<std::uint32_t>(bindings.size()), writes.data(), 0, nullptr);
  barrier();
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
  std::array<std::byte, kPushBytes> data{};
  std::memcpy(data.data(), push, push_bytes);
  vkCmdPushConstants(cmd_, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes, data.data());
  vkCmdDispatch(cmd_, gx, gy, gz);
}

void VulkanBackend::flush() {
  if (!recording_) return;
  // Device writes become visible to the host's reads after the fence.
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  VkResult r = vkEndCommandBuffer(cmd_);
  auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  if (r == VK_SUCCESS) r = vkQueueSubmit(queue_, 1, &si, fence_);
  if (r == VK_SUCCESS) r = vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX);
  // Ops return no errors (Backend): a lost device cannot be recovered from here.
  EDGE_RT_CHECK(r == VK_SUCCESS, "vulkan: submitting or waiting for the command buffer failed (device lost?)");
  vkResetFences(device_, 1, &fence_);
  vkResetCommandBuffer(cmd_, 0);
  vkResetDescriptorPool(device_, descriptor_pool_, 0);
  for (const Pending& p : pending_) std::memcpy(p.host, staging_.mapped + p.offset, p.bytes);
  pending_.clear();
  staging_used_ = 0;
  sets_used_ = 0;
  recording_ = false;
}

void VulkanBackend::grow(Block& block, std::size_t bytes) {
  if (block.bytes >= bytes) return;
  flush();  // recorded work may use the old buffer
  free_block(block);
  auto grown = make_block(std::bit_ceil(static_cast<VkDeviceSize>(bytes)));
  EDGE_RT_CHECK(grown.has_value(), "vulkan: cannot allocate an internal buffer (device out of memory)");
  block = grown.value();
}

void VulkanBackend::matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w,
                           std::span<const float> bias, std::span<float> out) {
  const tc::TensorView& v = w.view;
  EDGE_RT_CHECK(v.shape().rank() == 2 && n > 0, "vulkan matmul: rank-2 weight, n > 0");
  const auto k = static_cast<std::size_t>(w.input_major ? v.shape()[0] : v.shape()[1]);
  const auto m = static_cast<std::size_t>(w.input_major ? v.shape()[1] : v.shape()[0]);
  EDGE_RT_CHECK(x.size() >= n * k && out.size() >= n * m && (bias.empty() || bias.size() >= m),
                "vulkan matmul: x, bias or out too small");
  EDGE_RT_CHECK(
      supports({Op::kMatmul, v.dtype(), static_cast<std::int64_t>(m), static_cast<std::int64_t>(k), w.input_major})
          .ok(),
      "vulkan matmul: unsupported weight");
  const std::size_t row_bytes = tc::row_bytes(v.dtype(), w.input_major ? m : k);
  const std::size_t weight_bytes = row_bytes * (w.input_major ? k : m);
  const std::size_t unit = weight_unit(v.dtype());
  // Internal buffers grow (which may submit) before locate(): a submission retires the staged locations.
  const bool quantized = tc::is_quantized(v.dtype()) && !w.input_major;
  const std::size_t n_blocks = n * k / 32;
  const std::size_t q_bytes = (n * k + offset_alignment_ - 1) / offset_alignment_ * offset_alignment_;
  if (quantized) grow(act_q_, q_bytes + n_blocks * 4);
  const std::size_t rows_per_chunk =
      std::min<std::size_t>(m, static_cast<std::size_t>((max_range_ - offset_alignment_) / row_bytes));
  const std::size_t sets = w.input_major ? 1 : (m + rows_per_chunk - 1) / rows_per_chunk + (quantized ? 1 : 0);
  const auto locs =
      locate<4>({Arg{reinterpret_cast<const std::byte*>(v.data()), weight_bytes, Access::kRead}, read(x.first(n * k)),
                 read(bias.empty() ? bias : bias.first(m)), write(out.first(n * m))},
                sets);
  const Binding bx = bind(locs[1], n * k * 4, 4);
  const Binding bb = bind(locs[2], bias.empty() ? 4 : m * 4, 4);
  const Binding bo = bind(locs[3], n * m * 4, 4);
  struct {
    std::uint32_t k, rows, n, w_off, x_off, b_off, o_off, o_stride, has_bias, row0;
  } push{};
  push.k = static_cast<std::uint32_t>(k);
  push.n = static_cast<std::uint32_t>(n);
  push.x_off = bx.element;
  push.o_stride = static_cast<std::uint32_t>(m);
  push.has_bias = bias.empty() ? 0 : 1;
  if (w.input_major) {
    const Binding bw = bind(locs[0], weight_bytes, unit);
    push.rows = static_cast<std::uint32_t>(m);
    push.w_off = bw.element;
    push.b_off = bb.element;
    push.o_off = bo.element;
    const std::array<Binding, 4> b{bw, bx, bb, bo};
    Pipeline& p = pipeline("matmul_in_" + std::string(weight_suffix(v.dtype())));
    dispatch(p, b, &push, sizeof(push), static_cast<std::uint32_t>((m + 63) / 64),
             static_cast<std::uint32_t>((n + 7) / 8));
    return;
  }
  // Output-major: row ranges that each fit one binding. Q8_0/Q4_0 first quantize the activations.
  std::array<Binding, 5> b{Binding{}, bx, bb, bo, Binding{}};
  if (quantized) {
    const Loc q{act_q_.buffer, 0, act_q_.bytes};
    const Loc d{act_q_.buffer, q_bytes, act_q_.bytes};
    const std::array<Binding, 3> qb{bx, bind(q, n * k, 4), bind(d, n_blocks * 4, 4)};
    const std::array<std::uint32_t, 2> qpush{static_cast<std::uint32_t>(n_blocks), bx.element};
    const std::size_t groups = (n_blocks + 63) / 64;
    dispatch(pipeline("quantize_q8"), qb, qpush.data(), sizeof(qpush),
             static_cast<std::uint32_t>(std::min<std::size_t>(groups, kMaxGroups)),
             static_cast<std::uint32_t>((groups + kMaxGroups - 1) / kMaxGroups));
    b[1] = qb[1];
    b[4] = qb[2];
    push.x_off = 0;
  }
  Pipeline& p = pipeline(variant("matmul_" + std::string(weight_suffix(v.dtype()))));
  for (std::size_t r0 = 0; r0 < m; r0 += rows_per_chunk) {
    const std::size_t rows = std::min(rows_per_chunk, m - r0);
    const Loc wl{locs[0].buffer, locs[0].offset + r0 * row_bytes, locs[0].buffer_bytes};
    b[0] = bind(wl, rows * row_bytes, unit);
    push.rows = static_cast<std::uint32_t>(rows);
    push.w_off = b[0].element;
    push.b_off = static_cast<std::uint32_t>(bb.element + (bias.empty() ? 0 : r0));
    push.o_off = static_cast<std::uint32_t>(bo.element + r0);
    push.row0 = static_cast<std::uint32_t>(r0);
    const auto gx = static_cast<std::uint32_t>(std::min<std::size_t>(rows, kMaxGroups));
    const auto gy = static_cast<std::uint32_t>((rows + kMaxGroups - 1) / kMaxGroups);
    dispatch(p, std::span<const Binding>(b).first(quantized ? 5 : 4), &push, sizeof(push), gx, gy);
  }
}

void VulkanBackend::norm(bool layer, std::span<const float> x, std::size_t d, std::span<const float> g,
                         std::span<const float> b, float eps, std::span<float> out) {
  EDGE_RT_CHECK(d > 0 && x.size() % d == 0 && out.size() >= x.size() && g.size() == d && (!layer || b.size() == d),
                "vulkan norm: bad sizes");
  const std::size_t rows = x.size() / d;
  const auto locs = locate<4>({read(x), read(g), read(b), write(out.first(x.size()))}, 1);
  const std::array<Binding, 4> bs{bind(locs[0], x.size_bytes(), 4), bind(locs[1], d * 4, 4),
                                  bind(locs[2], layer ? d * 4 : 4, 4), bind(locs[3], x.size_bytes(), 4)};
  struct {
    std::uint32_t d, rows, x_off, g_off, b_off, o_off;
    float eps;
  } push{static_cast<std::uint32_t>(d),
         static_cast<std::uint32_t>(rows),
         bs[0].element,
         bs[1].element,
         bs[2].element,
         bs[3].element,
         eps};
  EDGE_RT_CHECK(rows <= kMaxGroups, "vulkan norm: more than 65535 rows");
  dispatch(pipeline(variant(layer ? "layer_norm" : "rms_norm")), bs, &push, sizeof(push),
           static_cast<std::uint32_t>(rows));
}

void VulkanBackend::rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim,
                         std::size_t pos0, std::span<const float> inv_freq, bool interleaved) {
  EDGE_RT_CHECK(head_dim % 2 == 0 && x.size() >= n_tokens * n_heads * head_dim && inv_freq.size() == head_dim / 2,
                "vulkan rope: bad sizes");
  // The angles as the CPU computes them (cpu::reference::rope), so that both devices rotate by the same bits.
  const std::size_t half = head_dim / 2;
  std::vector<float> cs(n_tokens * half * 2);
  for (std::size_t t = 0; t < n_tokens; ++t) {
    const auto pos = static_cast<float>(pos0 + t);
    for (std::size_t i = 0; i < half; ++i) {
      cs[(t * half + i) * 2] = std::cos(pos * inv_freq[i]);
      cs[(t * half + i) * 2 + 1] = std::sin(pos * inv_freq[i]);
    }
  }
  const std::span<float> used = x.first(n_tokens * n_heads * head_dim);
  const auto locs = locate<2>({read_write(used), read(std::span<const float>(cs))}, 1);
  const std::array<Binding, 2> bs{bind(locs[0], used.size_bytes(), 4), bind(locs[1], cs.size() * 4, 4)};
  struct {
    std::uint32_t n, heads, head_dim, x_off, cs_off, interleaved;
  } push{static_cast<std::uint32_t>(n_tokens),
         static_cast<std::uint32_t>(n_heads),
         static_cast<std::uint32_t>(head_dim),
         bs[0].element,
         bs[1].element,
         interleaved ? 1u : 0u};
  const std::size_t threads = n_tokens * n_heads * half;
  const std::size_t groups = (threads + 63) / 64;
  dispatch(pipeline("rope"), bs, &push, sizeof(push),
           static_cast<std::uint32_t>(std::min<std::size_t>(groups, kMaxGroups)),
           static_cast<std::uint32_t>((groups + kMaxGroups - 1) / kMaxGroups));
}

void VulkanBackend::attention(const tc::AttentionArgs& a, std::span<const float> q, std::span<const float> k_cache,
                              std::span<const float> v_cache, std::span<float> /*scratch*/, std::span<float> out) {
  const std::size_t hd = a.head_dim;
  const std::size_t keys = a.pos0 + a.n_tokens;
  const std::size_t kv_dim = a.n_kv_heads * hd;
  EDGE_RT_CHECK(a.n_heads % a.n_kv_heads == 0 && q.size() >= a.n_tokens * a.n_heads * hd &&
                    k_cache.size() >= keys * kv_dim && v_cache.size() >= keys * kv_dim &&
                    out.size() >= a.n_tokens * a.n_heads * hd && a.n_heads <= kMaxGroups && a.n_tokens <= kMaxGroups,
                "vulkan attention: bad sizes");
  // Scores: one row of `keys` floats per (token, head), in a device buffer of the backend's own.
  const std::size_t score_bytes = a.n_tokens * a.n_heads * keys * 4;
  grow(scores_, score_bytes);
  const std::size_t q_elems = a.n_tokens * a.n_heads * hd;
  const auto locs = locate<4>({read(q.first(q_elems)), read(k_cache.first(keys * kv_dim)),
                               read(v_cache.first(keys * kv_dim)), write(out.first(q_elems))},
                              1);
  const std::array<Binding, 5> bs{
      bind(locs[0], q_elems * 4, 4), bind(locs[1], keys * kv_dim * 4, 4), bind(locs[2], keys * kv_dim * 4, 4),
      bind({scores_.buffer, 0, scores_.bytes}, score_bytes, 4), bind(locs[3], q_elems * 4, 4)};
  struct {
    std::uint32_t n, pos0, heads, kv_heads, head_dim, q_off, k_off, v_off, o_off, s_stride;
    float scale;
  } push{static_cast<std::uint32_t>(a.n_tokens),
         static_cast<std::uint32_t>(a.pos0),
         static_cast<std::uint32_t>(a.n_heads),
         static_cast<std::uint32_t>(a.n_kv_heads),
         static_cast<std::uint32_t>(hd),
         bs[0].element,
         bs[1].element,
         bs[2].element,
         bs[4].element,
         static_cast<std::uint32_t>(keys),
         a.scale};
  dispatch(pipeline(variant("attention")), bs, &push, sizeof(push), static_cast<std::uint32_t>(a.n_heads),
           static_cast<std::uint32_t>(a.n_tokens));
}

void VulkanBackend::eltwise(std::string_view op, std::span<float> x, std::span<const float> y) {
  if (x.empty()) return;
  const auto locs = locate<2>({read_write(x), read(y)}, 1);
  const std::array<Binding, 2> bs{bind(locs[0], x.size_bytes(), 4), bind(locs[1], y.empty() ? 4 : y.size_bytes(), 4)};
  struct {
    std::uint32_t n, x_off, y_off;
  } push{static_cast<std::uint32_t>(x.size()), bs[0].element, bs[1].element};
  const std::size_t groups = std::min<std::size_t>((x.size() + 255) / 256, kMaxGroups);
  dispatch(pipeline(op), bs, &push, sizeof(push), static_cast<std::uint32_t>(groups));
}

void VulkanBackend::embedding_rows(const PreparedWeight& table, std::span<const std::int64_t> rows,
                                   std::span<float> out, bool accumulate) {
  const tc::TensorView& v = table.view;
  EDGE_RT_CHECK(v.shape().rank() == 2 && !table.input_major, "vulkan embedding_rows: rank-2 row-major table");
  const auto d = static_cast<std::size_t>(v.shape()[1]);
  const auto n_rows = static_cast<std::int64_t>(v.shape()[0]);
  EDGE_RT_CHECK(out.size() >= rows.size() * d && rows.size() <= kMaxGroups, "vulkan embedding_rows: bad sizes");
  if (rows.empty()) return;
  std::vector<std::uint32_t> ids(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EDGE_RT_CHECK(rows[i] >= 0 && rows[i] < n_rows, "vulkan embedding_rows: row out of range");
    ids[i] = static_cast<std::uint32_t>(rows[i]);
  }
  const std::size_t row_bytes = tc::row_bytes(v.dtype(), d);
  const std::size_t table_bytes = row_bytes * static_cast<std::size_t>(n_rows);
  const std::span<float> used = out.first(rows.size() * d);
  const auto locs = locate<3>({Arg{reinterpret_cast<const std::byte*>(v.data()), table_bytes, Access::kRead},
                               read(std::span<const std::uint32_t>(ids)), accumulate ? read_write(used) : write(used)},
                              1);
  const std::array<Binding, 3> bs{bind(locs[0], table_bytes, weight_unit(v.dtype())), bind(locs[1], ids.size() * 4, 4),
                                  bind(locs[2], used.size_bytes(), 4)};
  struct {
    std::uint32_t d, n, w_off, r_off, o_off, accumulate;
  } push{static_cast<std::uint32_t>(d),
         static_cast<std::uint32_t>(rows.size()),
         bs[0].element,
         bs[1].element,
         bs[2].element,
         accumulate ? 1u : 0u};
  dispatch(pipeline("embedding_" + std::string(weight_suffix(v.dtype()))), bs, &push, sizeof(push),
           static_cast<std::uint32_t>(rows.size()));
}

void VulkanBackend::copy(std::span<const float> from, std::span<float> to) {
  EDGE_RT_CHECK(from.size() <= to.size(), "vulkan copy: destination too small");
  if (from.empty()) return;
  const auto locs = locate<2>({read(from), write(to.first(from.size()))}, 0);
  begin();
  barrier();
  const VkBufferCopy region{locs[0].offset, locs[1].offset, from.size_bytes()};
  vkCmdCopyBuffer(cmd_, locs[0].buffer, locs[1].buffer, 1, &region);
}

}  // namespace

bool vulkan_built() noexcept {
  return true;
}

std::uint64_t vulkan_validation_messages() noexcept {
  return g_validation_messages.load(std::memory_order_relaxed);
}

Result<std::vector<VulkanDeviceReport>> list_vulkan_devices() {
  EDGE_RT_TRY(auto instance, Instance::create());
  EDGE_RT_TRY(auto list, instance->devices());
  std::vector<VulkanDeviceReport> reports;
  for (std::size_t i = 0; i < list.size(); ++i) reports.push_back(describe(list[i], i));
  return reports;
}

Result<std::unique_ptr<Backend>> make_vulkan_backend(const BackendOptions& options) {
  return VulkanBackend::create(options);
}

}  // namespace edge_rt::backend
