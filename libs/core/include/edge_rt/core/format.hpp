#pragma once
// Human-readable renderings shared by every library's messages.

#include <cstdint>
#include <string>

namespace edge_rt {

/// A byte count in binary units for messages: "512 B", "1.5 KiB", "64.0 MiB", "1.20 GiB" (one decimal for KiB
/// and MiB, two from GiB up, where a tenth is too coarse for budgets).
std::string format_bytes(std::uint64_t bytes);

}  // namespace edge_rt
