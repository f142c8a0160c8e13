// SafetensorsFile, parse_safetensors_header, write_safetensors and Checkpoint: valid files map zero-copy; every
// corruption gives the exact ErrorCode and a message naming the file and the tensor or field; random mutations of
// a valid header never crash or hang.

#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/model_ir/weight_source.hpp>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model_ir_test_util.hpp"

namespace edge_rt::model_ir {
namespace {

using tensor_core::DType;
using tensor_core::Shape;
using test::expect_error;
using test::raw_safetensors;
using test::ScopedTempDir;
using test::write_file;

template <class T, std::size_t N>
std::span<const std::byte> as_bytes(const std::array<T, N>& a) {
  return std::as_bytes(std::span<const T>(a));
}

std::vector<float> read_f32(std::span<const std::byte> bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// ---- valid files ----

TEST(SafetensorsWrite, RoundTripIsZeroCopy) {
  ScopedTempDir dir;
  const std::array<float, 6> a = {1.0F, -2.0F, 3.5F, 0.0F, 1e-3F, 42.0F};
  const std::array<std::uint16_t, 4> b = {0x3c00, 0x4000, 0xc000, 0x0000};  // F16 1, 2, -2, 0
  const std::array<std::uint16_t, 2> c = {0x3f80, 0xbf80};                  // BF16 1, -1
  const std::vector<TensorToWrite> tensors = {
      {"a", DType::kF32, Shape{2, 3}, as_bytes(a)},
      {"b.weight", DType::kF16, Shape{4}, as_bytes(b)},
      {"c", DType::kBF16, Shape{1, 2}, as_bytes(c)},
  };
  const auto path = dir / "model.safetensors";
  ASSERT_TRUE(write_safetensors(path, tensors, /*metadata=*/{{"format", "pt"}, {"origin", "test"}}));

  auto opened = SafetensorsFile::open(path);
  ASSERT_TRUE(opened) << opened.error().message;
  const SafetensorsFile& file = opened.value();
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.file_size_bytes(), std::filesystem::file_size(path));
  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"origin", "test"}}));
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "a");
  EXPECT_EQ(file.tensors()[1].name, "b.weight");
  EXPECT_EQ(file.tensors()[2].name, "c");
  EXPECT_EQ(file.tensors()[0].dtype, DType::kF32);
  EXPECT_EQ(file.tensors()[1].dtype, DType::kF16);
  EXPECT_EQ(file.tensors()[2].dtype, DType::kBF16);
  EXPECT_EQ(file.tensors()[0].shape, (Shape{2, 3}));
  EXPECT_EQ(file.tensors()[1].shape, (Shape{4}));
  EXPECT_EQ(file.tensors()[2].shape, (Shape{1, 2}));
  EXPECT_EQ(file.tensors()[0].size_bytes, 24u);
  EXPECT_EQ(file.tensors()[1].size_bytes, 8u);
  EXPECT_EQ(file.tensors()[2].size_bytes, 4u);
  // The writer pads the header so the data buffer starts 8-byte aligned; offsets are absolute in the file.
  EXPECT_EQ(file.tensors()[0].offset_bytes % 8, 0u);
  EXPECT_EQ(file.tensors()[1].offset_bytes, file.tensors()[0].offset_bytes + 24);
  EXPECT_EQ(file.tensors()[2].offset_bytes, file.tensors()[1].offset_bytes + 8);
  EXPECT_EQ(file.tensors()[2].offset_bytes + 4, file.file_size_bytes());

  // Zero-copy: every view points into one mapping of the whole file, at the tensor's absolute offset.
  const std::string on_disk = test::read_file(path);
  const std::byte* base = file.bytes(file.tensors()[0]).data() - file.tensors()[0].offset_bytes;
  for (const TensorInfo& t : file.tensors()) {
    const std::span<const std::byte> bytes = file.bytes(t);
    EXPECT_EQ(bytes.data(), base + t.offset_bytes) << t.name;
    EXPECT_EQ(bytes.size(), t.size_bytes) << t.name;
    const tensor_core::TensorView view = file.view(t);
    EXPECT_EQ(view.data(), bytes.data()) << t.name;
    EXPECT_EQ(view.dtype(), t.dtype) << t.name;
    EXPECT_EQ(view.shape(), t.shape) << t.name;
    EXPECT_TRUE(view.is_contiguous()) << t.name;
  }
  EXPECT_EQ(std::memcmp(base, on_disk.data(), on_disk.size()), 0);

  EXPECT_EQ(read_f32(file.bytes(*file.find("a"))), std::vector<float>(a.begin(), a.end()));
  std::array<std::uint16_t, 4> b_back{};
  std::memcpy(b_back.data(), file.bytes(*file.find("b.weight")).data(), sizeof(b_back));
  EXPECT_EQ(b_back, b);
  std::array<float, 4> b_f32{};
  tensor_core::to_f32(DType::kF16, file.bytes(*file.find("b.weight")).data(), 4, b_f32.data());
  EXPECT_EQ(b_f32, (std::array<float, 4>{1.0F, 2.0F, -2.0F, 0.0F}));
  std::array<float, 2> c_f32{};
  tensor_core::to_f32(DType::kBF16, file.bytes(*file.find("c")).data(), 2, c_f32.data());
  EXPECT_EQ(c_f32, (std::array<float, 2>{1.0F, -1.0F}));
  EXPECT_EQ(file.find("absent"), nullptr);
}

