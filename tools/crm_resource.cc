// crm_resource: run a resource agent's action by hand through the local lrmd, and list the
// classes, providers and agents lrmd knows with their meta-data. The part of Pacemaker's
// crm_resource that needs no CIB, with its flag names, output and exit codes:
//   crm_resource --list-standards | --list-ocf-providers | --list-ocf-alternatives AGENT
//   crm_resource --list-agents STD[:PROVIDER] | --show-metadata CLASS[:PROVIDER]:TYPE
//   crm_resource --force-start|--force-stop|--force-check[=LEVEL]|--force-promote|--force-demote|
//                --validate[=LEVEL] --class C [--provider P] --agent T [--option NAME=VALUE...]
//                [-r ID] [-T TIME] [-V] [-Q]
// lrmd is found through the configuration: --run-dir DIR, else -c FILE, else $HA_CONFIG, else the
// default configuration file.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/daemon_runtime.h"
#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "common/tool_config.h"
#include "proto/lrmd.grpc.pb.h"
#include "tools/crm_resource_util.h"

namespace {

namespace lrmdpb = ha::lrmd::v1;
using ha::crm_resource::CrmExit;
using ha::crm_resource::CrmExitText;
using ha::crm_resource::ToInt;

// The resource name agents see (OCF_RESOURCE_INSTANCE) when -r is not given: Pacemaker's.
constexpr char kDefaultResourceName[] = "test";
// Pacemaker's default operation timeout (CRM_DEFAULT_OP_TIMEOUT_S).
constexpr uint32_t kDefaultTimeoutMs = 20000;
// How long lrmd may keep an action queued (behind the resource's other actions) on top of its
// timeout before we stop waiting.
constexpr absl::Duration kQueueAllowance = absl::Seconds(30);
constexpr absl::Duration kQueryDeadline = absl::Seconds(10);
constexpr absl::Duration kMetadataDeadline = absl::Seconds(40);  // lrmd allows meta-data 30 s

constexpr char kFooter[] =
    R"(There is no CIB yet: --force-* and --validate run the agent named by --class,
--provider and --agent with the parameters given by --option (passed to the agent as
OCF_RESKEY_<NAME>), not a configured resource's. -r only names the instance (OCF_RESOURCE_INSTANCE,
default 'test' as in Pacemaker); when lrmd already manages a resource of that name with another
agent, the command is refused. --force-check=LEVEL and --validate=LEVEL pass OCF_CHECK_LEVEL.

Exit codes: --force-* and --validate exit with the agent's OCF code (0 ok, 1 error, 2 invalid
parameter, 3 unimplemented, 4 insufficient privileges, 5 not installed, 6 not configured, 7 not
running, 8 promoted, 9 failed promoted); otherwise 0, or as Pacemaker: 1 error, 4 lrmd refused the
caller, 64 usage, 78 configuration unreadable, 102 lrmd not running (not connected), 105 no such
agent or provider, 107 resource name taken by another agent, 124 lrmd did not answer in time.

Examples:
  crm_resource --list-agents ocf:heartbeat
  crm_resource --show-metadata ocf:pacemaker:Dummy
  crm_resource --force-start --class ocf --provider heartbeat --agent Dummy --option state=/tmp/d
  crm_resource --validate --class ocf --provider heartbeat --agent IPaddr2 --option ip=10.0.0.9)";

void PrintError(const std::string& message) {
  std::cerr << "crm_resource: " << message << "\n";
}

// Pacemaker's closing line for a failed command.
int Fail(const std::string& message, CrmExit code) {
  std::cerr << "crm_resource: " << message
            << "\nError performing operation: " << CrmExitText(ToInt(code)) << "\n";
  return ToInt(code);
}

int Usage(const std::string& message) {
  PrintError(message);
  return ToInt(CrmExit::kUsage);
}

// A text as a block of lines ending with a newline.
void PrintBlock(std::ostream& out, const std::string& text) {
  if (text.empty()) {
    return;
  }
  out << text;
  if (text.back() != '\n') {
    out << "\n";
  }
}

class Lrmd {
 public:
  explicit Lrmd(std::string socket)
      : socket_(std::move(socket)),
        stub_(lrmdpb::ResourceManager::NewStub(ha::ConnectUnix(socket_))) {}

  lrmdpb::ResourceManager::Stub& stub() { return *stub_; }

