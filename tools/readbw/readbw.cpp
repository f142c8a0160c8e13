// readbw: sequential read bandwidth of a file, the yardstick for weight streaming.
//   edge_rt_readbw FILE [--block-mib N] [--cached]
// Reads FILE front to back in N MiB blocks (default 4) and prints MB/s as one JSON object. By default it reads with
// O_DIRECT, so the page cache neither helps nor fills (the device's cold-cache bandwidth); --cached uses plain
// read(2), which measures the page cache when the file is already cached.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [--block-mib N] [--cached]\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  std::size_t block = 4u << 20;
  bool cached = false;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cached") == 0) {
      cached = true;
    } else if (std::strcmp(argv[i], "--block-mib") == 0 && i + 1 < argc) {
      block = static_cast<std::size_t>(std::atoi(argv[++i])) << 20;
    } else {
      std::fprintf(stderr, "readbw: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (block == 0) {
    std::fprintf(stderr, "readbw: --block-mib must be positive\n");
    return 2;
  }
  const int fd = ::open(path, O_RDONLY | (cached ? 0 : O_DIRECT));
  if (fd < 0) {
    std::fprintf(stderr, "readbw: cannot open %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  void* raw = nullptr;
  if (posix_memalign(&raw, 4096, block) != 0) return 1;
  std::unique_ptr<void, FreeDeleter> buffer(raw);
  std::uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const ssize_t n = ::read(fd, buffer.get(), block);
    if (n < 0) {
      std::fprintf(stderr, "readbw: read failed: %s\n", std::strerror(errno));
      ::close(fd);
      return 1;
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  std::printf("{\"file\": \"%s\", \"bytes\": %llu, \"seconds\": %.3f, \"mb_per_s\": %.1f, \"mode\": \"%s\"}\n", path,
              static_cast<unsigned long long>(total), s, static_cast<double>(total) / s / 1e6,
              cached ? "cached" : "o_direct");
  return 0;
}