// O_DIRECT into a page-aligned window: the data lands at its file offset modulo 4096, for tensors and row ranges
// that start anywhere in a page, and a file cut short under the reader is kIoError, not a short result.
TEST(SafetensorsDirect, InPlaceReadPlacesBytesAtTheirPageOffset) {
  ScopedTempDir dir;
  std::vector<std::uint8_t> small(26), big(300'002);
  std::mt19937 rng(7);
  for (auto& b : small) b = static_cast<std::uint8_t>(rng());
  for (auto& b : big) b = static_cast<std::uint8_t>(rng());
  const std::vector<TensorToWrite> tensors = {
      {"small", DType::kF16, Shape{13}, std::as_bytes(std::span(small))},
      {"big", DType::kF16, Shape{150'001}, std::as_bytes(std::span(big))},
  };
  const auto path = dir / "model.safetensors";
  ASSERT_TRUE(write_safetensors(path, tensors, {}));
  auto opened = SafetensorsFile::open(path);
  ASSERT_TRUE(opened) << opened.error().message;
  const SafetensorsFile& file = opened.value();
  if (!file.file().supports_direct_io()) GTEST_SKIP() << "the temp folder's file system refuses O_DIRECT";
  const auto direct = make_weight_source(WeightIo::kDirect);
  ASSERT_EQ(direct->in_place_alignment(), 4096u);
  const TensorInfo& info = *file.find("big");
  ASSERT_NE(info.offset_bytes % 4096, 0u);  // the test needs an unaligned start

  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  constexpr std::size_t kWindow = 320 * 1024;
  std::unique_ptr<std::byte, Free> window(static_cast<std::byte*>(std::aligned_alloc(4096, kWindow)));
  for (const auto& [offset, size] : {std::pair<std::uint64_t, std::uint64_t>{0, 300'002},
                                     {1, 4095},
                                     {4095, 8193},
                                     {123'457, 176'544},
                                     {299'999, 2}}) {
    std::memset(window.get(), 0, kWindow);
    auto got = direct->read_in_place(file.file(), info, offset, size, std::span(window.get(), kWindow), {});
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(static_cast<std::uint64_t>(got.value() - window.get()), (info.offset_bytes + offset) % 4096);
    EXPECT_EQ(std::memcmp(got.value(), big.data() + offset, size), 0) << "offset " << offset << " size " << size;
  }

  std::filesystem::resize_file(path, info.offset_bytes + 200'000);
  auto cut = direct->read_in_place(file.file(), info, 0, 300'002, std::span(window.get(), kWindow), {});
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, ErrorCode::kIoError);
  EXPECT_NE(cut.error().message.find("'big'"), std::string::npos) << cut.error().message;
}

TEST(SafetensorsWrite, MovedFileKeepsItsMapping) {
  ScopedTempDir dir;
  const std::array<float, 2> a = {7.0F, 8.0F};
  const std::vector<TensorToWrite> tensors = {{"a", DType::kF32, Shape{2}, as_bytes(a)}};
  ASSERT_TRUE(write_safetensors(dir / "m.safetensors", tensors));
  auto opened = SafetensorsFile::open(dir / "m.safetensors");
  ASSERT_TRUE(opened) << opened.error().message;
  const std::byte* before = opened.value().bytes(opened.value().tensors()[0]).data();
  SafetensorsFile moved = std::move(opened).value();
  EXPECT_EQ(moved.bytes(moved.tensors()[0]).data(), before);
  EXPECT_EQ(read_f32(moved.bytes(*moved.find("a"))), (std::vector<float>{7.0F, 8.0F}));
}

TEST(SafetensorsWrite, SizeMismatchIsInvalidArgument) {
  ScopedTempDir dir;
  const std::array<float, 3> a = {1.0F, 2.0F, 3.0F};
  const std::vector<TensorToWrite> tensors = {{"wrong", DType::kF32, Shape{2, 2}, as_bytes(a)}};
  expect_error(write_safetensors(dir / "m.safetensors", tensors), ErrorCode::kInvalidArgument,
               {"m.safetensors", "'wrong'", "12 bytes", "expected 16"});
}

TEST(SafetensorsWrite, DuplicateNameIsInvalidArgument) {
  ScopedTempDir dir;
  const std::array<float, 1> a = {1.0F};
  const std::vector<TensorToWrite> tensors = {{"x", DType::kF32, Shape{1}, as_bytes(a)},
                                              {"x", DType::kF32, Shape{1}, as_bytes(a)}};
  expect_error(write_safetensors(dir / "m.safetensors", tensors), ErrorCode::kInvalidArgument,
               {"m.safetensors", "duplicate", "'x'"});
}

TEST(SafetensorsWrite, UnwritablePathIsIoError) {
  ScopedTempDir dir;
  const std::array<float, 1> a = {1.0F};
  const std::vector<TensorToWrite> tensors = {{"x", DType::kF32, Shape{1}, as_bytes(a)}};
  expect_error(write_safetensors(dir / "no_such_folder" / "m.safetensors", tensors), ErrorCode::kIoError,
               {"no_such_folder"});
}

TEST(SafetensorsOpen, HandBuiltFileWithUnsortedEntriesAndUnalignedData) {
  ScopedTempDir dir;
  // Entries in the JSON out of offset order, a header length that leaves the data unaligned, a scalar.
  const std::string header = R"({"second":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
                             R"("__metadata__":{"k":"v"},)"
                             R"("first":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                             R"("third":{"dtype":"BF16","shape":[1,1,1,2],"data_offsets":[12,16]}})";
  std::string data(16, '\0');
  const float values[3] = {-1.5F, 2.25F, 1e20F};
  std::memcpy(data.data(), values, sizeof(values));
  data[12] = '\x80';
  data[13] = '\x3f';  // BF16 1.0
  data[14] = '\x00';
  data[15] = '\x40';  // BF16 2.0
  const auto path = dir / "hand.safetensors";
  write_file(path, raw_safetensors(header, data));

  auto opened = SafetensorsFile::open(path);
  ASSERT_TRUE(opened) << opened.error().message;
  const SafetensorsFile& file = opened.value();
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "first");  // file order = ascending offset
  EXPECT_EQ(file.tensors()[1].name, "second");
  EXPECT_EQ(file.tensors()[2].name, "third");
  const std::uint64_t data_start = 8 + header.size();
  EXPECT_EQ(file.tensors()[0].offset_bytes, data_start);
  EXPECT_EQ(file.tensors()[1].offset_bytes, data_start + 4);
  EXPECT_EQ(file.tensors()[2].offset_bytes, data_start + 12);
  EXPECT_EQ(file.tensors()[0].shape.rank(), 0u);
  EXPECT_EQ(file.tensors()[0].shape.numel(), 1);
  EXPECT_EQ(file.tensors()[2].shape, (Shape{1, 1, 1, 2}));
  EXPECT_EQ(file.metadata().at("k"), "v");
  EXPECT_EQ(read_f32(file.bytes(*file.find("first"))), (std::vector<float>{-1.5F}));
  EXPECT_EQ(read_f32(file.bytes(*file.find("second"))), (std::vector<float>{2.25F, 1e20F}));
  std::array<float, 2> third{};
  tensor_core::to_f32(DType::kBF16, file.bytes(*file.find("third")).data(), 2, third.data());
  EXPECT_EQ(third, (std::array<float, 2>{1.0F, 2.0F}));
}

TEST(SafetensorsOpen, EmptyHeaderObjectHasNoTensors) {
  ScopedTempDir dir;
  write_file(dir / "empty.safetensors", raw_safetensors("{}", ""));
  auto opened = SafetensorsFile::open(dir / "empty.safetensors");
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(opened.value().tensors().empty());
  EXPECT_TRUE(opened.value().metadata().empty());
}

TEST(SafetensorsOpen, ZeroElementTensorIsValid) {
  ScopedTempDir dir;
  const std::string header = R"({"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                             R"("x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  write_file(dir / "z.safetensors", raw_safetensors(header, std::string(4, '\0')));
  auto opened = SafetensorsFile::open(dir / "z.safetensors");
  ASSERT_TRUE(opened) << opened.error().message;
  ASSERT_NE(opened.value().find("empty"), nullptr);
  EXPECT_EQ(opened.value().find("empty")->size_bytes, 0u);
  EXPECT_EQ(opened.value().find("x")->size_bytes, 4u);
}

TEST(SafetensorsOpen, HeaderPaddedWithTrailingSpacesIsValid) {
  ScopedTempDir dir;
  const std::string header = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})" + std::string(5, ' ');
  write_file(dir / "p.safetensors", raw_safetensors(header, std::string(4, '\0')));
  auto opened = SafetensorsFile::open(dir / "p.safetensors");
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened.value().find("x")->offset_bytes, 8 + header.size());
}

TEST(SafetensorsOpen, RealCheckpointOpens) {
  const auto path = test::shared_models_dir() / "capp-gpt2-tiny" / "model.safetensors";
  auto opened = SafetensorsFile::open(path);
  ASSERT_TRUE(opened) << opened.error().message;
  const SafetensorsFile& file = opened.value();
  EXPECT_EQ(file.tensors().size(), 52u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const TensorInfo* wte = file.find("transformer.wte.weight");
  ASSERT_NE(wte, nullptr);
  EXPECT_EQ(wte->shape, (Shape{53, 64}));
  std::uint64_t end = 0;
  for (const TensorInfo& t : file.tensors()) {
    EXPECT_GE(t.offset_bytes, end) << t.name;  // ascending, non-overlapping
    end = t.offset_bytes + t.size_bytes;
  }
  EXPECT_EQ(end, file.file_size_bytes());
}

// ---- corrupted files ----

// A file holding `header` and `data_bytes` zero bytes of data, opened.
Result<SafetensorsFile> open_with_header(const ScopedTempDir& dir, std::string_view header,
                                         std::size_t data_bytes = 16) {
  const auto path = dir / "bad.safetensors";
  test::write_file(path, raw_safetensors(header, std::string(data_bytes, '\0')));
  return SafetensorsFile::open(path);
}

TEST(SafetensorsCorrupt, MissingFileIsIoError) {
  ScopedTempDir dir;
  const auto path = dir / "does_not_exist.safetensors";
  expect_error(SafetensorsFile::open(path), ErrorCode::kIoError, {path.string(), "cannot open"});
}

TEST(SafetensorsCorrupt, DirectoryIsAnError) {
  ScopedTempDir dir;
  auto r = SafetensorsFile::open(dir.path());
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().message.find(dir.path().string()), std::string::npos) << r.error().message;
}

TEST(SafetensorsCorrupt, EmptyFile) {
  ScopedTempDir dir;
  const auto path = dir / "bad.safetensors";
  write_file(path, "");
  expect_error(SafetensorsFile::open(path), ErrorCode::kInvalidFormat, {path.string(), "0 bytes", "8-byte"});
}

TEST(SafetensorsCorrupt, FileShorterThanTheLengthPrefix) {
  ScopedTempDir dir;
  const auto path = dir / "bad.safetensors";
  write_file(path, std::string("\x02\x00\x00\x00\x00", 5));
  expect_error(SafetensorsFile::open(path), ErrorCode::kInvalidFormat, {path.string(), "5 bytes", "8-byte"});
}

TEST(SafetensorsCorrupt, HeaderLengthLargerThanTheFile) {
  ScopedTempDir dir;
  const auto path = dir / "bad.safetensors";
  const std::string header = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  write_file(path, test::le_u64(header.size() + 100) + header + std::string(4, '\0'));
  expect_error(SafetensorsFile::open(path), ErrorCode::kInvalidFormat,
               {path.string(), "header length " + std::to_string(header.size() + 100), "file size"});
}

TEST(SafetensorsCorrupt, HeaderLengthOverTheCap) {
  ScopedTempDir dir;
  const auto path = dir / "bad.safetensors";
  write_file(path, test::le_u64(kMaxSafetensorsHeaderBytes + 1) + "{}");
  expect_error(SafetensorsFile::open(path), ErrorCode::kInvalidFormat, {path.string(), "100 MiB"});
}

TEST(SafetensorsCorrupt, HeaderLengthOfAllOnesDoesNotOverflow) {
  ScopedTempDir dir;
  const auto path = dir / "bad.safetensors";
  write_file(path, test::le_u64(~std::uint64_t{0}) + "{}");
  expect_error(SafetensorsFile::open(path), ErrorCode::kInvalidFormat, {path.string(), "header length"});
  write_file(path, test::le_u64(~std::uint64_t{0} - 7) + "{}");  // 8 + length wraps to 0
  expect_error(SafetensorsFile::open(path), ErrorCode::kInvalidFormat, {path.string(), "header length"});
}

TEST(SafetensorsCorrupt, HeaderNotJson) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, "{not json"), ErrorCode::kInvalidFormat, {"bad.safetensors", "JSON"});
  expect_error(open_with_header(dir, ""), ErrorCode::kInvalidFormat, {"bad.safetensors", "JSON"});
  expect_error(open_with_header(dir, std::string("{\0}", 3)), ErrorCode::kInvalidFormat, {"bad.safetensors", "JSON"});
}

