# The browser build: js/engine/outpost-engine.{js,wasm}, an ES module that the worker imports.
set(OUTPOST_WASM_OUT_DIR ${CMAKE_SOURCE_DIR}/js/engine CACHE PATH "Where the WASM build is written")
add_executable(outpost_engine wasm/bindings.cc wasm/vfs/opfs_backend.cc)
target_link_libraries(outpost_engine PRIVATE outpost_core)
target_compile_options(outpost_engine PRIVATE -Wall -Wextra -Werror -Os)
# The engine's C++ (sync engine, codec, nlohmann templates) is size-bound in the browser, not speed-bound: the
# hot path of a commit is SQLite and the VFS. -Os keeps the module under 900 KB (measured: 1.07 MB at -O3,
# 0.86 MB at -Os).
target_compile_options(outpost_core PRIVATE -Os)
set(OUTPOST_JS_LIBRARY ${CMAKE_SOURCE_DIR}/wasm/vfs/opfs_library.js)
set_target_properties(outpost_engine PROPERTIES
  OUTPUT_NAME outpost-engine
  SUFFIX .js
  RUNTIME_OUTPUT_DIRECTORY ${OUTPOST_WASM_OUT_DIR}
  LINK_DEPENDS ${OUTPOST_JS_LIBRARY})
target_link_options(outpost_engine PRIVATE
  --bind
  --js-library ${OUTPOST_JS_LIBRARY}
  -sMODULARIZE=1
  -sEXPORT_ES6=1
  -sEXPORT_NAME=createOutpostEngine
  -sENVIRONMENT=web,worker      # EXPORT_ES6 with a node environment is broken in emscripten 3.1.6
  -sFILESYSTEM=0                # SQLite reaches storage only through our VFS
  -sALLOW_MEMORY_GROWTH=1
  -sINITIAL_MEMORY=16777216
  -sTOTAL_STACK=524288
  -sDYNAMIC_EXECUTION=0         # no eval: works under a strict CSP
  -sWASM_BIGINT=1
  # Link-time wasm-opt level. -Os, not -O2: 22.5 KB smaller (902,026 -> 879,489 B) and no slower in the same
  # bench run (worker memory case 33.1k vs 32.3k tx/s median; drain 20.9-21.4k vs 19.5-20.8k ops/s): the code
  # is compiled -Os already, so wasm-opt -O2's extra inlining buys nothing measurable.
  $<$<CONFIG:Release>:-Os>
  -sINCOMING_MODULE_JS_API=[locateFile,instantiateWasm,print,printErr]
)
