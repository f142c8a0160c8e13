// The coverage report (which device runs what, and the fallbacks), shared by run, benchmark and inspect.
#include "commands.hpp"

#include <edge_rt/core/format.hpp>

#include <boost/json.hpp>

#include <cstdio>

namespace edge_rt::cli {

boost::json::object coverage_json(const runtime::Coverage& c) {
  boost::json::array devices;
  for (const runtime::DeviceCoverage& d : c.devices) {
    devices.push_back(
        boost::json::object{{"name", d.name},
                            {"kind", d.kind},
                            {"units", d.units},
                            {"ops", d.ops},
                            {"weight_bytes", d.weight_bytes},
                            {"kv_bytes", d.kv_bytes},
                            {"streamed_bytes_per_token", d.streamed_bytes_per_token},
                            {"predicted_peak_bytes", d.predicted_peak_bytes},
                            {"budget_bytes", d.budget_bytes == UINT64_MAX ? boost::json::value(nullptr)
                                                                          : boost::json::value(d.budget_bytes)}});
  }
  boost::json::array fallbacks;
  for (const runtime::FallbackEntry& f : c.fallbacks) {
    fallbacks.push_back(
        boost::json::object{{"unit", f.unit}, {"op", f.op}, {"reason", f.reason}, {"detail", f.detail}});
  }
  return boost::json::object{{"requested", c.requested},
                             {"devices", std::move(devices)},
                             {"fallbacks", std::move(fallbacks)},
                             {"splits", c.splits},
                             {"bytes_across_devices_per_token", c.bytes_across_devices_per_token}};
}

void print_fallbacks(const runtime::Coverage& c) {
  if (c.fallbacks.empty()) return;
  std::fprintf(stderr, "edge-rt: %zu unit(s)/op(s) run on the CPU instead of %s (--fallback cpu): %s\n",
               c.fallbacks.size(), c.requested.c_str(), c.summary().c_str());
  // A device that did not start says why (the other reasons are per op: --verbose and inspect list them).
  for (const runtime::FallbackEntry& f : c.fallbacks) {
    if (f.reason == "init") std::fprintf(stderr, "  %s did not start: %s\n", c.requested.c_str(), f.detail.c_str());
  }
}

std::string coverage_text(const runtime::Coverage& c) {
  std::string text = "devices (requested " + c.requested + "):\n";
  for (const runtime::DeviceCoverage& d : c.devices) {
    text += "  " + d.name + " (" + d.kind + "): " + std::to_string(d.units) + " units, " + std::to_string(d.ops) +
            " ops, weights " + format_bytes(d.weight_bytes) + " (" + format_bytes(d.streamed_bytes_per_token) +
            " streamed per token), KV cache " + format_bytes(d.kv_bytes) + "\n";
  }
  text += "  " + std::to_string(c.splits) + " device split(s), " + format_bytes(c.bytes_across_devices_per_token) +
          " across devices per token\n";
  for (const runtime::FallbackEntry& f : c.fallbacks) {
    text += "  fallback " + f.unit + ": " + f.op + " (" + f.reason + ": " + f.detail + ")\n";
  }
  return text;
}

}  // namespace edge_rt::cli
