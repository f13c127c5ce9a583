# ha_add_test(NAME <name> SOURCES <files...> LIBS <targets...> [LABELS <labels...>] [TIMEOUT <s>]
#             [RUN_SERIAL])
#
# One Catch2 test executable registered as one CTest test. Labels: `unit` (default, pure logic),
# `sim` (deterministic simulation), `integration` (real processes on this host), `fuzz`, `long`
# (opt-in: excluded from the default run by scripts/test.sh).
add_library(ha_test_main STATIC ${CMAKE_SOURCE_DIR}/tests/test_main.cc)
target_link_libraries(ha_test_main PUBLIC Catch2::Catch2 ha_build_flags)

function(ha_add_test)
  cmake_parse_arguments(T "RUN_SERIAL" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ha_test_main ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "HA_BUILD_DIR=${CMAKE_BINARY_DIR};HA_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  if(T_RUN_SERIAL)
    set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

# ha_add_program(NAME <name> SOURCES <files...> LIBS <targets...>)
# A daemon or tool. All of them land in <build>/bin, so that the supervisor finds the daemons
# beside itself in a build tree as in an installed one.
function(ha_add_program)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${P_NAME} ${P_SOURCES})
  target_link_libraries(${P_NAME} PRIVATE ${P_LIBS} ha_build_flags)
  set_target_properties(${P_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  install(TARGETS ${P_NAME} RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endfunction()
