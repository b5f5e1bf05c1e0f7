# nlohmann/json (Debian's nlohmann-json3-dev, header-only) for the protocol codec, as the INTERFACE target
# outpost_json. Natively it is the packaged CMake config. For Emscripten, /usr/include must not be on the
# include path (it would pull glibc headers in place of Emscripten's libc), so configure copies only the
# nlohmann directory into the build tree and the target points there.
add_library(outpost_json INTERFACE)
# Conversions only through explicit get<T>() after a type check: an implicit conversion of the wrong type
# would throw, and Decode must never throw.
target_compile_definitions(outpost_json INTERFACE JSON_USE_IMPLICIT_CONVERSIONS=0)
if(EMSCRIPTEN)
  set(OUTPOST_JSON_HEADERS /usr/include/nlohmann CACHE PATH "nlohmann/json headers copied into the WASM build")
  if(NOT EXISTS ${OUTPOST_JSON_HEADERS}/json.hpp)
    message(FATAL_ERROR "${OUTPOST_JSON_HEADERS}/json.hpp missing: apt-get install nlohmann-json3-dev "
                        "(scripts/setup.sh does it).")
  endif()
  set(OUTPOST_JSON_INCLUDE ${CMAKE_BINARY_DIR}/json-include)
  file(COPY ${OUTPOST_JSON_HEADERS} DESTINATION ${OUTPOST_JSON_INCLUDE})
  target_include_directories(outpost_json SYSTEM INTERFACE ${OUTPOST_JSON_INCLUDE})
else()
  find_package(nlohmann_json 3 REQUIRED)
  target_link_libraries(outpost_json INTERFACE nlohmann_json::nlohmann_json)
endif()
