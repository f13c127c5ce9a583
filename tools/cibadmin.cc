// cibadmin: query and edit the CIB through the local cibd, with Pacemaker's flags, output and
// exit codes for what the Cib API supports:
//   cibadmin -Q [-o SCOPE | -A XPATH [-e]] [-n] [-l]
//   cibadmin -C|-M|-R|-D [-o SCOPE | -A XPATH] (-X TEXT | -x FILE | -p) [-c] [--score] [-d]
//   cibadmin -E --force | -B | --md5-sum [-X|-x|-p]
// Common: -U USER (default $CIB_user), -f/--force, -t SECONDS, -l/--local, -s (accepted; every
// call is synchronous), -V. cibd is found through --run-dir DIR, else --config FILE, else
// $HA_CONFIG, else the default configuration file.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cibd/cib_document.h"
#include "cibd/cib_xml.h"
#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "common/tool_config.h"
#include "proto/cib.grpc.pb.h"
#include "tools/cib_client.h"

namespace {

namespace cibpb = ha::cib::v1;
using ha::cib_client::CibExit;
using ha::cib_client::ToInt;

constexpr const char* kScopes[] = {"configuration",
                                   "nodes",
                                   "resources",
                                   "constraints",
                                   "crm_config",
                                   "rsc_defaults",
                                   "op_defaults",
                                   "acls",
                                   "fencing-topology",
                                   "tags",
                                   "alerts",
                                   "status"};

int Fail(const std::string& message, CibExit code) {
  std::cerr << "cibadmin: " << message << "\n";
  return ToInt(code);
}

// A failed call, as Pacemaker words it: "Call cib_<op> failed (<code>): <text>".
int CallFailed(const std::string& op, const std::string& socket, const grpc::Status& status) {
  const absl::Status s = ha::FromGrpcStatus(status);
  const CibExit code = ha::cib_client::ExitForStatus(s);
  if (code == CibExit::kDisconnect) {
    std::cerr << "Could not connect to the CIB: " << s.message() << " (is cibd running? socket "
              << socket << ")\n";
  } else {
    std::cerr << "Call cib_" << op << " failed (" << ToInt(code)
              << "): " << ha::cib_client::ExitText(code) << "\n";
    if (!s.message().empty()) {
      std::cerr << s.message() << "\n";
    }
  }
  return ToInt(code);
}

struct Options {
  std::string scope, xpath, xml_text, xml_file, user, run_dir, config;
  bool xml_pipe = false, force = false, local = false, allow_create = false, no_children = false;
  bool node_path = false, score = false, delete_all = false, sync_call = false;
  int timeout_s = 30;
};

void SetCommon(const Options& o, cibpb::CallOptions* out) {
  out->set_user(o.user);
  out->set_local(o.local);
  out->set_force(o.force);
  out->set_no_children(o.no_children);
  out->set_client_name("cibadmin");
}

void SetTarget(const Options& o, cibpb::Target* out) {
  out->set_scope(o.scope);
  out->set_xpath(o.xpath);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cibadmin - query and edit the Pacemaker configuration"};
  app.footer(R"(Exit codes (Pacemaker's): 0 ok, 1 error, 4 insufficient privileges (ACLs), 64 usage,
65 the XML given does not parse, 66 the XML file cannot be read, 78 invalid configuration
(rejected by validation), 102 cibd not running, 103 version conflict (older than the CIB),
105 no such object, 106 no quorum (use --force), 107 --erase without --force, 108 the object
exists, 124 timeout.

Examples:
  cibadmin --query --local
  cibadmin --query --scope crm_config
  cibadmin --query --xpath "//nvpair[@name='target-role']"
  cibadmin --create -o resources -X '<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/>'
  cibadmin --replace --xml-file cib.xml)");
  Options o;
  bool query = false, erase = false, bump = false, create = false, modify = false;
  bool replace = false, remove = false, md5 = false;
  int verbose = 0;
  auto* commands = app.add_option_group("Commands");
  commands->add_flag("-Q,--query", query, "Query the contents of the CIB");
  commands->add_flag("-E,--erase", erase, "Erase the contents of the whole CIB");
  commands->add_flag("-B,--bump", bump, "Increase the CIB's epoch value by 1");
  commands->add_flag("-C,--create", create, "Create an object in the CIB (fails if it exists)");
  commands->add_flag("-M,--modify",
                     modify,
                     "Find an object somewhere in the CIB's XML tree and update it (fails if it "
                     "does not exist unless -c is also given)");
  commands->add_flag("-R,--replace", replace, "Recursively replace an object in the CIB");
  commands->add_flag("-D,--delete", remove, "Delete the first object matching the XML or XPath");
  commands->add_flag("-d,--delete-all",
                     o.delete_all,
                     "With --xpath, remove all matching objects instead of just the first one");
  commands->add_flag("--md5-sum", md5, "Calculate the on-disk CIB digest");
  app.add_flag(
      "-f,--force", o.force, "Force the action (needed by --erase; writes without quorum)");
  app.add_option(
      "-t,--timeout", o.timeout_s, "Seconds to wait before declaring the operation failed");
  app.add_option("-U,--user",
                 o.user,
                 "Run the command with the permissions of this user (root and hacluster only)");
  app.add_flag("-s,--sync-call", o.sync_call, "Wait for the call to complete (always done)");
  app.add_flag("-l,--local", o.local, "Command takes effect locally (queries only)");
  app.add_flag("-c,--allow-create", o.allow_create, "Allow the target of --modify to be created");
  app.add_flag("--score", o.score, "With --modify, expand 'name++' and 'name+=N' in values");
  app.add_flag("-n,--no-children", o.no_children, "Query objects without their children");
  app.add_option("-X,--xml-text", o.xml_text, "Retrieve XML from the supplied string");
  app.add_option("-x,--xml-file", o.xml_file, "Retrieve XML from the named file");
  app.add_flag("-p,--xml-pipe", o.xml_pipe, "Retrieve XML from stdin");
  app.add_option("-o,--scope", o.scope, "Limit the scope of the operation to a section of the CIB");
  app.add_option("-A,--xpath", o.xpath, "A valid XPath to use instead of --scope/-o");
  app.add_flag("-e,--node-path", o.node_path, "With --xpath queries, print the matches' paths");
  app.add_flag("-V,--verbose", verbose, "Increase debug output");
  app.add_option("--run-dir", o.run_dir, "The node's run folder (cibd's socket)");
  app.add_option("--config", o.config, "The cluster configuration (default $HA_CONFIG)");
  CLI11_PARSE(app, argc, argv);
  (void)verbose;

  const int count =
      query + erase + bump + create + modify + replace + remove + md5 + (o.delete_all && !remove);
  if (count == 0) {
    return Fail("no command given (one of -Q, -C, -M, -R, -D, -E, -B, --md5-sum)", CibExit::kUsage);
  }
  if (count > 1) {
    return Fail("only one command may be given", CibExit::kUsage);
  }
  if (o.delete_all) {
    remove = true;
    if (o.xpath.empty()) {
      return Fail("--delete-all needs --xpath", CibExit::kUsage);
    }
  }
  if (!o.scope.empty()) {
    bool known = false;
    for (const char* s : kScopes) {
      known = known || o.scope == s;
    }
    if (!known) {
      return Fail(absl::StrCat("Invalid scope: ", o.scope), CibExit::kUsage);
    }
  }
  if (!o.scope.empty() && !o.xpath.empty()) {
    return Fail("give --scope or --xpath, not both", CibExit::kUsage);
  }
  if (o.user.empty()) {
    if (const char* env = std::getenv("CIB_user"); env != nullptr) {
      o.user = env;
    }
  }
  if (erase && !o.force) {
    std::cerr << "The supplied command is considered dangerous.  To prevent accidental "
                 "destruction of the cluster, the --force flag is required in order to "
                 "proceed.\n";
    return ToInt(CibExit::kUnsafe);
  }

  // The XML input, if any.
  const int sources = !o.xml_text.empty() + !o.xml_file.empty() + o.xml_pipe;
  if (sources > 1) {
    return Fail("give the XML once: -X, -x or -p", CibExit::kUsage);
  }
  std::string xml = o.xml_text;
  if (!o.xml_file.empty()) {
    std::ifstream in(o.xml_file);
    if (!in) {
      return Fail(absl::StrCat("Couldn't read ", o.xml_file), CibExit::kNoInput);
    }
    std::stringstream buf;
    buf << in.rdbuf();
    xml = buf.str();
  } else if (o.xml_pipe) {
    std::stringstream buf;
    buf << std::cin.rdbuf();
    xml = buf.str();
  }
  if (sources == 1) {
    if (absl::Status s = ha::cib::ParseXml(xml).status(); !s.ok()) {
      return Fail(absl::StrCat("Couldn't parse input XML: ", s.message()), CibExit::kDataErr);
    }
  }
  const bool needs_xml = create || modify || replace || (remove && o.xpath.empty());
  if (needs_xml && sources == 0) {
    return Fail("Please supply XML to process with -X, -x or -p", CibExit::kUsage);
  }
  if (md5 && sources == 1) {
    auto doc = ha::cib::CibDocument::Parse(xml);
    if (!doc.ok()) {
      return Fail(absl::StrCat("Couldn't parse input XML: ", doc.status().message()),
                  CibExit::kDataErr);
    }
    std::cout << doc->Digest() << "\n";
    return 0;
  }

  absl::StatusOr<std::string> dir = ha::ResolveRunDir(o.config, o.run_dir, getenv("HA_CONFIG"));
  if (!dir.ok()) {
    return Fail(std::string(dir.status().message()), CibExit::kConfig);
  }
  const std::string socket = *dir + "/cibd.sock";
  auto stub = cibpb::Cib::NewStub(ha::ConnectUnix(socket));
  auto ctx = ha::ContextWithDeadline(absl::Seconds(o.timeout_s));

  if (query) {
    cibpb::QueryRequest req;
    SetTarget(o, req.mutable_target());
    SetCommon(o, req.mutable_options());
    req.set_node_path(o.node_path);
    cibpb::QueryResponse resp;
    grpc::Status s = stub->Query(ctx.get(), req, &resp);
    if (!s.ok()) {
      return CallFailed("query", socket, s);
    }
    std::cout << resp.xml();
    if (!resp.xml().empty() && resp.xml().back() != '\n') {
      std::cout << "\n";
    }
    return 0;
  }
  if (md5) {
    cibpb::GetVersionRequest req;
    SetCommon(o, req.mutable_options());
    cibpb::GetVersionResponse resp;
    grpc::Status s = stub->GetVersion(ctx.get(), req, &resp);
    if (!s.ok()) {
      return CallFailed("query", socket, s);
    }
    std::cout << resp.digest() << "\n";
    return 0;
  }
  if (o.local) {
    return Fail(
        "--local may only be used with queries: a local write would make this node's "
        "copy diverge",
        CibExit::kUsage);
  }
  cibpb::WriteResponse resp;
  grpc::Status s;
  std::string op;
  if (create) {
    op = "create";
    cibpb::CreateRequest req;
    SetTarget(o, req.mutable_target());
    SetCommon(o, req.mutable_options());
    req.set_xml(xml);
    s = stub->Create(ctx.get(), req, &resp);
  } else if (modify) {
    op = "modify";
    cibpb::ModifyRequest req;
    SetTarget(o, req.mutable_target());
    SetCommon(o, req.mutable_options());
    req.set_xml(xml);
    req.set_allow_create(o.allow_create);
    req.set_score_update(o.score);
    s = stub->Modify(ctx.get(), req, &resp);
  } else if (replace) {
    op = "replace";
    cibpb::ReplaceRequest req;
    SetTarget(o, req.mutable_target());
    SetCommon(o, req.mutable_options());
    req.set_xml(xml);
    s = stub->Replace(ctx.get(), req, &resp);
  } else if (remove) {
    op = "delete";
    cibpb::DeleteRequest req;
    SetTarget(o, req.mutable_target());
    SetCommon(o, req.mutable_options());
    req.set_xml(xml);
    req.set_delete_all(o.delete_all);
    s = stub->Delete(ctx.get(), req, &resp);
  } else if (erase) {
    op = "erase";
    cibpb::EraseRequest req;
    SetCommon(o, req.mutable_options());
    s = stub->Erase(ctx.get(), req, &resp);
  } else if (bump) {
    op = "bump";
    cibpb::BumpEpochRequest req;
    SetCommon(o, req.mutable_options());
    s = stub->BumpEpoch(ctx.get(), req, &resp);
  }
  if (!s.ok()) {
    return CallFailed(op, socket, s);
  }
  return 0;
}
