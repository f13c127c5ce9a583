# Rule evaluation (pengine/rules.h): a pure library over the CIB's XML.
add_library(ha_pengine_rules STATIC ${CMAKE_CURRENT_SOURCE_DIR}/rules.cc ${CMAKE_CURRENT_SOURCE_DIR}/score.cc)
target_include_directories(ha_pengine_rules PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ha_pengine_rules PUBLIC pugixml::pugixml absl::strings absl::time PRIVATE ha_build_flags)
ha_add_test(NAME pengine_rules_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rules_test.cc LIBS ha_pengine_rules)
