#include <edge_rt/core/file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace edge_rt {

void UniqueFd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {
std::string errno_text() {
  return std::strerror(errno);
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}
}  // namespace

Result<RegularFile> open_regular_file(const std::filesystem::path& path, const char* component) {
  const std::string label = std::string(component) + " " + path.string() + ": ";
  int raw = -1;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) return fail(ErrorCode::kIoError, label + "cannot open: " + errno_text());
  RegularFile file{UniqueFd(raw), 0};
  struct stat st {};
  if (::fstat(raw, &st) != 0) return fail(ErrorCode::kIoError, label + "cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorCode::kInvalidFormat, label + "is " + kind_of(st.st_mode) + ", expected a regular file");
  }
  // Reads of a regular file never block; O_NONBLOCK is cleared only so the descriptor behaves as any other.
  const int flags = ::fcntl(raw, F_GETFL);
  if (flags >= 0) ::fcntl(raw, F_SETFL, flags & ~O_NONBLOCK);
  file.size_bytes = static_cast<std::uint64_t>(st.st_size);
  return file;
}

Result<std::string> read_regular_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                      const char* component) {
  EDGE_RT_TRY(RegularFile file, open_regular_file(path, component));
  const std::string label = std::string(component) + " " + path.string() + ": ";
  if (file.size_bytes > max_bytes) {
    return fail(ErrorCode::kInvalidFormat, label + "file is " + std::to_string(file.size_bytes) +
                                               " bytes, more than the " + std::to_string(max_bytes) +
                                               "-byte limit for this kind of file");
  }
  std::string text(static_cast<std::size_t>(file.size_bytes), '\0');
  EDGE_RT_TRY(read_exactly_at(file.fd.get(), text.data(), text.size(), 0, path, component));
  return text;
}

Result<void> read_exactly_at(int fd, void* buf, std::uint64_t n, std::uint64_t offset,
                             const std::filesystem::path& path, const char* component) {
  auto* out = static_cast<char*>(buf);
  std::uint64_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return fail(ErrorCode::kIoError, std::string(component) + " " + path.string() + ": read failed: " + errno_text());
    }
    if (got == 0) {
      return fail(ErrorCode::kIoError, std::string(component) + " " + path.string() + ": file ends at byte " +
                                           std::to_string(offset + done) + ", before byte " +
                                           std::to_string(offset + n) + " (truncated while being read?)");
    }
    done += static_cast<std::uint64_t>(got);
  }
  return boost::outcome_v2::success();
}

bool path_present(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  return std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found && !ec;
}

Result<AtomicFileWriter> AtomicFileWriter::create(const std::filesystem::path& target, const char* component) {
  AtomicFileWriter w;
  w.target_ = target;
  w.component_ = component;
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
  std::string pattern = (folder / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    return fail(ErrorCode::kIoError, w.component_ + " " + target.string() + ": cannot create a temporary file in " +
                                         folder.string() + ": " + errno_text());
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fchmod(fd, 0644);  // mkstemp makes 0600; a model file is as readable as any other
  w.fd_ = UniqueFd(fd);
  w.temp_ = pattern;
  return w;
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::exchange(other.temp_, {})),
      component_(std::move(other.component_)),
      fd_(std::move(other.fd_)) {}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    discard();
    target_ = std::move(other.target_);
    temp_ = std::exchange(other.temp_, {});
    component_ = std::move(other.component_);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() {
  discard();
}

void AtomicFileWriter::discard() noexcept {
  fd_.reset();
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

Result<void> AtomicFileWriter::write(std::string_view bytes) {
  EDGE_RT_CHECK(fd_.valid(), "AtomicFileWriter::write after commit");
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return fail(ErrorCode::kIoError, component_ + " " + target_.string() + ": write failed: " + errno_text());
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return boost::outcome_v2::success();
}

Result<void> AtomicFileWriter::commit() {
  EDGE_RT_CHECK(fd_.valid(), "AtomicFileWriter::commit twice");
  const std::string label = component_ + " " + target_.string() + ": ";
  if (::fsync(fd_.get()) != 0) return fail(ErrorCode::kIoError, label + "fsync failed: " + errno_text());
  if (::close(fd_.release()) != 0) return fail(ErrorCode::kIoError, label + "close failed: " + errno_text());
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    return fail(ErrorCode::kIoError, label + "cannot rename the finished temporary file over it: " + errno_text());
  }
  temp_.clear();
  const std::filesystem::path folder = target_.has_parent_path() ? target_.parent_path() : ".";
  UniqueFd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid() && ::fsync(dir.get()) != 0 && errno != EINVAL) {
    return fail(ErrorCode::kIoError, label + "fsync of the folder failed: " + errno_text());
  }
  return boost::outcome_v2::success();
}

Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view bytes, const char* component) {
  EDGE_RT_TRY(AtomicFileWriter writer, AtomicFileWriter::create(target, component));
  EDGE_RT_TRY(writer.write(bytes));
  return writer.commit();
}

Result<void> refuse_same_file(const std::filesystem::path& output, std::span<const std::filesystem::path> inputs,
                              const char* component) {
  struct stat out {};
  if (::stat(output.c_str(), &out) != 0) return boost::outcome_v2::success();
  for (const std::filesystem::path& input : inputs) {
    struct stat in {};
    if (::stat(input.c_str(), &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
      return fail(ErrorCode::kInvalidArgument, std::string(component) + " " + output.string() +
                                                   ": is the same file as the input " + input.string() +
                                                   " (a symlink or hard link); choose another output folder");
    }
  }
  return boost::outcome_v2::success();
}

Result<void> copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to,
                                  const char* component) {
  EDGE_RT_TRY(RegularFile source, open_regular_file(from, component));
  EDGE_RT_TRY(AtomicFileWriter writer, AtomicFileWriter::create(to, component));
  std::string buffer(std::size_t{1} << 20, '\0');
  for (;;) {
    const ssize_t n = ::read(source.fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return fail(ErrorCode::kIoError, std::string(component) + " " + from.string() + ": read failed: " + errno_text());
    }
    if (n == 0) break;
    EDGE_RT_TRY(writer.write(std::string_view(buffer.data(), static_cast<std::size_t>(n))));
  }
  return writer.commit();
}

}  // namespace edge_rt
