// An application in C++17 using edge-rt through edge_rt.hpp (the RAII wrapper over the C API): two sessions on
// one model, one per thread, each generating greedily; the two texts must equal one session's runs.
// Usage: consumer_cpp MODEL. Prints both texts and exits 0; on any failure prints why and exits 1.
#include <edge_rt/edge_rt.hpp>

#include <cstdio>
#include <string>
#include <thread>

namespace {
bool check(const edge_rt::Status& s, const char* what) {
  if (!s.ok())
    std::fprintf(stderr, "consumer_cpp: %s: %s: %s\n", what, edge_rt_status_message(s.code), s.message.c_str());
  return s.ok();
}

bool generate(const edge_rt::Model& model, const std::string& prompt, std::string* text) {
  edge_rt::Session session;
  std::vector<edge_rt_token> ids;
  if (!check(edge_rt::Session::create(model, nullptr, &session), "create") ||
      !check(model.tokenize(prompt, true, &ids), "tokenize") || !check(session.append(ids), "append")) {
    return false;
  }
  edge_rt_generate_params params = edge_rt_generate_default_params();
  params.max_tokens = 20;
  params.temperature = 0;
  return check(session.generate(params,
                                [&](edge_rt_token, std::string_view piece) {
                                  text->append(piece);
                                  return true;
                                }),
               "generate");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: consumer_cpp MODEL\n");
    return 2;
  }
  edge_rt_model_params params = edge_rt_model_default_params();
  params.n_ctx = 256;
  params.n_sessions = 2;
  edge_rt::Model model;
  if (!check(edge_rt::Model::load(argv[1], &params, &model), "load")) return 1;
  const std::string prompts[2] = {"Lily went to the park", "Tom had a red ball"};
  std::string alone[2], threaded[2];
  bool ok[4] = {};
  for (int i = 0; i < 2; ++i) ok[i] = generate(model, prompts[i], &alone[i]);
  std::thread a([&] { ok[2] = generate(model, prompts[0], &threaded[0]); });
  std::thread b([&] { ok[3] = generate(model, prompts[1], &threaded[1]); });
  a.join();
  b.join();
  for (int i = 0; i < 2; ++i) std::printf("%s%s\n", prompts[i].c_str(), threaded[i].c_str());
  if (!(ok[0] && ok[1] && ok[2] && ok[3]) || alone[0] != threaded[0] || alone[1] != threaded[1] || alone[0].empty()) {
    std::fprintf(stderr, "consumer_cpp: the threaded sessions differ from the single runs\n");
    return 1;
  }
  return 0;
}
