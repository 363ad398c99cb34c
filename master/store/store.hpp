#pragma once
// Durable master state. The coordinator applies operations to the Model and
// then calls save() with the rows they changed; save() writes them in one
// transaction (group commit: any number of operations per call).
#include "common/base/result.hpp"
#include "master/model/model.hpp"

namespace drover::master {

class Store {
 public:
  virtual ~Store() = default;
  // Persists the rows named by `dirty` as they are in `model`, atomically.
  [[nodiscard]] virtual Status save(const Model& model, const Dirty& dirty) = 0;
  // Fills an empty model with everything stored, then calls model.rebuild().
  [[nodiscard]] virtual Status load(Model& model) = 0;
};

}  // namespace drover::master
