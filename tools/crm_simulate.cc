// crm_simulate: runs the policy engine on a CIB file and shows what it would do, with
// Pacemaker's flags and output layout for what we support:
//   crm_simulate -x FILE [-S | -R] [-s] [-G GRAPH.xml] [-D GRAPH.dot] [-t "YYYY-MM-DD HH:MM:SS"]
//   [-Q]
// -L reads the live CIB through the local cibd's Query (found through $HA_CONFIG); when cibd
// does not answer it says so and exits 69.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/tool_config.h"
#include "pengine/graph.h"
#include "pengine/inject.h"
#include "pengine/scheduler.h"
#include "pengine/status_text.h"
#include "pengine/summary.h"
#include "tools/cib_client.h"

namespace {

constexpr int kExitUsage = 64;
constexpr int kExitNoInput = 66;
constexpr int kExitUnavailable = 69;
constexpr int kExitDataError = 65;

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  out << content;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"crm_simulate: what the policy engine would do with a CIB"};
  std::string xml_file, graph_file, dot_file, date_text;
  bool live = false, simulate = false, run = false, scores = false, quiet = false;
  app.add_option("-x,--xml-file", xml_file, "Read the CIB (with status) from this file");
  app.add_flag("-L,--live-check", live, "Use the running cluster's CIB");
  app.add_flag("-S,--simulate", simulate, "Compute the transition and simulate its execution");
  app.add_flag("-R,--run", run, "Compute the transition (no simulated execution)");
  app.add_flag("-s,--show-scores", scores, "Show allocation scores");
  app.add_option("-G,--save-graph", graph_file, "Write the transition graph (XML) here");
  app.add_option("-D,--save-dotfile", dot_file, "Write the transition graph (dot) here");
  app.add_option("-t,--set-datetime", date_text, "Evaluate as of this date and time (ISO 8601)");
  app.add_flag("-Q,--quiet", quiet, "Show only the transition summary and errors");
  ha::pengine::Injections injections;
  std::string quorum;
  app.add_option("-u,--node-up", injections.node_up, "Bring a node online");
  app.add_option("-d,--node-down", injections.node_down, "Take a node offline cleanly");
  app.add_option("-f,--node-fail", injections.node_fail, "Mark a node as lost (fencing needed)");
  app.add_option("-i,--op-inject",
                 injections.op_inject,
                 "Record an operation result: RSC_TASK_INTERVALMS@NODE=RC");
  app.add_option("-q,--quorum", quorum, "Set whether the cluster has quorum (true/false)");
  app.add_option("-g,--ticket-grant", injections.ticket_grant, "Grant a ticket");
  app.add_option("-r,--ticket-revoke", injections.ticket_revoke, "Revoke a ticket");
  app.add_option("-b,--ticket-standby", injections.ticket_standby, "Put a ticket in standby");
  app.add_option("-e,--ticket-activate", injections.ticket_activate, "Activate a ticket");
  CLI11_PARSE(app, argc, argv);

  std::string xml;
  if (live) {
    absl::StatusOr<std::string> dir = ha::ResolveRunDir("", "", std::getenv("HA_CONFIG"));
    absl::StatusOr<std::string> cib =
        dir.ok() ? ha::cib_client::QueryLiveCib(*dir) : absl::StatusOr<std::string>(dir.status());
    if (!cib.ok()) {
      std::cerr << "crm_simulate: could not read the live CIB from cibd: " << cib.status().message()
                << "; use -x FILE\n";
      return kExitUnavailable;
    }
    xml = *std::move(cib);
    xml_file = "the live CIB";
  }
  if (xml_file.empty()) {
    std::cerr << "crm_simulate: give the CIB with -x FILE\n";
    return kExitUsage;
  }
  if (live) {
    // read above
  } else if (xml_file == "-") {
    std::stringstream buffer;
    buffer << std::cin.rdbuf();
    xml = buffer.str();
  } else {
    std::ifstream in(xml_file);
    if (!in) {
      std::cerr << "crm_simulate: cannot read " << xml_file << "\n";
      return kExitNoInput;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    xml = buffer.str();
  }
  std::optional<int64_t> now = static_cast<int64_t>(std::time(nullptr));
  if (!date_text.empty()) {
    now = ha::pengine::ParseIsoDateTime(date_text);
    if (!now) {
      std::cerr << "crm_simulate: cannot parse the date '" << date_text << "'\n";
      return kExitUsage;
    }
  }
  if (!quorum.empty())
    injections.quorum = quorum == "true" || quorum == "1" || quorum == "yes";
  bool inject = injections.quorum || !injections.node_up.empty() || !injections.node_down.empty() ||
                !injections.node_fail.empty() || !injections.op_inject.empty() ||
                !injections.ticket_grant.empty() || !injections.ticket_revoke.empty() ||
                !injections.ticket_standby.empty() || !injections.ticket_activate.empty();
  if (inject) {
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size())) {
      std::cerr << "crm_simulate: " << xml_file << " is not well-formed XML\n";
      return kExitDataError;
    }
    absl::Status applied = ha::pengine::ApplyInjections(doc, injections, now.value_or(0));
    if (!applied.ok()) {
      std::cerr << "crm_simulate: " << applied.message() << "\n";
      return kExitUsage;
    }
    std::ostringstream modified;
    doc.save(modified, "", pugi::format_raw);
    xml = modified.str();
  }
  auto ws = ha::pengine::Schedule(xml, now);
  if (!ws.ok()) {
    std::cerr << "crm_simulate: " << xml_file << ": " << ws.status().message() << "\n";
    return kExitDataError;
  }
  for (const auto& problem : (*ws)->problems)
    std::cerr << (problem.level == ha::pengine::Problem::Level::kError ? "error: " : "warning: ")
              << problem.message << " [" << problem.code << "]\n";

  if (!quiet)
    std::cout << "Current cluster status:\n" << ClusterStatusText(**ws) << "\n";
  if (scores) {
    for (const auto& line : AllocationScoreLines(**ws))
      std::cout << line << "\n";
    std::cout << "\n";
  }
  if (simulate || run || scores) {
    std::cout << "Transition Summary:\n";
    for (const auto& line : TransitionSummary(**ws))
      std::cout << line << "\n";
  }
  if (simulate && !quiet) {
    std::cout << "\nExecuting Cluster Transition:\n";
    for (const auto& line : ExecutedActionLines(**ws))
      std::cout << line << "\n";
    std::cout << "\nRevised Cluster Status:\n" << RevisedStatusText(**ws);
  }
  if (!graph_file.empty() && !WriteFile(graph_file, TransitionGraphXml(**ws))) {
    std::cerr << "crm_simulate: cannot write " << graph_file << "\n";
    return kExitDataError + 8;
  }
  if (!dot_file.empty() && !WriteFile(dot_file, TransitionGraphDot(**ws))) {
    std::cerr << "crm_simulate: cannot write " << dot_file << "\n";
    return kExitDataError + 8;
  }
  return 0;
}
