// The isolation that keeps an aborting library (GDCM's asserts) from taking
// the caller down: run() reports a child's death instead of sharing it.
#include "pipeline/io/detail/child_process.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace medseg::pipeline::child_process {
namespace {

constexpr double kMinute = 60.0;
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(ChildProcess, ResultComesBackThroughThePipe) {
  std::string received;
  const Outcome o = run([](int fd) { write_string(fd, std::string(300'000, 'x') + "end"); },
                        [&](int fd) { received = read_string(fd); }, kMinute);
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
      [](int fd) { read_value<char>(fd); }, kMinute);  // throws: the pipe closes empty
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
                   },
                   kMinute),
               std::logic_error);
}

TEST(ChildProcess, AnExceptionEscapingTheWorkIsACrash) {
  const Outcome o =
      run([](int) { throw std::runtime_error("escaped"); }, [](int fd) { read_value<char>(fd); }, kMinute);
  EXPECT_TRUE(o.crashed);
  EXPECT_EQ(o.signal, 0);
  EXPECT_NE(o.stderr_text.find("escaped"), std::string::npos);
}

TEST(ChildProcess, TheChildKnowsItIsOne) {
  bool child_says = false;
  run([](int fd) { write_value(fd, in_child()); }, [&](int fd) { child_says = read_value<bool>(fd); }, kMinute);
  EXPECT_TRUE(child_says);
}

// A decoder that never returns: the parent stops waiting at the deadline,
// kills the child and says so, instead of hanging with it.
TEST(ChildProcess, AChildThatHangsIsKilledAtTheDeadline) {
  const auto start = Clock::now();
  const Outcome o = run(
      [](int) {
        for (;;) ::pause();
      },
      [](int fd) { read_value<char>(fd); }, 0.5);
  const double seconds = seconds_since(start);
  EXPECT_TRUE(o.crashed);
  EXPECT_TRUE(o.timed_out);
  EXPECT_EQ(o.signal, SIGKILL);
  EXPECT_GE(seconds, 0.5);
  EXPECT_LT(seconds, 10.0);
}

// Halfway through its result (the pipe is open, no end of file comes).
TEST(ChildProcess, AChildThatHangsMidResultIsKilledAtTheDeadline) {
  const Outcome o = run(
      [](int fd) {
        write_value<std::uint64_t>(fd, 1000);
        write_all(fd, "abc", 3);
        for (;;) ::pause();
      },
      [](int fd) { read_string(fd); }, 0.5);
  EXPECT_TRUE(o.crashed);
  EXPECT_TRUE(o.timed_out);
}

// Its whole result sent, the child then hangs (an exit handler): the result
// stands, and the parent does not wait for ever either.
TEST(ChildProcess, AChildThatHangsAfterItsResultKeepsTheResult) {
  std::string received;
  const auto start = Clock::now();
  const Outcome o = run(
      [](int fd) {
        write_string(fd, "whole");
        for (;;) ::pause();
      },
      [&](int fd) { received = read_string(fd); }, 0.5);
  EXPECT_FALSE(o.crashed);
  EXPECT_TRUE(o.timed_out);
  EXPECT_EQ(received, "whole");
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(ChildProcess, AQuickChildIsNotWaitedFor) {
  const auto start = Clock::now();
  const Outcome o = run([](int fd) { write_value<char>(fd, 'x'); }, [](int fd) { read_value<char>(fd); }, kMinute);
  EXPECT_FALSE(o.crashed);
  EXPECT_FALSE(o.timed_out);
  EXPECT_LT(seconds_since(start), 5.0);
}

}  // namespace
}  // namespace medseg::pipeline::child_process
