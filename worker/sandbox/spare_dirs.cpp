#include "worker/sandbox/spare_dirs.hpp"

#include <sys/stat.h>

#include <system_error>

namespace drover::worker {

namespace fs = std::filesystem;

namespace {

// As create_attempt_dirs makes them: sandbox/ as the bundle cache's own
// directories (mkdtemp's 0700), the others as create_directories does.
struct Dir {
  const char* name;
  mode_t mode;
};
constexpr Dir kDirs[] = {{"input", 0777}, {"checkpoint", 0777}, {"tmp", 0777}, {"sandbox", 0700}};

bool make(const fs::path& dir, mode_t mode) { return ::mkdir(dir.c_str(), mode) == 0; }

}  // namespace

bool SpareAttemptDirs::take(const fs::path& root) {
  fs::path spare;
  {
    std::lock_guard lock(mu_);
    if (ready_.empty()) return false;
    spare = std::move(ready_.back());
    ready_.pop_back();
  }
  std::error_code ec;
  fs::rename(spare, root, ec);
  if (ec) fs::remove_all(spare, ec);
  return !ec;
}

void SpareAttemptDirs::refill() {
  for (;;) {
    fs::path spare;
    {
      std::lock_guard lock(mu_);
      if (ready_.size() + making_ >= keep_) return;
      ++making_;
      spare = attempts_dir_ / (".spare-" + std::to_string(next_++));
    }
    bool made = make(spare, 0777);
    for (const Dir& d : kDirs) made = made && make(spare / d.name, d.mode);
    if (!made) {
      std::error_code ec;
      fs::remove_all(spare, ec);
      std::lock_guard lock(mu_);
      --making_;
      return;
    }
    std::lock_guard lock(mu_);
    --making_;
    ready_.push_back(std::move(spare));
  }
}

}  // namespace drover::worker
