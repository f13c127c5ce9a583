# The totem wire layer (included from membershipd/CMakeLists.txt): the packet codec with its bounds
# and the datagram frame with its crypto and replay protection. See docs/formats/totem-wire.md.
add_library(ha_membership_wire STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/wire_codec.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/frame_crypto.cc)
target_include_directories(ha_membership_wire PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_membership_wire
  PUBLIC ha_proto OpenSSL::Crypto absl::status absl::statusor absl::strings
         absl::flat_hash_map
  PRIVATE ha_build_flags)

ha_add_test(NAME wire_codec_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/wire_codec_test.cc
  LIBS ha_membership_wire)
ha_add_test(NAME frame_crypto_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/frame_crypto_test.cc
  LIBS ha_membership_wire)

# The fuzz entry point is always compiled: this test replays the seed corpus through it. Its hidden
# test case "[.generate]" rewrites the corpus:
#   build/membershipd/wire_fuzz_replay_test '[.generate]'
ha_add_test(NAME wire_fuzz_replay_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/wire_fuzz.cc
          ${CMAKE_CURRENT_SOURCE_DIR}/wire_fuzz_replay_test.cc
  LIBS ha_membership_wire LABELS unit fuzz)
target_compile_definitions(wire_fuzz_replay_test PRIVATE
  HA_WIRE_FUZZ_CORPUS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/wire_fuzz_corpus")

# Run it with a scratch directory first, so that new inputs do not land in the seed corpus:
#   wire_fuzz -max_total_time=60 /tmp/wire_corpus membershipd/wire_fuzz_corpus
if(HA_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(WARNING "HA_FUZZ needs clang (CC=clang CXX=clang++): wire_fuzz is not built")
elseif(HA_FUZZ)
  # The library's sources are compiled again with the fuzzer's instrumentation and sanitizers,
  # without changing ha_membership_wire for everyone else (ha_proto and OpenSSL stay plain).
  set(_ha_wire_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  add_executable(wire_fuzz
    ${CMAKE_CURRENT_SOURCE_DIR}/wire_fuzz.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/wire_codec.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/frame_crypto.cc)
  target_include_directories(wire_fuzz PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_options(wire_fuzz PRIVATE ${_ha_wire_fuzz_flags})
  target_link_options(wire_fuzz PRIVATE ${_ha_wire_fuzz_flags})
  target_link_libraries(wire_fuzz PRIVATE ha_proto OpenSSL::Crypto absl::status absl::statusor
    absl::strings absl::flat_hash_map ha_build_flags)
endif()
