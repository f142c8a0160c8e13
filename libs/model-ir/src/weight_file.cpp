#include <edge_rt/model_ir/weight_file.hpp>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace edge_rt::model_ir {

namespace {

// SIGBUS from a mapped copy. A thread inside copy_mapped() publishes its source range and a jump buffer; the
// handler jumps back only for a fault inside that range, on that thread, so every other SIGBUS keeps its previous
// action (the handler restores it and returns: the faulting access repeats and gets it).
struct MappedCopyGuard {
  sigjmp_buf env;
  const std::byte* begin;
  const std::byte* end;
};
// volatile: the compiler must not drop the store before memcpy (nothing it can see reads it there).
thread_local MappedCopyGuard* volatile t_guard = nullptr;
struct sigaction g_previous_sigbus {};

void on_sigbus(int sig, siginfo_t* info, void* context) {
  MappedCopyGuard* guard = t_guard;
  const auto* addr = static_cast<const std::byte*>(info->si_addr);
  if (guard != nullptr && addr >= guard->begin && addr < guard->end) siglongjmp(guard->env, 1);
  if (g_previous_sigbus.sa_flags & SA_SIGINFO) {
    if (g_previous_sigbus.sa_sigaction != nullptr) return g_previous_sigbus.sa_sigaction(sig, info, context);
  } else if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN &&
             g_previous_sigbus.sa_handler != nullptr) {
    return g_previous_sigbus.sa_handler(sig);
  }
  ::sigaction(SIGBUS, &g_previous_sigbus, nullptr);  // default action on the repeated access
}

void install_sigbus_handler() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous_sigbus);
    return true;
  }();
  (void)installed;
}

}  // namespace

void WeightFile::Unmap::operator()(std::byte* p) const noexcept {
  if (p) ::munmap(p, size);
}

WeightFile::~WeightFile() = default;

Result<WeightFile> WeightFile::open(const std::filesystem::path& path, std::string component) {
  WeightFile file;
  EDGE_RT_TRY(RegularFile regular, open_regular_file(path, component.c_str()));
  file.fd_ = std::move(regular.fd);
  file.direct_fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT | O_NONBLOCK));
  file.path_ = path;
  file.component_ = std::move(component);
  file.size_ = regular.size_bytes;
  if (file.size_ > 0) {
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, file.fd_.get(), 0);
    if (p == MAP_FAILED) {
      return fail(ErrorCode::kIoError,
                  file.component_ + " " + path.string() + ": mmap failed: " + std::strerror(errno));
    }
    file.map_ = std::unique_ptr<std::byte, Unmap>(static_cast<std::byte*>(p), Unmap{file.size_});
  }
  return file;
}

std::span<const std::byte> WeightFile::mapped(std::uint64_t offset, std::uint64_t size) const noexcept {
  return {map_.get() + offset, static_cast<std::size_t>(size)};
}

Error WeightFile::truncated(std::string_view what) const {
  return Error{ErrorCode::kIoError, component_ + " " + path_.string() + ": file ends inside tensor '" +
                                        std::string(what) + "' (truncated after it was opened?)"};
}

