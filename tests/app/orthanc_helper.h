#pragma once
// A real Orthanc (Debian's `orthanc` package, 1.10) for tests: started with a
// generated JSON configuration in a temporary folder (SQLite index and
// storage there, DICOM and HTTP ports on 127.0.0.1 chosen free, no
// authentication, remote access off), waited for on its REST API, stopped
// at the end. It never depends on or touches a system Orthanc service.
// Also: free ports, a minimal HTTP/1.0 client for the REST API, and bounded
// waiting.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace medseg::test {

/// A TCP port on 127.0.0.1 that was free a moment ago.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Polls `done` every 50 ms for at most `seconds`; true when it held.
inline bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct HttpReply {
  int status = 0;  // 0: no connection
  std::string body;
};

/// One HTTP/1.0 request to 127.0.0.1:port (each read and write bounded by 30 s).
inline HttpReply http(int port, const std::string& method, const std::string& path, const std::string& body = {}) {
  HttpReply reply;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return reply;
  }
  const std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string all;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    all.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto header_end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/", 0) != 0 || header_end == std::string::npos) return reply;
  reply.status = std::atoi(all.c_str() + all.find(' ') + 1);
  reply.body = all.substr(header_end + 4);
  return reply;
}

/// Starts `argv` (searched on PATH) with stdout and stderr in `log` and the
/// extra environment variables `env` ("NAME=value").
inline pid_t spawn_process(const std::vector<std::string>& args, const std::filesystem::path& log,
                           const std::vector<std::string>& env = {}) {
  std::vector<std::string> all_args = args;
  std::vector<char*> argv;
  for (auto& a : all_args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = env;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

/// Sends `signal` to `pid` and reaps it within `seconds` (then SIGKILL).
/// Returns the exit status as from waitpid, or -1.
inline int stop_process(pid_t pid, int signal, double seconds) {
  if (pid <= 0) return -1;
  ::kill(pid, signal);
  int status = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

/// A modality Orthanc may send to and accept queries from.
struct OrthancModality {
  std::string name;
  std::string ae_title;
  int port = 0;
};

class Orthanc {
 public:
  /// Configures an Orthanc in `folder` (free ports) and starts it.
  Orthanc(std::filesystem::path folder, const std::vector<OrthancModality>& modalities)
      : folder_(std::move(folder)), dicom_port_(free_port()), http_port_(free_port()) {
    std::filesystem::create_directories(folder_);
    nlohmann::json m = nlohmann::json::object();
    for (const auto& mod : modalities) m[mod.name] = {mod.ae_title, "127.0.0.1", mod.port};
    const nlohmann::json config = {
        {"Name", "medseg-test"},
        {"StorageDirectory", (folder_ / "storage").string()},
        {"IndexDirectory", (folder_ / "index").string()},
        {"DicomAet", "ORTHANC"},
        {"DicomPort", dicom_port_},
        {"HttpPort", http_port_},
        {"RemoteAccessAllowed", false},
        {"AuthenticationEnabled", false},
        {"SslEnabled", false},
        {"DicomModalities", m},
        {"DicomModalitiesInDatabase", false},
        {"DicomScuTimeout", 10},
        {"DicomAssociationCloseDelay", 0},
        {"StableAge", 1},
        {"Plugins", nlohmann::json::array()},
        {"HttpsVerifyPeers", false},
        {"SaveJobs", false},
        {"ConcurrentJobs", 1}};
    std::ofstream(folder_ / "orthanc.json") << config.dump(2);
    start();
  }
  ~Orthanc() { stop(); }
  Orthanc(const Orthanc&) = delete;
  Orthanc& operator=(const Orthanc&) = delete;

  /// Starts Orthanc and waits (at most 30 s) for GET /system.
  void start() {
    // TCP_NODELAY: DCMTK (inside Orthanc too) otherwise waits for delayed
    // ACKs on every C-STORE.
    pid_ = spawn_process({"Orthanc", (folder_ / "orthanc.json").string()}, folder_ / "orthanc.log", {"TCP_NODELAY=1"});
    ASSERT_GT(pid_, 0) << "cannot start Orthanc";
    const bool up = wait_until([this] { return http(http_port_, "GET", "/system").status == 200; }, 30);
    ASSERT_TRUE(up) << "Orthanc did not answer within 30 s; its log:\n" << log();
  }

  /// Stops Orthanc (SIGTERM, at most 15 s, then SIGKILL).
  void stop() {
    if (pid_ > 0) stop_process(pid_, SIGTERM, 15);
    pid_ = -1;
  }

  int dicom_port() const { return dicom_port_; }
  int http_port() const { return http_port_; }
  const std::filesystem::path& folder() const { return folder_; }

  nlohmann::json get(const std::string& path) const {
    const HttpReply r = http(http_port_, "GET", path);
    if (r.status != 200) return nullptr;
    return nlohmann::json::parse(r.body, nullptr, false);
  }
  nlohmann::json post(const std::string& path, const std::string& body) const {
    const HttpReply r = http(http_port_, "POST", path, body);
    if (r.status != 200) return nullptr;
    return nlohmann::json::parse(r.body, nullptr, false);
  }
  std::string get_raw(const std::string& path) const { return http(http_port_, "GET", path).body; }

  /// Orthanc IDs of the instances matching `query` (DICOM keyword -> value).
  std::vector<std::string> find_instances(const nlohmann::json& query) const {
    std::vector<std::string> ids;
    const nlohmann::json r = post("/tools/find", nlohmann::json{{"Level", "Instance"}, {"Query", query}}.dump());
    if (r.is_array()) {
      for (const auto& id : r) ids.push_back(id.get<std::string>());
    }
    return ids;
  }

  std::string log() const {
    std::ifstream in(folder_ / "orthanc.log");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

 private:
  std::filesystem::path folder_;
  int dicom_port_;
  int http_port_;
  pid_t pid_ = -1;
};

}  // namespace medseg::test