TEST(SafetensorsCorrupt, HeaderNotAnObject) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, "[1, 2]"), ErrorCode::kInvalidFormat, {"bad.safetensors", "not a JSON object"});
  expect_error(open_with_header(dir, "42"), ErrorCode::kInvalidFormat, {"bad.safetensors", "not a JSON object"});
}

TEST(SafetensorsCorrupt, TensorEntryNotAnObject) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":[1,2]})"), ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'"});
}

TEST(SafetensorsCorrupt, UnknownDtypeIsUnsupported) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w8":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})"),
               ErrorCode::kUnsupported, {"bad.safetensors", "'w8'", "F8_E4M3"});
  expect_error(open_with_header(dir, R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})"),
               ErrorCode::kUnsupported, {"bad.safetensors", "'ids'", "I64"});
  expect_error(open_with_header(dir, R"({"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})"),
               ErrorCode::kUnsupported, {"bad.safetensors", "'d'", "F64"});
  expect_error(open_with_header(dir, R"({"l":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})"),
               ErrorCode::kUnsupported, {"bad.safetensors", "'l'", "f32"});
}

TEST(SafetensorsCorrupt, MissingOrMistypedFields) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"shape":[1],"data_offsets":[0,4]}})"), ErrorCode::kInvalidFormat,
               {"bad.safetensors", "'w'", "dtype"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "dtype"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","data_offsets":[0,4]}})"), ErrorCode::kInvalidFormat,
               {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1]}})"), ErrorCode::kInvalidFormat,
               {"bad.safetensors", "'w'", "data_offsets"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":{"b":0}}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
}