  // Fails the command for a call that could not be made or was refused as a whole; `what` says
  // what was asked, for errors that are not about the connection.
  int CallFailed(const std::string& what, const absl::Status& status) const {
    const CrmExit code = ha::crm_resource::ExitForRpcError(status);
    std::string message(status.message());
    if (code == CrmExit::kDisconnect) {
      if (access(socket_.c_str(), F_OK) != 0) {
        return Fail(absl::StrCat(
                        "Could not connect to lrmd: no socket at ", socket_, " (is lrmd running?)"),
                    code);
      }
      return Fail(absl::StrCat("Could not connect to lrmd at ", socket_, ": ", message), code);
    }
    if (code == CrmExit::kTimeout) {
      return Fail(absl::StrCat("lrmd at ", socket_, " did not answer in time (", what, ")"), code);
    }
    if (code == CrmExit::kInsufficientPriv) {
      return Fail(absl::StrCat("lrmd at ", socket_, " refused ", what, ": ", message), code);
    }
    return Fail(absl::StrCat(what, " failed: ", message), code);
  }

 private:
  std::string socket_;
  std::unique_ptr<lrmdpb::ResourceManager::Stub> stub_;
};

absl::Status Call(const grpc::Status& status) {
  return ha::FromGrpcStatus(status);
}

int ListStandards(Lrmd& lrmd) {
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  lrmdpb::ListClassesResponse response;
  if (absl::Status s = Call(lrmd.stub().ListClasses(ctx.get(), {}, &response)); !s.ok()) {
    return lrmd.CallFailed("listing the standards", s);
  }
  if (response.classes().empty()) {
    return Fail("No standards found", CrmExit::kNoSuch);
  }
  for (const std::string& name : response.classes()) {
    std::cout << name << "\n";
  }
  return 0;
}

// --list-ocf-providers (type empty) and --list-ocf-alternatives TYPE.
int ListProviders(Lrmd& lrmd, const std::string& type) {
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  lrmdpb::ListProvidersRequest request;
  request.set_type(type);
  lrmdpb::ListProvidersResponse response;
  if (absl::Status s = Call(lrmd.stub().ListProviders(ctx.get(), request, &response)); !s.ok()) {
    return lrmd.CallFailed("listing the OCF providers", s);
  }
  if (response.providers().empty()) {
    return Fail(
        type.empty() ? "No OCF providers found" : absl::StrCat("No OCF providers found for ", type),
        CrmExit::kNoSuch);
  }
  for (const std::string& name : response.providers()) {
    std::cout << name << "\n";
  }
  return 0;
}

int ListAgents(Lrmd& lrmd, const std::string& spec) {
  auto [resource_class, provider] = ha::crm_resource::ParseStandardSpec(spec);
  const std::string none = provider.empty()
                               ? absl::StrCat("No agents found for standard '", resource_class, "'")
                               : absl::StrCat("No agents found for standard '",
                                              resource_class,
                                              "' and provider '",
                                              provider,
                                              "'");
  if (resource_class.empty()) {
    return Fail(none, CrmExit::kError);
  }
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  lrmdpb::ListAgentsRequest request;
  request.set_resource_class(resource_class);
  request.set_provider(provider);
  lrmdpb::ListAgentsResponse response;
  absl::Status s = Call(lrmd.stub().ListAgents(ctx.get(), request, &response));
  if (absl::IsInvalidArgument(s)) {  // a class lrmd does not support
    return Fail(absl::StrCat(none, " (", s.message(), ")"), CrmExit::kError);
  }
  if (!s.ok()) {
    return lrmd.CallFailed("listing the agents", s);
  }
  if (response.agents().empty()) {
    return Fail(none, CrmExit::kError);
  }
  for (const lrmdpb::AgentId& agent : response.agents()) {
    std::cout << agent.type() << "\n";
  }
  return 0;
}

int ShowMetadata(Lrmd& lrmd, const std::string& spec) {
  absl::StatusOr<lrmdpb::AgentId> agent = ha::crm_resource::ParseAgentSpec(spec);
  if (!agent.ok()) {
    return Fail(std::string(agent.status().message()), CrmExit::kNoSuch);
  }
  auto ctx = ha::ContextWithDeadline(kMetadataDeadline);
  lrmdpb::GetMetadataRequest request;
  *request.mutable_agent() = *agent;
  lrmdpb::GetMetadataResponse response;
  absl::Status s = Call(lrmd.stub().GetMetadata(ctx.get(), request, &response));
  if (!s.ok()) {
    CrmExit code = ha::crm_resource::ExitForRpcError(s);
    if (code == CrmExit::kDisconnect || code == CrmExit::kTimeout ||
        code == CrmExit::kInsufficientPriv) {
      return lrmd.CallFailed("the meta-data query", s);
    }
    return Fail(absl::StrCat("Metadata query for ", spec, " failed: ", s.message()),
                CrmExit::kNoSuch);
  }
  PrintBlock(std::cout, response.metadata().raw_xml());
  return 0;
}

