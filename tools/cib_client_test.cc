#include "tools/cib_client.h"

#include <catch2/catch.hpp>

namespace ha::cib_client {
namespace {

TEST_CASE("Cib errors map to Pacemaker's exit codes") {
  CHECK(ExitForStatus(absl::OkStatus()) == CibExit::kOk);
  CHECK(ToInt(ExitForStatus(absl::UnavailableError(""))) == 102);
  CHECK(ToInt(ExitForStatus(absl::NotFoundError(""))) == 105);
  CHECK(ToInt(ExitForStatus(absl::AlreadyExistsError(""))) == 108);
  CHECK(ToInt(ExitForStatus(absl::PermissionDeniedError(""))) == 4);
  CHECK(ToInt(ExitForStatus(absl::AbortedError(""))) == 103);
  CHECK(ToInt(ExitForStatus(absl::FailedPreconditionError(""))) == 106);
  CHECK(ToInt(ExitForStatus(absl::InvalidArgumentError(""))) == 78);
  CHECK(ToInt(ExitForStatus(absl::DeadlineExceededError(""))) == 124);
  CHECK(ToInt(ExitForStatus(absl::InternalError(""))) == 1);
  CHECK(ExitText(CibExit::kNoSuch) == "No such object");
}

}  // namespace
}  // namespace ha::cib_client
