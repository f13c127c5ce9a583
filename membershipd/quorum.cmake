# votequorum (included from membershipd/CMakeLists.txt): the quorum service's vote counting as a
# pure state machine (no I/O, no clock), driven by the daemon over the totem ring and by the tests.
add_library(ha_votequorum STATIC ${CMAKE_CURRENT_SOURCE_DIR}/votequorum.cc)
target_include_directories(ha_votequorum PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_votequorum
  PUBLIC ha_proto ha_config absl::status absl::statusor absl::strings absl::str_format absl::time
  PRIVATE ha_build_flags)

ha_add_test(NAME votequorum_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/votequorum_test.cc
  LIBS ha_votequorum)
