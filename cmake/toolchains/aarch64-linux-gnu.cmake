# Cross-compile edge-rt for 64-bit Arm Linux with Debian's cross compiler, run tests under qemu-user.
#
# Host setup (Debian bookworm, x86-64):
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install libhwy-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64   # + other arm64 -dev deps
# Use:
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build-arm64 && ctest --test-dir build-arm64      # tests run via qemu-aarch64
#
# EDGE_RT_QEMU_CPU picks the emulated CPU and so which Highway target dynamic dispatch selects:
#   cortex-a72 (default) = NEON only; a64fx = SVE; max = SVE2 (qemu 7.2's default CPU).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Cross glibc/libstdc++ live in /usr/aarch64-linux-gnu; multiarch arm64 packages in /usr/lib/aarch64-linux-gnu
# (found through the /usr prefix with CMAKE_LIBRARY_ARCHITECTURE=aarch64-linux-gnu, e.g. cmake/hwy, cmake/GTest).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# BOTH: arch-independent headers in /usr/include (Boost.Outcome, ...) must still be found.
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config (PCRE2, utf8proc) reads the arm64 .pc files, not the host's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")

set(EDGE_RT_QEMU_CPU "cortex-a72" CACHE STRING "qemu-aarch64 -cpu model for running tests")
# -L / : use the multiarch arm64 loader + glibc (libc6:arm64, pulled in by libhwy1:arm64) as one consistent set;
# -L /usr/aarch64-linux-gnu would mix the cross ld.so (2.36-8cross1) with the multiarch libc.so.6.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;${EDGE_RT_QEMU_CPU};-L;/)
