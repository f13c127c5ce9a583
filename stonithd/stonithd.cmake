# stonithd's libraries (included from stonithd/CMakeLists.txt).

# Which program runs a stonith-class type (a fence agent, or a legacy plugin through the adapter):
# stonithd's rule, shared with lrmd (ha_lrmd_exec), which runs the meta-data and validate-all.
add_library(ha_stonith_agent_type STATIC ${CMAKE_CURRENT_SOURCE_DIR}/agent_type.cc)
target_include_directories(ha_stonith_agent_type PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_stonith_agent_type PUBLIC absl::status absl::statusor absl::strings
                      PRIVATE ha_build_flags)

# Devices, topology and agents: what the CIB configures, and running fence agents on lrmd's
# ProcessRunner (ha_lrmd_exec). Reads the CIB with pengine's rule helpers (ha_pengine_rules).
add_library(ha_stonithd_agents STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/fence_device.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/fence_config.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/fence_agent.cc
)
target_include_directories(ha_stonithd_agents PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_stonithd_agents
  PUBLIC ha_stonith_agent_type ha_lrmd_exec ha_pengine_rules pugixml::pugixml absl::status
         absl::statusor absl::strings absl::time
  PRIVATE ha_build_flags)

# The fencing decision core: a pure state machine (no I/O, no clock, seeded randomness).
# FencingCluster on top of it: the `stonithd` process group's protocol (also pure).
add_library(ha_stonithd_core STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/fencing_core.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/fencing_cluster.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/fencing_cluster_sync.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cluster_wire.cc
)
target_include_directories(ha_stonithd_core PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_stonithd_core PUBLIC ha_stonithd_agents absl::time absl::strings
                      PRIVATE ha_build_flags)

ha_add_test(NAME stonithd_devices_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fence_device_test.cc
  LIBS ha_stonithd_agents)

ha_add_test(NAME stonithd_agent_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fence_agent_test.cc
  LIBS ha_stonithd_agents LABELS integration TIMEOUT 60)
target_compile_definitions(stonithd_agent_test PRIVATE
  HA_STONITHD_TESTDATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/testdata")

ha_add_test(NAME stonithd_core_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fencing_core_test.cc
  LIBS ha_stonithd_core)

ha_add_test(NAME stonithd_split_sim_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/split_sim_test.cc
  LIBS ha_stonithd_core LABELS sim)

ha_add_test(NAME stonithd_cluster_sim_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cluster_sim_test.cc
  LIBS ha_stonithd_core LABELS sim)
