#pragma once
// A plain-text table: a header row and data rows, columns padded to their
// widest cell and separated by two spaces. Pure: renders to a string.
#include <string>
#include <vector>

namespace drover::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Rows shorter than the header are padded with empty cells.
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  // The header and every row, each line ending in '\n'; trailing spaces trimmed.
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace drover::cli
