# CMake toolchain file for aarch64-linux-gnu.
#
#   cmake -S . -B build-aarch64
# -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake \
#         -DASSAY_AGENT_ONLY=ON -DASSAY_CJSON_SOURCE_DIR=<cjson source>
#
# Works with any gcc of this triple on PATH (aarch64-linux-gnu-gcc), as a user's
# CI would have; set ASSAY_CROSS_PREFIX to use another prefix.
#
# Baseline ISA, chosen to run on every CPU of the family:
# Kunpeng 920 (ARMv8.2) and Phytium FT-2000+/S2500/D2000 (ARMv8.0/8.1):
# baseline ARMv8.0-A. FT-2000+ has no LSE atomics, so armv8.1-a code could die
# with SIGILL there; gcc's default -moutline-atomics picks LSE at run time
# where present.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(ASSAY_TRIPLE aarch64-linux-gnu CACHE STRING "Target triple")

if(DEFINED ENV{ASSAY_CROSS_PREFIX})
  set(_prefix "$ENV{ASSAY_CROSS_PREFIX}")
else()
  set(_prefix "aarch64-linux-gnu-")
endif()
set(CMAKE_C_COMPILER ${_prefix}gcc)
set(CMAKE_AR ${_prefix}gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_prefix}gcc-ranlib CACHE FILEPATH "")

set(CMAKE_C_FLAGS_INIT "-march=armv8-a -mtune=generic")

# Headers and libraries come from the cross compiler's own sysroot only.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