TEST(SafetensorsCorrupt, DataOffsetsPastTheEnd) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}})", 16),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets", "16 bytes"});
  expect_error(
      open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]}})", 16),
      ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
  // end - begin matches the shape but both lie past the buffer; the sum must not wrap.
  expect_error(
      open_with_header(
          dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})", 16),
      ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
}

TEST(SafetensorsCorrupt, DataOffsetsBeginAfterEnd) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets", "[8, 4]"});
}

TEST(SafetensorsCorrupt, DataOffsetsNegativeOrFractional) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "data_offsets"});
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'a'", "'b'", "overlap"});
  // The same range twice.
  expect_error(open_with_header(dir, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "overlap"});
  // One inside another.
  expect_error(open_with_header(dir, R"({"outer":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                     R"("inner":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'outer'", "'inner'", "overlap"});
}

TEST(SafetensorsCorrupt, ByteSizeDisagreesWithShapeAndDtype) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "12 bytes", "expected 16", "[2, 2]", "F32"});
  expect_error(open_with_header(dir, R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,16]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'h'", "16 bytes", "expected 8"});
}

TEST(SafetensorsCorrupt, NegativeShapeDimension) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
}

TEST(SafetensorsCorrupt, NonIntegerShapeEntries) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[null],"data_offsets":[0,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
}