// One pread of up to `want` bytes, retried on EINTR: the bytes read (> 0), or an error naming the file and the
// tensor (end of file inside the tensor is a truncation). `mode` is added to the message: "" or " (O_DIRECT)".
Result<std::uint64_t> WeightFile::pread_some(int fd, std::byte* buf, std::uint64_t want, std::uint64_t offset,
                                             std::string_view what, const char* mode) const {
  ssize_t n;
  do {
    n = ::pread(fd, buf, want, static_cast<off_t>(offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return Error{ErrorCode::kIoError, component_ + " " + path_.string() + ": reading tensor '" + std::string(what) +
                                          "'" + mode + " failed: " + std::strerror(errno)};
  }
  if (n == 0) return truncated(what);
  return static_cast<std::uint64_t>(n);
}

Result<void> WeightFile::read(std::uint64_t offset, std::span<std::byte> out, std::string_view what) const {
  std::uint64_t done = 0;
  while (done < out.size()) {
    EDGE_RT_TRY(const std::uint64_t n,
                pread_some(fd_.get(), out.data() + done, out.size() - done, offset + done, what, ""));
    done += n;
  }
  return boost::outcome_v2::success();
}

Result<void> WeightFile::read_direct(std::uint64_t offset, std::span<std::byte> out, std::span<std::byte> bounce,
                                     std::string_view what) const {
  EDGE_RT_CHECK(bounce.size() >= 2 * kDirectBlock && bounce.size() % kDirectBlock == 0 &&
                    reinterpret_cast<std::uintptr_t>(bounce.data()) % kDirectBlock == 0,
                "read_direct: bounce buffer must be 4096-aligned, a multiple of 4096 bytes, >= 8 KiB");
  if (!supports_direct_io()) {
    return fail(ErrorCode::kUnsupported, component_ + " " + path_.string() + ": the file system refuses O_DIRECT");
  }
  std::uint64_t pos = offset;
  std::uint64_t done = 0;
  while (done < out.size()) {
    const std::uint64_t aligned = pos & ~(kDirectBlock - 1);
    const std::uint64_t skip = pos - aligned;
    const std::uint64_t want =
        std::min<std::uint64_t>(bounce.size(), (skip + (out.size() - done) + kDirectBlock - 1) & ~(kDirectBlock - 1));
    EDGE_RT_TRY(const std::uint64_t n, pread_some(direct_fd_.get(), bounce.data(), want, aligned, what, " (O_DIRECT)"));
    if (n <= skip) return truncated(what);
    const std::uint64_t got = std::min<std::uint64_t>(n - skip, out.size() - done);
    std::memcpy(out.data() + done, bounce.data() + skip, got);
    done += got;
    pos += got;
  }
  return boost::outcome_v2::success();
}

Result<std::byte*> WeightFile::read_direct_in_place(std::uint64_t offset, std::uint64_t size,
                                                    std::span<std::byte> window, std::string_view what) const {
  // One pread per 16 MiB keeps each request large (the kernel splits it into many device requests in flight)
  // while an error still names roughly where it happened.
  constexpr std::uint64_t kMaxRequest = 16u << 20;
  const std::uint64_t head = offset % kDirectBlock;
  const std::uint64_t span_bytes = (head + size + kDirectBlock - 1) / kDirectBlock * kDirectBlock;
  EDGE_RT_CHECK(reinterpret_cast<std::uintptr_t>(window.data()) % kDirectBlock == 0 && window.size() >= span_bytes,
                "read_direct_in_place: window must be 4096-aligned and cover the page-rounded range");
  if (!supports_direct_io()) {
    return fail(ErrorCode::kUnsupported, component_ + " " + path_.string() + ": the file system refuses O_DIRECT");
  }
  const std::uint64_t start = offset - head;
  std::uint64_t done = 0;
  while (done < head + size) {
    const std::uint64_t want = std::min(kMaxRequest, span_bytes - done);
    EDGE_RT_TRY(const std::uint64_t n,
                pread_some(direct_fd_.get(), window.data() + done, want, start + done, what, " (O_DIRECT)"));
    done += n;
    // A short O_DIRECT read ends at the end of the file, before the tensor does.
    if (done % kDirectBlock != 0 && done < head + size) return truncated(what);
  }
  return window.data() + head;
}

Result<void> WeightFile::copy_mapped(std::uint64_t offset, std::span<std::byte> out, std::string_view what) const {
  install_sigbus_handler();
  // The cheap check first: a file already shorter than the range fails without touching the mapping.
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < offset + out.size()) {
    return truncated(what);
  }
  EDGE_RT_CHECK(offset + out.size() <= size_, "copy_mapped past the end of the mapping");
  MappedCopyGuard guard;
  guard.begin = map_.get() + offset;
  guard.end = guard.begin + out.size();
  if (sigsetjmp(guard.env, 1) != 0) {
    t_guard = nullptr;
    return truncated(what);
  }
  t_guard = &guard;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(out.data(), guard.begin, out.size());
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_guard = nullptr;
  return boost::outcome_v2::success();
}

void WeightFile::release_mapped(std::uint64_t offset, std::uint64_t size) const noexcept {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t first = (offset + page - 1) / page * page;  // whole pages only: neighbours may be in use
  const std::uint64_t last = (offset + size) / page * page;
  if (last > first) ::madvise(map_.get() + first, last - first, MADV_DONTNEED);
}

void WeightFile::drop_page_cache(std::uint64_t offset, std::uint64_t size) const noexcept {
  ::posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(size), POSIX_FADV_DONTNEED);
}

}  // namespace edge_rt::model_ir
