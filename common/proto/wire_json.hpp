#pragma once
// Hand-written JSON for the messages of the worker protocol's hot path: the
// work a poll hands out (WorkReply), a worker's batched reports
// (ReportBatch) with their reply, and heartbeats with theirs. A million-task
// job moves about two of the first per ten tasks, and building and walking
// nlohmann's DOM for them (a std::map and a heap string per key) was a third
// of the master's cpu; 10,000 workers send 10,000 heartbeats a second, and
// the DOM was an eighth of the master's instructions per heartbeat.
//
// Same wire format as nlohmann::json(x).dump() and .get<T>(), byte for byte
// and rule for rule (the unit tests compare them): keys in sorted order, the
// same escapes, missing keys take their defaults, unknown keys are ignored,
// numbers convert like get<T>() (an int takes a boolean as 0/1), an unknown
// state reads as the first one, and of a key given twice the last value
// counts. Errors differ in wording: they name the field
// ("finished[2].report.exit_code: must be a number"); and a key given twice
// whose first value has the wrong type is refused, where nlohmann would
// have kept only the second.
#include <optional>
#include <string>
#include <string_view>

#include "common/base/result.hpp"
#include "common/proto/assignment.hpp"
#include "common/proto/worker.hpp"

namespace drover {

// nlohmann::json(reply).dump(); nullopt when a string in it is not valid
// UTF-8 (let nlohmann write it then, with its error handler).
std::optional<std::string> work_reply_json(const WorkReply& reply);
std::optional<std::string> report_batch_reply_json(const ReportBatchReply& reply);
std::optional<std::string> report_batch_json(const ReportBatch& batch);
std::optional<std::string> heartbeat_reply_json(const HeartbeatReply& reply);

// nlohmann::json::parse(body).get<T>(), without the DOM or nlohmann's lexer
// (common/proto/json_events.hpp reads the text).
Result<ReportBatch> parse_report_batch(std::string_view body);
Result<WorkReply> parse_work_reply(std::string_view body);
Result<ReportBatchReply> parse_report_batch_reply(std::string_view body);
Result<Heartbeat> parse_heartbeat(std::string_view body);

// Appends `s` as a JSON string (quoted, escaped like nlohmann's dump()).
// False, with `out` unchanged, when `s` is not valid UTF-8.
bool append_json_string(std::string& out, std::string_view s);

}  // namespace drover