TEST(SafetensorsCorrupt, HugeOrTooManyDimensions) {
  ScopedTempDir dir;
  // The element count would overflow 64 bits: rejected, not wrapped into a small size.
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape"});
  expect_error(open_with_header(dir, R"({"w":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})"),
               ErrorCode::kInvalidFormat, {"bad.safetensors", "'w'", "shape", "rank 5"});
}

TEST(SafetensorsCorrupt, MetadataValuesMustBeStrings) {
  ScopedTempDir dir;
  expect_error(open_with_header(dir, R"({"__metadata__":{"format":"pt","step":1000}})"), ErrorCode::kInvalidFormat,
               {"bad.safetensors", "__metadata__", "'step'"});
  expect_error(open_with_header(dir, R"({"__metadata__":{"nested":{"a":"b"}}})"), ErrorCode::kInvalidFormat,
               {"bad.safetensors", "__metadata__", "'nested'"});
  expect_error(open_with_header(dir, R"({"__metadata__":["pt"]})"), ErrorCode::kInvalidFormat,
               {"bad.safetensors", "__metadata__"});
}

// ---- parse_safetensors_header ----

TEST(ParseSafetensorsHeader, OffsetsAreRelativeToTheDataBuffer) {
  std::map<std::string, std::string> metadata;
  auto parsed = parse_safetensors_header(
      R"({"b":{"dtype":"F16","shape":[3],"data_offsets":[8,14]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("__metadata__":{"format":"pt"}})",
      /*data_bytes=*/14, "label.safetensors", &metadata);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed.value().size(), 2u);
  EXPECT_EQ(parsed.value()[0].name, "a");
  EXPECT_EQ(parsed.value()[0].offset_bytes, 0u);
  EXPECT_EQ(parsed.value()[0].size_bytes, 8u);
  EXPECT_EQ(parsed.value()[1].name, "b");
  EXPECT_EQ(parsed.value()[1].offset_bytes, 8u);
  EXPECT_EQ(parsed.value()[1].size_bytes, 6u);
  EXPECT_EQ(parsed.value()[1].dtype, DType::kF16);
  EXPECT_EQ(metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST(ParseSafetensorsHeader, MetadataPointerIsOptional) {
  auto parsed = parse_safetensors_header(R"({"__metadata__":{"format":"pt"}})", /*data_bytes=*/0, "m");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed.value().empty());
}

TEST(ParseSafetensorsHeader, EndExactlyAtTheBufferIsValidOnePastIsNot) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_TRUE(parse_safetensors_header(header, /*data_bytes=*/8, "m"));
  EXPECT_TRUE(parse_safetensors_header(header, /*data_bytes=*/100, "m"));
  expect_error(parse_safetensors_header(header, /*data_bytes=*/7, "label-x"), ErrorCode::kInvalidFormat,
               {"[safetensors] label-x", "'w'", "data_offsets"});
}

TEST(ParseSafetensorsHeader, ErrorsNameTheLabel) {
  expect_error(parse_safetensors_header("nope", /*data_bytes=*/0, "my-label"), ErrorCode::kInvalidFormat,
               {"[safetensors] my-label", "JSON"});
  expect_error(parse_safetensors_header(R"({"t":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})",
                                        /*data_bytes=*/1, "my-label"),
               ErrorCode::kUnsupported, {"[safetensors] my-label", "'t'", "I8"});
  expect_error(parse_safetensors_header(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                        /*data_bytes=*/8, "my-label"),
               ErrorCode::kInvalidFormat, {"[safetensors] my-label", "'t'", "expected 12"});
}

// Quantization metadata is file data too: rows of 2^63-1 once overflowed the row-byte sizes, and metadata naming a
// tensor that is not U8 was ignored (issue 12).
TEST(ParseSafetensorsHeader, HostileQuantizationMetadata) {
  expect_error(parse_safetensors_header(R"({"__metadata__":{"edge_rt.quant.w":"Q8_0 [9223372036854775807, 32]"},)"
                                        R"("w":{"dtype":"U8","shape":[1,34],"data_offsets":[0,34]}})",
                                        /*data_bytes=*/34, "q.safetensors"),
               ErrorCode::kInvalidFormat, {"q.safetensors", "edge_rt.quant.w", "overflow"});
  expect_error(parse_safetensors_header(R"({"__metadata__":{"edge_rt.quant.w":"Q8_0 [1, 32]"},)"
                                        R"("w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})",
                                        /*data_bytes=*/32, "q.safetensors"),
               ErrorCode::kInvalidFormat, {"q.safetensors", "'w'", "is not a U8 tensor of this file"});
  expect_error(parse_safetensors_header(R"({"__metadata__":{"edge_rt.quant.gone":"Q8_0 [1, 32]"}})",
                                        /*data_bytes=*/0, "q.safetensors"),
               ErrorCode::kInvalidFormat, {"'gone'", "is not a U8 tensor of this file"});
}

TEST(SafetensorsCorrupt, FifoIsRefusedWithoutBlocking) {
  ScopedTempDir dir;
  ASSERT_EQ(::mkfifo((dir / "model.safetensors").c_str(), 0600), 0);
  expect_error(SafetensorsFile::open(dir / "model.safetensors"), ErrorCode::kInvalidFormat,
               {"model.safetensors", "is a FIFO, expected a regular file"});
}

