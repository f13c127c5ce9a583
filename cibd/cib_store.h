// The CIB on disk, in one folder (Pacemaker's /var/lib/pacemaker/cib layout, simplified):
//
//   cib.xml          the current CIB, indented XML
//   cib.xml.sig      its digest (CibDocument::Digest, 32 hex digits and a newline)
//   cib-K.raw        the K-th previous CIB (K grows by one per save), the newest `keep_backups`
//   cib-K.raw.sig    kept, and their digests
//   cib.xml.corrupt-<unix time>   a cib.xml that failed verification, set aside for inspection
//
// Save: (1) the current cib.xml is hard-linked as the next cib-K.raw and its digest written to
// cib-K.raw.sig; (2) the new digest replaces cib.xml.sig; (3) the new CIB replaces cib.xml;
// every file write is common/atomic_file.h's (temp file, fsync, rename, fsync of the folder).
// The save is committed when (3)'s rename is durable. A crash anywhere leaves one of:
//   - before (2): cib.xml and its sig agree on the previous CIB;
//   - between (2) and (3): cib.xml is the previous CIB and its sig the new digest; the newest
//     backup is the same previous CIB, so Load accepts cib.xml by that backup's digest;
//   - after (3): the new CIB.
// A backup link without its sig (a crash inside (1)) is skipped.
//
// Load: cib.xml if it parses and matches its digest (or the newest backup's, see above); else
// cib.xml is set aside (renamed cib.xml.corrupt-<time>) and the newest good backup is used,
// each with a log line. NOT_FOUND when the folder holds no CIB at all (a first start); DATA_LOSS
// when it holds some but none is good.
//
// Not thread-safe: one owner (cibd's loop, or its writer thread) uses a store.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cibd/cib_document.h"
#include "common/clock.h"

namespace ha::cib {

class CibStore {
 public:
  // `clock` names set-aside files; it must outlive the store.
  CibStore(std::string dir, Clock& clock, int keep_backups = 5);

  struct Loaded {
    CibDocument document;
    std::string file;  // the file it came from ("cib.xml" or "cib-K.raw")
    bool fell_back = false;
  };
  absl::StatusOr<Loaded> Load();

  // Makes `doc` the current CIB (see the top of this file). On error the previous CIB is still
  // the current one (or the new one, if only the backup pruning failed).
  // `digest`: doc.Digest() when the caller has it already (computed here when empty).
  absl::Status Save(const CibDocument& doc, std::string_view digest = {});

  const std::string& dir() const { return dir_; }

 private:
  std::string Path(const std::string& name) const;
  std::vector<int> BackupIndexes() const;  // newest first
  absl::StatusOr<CibDocument> ReadVerified(const std::string& name,
                                           const std::string& sig_name) const;
  // cib.xml, verified by its sig or, after an interrupted save, by the newest backup's.
  absl::StatusOr<CibDocument> ReadCurrent(const std::vector<int>& backups) const;
  absl::Status SetAside(const std::string& name, const std::string& reason);
  absl::Status Prune();

  std::string dir_;
  Clock& clock_;
  int keep_backups_;
  std::optional<std::string> current_digest_;  // of cib.xml on disk, when known
};

}  // namespace ha::cib
