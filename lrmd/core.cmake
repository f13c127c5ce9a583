add_library(ha_lrmd_core STATIC ${CMAKE_CURRENT_LIST_DIR}/executor_core.cc)
target_include_directories(ha_lrmd_core PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_lrmd_core PUBLIC absl::time absl::strings absl::str_format PRIVATE ha_build_flags)
ha_add_test(NAME lrmd_core_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/executor_core_test.cc LIBS ha_lrmd_core)
