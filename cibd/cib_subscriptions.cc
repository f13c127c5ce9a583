#include "cibd/cib_subscriptions.h"

#include <optional>
#include <utility>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cibd/cib_acl.h"
#include "cibd/cib_diff.h"
#include "cibd/cib_xml.h"

namespace ha::cib {
namespace {

// "primitive[@id='x'][2]" -> "primitive".
std::string StepName(std::string_view step) {
  return std::string(step.substr(0, step.find('[')));
}

void ToProto(const CibVersion& v, v1::CibVersion* out) {
  out->set_admin_epoch(v.admin_epoch);
  out->set_epoch(v.epoch);
  out->set_num_updates(v.num_updates);
}

v1::CibChange MakeResync(v1::ResyncReason reason, const CibDocument& visible, bool with_cib) {
  v1::CibChange change;
  v1::Resync* resync = change.mutable_resync();
  resync->set_reason(reason);
  if (with_cib) {
    resync->set_cib_xml(visible.Serialize(false));
  }
  ToProto(visible.Version(), resync->mutable_version());
  resync->set_digest(visible.Digest());
  return change;
}

// `doc` as `who` may read it; nullopt when nothing.
std::optional<CibDocument> Visible(const CibDocument& doc, const Requester& who) {
  if (who.bypass) {
    return doc.Clone();
  }
  const AclPolicy policy = AclPolicy::For(doc, who.user);
  if (policy.Unrestricted()) {
    return doc.Clone();
  }
  absl::StatusOr<CibDocument> filtered = policy.FilterForRead(doc);
  if (!filtered.ok()) {
    return std::nullopt;
  }
  return std::move(filtered).value();
}

}  // namespace

std::set<std::string> TouchedSections(const std::string& diff_xml) {
  std::set<std::string> sections;
  absl::StatusOr<std::unique_ptr<pugi::xml_document>> doc = ParseXml(diff_xml);
  if (!doc.ok()) {
    return sections;
  }
  for (pugi::xml_node change : (*doc)->document_element().children("change")) {
    std::vector<std::string> steps;
    for (absl::string_view step :
         absl::StrSplit(absl::string_view(change.attribute("path").as_string()), '/')) {
      if (!step.empty()) {
        steps.push_back(StepName(std::string_view(step.data(), step.size())));
      }
    }
    const bool create = std::string_view(change.attribute("operation").as_string()) == "create";
    if (create) {
      if (pugi::xml_node created = change.first_child(); created.type() == pugi::node_element) {
        steps.push_back(created.name());
      }
    }
    // steps[0] is "cib".
    if (steps.size() >= 2) {
      sections.insert(steps[1]);
      if (steps[1] == "configuration" && steps.size() >= 3) {
        sections.insert(steps[2]);
      }
    }
  }
  return sections;
}

absl::StatusOr<std::shared_ptr<CibSubscriptions::Subscriber>> CibSubscriptions::Open(
    const CibDocument& doc, const Requester& who, const v1::SubscribeRequest& request) {
  auto sub = std::make_shared<Subscriber>();
  sub->who = who;
  sub->initial_cib = request.initial_cib();
  sub->scopes.insert(request.scopes().begin(), request.scopes().end());
  if (request.initial_cib()) {
    std::optional<CibDocument> visible = Visible(doc, who);
    if (!visible.has_value()) {
      return absl::PermissionDeniedError("user " + who.user.name + " may read nothing of the CIB");
    }
    absl::MutexLock lock(&sub->mu);
    sub->queue.push_back(MakeResync(v1::RESYNC_INITIAL, *visible, true));
  }
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::UnavailableError("cibd is stopping");
  }
  subscribers_.insert(sub);
  return sub;
}