// --mmap copies: a file truncated after open is an I/O error naming the file and tensor, not SIGBUS.
TEST(SafetensorsCorrupt, MappedCopyOfATruncatedFileIsIoError) {
  ScopedTempDir dir;
  std::vector<float> values(4096, 1.0f);
  const TensorToWrite t{"t", DType::kF32, Shape{4096},
                        std::as_bytes(std::span<const float>(values.data(), values.size()))};
  ASSERT_TRUE(write_safetensors(dir / "m.safetensors", std::span(&t, 1)));
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  ASSERT_TRUE(file) << file.error().message;
  const TensorInfo& info = file.value().tensors().front();
  std::vector<std::byte> out(info.size_bytes);
  const auto mapped = make_weight_source(WeightIo::kMmap);
  ASSERT_TRUE(mapped->read(file.value().file(), info, 0, out, {}));
  std::filesystem::resize_file(dir / "m.safetensors", info.offset_bytes + 100);
  expect_error(mapped->read(file.value().file(), info, 0, out, {}), ErrorCode::kIoError,
               {"m.safetensors", "'t'", "truncated"});
  // pread sees the truncation too, with the same message.
  expect_error(make_weight_source(WeightIo::kPread)->read(file.value().file(), info, 0, out, {}), ErrorCode::kIoError,
               {"m.safetensors", "'t'", "truncated"});
}

TEST(ParseSafetensorsHeader, DeepNestingIsRejectedNotOverflowed) {
  const std::string deep = R"({"w":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto parsed = parse_safetensors_header(deep, /*data_bytes=*/0, "deep");
  ASSERT_TRUE(parsed.has_error());
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidFormat) << parsed.error().message;
}

// ---- sharded checkpoints ----

class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(write_safetensors(dir_ / "model-00001-of-00002.safetensors",
                                  std::vector<TensorToWrite>{{"a", DType::kF32, Shape{2}, as_bytes(a_)},
                                                             {"b", DType::kF32, Shape{1, 1}, as_bytes(b_)}}));
    ASSERT_TRUE(write_safetensors(dir_ / "model-00002-of-00002.safetensors",
                                  std::vector<TensorToWrite>{{"c", DType::kF32, Shape{3}, as_bytes(c_)}}));
  }
  void write_index(std::string_view json) { write_file(dir_ / "model.safetensors.index.json", json); }

  ScopedTempDir dir_;
  std::array<float, 2> a_ = {1.0F, 2.0F};
  std::array<float, 1> b_ = {3.0F};
  std::array<float, 3> c_ = {4.0F, 5.0F, 6.0F};
};

TEST_F(ShardedCheckpoint, FindsEveryTensorInItsShard) {
  write_index(R"({"metadata":{"total_size":24},"weight_map":{)"
              R"("a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
              R"("c":"model-00002-of-00002.safetensors"}})");
  auto opened = Checkpoint::open(dir_.path());
  ASSERT_TRUE(opened) << opened.error().message;
  const Checkpoint& ckpt = opened.value();
  EXPECT_EQ(ckpt.tensors().size(), 3u);
  const std::map<std::string, std::string> expected_shard = {{"a", "model-00001-of-00002.safetensors"},
                                                             {"b", "model-00001-of-00002.safetensors"},
                                                             {"c", "model-00002-of-00002.safetensors"}};
  for (const auto& [name, shard] : expected_shard) {
    const Checkpoint::Entry e = ckpt.find(name);
    ASSERT_NE(e.file, nullptr) << name;
    ASSERT_NE(e.info, nullptr) << name;
    EXPECT_EQ(e.file->path().filename(), shard) << name;
    EXPECT_EQ(e.info->name, name);
  }
  const auto bytes = [&](std::string_view name) {
    const Checkpoint::Entry e = ckpt.find(name);
    return e.file->mapped(e.info->offset_bytes, e.info->size_bytes);
  };
  EXPECT_EQ(read_f32(bytes("a")), (std::vector<float>{1.0F, 2.0F}));
  EXPECT_EQ(read_f32(bytes("c")), (std::vector<float>{4.0F, 5.0F, 6.0F}));
  const Checkpoint::Entry absent = ckpt.find("d");
  EXPECT_EQ(absent.file, nullptr);
  EXPECT_EQ(absent.info, nullptr);
  EXPECT_EQ(ckpt.total_file_bytes(), std::filesystem::file_size(dir_ / "model-00001-of-00002.safetensors") +
                                         std::filesystem::file_size(dir_ / "model-00002-of-00002.safetensors"));
}

TEST_F(ShardedCheckpoint, IndexWinsOverASingleFile) {
  std::filesystem::copy_file(dir_ / "model-00002-of-00002.safetensors", dir_ / "model.safetensors");
  write_index(R"({"weight_map":{"a":"model-00001-of-00002.safetensors"}})");
  auto opened = Checkpoint::open(dir_.path());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_NE(opened.value().find("a").info, nullptr);
  EXPECT_EQ(opened.value().find("c").info, nullptr);  // in model.safetensors and shard 2, but not in the index
}

TEST_F(ShardedCheckpoint, ShardLackingAMappedTensorIsInvalidFormat) {
  write_index(R"({"weight_map":{"a":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}})");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kInvalidFormat,
               {"model.safetensors.index.json", "'c'", "model-00001-of-00002.safetensors"});
}

