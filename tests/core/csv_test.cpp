// core/csv.h: fields as RFC 4180 quotes them, and the reader that takes
// them back (hand-written CSV text, not only our own writer's output).
#include <gtest/gtest.h>

#include "core/csv.h"

namespace medseg::core {
namespace {

using Records = std::vector<std::vector<std::string>>;

TEST(Csv, ReadsQuotedCommasQuotesAndLineBreaks) {
  const auto r = parse_csv("case,input,message\r\n"
                           "a,\"/data/x, y.nii\",\"said \"\"no\"\"\"\n"
                           "b,,\"two\nlines\"\n"
                           "c,last,no newline");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (Records{{"case", "input", "message"},
                         {"a", "/data/x, y.nii", "said \"no\""},
                         {"b", "", "two\nlines"},
                         {"c", "last", "no newline"}}));
  EXPECT_EQ(parse_csv("")->size(), 0u);
  EXPECT_EQ(*parse_csv("x,\n"), (Records{{"x", ""}}));
  EXPECT_FALSE(parse_csv("a,\"open\n").has_value());
}

TEST(Csv, ReadsBackWhatTheWriterQuotes) {
  const std::vector<std::string> fields{"plain", "a,b", "q\"uote", "line\nbreak", ""};
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + csv_field(fields[i]);
  EXPECT_EQ(line, "plain,\"a,b\",\"q\"\"uote\",\"line\nbreak\",");
  EXPECT_EQ(*parse_csv(line + "\n"), Records{fields});
}

}  // namespace
}  // namespace medseg::core
