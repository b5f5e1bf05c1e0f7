# SQLite compile options: the one place they are chosen. Each has a reason; see https://sqlite.org/compile.html.
set(OUTPOST_SQLITE_DIR ${CMAKE_SOURCE_DIR}/third_party/sqlite)
if(NOT EXISTS ${OUTPOST_SQLITE_DIR}/sqlite3.c)
  message(FATAL_ERROR "SQLite amalgamation missing: run scripts/fetch-sqlite.sh (pinned version, hash-checked).")
endif()

set(OUTPOST_SQLITE_DEFINES
  SQLITE_DQS=0                       # double-quoted strings are identifiers only: typos fail loudly
  SQLITE_DEFAULT_MEMSTATUS=0         # no global memory statistics: faster malloc
  SQLITE_LIKE_DOESNT_MATCH_BLOBS     # LIKE on blobs is almost always a bug; lets LIKE use indexes
  SQLITE_MAX_EXPR_DEPTH=0            # no expression-depth tracking
  SQLITE_OMIT_DEPRECATED
  SQLITE_OMIT_LOAD_EXTENSION         # no dlopen in a browser; smaller
  SQLITE_OMIT_SHARED_CACHE
  SQLITE_OMIT_PROGRESS_CALLBACK
  SQLITE_OMIT_UTF16                  # every string crosses as UTF-8 (Embind, the protocol); 2.6 KB of WASM
  SQLITE_OMIT_COMPLETE               # APIs nothing here calls (sqlite3_complete, sqlite3_get_table, incremental
  SQLITE_OMIT_GET_TABLE              # blob I/O, column declared types): none changes what SQL does; they
  SQLITE_OMIT_INCRBLOB               # keep the module under its 900 KB budget
  SQLITE_OMIT_DECLTYPE
  SQLITE_TEMP_STORE=3                # temp tables and statement journals in memory: no temp files in the pool
  SQLITE_USE_ALLOCA
  SQLITE_ENABLE_MATH_FUNCTIONS
  SQLITE_ENABLE_PREUPDATE_HOOK       # capture sees the rows INSERT OR REPLACE deletes (no trigger fires for them)
)

# The browser build: one thread (the worker), no OS layer (our SlotVfs is the only VFS).
set(OUTPOST_SQLITE_DEFINES_WASM
  SQLITE_THREADSAFE=0
  SQLITE_OS_OTHER=1
)

# The native build (tests, later the server): thread-safe, unix VFS available beside ours.
set(OUTPOST_SQLITE_DEFINES_NATIVE
  SQLITE_THREADSAFE=1
)

add_library(sqlite3 STATIC ${OUTPOST_SQLITE_DIR}/sqlite3.c)
target_include_directories(sqlite3 PUBLIC ${OUTPOST_SQLITE_DIR})
target_compile_definitions(sqlite3 PUBLIC ${OUTPOST_SQLITE_DEFINES})
if(EMSCRIPTEN)
  target_compile_definitions(sqlite3 PUBLIC ${OUTPOST_SQLITE_DEFINES_WASM})
  # -Os: at -O2/-O3 inlining grows SQLite's code to over 1 MB of WASM; -Os gives ~600 KB (bench/ reports
  # the size and the speed side by side).
  target_compile_options(sqlite3 PRIVATE -Os)
else()
  target_compile_definitions(sqlite3 PUBLIC ${OUTPOST_SQLITE_DEFINES_NATIVE})
  find_package(Threads REQUIRED)
  target_link_libraries(sqlite3 PUBLIC Threads::Threads ${CMAKE_DL_LIBS} m)
endif()
# Warnings in the amalgamation are SQLite's business, not ours.
target_compile_options(sqlite3 PRIVATE -w)
