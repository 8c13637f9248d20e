# CMake toolchain file for x86_64-linux-gnu.
#
#   cmake -S . -B build-x86_64 -DCMAKE_TOOLCHAIN_FILE=toolchains/x86_64-linux-
# gnu.cmake \
#         -DASSAY_AGENT_ONLY=ON -DASSAY_CJSON_SOURCE_DIR=<cjson source>
#
# Works with any gcc of this triple on PATH (x86_64-linux-gnu-gcc), as a user's
# CI would have; set ASSAY_CROSS_PREFIX to use another prefix.
#
# Baseline ISA, chosen to run on every CPU of the family:
# Zhaoxin KX-6000/KH-30000 and every x86_64 CPU: baseline x86-64 (v1). Zhaoxin
# has no AVX-512 and not every model has AVX2, so nothing above v1 is assumed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(ASSAY_TRIPLE x86_64-linux-gnu CACHE STRING "Target triple")

if(DEFINED ENV{ASSAY_CROSS_PREFIX})
  set(_prefix "$ENV{ASSAY_CROSS_PREFIX}")
else()
  set(_prefix "x86_64-linux-gnu-")
endif()
set(CMAKE_C_COMPILER ${_prefix}gcc)
set(CMAKE_AR ${_prefix}gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_prefix}gcc-ranlib CACHE FILEPATH "")

set(CMAKE_C_FLAGS_INIT "-march=x86-64 -mtune=generic")

# Headers and libraries come from the cross compiler's own sysroot only.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
