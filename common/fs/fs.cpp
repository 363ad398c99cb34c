#include "common/fs/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "common/fs/unique_fd.hpp"

namespace drover {

namespace {

constexpr std::size_t kChunk = 64 * 1024;

Error errno_error(std::string_view what, const std::filesystem::path& path, int err) {
  ErrorCode code = err == ENOENT ? ErrorCode::not_found : ErrorCode::io;
  return make_error(code, fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(err)));
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorCode::io, std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok_status();
}

// fsyncs a directory so a rename inside it is durable.
Status sync_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return errno_error("fsync directory", dir, errno);
  return ok_status();
}

// Writes `content` into the already open temp file `fd` and makes it durable.
Status fill_temp_file(int fd, const std::filesystem::path& target, std::string_view content) {
  struct stat st {};
  // Keep the mode of a file being replaced; new files stay private (0600).
  if (::stat(target.c_str(), &st) == 0) ::fchmod(fd, st.st_mode & 07777);
  auto written = write_all(fd, content);
  if (!written.ok()) {
    return make_error(ErrorCode::io,
                      fmt::format("cannot write {}: {}", target.string(), written.error().message));
  }
  if (::fsync(fd) != 0) return errno_error("fsync", target, errno);
  return ok_status();
}

}  // namespace

bool empty_dir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return false;
  alignas(8) char buf[4096];
  for (;;) {
    const ssize_t n = ::getdents64(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    for (ssize_t at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buf + at);
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") return false;
      at += entry->d_reclen;
    }
  }
}

Result<std::string> read_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("read", path, errno);
  std::string out;
  std::array<char, kChunk> buf{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read", path, errno);
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  UniqueFd fd(::mkstemp(tmpl.data()));
  if (fd.get() < 0) return errno_error("create a temp file for", path, errno);
  auto filled = fill_temp_file(fd.get(), path, content);
  if (filled.ok() && fd.close() != 0) filled = errno_error("close", path, errno);
  if (filled.ok() && ::rename(tmpl.c_str(), path.c_str()) != 0) {
    filled = errno_error("rename into", path, errno);
  }
  if (!filled.ok()) {
    ::unlink(tmpl.c_str());
    return filled;
  }
  return sync_directory(dir);
}

Status make_dirs(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return make_error(ErrorCode::io,
                      fmt::format("cannot create directory {}: {}", path.string(), ec.message()));
  }
  return ok_status();
}

Status remove_all(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    return make_error(ErrorCode::io,
                      fmt::format("cannot remove {}: {}", path.string(), ec.message()));
  }
  return ok_status();
}

namespace {

std::string to_hex(const unsigned char* data, unsigned int len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

// Owns an EVP_MD_CTX.
struct DigestCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  DigestCtx() = default;
  DigestCtx(const DigestCtx&) = delete;
  DigestCtx& operator=(const DigestCtx&) = delete;
  ~DigestCtx() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  return to_hex(md.data(), len);
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("read", path, errno);
  DigestCtx digest;
  if (digest.ctx == nullptr || EVP_DigestInit_ex(digest.ctx, EVP_sha256(), nullptr) != 1) {
    return make_error(ErrorCode::internal, "cannot initialise SHA-256");
  }
  std::array<char, kChunk> buf{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read", path, errno);
    if (n == 0) break;
    EVP_DigestUpdate(digest.ctx, buf.data(), static_cast<std::size_t>(n));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(digest.ctx, md.data(), &len);
  return to_hex(md.data(), len);
}

Result<std::string> random_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return make_error(ErrorCode::internal, "the system's random generator failed");
  }
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return false;
  }
  return true;
}

Result<std::filesystem::path> make_temp_dir(std::string_view prefix,
                                            const std::filesystem::path& parent) {
  if (prefix.find('/') != std::string_view::npos) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("temp dir prefix \"{}\" must not contain '/'", prefix));
  }
  std::filesystem::path base = parent;
  if (base.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");  // NOLINT: read-only use
    base = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  }
  std::string tmpl = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return errno_error("create a temp dir in", base, errno);
  return std::filesystem::path(tmpl);
}

}  // namespace drover
