# Redundant rings (corosync 2's rrp_mode none | passive | active), a pure state machine between
# the totem core and the transport (included from membershipd/CMakeLists.txt).
add_library(ha_rrp STATIC ${CMAKE_CURRENT_SOURCE_DIR}/rrp.cc)
target_include_directories(ha_rrp PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_rrp PUBLIC ha_totem ha_config absl::status absl::statusor absl::strings
                      absl::time PRIVATE ha_build_flags)

ha_add_test(NAME rrp_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rrp_test.cc LIBS ha_rrp)
