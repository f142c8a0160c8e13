#include <edge_rt/runtime/stop_strings.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace edge_rt::runtime {
namespace {

// Feeds pieces one by one; returns everything shown (flush included when the matcher never stopped).
std::string stream(StopStringMatcher& m, const std::vector<std::string>& pieces) {
  std::string shown;
  for (const std::string& p : pieces) {
    shown += m.push(p);
    if (m.stopped()) return shown;
  }
  return shown + m.flush();
}

TEST(StopStrings, StopSpanningTokensIsNeverShown) {
  StopStringMatcher m({{"<|im_end|>", false}});
  std::string shown;
  for (const std::string p : {"Paris", " is", "<|im", "_", "end", "|>", "more"}) {
    const std::string out = m.push(p);
    EXPECT_EQ(out.find('<'), std::string::npos) << "showed part of the stop string: " << out;
    shown += out;
    if (m.stopped()) break;
  }
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(shown, "Paris is");
}

TEST(StopStrings, KeepShowsTheReversePrompt) {
  StopStringMatcher m({{"User:", true}});
  EXPECT_EQ(stream(m, {"Hi.\nUs", "er: next"}), "Hi.\nUser:");
  EXPECT_TRUE(m.stopped());
}

TEST(StopStrings, AFalseStartIsReleased) {
  StopStringMatcher m({{"STOP", false}});
  EXPECT_EQ(m.push("a ST"), "a ");  // "ST" could begin STOP
  EXPECT_EQ(m.push("ART"), "START");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("xS"), "x");
  EXPECT_EQ(m.flush(), "S");  // generation ended with the tail held
}

TEST(StopStrings, EarliestOfSeveralWins) {
  StopStringMatcher m({{"bb", false}, {"ab", false}, {"\n\n", true}});
  EXPECT_EQ(stream(m, {"xxa", "bb"}), "xx");
  StopStringMatcher n({{"END", false}, {"\n\n", true}});
  EXPECT_EQ(stream(n, {"one\n", "\ntwo END"}), "one\n\n");
  StopStringMatcher none({});
  EXPECT_EQ(stream(none, {"a", "b"}), "ab");
  EXPECT_FALSE(none.stopped());
}

}  // namespace
}  // namespace edge_rt::runtime
