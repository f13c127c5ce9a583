#include "pengine/policy_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pengine/graph.h"
#include "pengine/scheduler.h"
#include "pengine/score.h"
#include "pengine/summary.h"
#include "pengine/unpack.h"

namespace ha::pengine {

namespace pb = ha::pengine::v1;

namespace {

// Inputs larger than this are refused: a CIB of 5,000 resources with status is ~20 MB.
constexpr size_t kMaxInputBytes = 256u << 20;

pb::InputSeries ToProto(Series series) {
  switch (series) {
    case Series::kInput:
      return pb::PE_INPUT;
    case Series::kWarn:
      return pb::PE_WARN;
    case Series::kError:
      return pb::PE_ERROR;
  }
  return pb::PE_INPUT;
}

// pe-*-series-max from the input's crm_config (Pacemaker's defaults: 4000, 5000, unlimited).
int64_t SeriesMax(const WorkingSet& ws, Series series) {
  const char* name = series == Series::kInput  ? "pe-input-series-max"
                     : series == Series::kWarn ? "pe-warn-series-max"
                                               : "pe-error-series-max";
  auto it = ws.raw_options.find(name);
  int64_t fallback = series == Series::kInput ? 4000 : series == Series::kWarn ? 5000 : -1;
  if (it == ws.raw_options.end())
    return fallback;
  int64_t value = 0;
  return absl::SimpleAtoi(it->second, &value) ? value : fallback;
}

}  // namespace

PolicyService::PolicyService(std::string archive_dir, std::function<int64_t()> now)
    : now_(std::move(now)), archive_(std::move(archive_dir)) {}

grpc::Status PolicyService::ComputeTransition(grpc::ServerContext*,
                                              const pb::ComputeTransitionRequest* request,
                                              pb::ComputeTransitionResponse* response) {
  if (request->cib_xml().size() > kMaxInputBytes)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("the CIB is larger than ", kMaxInputBytes, " bytes"));
  std::optional<int64_t> now;
  if (request->has_now_unix_s())
    now = request->now_unix_s();
  int64_t clock_now = now_();
  auto ws = Schedule(request->cib_xml(), now ? now : std::optional<int64_t>(clock_now));
  if (!ws.ok())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(ws.status().message()));

  Series series = Series::kInput;
  for (const Problem& problem : (*ws)->problems) {
    pb::Diagnostic* diagnostic = response->add_diagnostics();
    diagnostic->set_message(problem.message);
    diagnostic->set_code(problem.code);
    switch (problem.level) {
      case Problem::Level::kInfo:
        diagnostic->set_severity(pb::SEVERITY_INFO);
        break;
      case Problem::Level::kWarning:
        diagnostic->set_severity(pb::SEVERITY_WARNING);
        if (series == Series::kInput)
          series = Series::kWarn;
        break;
      case Problem::Level::kError:
        diagnostic->set_severity(pb::SEVERITY_ERROR);
        series = Series::kError;
        break;
    }
  }

  absl::MutexLock lock(&mutex_);
  int64_t transition_id =
      request->has_transition_id() ? request->transition_id() : next_transition_;
  if (!request->dry_run() && !request->has_transition_id())
    ++next_transition_;
  response->set_transition_id(transition_id);
  response->set_graph_xml(TransitionGraphXml(**ws, static_cast<int>(transition_id)));
  for (const std::string& line : TransitionSummary(**ws))
    response->add_summary(line);
  uint32_t count = 0;
  for (const auto& action : (*ws)->actions)
    if (!action->optional && action->runnable && !action->pseudo)
      ++count;
  response->set_action_count(count);
  if (request->show_scores()) {
    for (const auto& rsc : (*ws)->resources) {
      if (!rsc->IsPrimitive())
        continue;
      for (const auto& [node, score] : rsc->final_weights) {
        pb::AllocationScore* entry = response->add_scores();
        entry->set_kind("pcmk__primitive_assign");
        entry->set_resource(rsc->id);
        entry->set_node(node->uname);
        entry->set_score(ScoreToString(score));
      }
    }
  }
  if (!request->dry_run()) {
    auto saved = archive_.Save(request->cib_xml(), (*ws)->now, series, SeriesMax(**ws, series));
    if (!saved.ok())
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat("cannot save the input: ", saved.status().message()));
    if (!saved->path.empty()) {
      pb::SavedInput* out = response->mutable_saved_input();
      out->set_path(saved->path);
      out->set_series(ToProto(saved->series));
      out->set_number(saved->number);
      out->set_mtime_unix_s(clock_now);
      out->set_size_bytes(saved->size_bytes);
      out->set_transition_id(transition_id);
    }
  }
  return grpc::Status::OK;
}

grpc::Status PolicyService::ListSavedInputs(grpc::ServerContext*,
                                            const pb::ListSavedInputsRequest* request,
                                            pb::ListSavedInputsResponse* response) {
  bool all = request->series() == pb::INPUT_SERIES_UNSPECIFIED;
  Series series = request->series() == pb::PE_WARN    ? Series::kWarn
                  : request->series() == pb::PE_ERROR ? Series::kError
                                                      : Series::kInput;
  absl::MutexLock lock(&mutex_);
  for (const SavedFile& file : archive_.List(all, series)) {
    if (request->limit() && response->inputs_size() >= static_cast<int>(request->limit()))
      break;
    pb::SavedInput* out = response->add_inputs();
    out->set_path(file.path);
    out->set_series(ToProto(file.series));
    out->set_number(file.number);
    out->set_mtime_unix_s(file.mtime_unix_s);
    out->set_size_bytes(file.size_bytes);
    out->set_transition_id(-1);
  }
  return grpc::Status::OK;
}

}  // namespace ha::pengine
