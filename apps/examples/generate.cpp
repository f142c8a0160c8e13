// The smallest program that links edge-rt and generates text:
//   generate [MODEL_DIR] [PROMPT]
#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  using namespace edge_rt::runtime;
  EngineOptions options;
  if (argc > 1) {
    options.model_dir = argv[1];
  } else {  // the bundled stories260K: $EDGE_RT_DATA_DIR, or share/edge-rt beside the executable (core/data_dir.hpp)
    auto dir = edge_rt::default_model_dir();
    if (!dir) return std::fprintf(stderr, "%s\n", dir.error().message.c_str()), 1;
    options.model_dir = dir.value();
  }
  options.n_ctx = 256;  // tokens of KV cache

  auto planned = InferenceEngine<Idle>::create().load_model(options);
  if (!planned) return std::fprintf(stderr, "%s\n", planned.error().message.c_str()), 1;
  auto engine = std::move(planned).value().prepare();
  if (!engine) return std::fprintf(stderr, "%s\n", engine.error().message.c_str()), 1;

  const auto* tok = engine.value().tokenizer();
  if (tok == nullptr) return std::fprintf(stderr, "%s has no tokenizer files\n", options.model_dir.c_str()), 1;
  const auto prompt = tok->encode(argc > 2 ? argv[2] : "Once upon a time");
  GenerateOptions gen;
  gen.max_new_tokens = 64;
  gen.sampling.temperature = 0.0f;  // greedy

  edge_rt::tokenizer::StreamingDecoder decoder(*tok);
  for (auto id : prompt) std::fputs(decoder.push(id).c_str(), stdout);
  auto result = engine.value().generate(prompt, gen, [&](edge_rt::tokenizer::TokenId id) {
    std::fputs(decoder.push(id).c_str(), stdout);
    return true;
  });
  if (!result) return std::fprintf(stderr, "%s\n", result.error().message.c_str()), 1;
  std::printf("%s\n", decoder.flush().c_str());
  return 0;
}
