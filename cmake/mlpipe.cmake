# mlpipe_test(NAME SOURCES... [LIBS ...] [LABELS ...])
# One GoogleTest executable, registered with CTest test by test, so CTest can run
# them in parallel and report each one.
include(GoogleTest)
function(mlpipe_test name)
  # SERIAL: the test measures latency, so ctest runs it with no other test
  # beside it.
  cmake_parse_arguments(ARG "SERIAL" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
  target_compile_options(${name} PRIVATE -Wno-error)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" RUN_SERIAL ${ARG_SERIAL}
    DISCOVERY_TIMEOUT 30)
endfunction()
