#include "master/init.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/fs/fs.hpp"
#include "master/api/access.hpp"

namespace drover::master {

namespace {

// Creates `path` with `mode`, failing if it exists (O_EXCL).
Status create_new(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCode::io, fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::io, fmt::format("cannot write {}: {}", path.string(), std::strerror(err)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error(ErrorCode::io, fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  }
  return ok_status();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

}  // namespace

std::string init_usage() {
  return "usage: drover-master init [--config-dir DIR] [--data-dir DIR] [--listen HOST:PORT] "
         "[--master-url URL]\n"
         "Writes DIR/master.yaml, DIR/tokens.yaml (an admin user), DIR/worker.token and\n"
         "DIR/worker.yaml (default DIR /etc/drover) and prints the admin and worker tokens once.\n";
}

Result<InitOptions> parse_init_args(const std::vector<std::string>& args) {
  InitOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* key) -> Result<std::string> {
      if (i + 1 >= args.size()) return make_error(ErrorCode::invalid_argument, "needs a value", key);
      return args[++i];
    };
    Result<std::string> v = std::string();
    if (a == "--config-dir") {
      if (!(v = value("config-dir")).ok()) return v.error();
      o.config_dir = *v;
    } else if (a == "--data-dir") {
      if (!(v = value("data-dir")).ok()) return v.error();
      o.data_dir = *v;
    } else if (a == "--listen") {
      if (!(v = value("listen")).ok()) return v.error();
      o.listen = *v;
    } else if (a == "--master-url") {
      if (!(v = value("master-url")).ok()) return v.error();
      o.master_url = *v;
    } else {
      return make_error(ErrorCode::invalid_argument, fmt::format("unknown argument {}", a), "init");
    }
  }
  if (o.master_url.empty()) {
    o.master_url = fmt::format("http://{}:{}", host_name(), o.listen.substr(o.listen.rfind(':') + 1));
  }
  return o;
}

Result<std::string> run_init(const InitOptions& o) {
  const auto& dir = o.config_dir;
  const std::filesystem::path master_yaml = dir / "master.yaml", tokens = dir / "tokens.yaml",
                              worker_token = dir / "worker.token", worker_yaml = dir / "worker.yaml";
  for (const auto& p : {master_yaml, tokens, worker_token, worker_yaml}) {
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("{} exists: init writes a fresh configuration and overwrites "
                                    "nothing (move it away or pass --config-dir)", p.string()),
                        "config-dir");
    }
  }
  DROVER_TRY(make_dirs(dir));
  auto admin = new_token();
  if (!admin.ok()) return admin.error();
  auto worker = new_token();
  if (!worker.ok()) return worker.error();

  DROVER_TRY(create_new(tokens, fmt::format(
      "# drover users: name, role (read < submit < admin) and the SHA-256 of their token.\n"
      "# Add one: T=$(openssl rand -hex 32); printf %s \"$T\" | sha256sum; give T to the user.\n"
      "users:\n  - {{name: admin, role: admin, token_sha256: {}}}\n", sha256_hex(*admin)), 0600));
  DROVER_TRY(create_new(worker_token, *worker + "\n", 0600));
  DROVER_TRY(create_new(master_yaml, fmt::format(
      "# Written by drover-master init. See the README for every key.\n"
      "listen: {}\ndata_dir: {}\nauth:\n  tokens_file: {}\n  worker_token_file: {}\n",
      o.listen, o.data_dir, std::filesystem::absolute(tokens).string(),
      std::filesystem::absolute(worker_token).string()), 0644));
  DROVER_TRY(create_new(worker_yaml, fmt::format(
      "# Written by drover-master init: copy it and worker.token (mode 0600) to each worker.\n"
      "master: {}\ntoken_file: {}\n",
      o.master_url, std::filesystem::absolute(worker_token).string()), 0644));

  return fmt::format(
      "wrote {0}/master.yaml, {0}/tokens.yaml, {0}/worker.token and {0}/worker.yaml\n"
      "admin token (shown only now; tokens.yaml keeps its hash):\n  {1}\n"
      "worker token (also in {0}/worker.token; copy it with worker.yaml to each worker):\n  {2}\n"
      "start the master:  drover-master --config {0}/master.yaml\n"
      "use the CLI:       DROVER_TOKEN={1} drover --master {3} status\n",
      dir.string(), *admin, *worker, o.master_url);
}

}  // namespace drover::master
