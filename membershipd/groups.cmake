# Process groups (included from membershipd/CMakeLists.txt): corosync's CPG semantics over the totem
# ring as a pure state machine (no I/O, no clock), driven by the daemon and by tests/sim/.
add_library(ha_groups STATIC ${CMAKE_CURRENT_SOURCE_DIR}/group_core.cc)
target_include_directories(ha_groups PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_groups PUBLIC ha_totem ha_proto absl::status absl::strings
                      PRIVATE ha_build_flags)

ha_add_test(NAME group_core_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/group_core_test.cc
  LIBS ha_groups)
