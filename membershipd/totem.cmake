# The totem protocol core: a pure state machine (no I/O, no clock), driven by the daemon and by
# the simulator in tests/sim/.
add_library(ha_totem STATIC ${CMAKE_CURRENT_SOURCE_DIR}/totem_core.cc
                            ${CMAKE_CURRENT_SOURCE_DIR}/totem_options.cc)
target_include_directories(ha_totem PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_totem PUBLIC ha_proto ha_config absl::status absl::time absl::strings
                      PRIVATE ha_build_flags)
