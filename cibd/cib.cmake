# The CIB document layer (issue 5): the document, its operations, patchsets, ACLs and the on-disk
# store, as libraries with their tests; the daemon's logic (ha_cib_core, ha_cib_service) on top.
set(HA_CIB_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_xml.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_document.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_path.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_validate.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_target.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_merge.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_query.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_ops.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_diff.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_acl.cc)
add_library(ha_cib STATIC ${HA_CIB_SOURCES})
target_include_directories(ha_cib PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_cib
  PUBLIC pugixml::pugixml OpenSSL::Crypto absl::status absl::statusor absl::strings
  PRIVATE ha_build_flags)

# A CIB test: cib_test_util.h finds the shared scheduler cases from the source folder.
#   ha_cib_test(<name> [SOURCES <more files>] LIBS <targets> [LABELS <labels>])
function(ha_cib_test name)
  cmake_parse_arguments(C "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT C_LABELS)
    set(C_LABELS unit)
  endif()
  ha_add_test(NAME ${name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cc ${C_SOURCES}
    LIBS ${C_LIBS} LABELS ${C_LABELS})
  target_compile_definitions(${name} PRIVATE HA_CIB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endfunction()

ha_cib_test(cib_document_test LIBS ha_cib)
ha_cib_test(cib_ops_test LIBS ha_cib)
ha_cib_test(cib_diff_test LIBS ha_cib)
ha_cib_test(cib_acl_test LIBS ha_cib)

# The on-disk store uses the shared atomic writes and logging.
add_library(ha_cib_store STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cib_store.cc)
target_link_libraries(ha_cib_store PUBLIC ha_cib ha_common PRIVATE ha_build_flags)
ha_cib_test(cib_store_test LIBS ha_cib_store)

# The daemon's logic without gRPC: who a caller acts as, and the local copy with the API's rules.
add_library(ha_cib_core STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cib_caller.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_core.cc)
target_link_libraries(ha_cib_core PUBLIC ha_cib_store ha_common PRIVATE ha_build_flags)
ha_cib_test(cib_core_test LIBS ha_cib_core ha_cib_service)

# The Cib gRPC service and its subscription streams.
add_library(ha_cib_service STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cib_subscriptions.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_service.cc)
target_link_libraries(ha_cib_service PUBLIC ha_cib_core ha_proto ha_common PRIVATE ha_build_flags)
ha_cib_test(cib_service_test LIBS ha_cib_service LABELS integration)

# Replication between nodes as a pure state machine (its wire messages are
# proto/cib_replication.proto), tested on a simulated agreed-order group bus.
add_library(ha_cib_replica STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cib_replica.cc)
target_link_libraries(ha_cib_replica PUBLIC ha_cib_core ha_proto PRIVATE ha_build_flags)
ha_cib_test(cib_replica_test LIBS ha_cib_replica LABELS sim)

# The replica wired to membershipd: the driver on the loop (CibService's write path) and the gRPC
# link to the local ProcessGroups and Quorum services.
find_package(ZLIB REQUIRED)
add_library(ha_cib_replication STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cib_replication.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cib_group_link.cc)
target_link_libraries(ha_cib_replication PUBLIC ha_cib_replica ha_cib_service ha_proto ha_common
  PRIVATE ZLIB::ZLIB ha_build_flags)
ha_cib_test(cib_replication_test LIBS ha_cib_replication)

# The fuzz entry point is always compiled: this test replays the seed corpus (cib_fuzz_corpus/)
# and a sample of the scheduler cases through it.
ha_cib_test(cib_xml_fuzz_replay_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cib_xml_fuzz.cc
  LIBS ha_cib LABELS unit fuzz)
target_compile_definitions(cib_xml_fuzz_replay_test PRIVATE
  HA_CIB_FUZZ_CORPUS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/cib_fuzz_corpus")

# Run it with a scratch directory first, so that new inputs do not land in the seed corpus:
#   cib_xml_fuzz -max_total_time=60 /tmp/cib_corpus cibd/cib_fuzz_corpus
if(HA_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(WARNING "HA_FUZZ needs clang (CC=clang CXX=clang++): cib_xml_fuzz is not built")
elseif(HA_FUZZ)
  # The library's sources are compiled again with the fuzzer's instrumentation and sanitizers,
  # without changing ha_cib for everyone else (pugixml and OpenSSL stay plain).
  set(_ha_cib_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  add_executable(cib_xml_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/cib_xml_fuzz.cc ${HA_CIB_SOURCES})
  target_include_directories(cib_xml_fuzz PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_options(cib_xml_fuzz PRIVATE ${_ha_cib_fuzz_flags})
  target_link_options(cib_xml_fuzz PRIVATE ${_ha_cib_fuzz_flags})
  target_link_libraries(cib_xml_fuzz PRIVATE pugixml::pugixml OpenSSL::Crypto absl::status
    absl::statusor absl::strings ha_build_flags)
endif()
