// The isolation that keeps an aborting library (GDCM's asserts) from taking
// the caller down: run() reports a child's death instead of sharing it.
#include "pipeline/io/detail/child_process.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace medseg::pipeline::child_process {
namespace {

TEST(ChildProcess, ResultComesBackThroughThePipe) {
  std::string received;
  const Outcome o = run([](int fd) { write_string(fd, std::string(300'000, 'x') + "end"); },
                        [&](int fd) { received = read_string(fd); });
  EXPECT_FALSE(o.crashed);
  EXPECT_EQ(received.size(), 300'003u);
  EXPECT_EQ(received.substr(received.size() - 3), "end");
  EXPECT_FALSE(in_child());
}

TEST(ChildProcess, AnAbortIsAnOutcomeWithItsLastWords) {
  const Outcome o = run(
      [](int) {
        std::cerr << "noise\n";
        std::fputs("prog: gdcmFileMetaInformation.cxx:591: ReadCompat: Assertion `is.good()' failed.\n", stderr);
        std::abort();
      },
      [](int fd) { read_value<char>(fd); });  // throws: the pipe closes empty
  EXPECT_TRUE(o.crashed);
  EXPECT_EQ(o.signal, SIGABRT);
  EXPECT_EQ(crash_line(o.stderr_text), "gdcmFileMetaInformation.cxx:591: Assertion `is.good()' failed.");
  EXPECT_EQ(crash_line("x\nprog: ./Source/A/gdcmX.txx:47: std::istream& f(std::istream&) [with T = S]: "
                       "Assertion `0 && \"Should not happen\"' failed.\nlast\n"),
            "gdcmX.txx:47: Assertion `0 && \"Should not happen\"' failed.");
  EXPECT_EQ(crash_line("one\ntwo\n\n"), "two");
}

TEST(ChildProcess, AReceiveErrorWithAHealthyChildIsRethrown) {
  EXPECT_THROW(run([](int fd) { write_value<char>(fd, 'x'); },
                   [](int fd) {
                     read_value<char>(fd);
                     throw std::logic_error("malformed");
                   }),
               std::logic_error);
}

TEST(ChildProcess, AnExceptionEscapingTheWorkIsACrash) {
  const Outcome o = run([](int) { throw std::runtime_error("escaped"); }, [](int fd) { read_value<char>(fd); });
  EXPECT_TRUE(o.crashed);
  EXPECT_EQ(o.signal, 0);
  EXPECT_NE(o.stderr_text.find("escaped"), std::string::npos);
}

TEST(ChildProcess, TheChildKnowsItIsOne) {
  bool child_says = false;
  run([](int fd) { write_value(fd, in_child()); }, [&](int fd) { child_says = read_value<bool>(fd); });
  EXPECT_TRUE(child_says);
}

}  // namespace
}  // namespace medseg::pipeline::child_process
