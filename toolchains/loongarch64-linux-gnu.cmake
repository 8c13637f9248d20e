# CMake toolchain file for loongarch64-linux-gnu.
#
#   cmake -S . -B build-loongarch64
# -DCMAKE_TOOLCHAIN_FILE=toolchains/loongarch64-linux-gnu.cmake \
#         -DASSAY_AGENT_ONLY=ON -DASSAY_CJSON_SOURCE_DIR=<cjson source>
#
# Works with any gcc of this triple on PATH (loongarch64-linux-gnu-gcc), as a
# user's
# CI would have; set ASSAY_CROSS_PREFIX to use another prefix.
#
# Baseline ISA, chosen to run on every CPU of the family:
# Loongson 3A5000/3C5000 (LA464) and 3A6000 (LA664): the generic LA64 baseline
# (no LSX/LASX), tuned for LA464. New-world ABI (lp64d), as every current
# cross toolchain emits.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR loongarch64)
set(ASSAY_TRIPLE loongarch64-linux-gnu CACHE STRING "Target triple")

if(DEFINED ENV{ASSAY_CROSS_PREFIX})
  set(_prefix "$ENV{ASSAY_CROSS_PREFIX}")
else()
  set(_prefix "loongarch64-linux-gnu-")
endif()
set(CMAKE_C_COMPILER ${_prefix}gcc)
set(CMAKE_AR ${_prefix}gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_prefix}gcc-ranlib CACHE FILEPATH "")

set(CMAKE_C_FLAGS_INIT "-march=loongarch64 -mtune=la464")

# Headers and libraries come from the cross compiler's own sysroot only.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
