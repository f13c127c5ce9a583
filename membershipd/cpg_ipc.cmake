#Process groups over libqb IPC(included from membershipd / CMakeLists.txt) : the message protocol
#(ha_cpg_ipc_protocol) and the client library(ha_cpg_client) that other daemons and tools link;
#the server side is part of ha_membershipd(cpg_ipc_server.cc, group_host.cc).
add_library(ha_cpg_ipc_protocol STATIC ${CMAKE_CURRENT_SOURCE_DIR} / cpg_ipc_protocol.cc)
    target_include_directories(ha_cpg_ipc_protocol PUBLIC ${CMAKE_SOURCE_DIR})
        target_link_libraries(ha_cpg_ipc_protocol PUBLIC absl::status absl::statusor absl::strings
                                  absl::str_format PRIVATE ha_build_flags)

            add_library(ha_cpg_client STATIC ${CMAKE_CURRENT_SOURCE_DIR} / cpg_ipc_client.cc)
                target_include_directories(ha_cpg_client PUBLIC ${CMAKE_SOURCE_DIR})
                    target_link_libraries(ha_cpg_client PUBLIC ha_cpg_ipc_protocol
                                              PkgConfig::LIBQB absl::time PRIVATE ha_build_flags)

                        ha_add_test(NAME cpg_ipc_protocol_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR} /
                                    cpg_ipc_protocol_test.cc LIBS ha_cpg_ipc_protocol)