TEST_F(ShardedCheckpoint, MissingWeightMapIsMissingField) {
  write_index(R"({"metadata":{"total_size":24}})");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kMissingField, {"model.safetensors.index.json", "weight_map"});
}

TEST_F(ShardedCheckpoint, IndexNotJsonIsInvalidFormat) {
  write_index("{weight_map:");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kInvalidFormat, {"model.safetensors.index.json"});
  write_index("[]");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kInvalidFormat, {"model.safetensors.index.json"});
}

TEST_F(ShardedCheckpoint, ShardNameMustBeAString) {
  write_index(R"({"weight_map":{"a":1}})");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kInvalidFormat,
               {"model.safetensors.index.json", "weight_map", "'a'"});
}

TEST_F(ShardedCheckpoint, ShardOutsideTheFolderIsRejected) {
  // Every shard named below exists and holds 'a', so only the path check can reject it.
  std::filesystem::create_directories(dir_ / "inner");
  std::filesystem::copy_file(dir_ / "model-00001-of-00002.safetensors", dir_ / "inner" / "x.safetensors");
  const std::string absolute = (dir_ / "model-00001-of-00002.safetensors").string();
  const std::vector<std::pair<std::filesystem::path, std::string>> cases = {
      {dir_ / "inner", "../model-00001-of-00002.safetensors"},
      {dir_ / "inner", "./../model-00001-of-00002.safetensors"},
      {dir_.path(), "inner/x.safetensors"},
      {dir_ / "inner", absolute},
  };
  for (const auto& [model_dir, shard] : cases) {
    SCOPED_TRACE(shard);
    write_file(model_dir / "model.safetensors.index.json", R"({"weight_map":{"a":")" + shard + R"("}})");
    expect_error(Checkpoint::open(model_dir), ErrorCode::kInvalidFormat,
                 {"model.safetensors.index.json", "'a'", "outside"});
  }
}

TEST_F(ShardedCheckpoint, TensorInTwoShardsIsInvalidFormat) {
  // Shard 2 also holds 'a': which copy is meant is ambiguous.
  ASSERT_TRUE(write_safetensors(dir_ / "model-00002-of-00002.safetensors",
                                std::vector<TensorToWrite>{{"a", DType::kF32, Shape{2}, as_bytes(a_)},
                                                           {"c", DType::kF32, Shape{3}, as_bytes(c_)}}));
  write_index(R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
              R"("c":"model-00002-of-00002.safetensors"}})");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kInvalidFormat, {"'a'"});
}

TEST_F(ShardedCheckpoint, MissingShardIsIoError) {
  write_index(R"({"weight_map":{"a":"model-00003-of-00003.safetensors"}})");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kIoError, {"model-00003-of-00003.safetensors"});
}

TEST_F(ShardedCheckpoint, CorruptShardReportsTheShard) {
  write_file(dir_ / "model-00002-of-00002.safetensors", raw_safetensors("{oops", ""));
  write_index(R"({"weight_map":{"c":"model-00002-of-00002.safetensors"}})");
  expect_error(Checkpoint::open(dir_.path()), ErrorCode::kInvalidFormat, {"model-00002-of-00002.safetensors", "JSON"});
}

TEST(Checkpoint, SingleFile) {
  ScopedTempDir dir;
  const std::array<float, 2> a = {1.0F, 2.0F};
  ASSERT_TRUE(write_safetensors(dir / "model.safetensors",
                                std::vector<TensorToWrite>{{"a", DType::kF32, Shape{2}, as_bytes(a)}}));
  auto opened = Checkpoint::open(dir.path());
  ASSERT_TRUE(opened) << opened.error().message;
  ASSERT_EQ(opened.value().tensors().size(), 1u);
  EXPECT_NE(opened.value().find("a").info, nullptr);
  EXPECT_EQ(opened.value().total_file_bytes(), std::filesystem::file_size(dir / "model.safetensors"));
}

TEST(Checkpoint, FolderWithNeitherFileIsIoError) {
  ScopedTempDir dir;
  write_file(dir / "pytorch_model.bin", "not ours");
  expect_error(Checkpoint::open(dir.path()), ErrorCode::kIoError,
               {dir.path().string(), "model.safetensors", "model.safetensors.index.json"});
  expect_error(Checkpoint::open(dir / "no_such_folder"), ErrorCode::kIoError, {"no_such_folder"});
}

// ---- random mutations: never a crash or a hang ----

std::string small_valid_file() {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"emb":{"dtype":"F32","shape":[4,2],"data_offsets":[0,32]},)"
      R"("ln":{"dtype":"BF16","shape":[2],"data_offsets":[32,36]},"w":{"dtype":"F16","shape":[2,3],"data_offsets":[36,48]}})";
  std::string data(48, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 1);
  return raw_safetensors(header, data);
}

// Reads every byte a successfully opened file claims, so a bad view would fault under the test.
void touch_all_tensors(const SafetensorsFile& file) {
  unsigned sum = 0;
  for (const TensorInfo& t : file.tensors()) {
    ASSERT_LE(t.offset_bytes, file.file_size_bytes()) << t.name;
    ASSERT_LE(t.size_bytes, file.file_size_bytes() - t.offset_bytes) << t.name;
    ASSERT_EQ(t.size_bytes, static_cast<std::uint64_t>(t.shape.numel()) * tensor_core::dtype_size(t.dtype));
    for (std::byte b : file.bytes(t)) sum += std::to_integer<unsigned>(b);
  }
  EXPECT_GE(sum, 0u);
}

