#include <edge_rt/model_ir/weight_source.hpp>

namespace edge_rt::model_ir {

std::string_view io_name(WeightIo io) noexcept {
  switch (io) {
    case WeightIo::kPread: return "pread";
    case WeightIo::kDirect: return "direct";
    case WeightIo::kMmap: return "mmap";
  }
  return "?";
}

namespace {

void check_range(const TensorInfo& t, std::uint64_t offset, std::uint64_t size) {
  EDGE_RT_CHECK(offset <= t.size_bytes && size <= t.size_bytes - offset, "read past the end of a tensor");
}

class PreadSource final : public WeightSource {
 public:
  WeightIo kind() const noexcept override { return WeightIo::kPread; }
  Result<void> read(const WeightFile& file, const TensorInfo& t, std::uint64_t offset, std::span<std::byte> out,
                    std::span<std::byte> /*bounce*/) const override {
    check_range(t, offset, out.size());
    return file.read(t.offset_bytes + offset, out, t.name);
  }
  std::uint64_t in_place_alignment() const noexcept override { return 0; }
};

class MmapSource final : public WeightSource {
 public:
  WeightIo kind() const noexcept override { return WeightIo::kMmap; }
  Result<void> read(const WeightFile& file, const TensorInfo& t, std::uint64_t offset, std::span<std::byte> out,
                    std::span<std::byte> /*bounce*/) const override {
    check_range(t, offset, out.size());
    EDGE_RT_TRY(file.copy_mapped(t.offset_bytes + offset, out, t.name));
    file.release_mapped(t.offset_bytes + offset, out.size());
    return boost::outcome_v2::success();
  }
  std::uint64_t in_place_alignment() const noexcept override { return 0; }
};

// Cold cache: O_DIRECT where the file system allows it, else pread and drop the page cache behind it.
class DirectSource final : public WeightSource {
 public:
  WeightIo kind() const noexcept override { return WeightIo::kDirect; }
  Result<void> read(const WeightFile& file, const TensorInfo& t, std::uint64_t offset, std::span<std::byte> out,
                    std::span<std::byte> bounce) const override {
    check_range(t, offset, out.size());
    if (file.supports_direct_io()) return file.read_direct(t.offset_bytes + offset, out, bounce, t.name);
    EDGE_RT_TRY(file.read(t.offset_bytes + offset, out, t.name));
    file.drop_page_cache(t.offset_bytes + offset, out.size());
    return boost::outcome_v2::success();
  }
  std::uint64_t in_place_alignment() const noexcept override { return WeightFile::kDirectBlock; }
  Result<std::byte*> read_in_place(const WeightFile& file, const TensorInfo& t, std::uint64_t offset,
                                   std::uint64_t size, std::span<std::byte> window,
                                   std::span<std::byte> bounce) const override {
    check_range(t, offset, size);
    const std::uint64_t at = t.offset_bytes + offset;
    if (file.supports_direct_io()) return file.read_direct_in_place(at, size, window, t.name);
    std::byte* data = window.data() + at % WeightFile::kDirectBlock;
    EDGE_RT_TRY(read(file, t, offset, std::span(data, static_cast<std::size_t>(size)), bounce));
    return data;
  }
};

}  // namespace

Result<std::byte*> WeightSource::read_in_place(const WeightFile&, const TensorInfo&, std::uint64_t, std::uint64_t,
                                               std::span<std::byte>, std::span<std::byte>) const {
  EDGE_RT_CHECK(false, "read_in_place on a source whose in_place_alignment() is 0");
  return nullptr;
}

std::unique_ptr<WeightSource> make_weight_source(WeightIo io) {
  switch (io) {
    case WeightIo::kPread: return std::make_unique<PreadSource>();
    case WeightIo::kDirect: return std::make_unique<DirectSource>();
    case WeightIo::kMmap: return std::make_unique<MmapSource>();
  }
  return std::make_unique<PreadSource>();
}

}  // namespace edge_rt::model_ir