void CibSubscriptions::Enqueue(Subscriber& sub, v1::CibChange change, const CibDocument& after) {
  absl::MutexLock lock(&sub.mu);
  if (sub.closed) {
    return;
  }
  if (sub.queue.size() >= queue_limit_) {
    sub.queue.clear();
    ++sub.overflows;
    std::optional<CibDocument> visible = Visible(after, sub.who);
    if (visible.has_value()) {
      sub.queue.push_back(MakeResync(v1::RESYNC_OVERFLOW, *visible, sub.initial_cib));
    }
    // `change` is already part of the state the marker describes.
  } else {
    sub.queue.push_back(std::move(change));
  }
  sub.cv.Signal();
}

void CibSubscriptions::Publish(const CibDocument& before,
                               const CibDocument& after,
                               const ChangeInfo& info) {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    absl::MutexLock lock(&mu_);
    subs.assign(subscribers_.begin(), subscribers_.end());
  }
  if (subs.empty()) {
    return;
  }
  std::optional<std::string> full_diff;
  std::set<std::string> touched;
  if (!info.replaced) {
    full_diff = Diff(before, after);
    touched = TouchedSections(*full_diff);
  }
  for (const auto& sub : subs) {
    if (info.replaced) {
      std::optional<CibDocument> visible = Visible(after, sub->who);
      if (visible.has_value()) {
        Enqueue(*sub, MakeResync(v1::RESYNC_REPLACED, *visible, sub->initial_cib), after);
      }
      continue;
    }
    if (!sub->scopes.empty()) {
      bool wanted = false;
      for (const std::string& s : touched) {
        wanted = wanted || sub->scopes.contains(s);
      }
      if (!wanted) {
        continue;
      }
    }
    v1::CibChange change;
    v1::Patchset* p = change.mutable_patchset();
    bool restricted = false;
    if (!sub->who.bypass) {
      const AclPolicy policy = AclPolicy::For(after, sub->who.user);
      if (!policy.Unrestricted()) {
        restricted = true;
        absl::StatusOr<std::string> filtered = policy.FilterPatchset(before, after);
        if (!filtered.ok()) {
          continue;  // nothing of it is readable
        }
        std::optional<CibDocument> visible = Visible(after, sub->who);
        p->set_diff_xml(*std::move(filtered));
        p->set_digest(visible.has_value() ? visible->Digest() : "");
      }
    }
    if (!restricted) {
      p->set_diff_xml(*full_diff);
      p->set_digest(info.digest.empty() ? after.Digest() : info.digest);
    }
    ToProto(before.Version(), p->mutable_source_version());
    ToProto(after.Version(), p->mutable_version());
    p->set_origin(info.origin);
    p->set_client(info.client);
    p->set_user(info.user);
    p->set_operation(info.operation);
    Enqueue(*sub, std::move(change), after);
  }
}

void CibSubscriptions::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const auto& sub : subscribers_) {
    absl::MutexLock sub_lock(&sub->mu);
    sub->closed = true;
    sub->cv.SignalAll();
  }
}

size_t CibSubscriptions::size() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

grpc::Status CibSubscriptions::Serve(grpc::ServerContext* ctx,
                                     grpc::ServerWriter<v1::CibChange>* writer,
                                     std::shared_ptr<Subscriber> sub) {
  grpc::Status status = grpc::Status::OK;
  while (true) {
    std::optional<v1::CibChange> next;
    {
      absl::MutexLock lock(&sub->mu);
      if (sub->queue.empty() && !sub->closed) {
        sub->cv.WaitWithTimeout(&sub->mu, absl::Milliseconds(100));
      }
      if (!sub->queue.empty()) {
        next = std::move(sub->queue.front());
        sub->queue.pop_front();
      } else if (sub->closed) {
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "cibd is stopping");
        break;
      }
    }
    if (ctx->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
      break;
    }
    if (next.has_value() && !writer->Write(*next)) {
      break;  // the client is gone
    }
  }
  absl::MutexLock lock(&mu_);
  subscribers_.erase(sub);
  return status;
}

}  // namespace ha::cib