void expect_clean_outcome(const Result<SafetensorsFile>& r, const std::string& trace) {
  if (r) {
    touch_all_tensors(r.value());
    return;
  }
  const ErrorCode code = r.error().code;
  EXPECT_TRUE(code == ErrorCode::kInvalidFormat || code == ErrorCode::kUnsupported)
      << trace << ": " << to_string(code) << ": " << r.error().message;
  EXPECT_TRUE(r.error().message.starts_with("[safetensors] ")) << trace << ": " << r.error().message;
}

TEST(SafetensorsMutation, RandomByteEditsNeverCrash) {
  ScopedTempDir dir;
  const std::string valid = small_valid_file();
  const std::size_t header_end = 8 + static_cast<std::size_t>(static_cast<unsigned char>(valid[0])) +
                                 256 * static_cast<std::size_t>(static_cast<unsigned char>(valid[1]));
  ASSERT_LT(header_end, valid.size());
  std::mt19937 rng(/*seed=*/20240611);
  const auto path = dir / "mutant.safetensors";
  int opened = 0;
  for (int iteration = 0; iteration < 400; ++iteration) {
    std::string bytes = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    std::string what;
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 6) {
        case 0: {  // flip one bit in the header JSON
          const std::size_t at = 8 + rng() % (header_end - 8);
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
          what += " flip@" + std::to_string(at);
          break;
        }
        case 1: {  // replace a header byte with a JSON-significant character
          static constexpr char kChars[] = "{}[]\",:0123456789-.eE \\nulltrue";
          const std::size_t at = 8 + rng() % (header_end - 8);
          bytes[at] = kChars[rng() % (sizeof(kChars) - 1)];
          what += " set@" + std::to_string(at);
          break;
        }
        case 2: {  // truncate anywhere
          bytes.resize(rng() % bytes.size());
          what += " truncate@" + std::to_string(bytes.size());
          break;
        }
        case 3: {  // corrupt the length prefix
          const std::size_t at = rng() % 8;
          bytes[at] = static_cast<char>(rng() & 0xff);
          what += " len@" + std::to_string(at);
          break;
        }
        case 4: {  // delete a header byte (the length prefix now disagrees)
          if (bytes.size() > 9) {
            const std::size_t at = 8 + rng() % std::min(header_end - 8, bytes.size() - 8);
            bytes.erase(at, 1);
            what += " erase@" + std::to_string(at);
          }
          break;
        }
        default: {  // change one digit of the header to another digit (shapes, offsets)
          std::vector<std::size_t> digits;
          for (std::size_t i = 8; i < std::min(header_end, bytes.size()); ++i) {
            if (bytes[i] >= '0' && bytes[i] <= '9') digits.push_back(i);
          }
          if (!digits.empty()) {
            const std::size_t at = digits[rng() % digits.size()];
            bytes[at] = static_cast<char>('0' + rng() % 10);
            what += " digit@" + std::to_string(at);
          }
          break;
        }
      }
    }
    write_file(path, bytes);
    const std::string trace = "iteration " + std::to_string(iteration) + ":" + what;
    auto r = SafetensorsFile::open(path);
    if (r) ++opened;
    expect_clean_outcome(r, trace);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(opened, 0);  // some edits (e.g. in a metadata string) leave the file valid
}

TEST(SafetensorsMutation, RandomStructuredHeadersNeverCrash) {
  ScopedTempDir dir;
  std::mt19937 rng(/*seed=*/7);
  const auto path = dir / "random.safetensors";
  static constexpr const char* kDtypes[] = {"F32", "F16", "BF16", "I8", "F8_E5M2", "", "F32 "};
  static constexpr const char* kNumbers[] = {"0",
                                             "1",
                                             "2",
                                             "3",
                                             "4",
                                             "8",
                                             "12",
                                             "16",
                                             "-1",
                                             "64",
                                             "1.5",
                                             "1e3",
                                             "null",
                                             "\"4\"",
                                             "9223372036854775807",
                                             "9223372036854775808",
                                             "18446744073709551615",
                                             "18446744073709551616"};
  auto number = [&] { return std::string(kNumbers[rng() % std::size(kNumbers)]); };
  for (int iteration = 0; iteration < 300; ++iteration) {
    std::string header = "{";
    const int n = static_cast<int>(rng() % 4);
    for (int t = 0; t < n; ++t) {
      if (t > 0) header += ",";
      header += "\"t" + std::to_string(t) + "\":{\"dtype\":\"" + kDtypes[rng() % std::size(kDtypes)] + "\",\"shape\":[";
      const int rank = static_cast<int>(rng() % 6);
      for (int r = 0; r < rank; ++r) {
        if (r > 0) header += ',';
        header += number();  // appended separately: g++ 12 warns falsely on "," + string (GCC PR 105651)
      }
      header += "],\"data_offsets\":[" + number() + "," + number() + "]}";
    }
    header += "}";
    const std::size_t data_bytes = rng() % 40;
    write_file(path, raw_safetensors(header, std::string(data_bytes, '\x5a')));
    auto r = SafetensorsFile::open(path);
    expect_clean_outcome(r, "iteration " + std::to_string(iteration) + ": " + header);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace edge_rt::model_ir
