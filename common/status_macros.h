// The two macros for propagating absl::Status, so that error paths stay one line.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HA_STATUS_CONCAT_INNER_(a, b) a##b
#define HA_STATUS_CONCAT_(a, b) HA_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define HA_RETURN_IF_ERROR(expr)        \
  do {                                  \
    ::absl::Status ha_status_ = (expr); \
    if (!ha_status_.ok())               \
      return ha_status_;                \
  } while (0)

// `lhs = value of expr`, or returns its status from the enclosing function.
#define HA_ASSIGN_OR_RETURN(lhs, expr) \
  HA_ASSIGN_OR_RETURN_IMPL_(HA_STATUS_CONCAT_(ha_statusor_, __LINE__), lhs, expr)
#define HA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok())                                  \
    return std::move(statusor).status();               \
  lhs = std::move(statusor).value()
