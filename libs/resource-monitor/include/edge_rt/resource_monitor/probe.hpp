#pragma once
// SystemProbe reads CPU, memory, thermal, throttling and power state from /proc and /sys under a root folder.

#include <edge_rt/core/result.hpp>
#include <edge_rt/resource_monitor/snapshot.hpp>

#include <filesystem>

namespace edge_rt::resource_monitor {

/// Copyable value: holds only the root path. Reads the files laid out as on Linux (root/proc/meminfo,
/// root/sys/class/thermal/...); the root is "/" on a live system and a recorded fixture tree in tests.
/// Thread-safety: read() may be called from several threads at once.
class SystemProbe final {
 public:
  /// A probe of the live system ("/").
  static SystemProbe live() { return SystemProbe("/"); }
  /// A probe of the tree under `root`.
  /// Errors: kIoError when `root` is not an existing directory.
  static Result<SystemProbe> at(const std::filesystem::path& root);

  /// Reads every source now. Missing files and malformed values leave their fields unset; this never fails.
  /// The cgroup limit is read for the cgroup named in root/proc/self/cgroup when that folder exists under the root,
  /// else from the cgroup root files (sys/fs/cgroup/memory.max, then sys/fs/cgroup/memory/memory.limit_in_bytes).
  SystemSnapshot read() const;

  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  explicit SystemProbe(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace edge_rt::resource_monitor