struct ActionOptions {
  std::string command;  // "force-start", ..., "validate"
  std::optional<std::string> check_level;
  std::string resource_name;  // -r; empty: not given
  lrmdpb::AgentId agent;
  std::map<std::string, std::string> parameters;
  uint32_t timeout_ms = kDefaultTimeoutMs;
  int verbose = 0;
  bool quiet = false;
};

int RunAction(Lrmd& lrmd, const ActionOptions& opt) {
  const std::string id = opt.resource_name.empty() ? kDefaultResourceName : opt.resource_name;

  // A resource lrmd manages already (for the controller) keeps its registration: refuse to run
  // another agent under its name, and do not unregister it afterwards.
  bool known = false;
  {
    auto ctx = ha::ContextWithDeadline(kQueryDeadline);
    lrmdpb::ListResourcesResponse resources;
    if (absl::Status s = Call(lrmd.stub().ListResources(ctx.get(), {}, &resources)); !s.ok()) {
      return lrmd.CallFailed("listing lrmd's resources", s);
    }
    for (const lrmdpb::RegisteredResource& r : resources.resources()) {
      if (r.resource_id() != id) {
        continue;
      }
      known = true;
      if (ha::crm_resource::AgentName(r.agent()) != ha::crm_resource::AgentName(opt.agent)) {
        return Fail(absl::StrCat("It is not safe to run ",
                                 opt.command,
                                 " of ",
                                 ha::crm_resource::AgentName(opt.agent),
                                 " as '",
                                 id,
                                 "': lrmd manages a resource of that name with ",
                                 ha::crm_resource::AgentName(r.agent()),
                                 "; name the instance otherwise with -r"),
                    CrmExit::kUnsafe);
      }
    }
  }

  lrmdpb::ExecRequest request;
  request.set_resource_id(id);
  *request.mutable_agent() = opt.agent;
  request.set_action(std::string(ha::crm_resource::LrmdAction(opt.command)));
  request.set_timeout_ms(opt.timeout_ms);
  request.set_client_name("crm_resource");
  for (const auto& [name, value] : opt.parameters) {
    (*request.mutable_parameters())[name] = value;
  }
  if (opt.check_level.has_value() && !opt.check_level->empty()) {
    // ocf-shellfuncs sets OCF_CHECK_LEVEL from OCF_RESKEY_OCF_CHECK_LEVEL.
    (*request.mutable_parameters())["OCF_CHECK_LEVEL"] = *opt.check_level;
  }

  auto ctx = ha::ContextWithDeadline(absl::Milliseconds(opt.timeout_ms) + kQueueAllowance);
  lrmdpb::ActionResult result;
  absl::Status s = Call(lrmd.stub().ExecSync(ctx.get(), request, &result));
  if (!s.ok()) {
    if (absl::IsDeadlineExceeded(s)) {
      return lrmd.CallFailed(
          absl::StrCat(opt.command, "; the action may still be running in lrmd as ", id), s);
    }
    return lrmd.CallFailed(absl::StrCat("Operation ", opt.command), s);
  }
  if (!known) {
    // Leave no trace in lrmd (its resources are the controller's), as Pacemaker's crm_resource
    // runs the agent itself. Best effort: another client may have queued work on the name.
    auto unregister_ctx = ha::ContextWithDeadline(kQueryDeadline);
    lrmdpb::UnregisterResourceRequest unregister;
    unregister.set_resource_id(id);
    lrmdpb::UnregisterResourceResponse ignored;
    absl::Status u =
        Call(lrmd.stub().UnregisterResource(unregister_ctx.get(), unregister, &ignored));
    if (!u.ok() && opt.verbose > 0) {
      PrintError(absl::StrCat("could not unregister ", id, " from lrmd: ", u.message()));
    }
  }

  ha::crm_resource::ResultLine line =
      ha::crm_resource::FormatResult(opt.command, opt.resource_name, result);
  if (line.is_error) {
    PrintError(line.text);
  } else if (!opt.quiet) {
    std::cout << line.text << "\n";
  }
  // Like Pacemaker: the agent's output (on stdout), except validate's unless verbose.
  if (opt.verbose > 0 || opt.command != "validate") {
    PrintBlock(std::cout, result.stdout_tail());
    PrintBlock(std::cout, result.stderr_tail());
  }
  if (opt.verbose > 0) {
    std::cerr << "crm_resource: lrmd call " << result.call_id() << ": "
              << ha::crm_resource::ExecStatusText(result.exec_status()) << ", raw exit code "
              << result.raw_exit_code() << ", ran " << result.duration_ms() << " ms after "
              << result.queue_time_ms() << " ms in queue"
              << (result.output_truncated() ? "; output cut to its last 4 KiB" : "") << "\n";
  }
  int code = static_cast<int>(result.exit_code());
  if (result.exec_status() != lrmdpb::EXEC_DONE && code == 0) {
    code = ToInt(CrmExit::kError);
  }
  if (code != 0) {
    std::cerr << "crm_resource: Error performing operation: " << CrmExitText(code) << "\n";
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "crm_resource - run resource agents by hand through the local lrmd, and list the "
      "standards, providers and agents it knows (the part of Pacemaker's crm_resource that needs "
      "no CIB)",
      "crm_resource");
  app.footer(kFooter);
  app.get_formatter()->column_width(34);

  // CLI11 2.1 finds add_flag(name, "literal") ambiguous: descriptions go as strings.
  auto flag = [&app](const std::string& name, const std::string& description) {
    return app.add_flag(name, description);
  };
  std::string config_path;
  std::string run_dir;
  app.add_option(
      "-c,--config",
      config_path,
      "cluster configuration (default $HA_CONFIG or " + std::string(ha::kDefaultConfigPath) + ")");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)")
      ->type_name("DIR");

  // Queries.
  auto* list_standards = flag("--list-standards", "List supported standards");
  auto* list_providers = flag("--list-ocf-providers", "List all available OCF providers");
  std::string alternatives_of;
  auto* list_alternatives = app.add_option("--list-ocf-alternatives",
                                           alternatives_of,
                                           "List all available providers for the named OCF agent")
                                ->type_name("AGENT");
  std::string agents_spec;
  auto* list_agents = app.add_option("--list-agents",
                                     agents_spec,
                                     "List all agents available for the named standard and/or "
                                     "provider (e.g. ocf, ocf:heartbeat, lsb, service)")
                          ->type_name("STD:PROV");
  std::string metadata_spec;
  auto* show_metadata = app.add_option("--show-metadata",
                                       metadata_spec,
                                       "Show the metadata for the named class:provider:agent")
                            ->type_name("SPEC");

  // Commands.
  std::string validate_level;
  auto* validate =
      app.add_option("--validate",
                     validate_level,
                     "Validate the agent's configuration by calling its validate-all action, "
                     "with --class, --agent, --provider and any number of --option; an optional "
                     "LEVEL is passed as OCF_CHECK_LEVEL")
          ->expected(0, 1)
          ->type_name("[=LEVEL]");
  auto* force_start = flag("--force-start", "Bypass the cluster and start the resource");
  auto* force_stop = flag("--force-stop", "Bypass the cluster and stop the resource");
  std::string check_level;
  auto* force_check = app.add_option("--force-check",
                                     check_level,
                                     "Bypass the cluster and check the state of the resource "
                                     "(monitor); an optional LEVEL is passed as OCF_CHECK_LEVEL")
                          ->expected(0, 1)
                          ->type_name("[=LEVEL]");
  auto* force_promote = flag("--force-promote", "Bypass the cluster and promote the resource");
  auto* force_demote = flag("--force-demote", "Bypass the cluster and demote the resource");

  // What the commands run.
  std::string resource_class;
  std::string provider;
  std::string agent;
  std::vector<std::string> options;
  std::string resource;
  std::string timeout;
  app.add_option("--class", resource_class, "The standard the agent conforms to (e.g. ocf, lsb)")
      ->type_name("CLASS");
  app.add_option("--provider", provider, "The agent's provider (ocf only, e.g. heartbeat)")
      ->type_name("PROVIDER");
  app.add_option("--agent", agent, "The agent (e.g. Dummy, IPaddr2)")->type_name("AGENT");
  app.add_option(
         "--option", options, "An agent parameter as NAME=VALUE (may be given several times)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  app.add_option("-r,--resource", resource, "The resource instance's name (default 'test')")
      ->type_name("ID");
  app.add_option("-T,--timeout",
                 timeout,
                 "Kill the agent if the action does not finish in this time (e.g. 30s, 500ms; "
                 "a bare number is seconds, as in Pacemaker; default 20s)")
      ->type_name("TIME");
  auto* verbose = flag("-V,--verbose", "Show validate's output and lrmd's details");
  bool quiet = false;
  app.add_flag("-Q,--quiet", quiet, "Do not print the result line of a successful action");
  bool version = false;
  app.add_flag("--version", version, "Display the software version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : ToInt(CrmExit::kUsage);
  }
  if (version) {
    std::cout << "crm_resource (hacluster) " << ha::kVersion << "\n";
    return 0;
  }

  struct Command {
    CLI::Option* option;
    std::string name;
  };
  std::vector<Command> given;
  for (const Command& c : std::vector<Command>{{list_standards, "list-standards"},
                                               {list_providers, "list-ocf-providers"},
                                               {list_alternatives, "list-ocf-alternatives"},
                                               {list_agents, "list-agents"},
                                               {show_metadata, "show-metadata"},
                                               {validate, "validate"},
                                               {force_start, "force-start"},
                                               {force_stop, "force-stop"},
                                               {force_check, "force-check"},
                                               {force_promote, "force-promote"},
                                               {force_demote, "force-demote"}}) {
    if (c.option->count() > 0) {
      given.push_back(c);
    }
  }
  if (given.empty()) {
    return Usage("no command given (see --help)");
  }
  if (given.size() > 1) {
    return Usage(absl::StrCat(
        "only one command at a time: --", given[0].name, " and --", given[1].name, " were given"));
  }
  const std::string command = given[0].name;

  ActionOptions action;
  const bool runs_agent = !ha::crm_resource::LrmdAction(command).empty();
  if (runs_agent) {
    action.command = command;
    action.resource_name = resource;
    action.verbose = static_cast<int>(verbose->count());
    action.quiet = quiet;
    if (command == "validate") {
      action.check_level = validate_level;
    } else if (command == "force-check") {
      action.check_level = check_level;
    }
    if (action.check_level.has_value() && !action.check_level->empty() &&
        !std::all_of(action.check_level->begin(), action.check_level->end(), [](char c) {
          return absl::ascii_isdigit(static_cast<unsigned char>(c));
        })) {
      return Usage(absl::StrCat("'", *action.check_level, "' is not a check level (a number)"));
    }
    if (resource_class.empty() || agent.empty()) {
      if (!resource.empty() && resource_class.empty() && agent.empty()) {
        return Usage(absl::StrCat("there is no CIB yet to look resource '",
                                  resource,
                                  "' up in: give its agent with --class, --provider and --agent, "
                                  "and its parameters with --option"));
      }
      return Usage(
          absl::StrCat("--", command, " needs --class and --agent (and --provider for class ocf)"));
    }
    action.agent.set_resource_class(absl::AsciiStrToLower(resource_class));
    action.agent.set_type(agent);
    if (action.agent.resource_class() == "ocf") {
      if (provider.empty()) {
        return Usage("--provider is required for class ocf");
      }
      action.agent.set_provider(provider);
    } else if (!provider.empty()) {
      return Usage(absl::StrCat("--provider is for class ocf only, not ", resource_class));
    }
    for (const std::string& option : options) {
      auto pair = ha::crm_resource::ParseNameValue(option);
      if (!pair.ok()) {
        return Usage(std::string(pair.status().message()));
      }
      action.parameters[pair->first] = pair->second;
    }
    if (!timeout.empty()) {
      absl::StatusOr<uint32_t> ms = ha::crm_resource::ParseTimeMs(timeout);
      if (!ms.ok()) {
        return Usage(absl::StrCat("--timeout: ", ms.status().message()));
      }
      action.timeout_ms = *ms;
    }
  }

  absl::StatusOr<std::string> dir = ha::ResolveRunDir(config_path, run_dir, getenv("HA_CONFIG"));
  if (!dir.ok()) {
    return Fail(std::string(dir.status().message()), CrmExit::kConfig);
  }
  Lrmd lrmd(*dir + "/lrmd.sock");

  if (command == "list-standards") {
    return ListStandards(lrmd);
  }
  if (command == "list-ocf-providers") {
    return ListProviders(lrmd, "");
  }
  if (command == "list-ocf-alternatives") {
    return ListProviders(lrmd, alternatives_of);
  }
  if (command == "list-agents") {
    return ListAgents(lrmd, agents_spec);
  }
  if (command == "show-metadata") {
    return ShowMetadata(lrmd, metadata_spec);
  }
  return RunAction(lrmd, action);
}
