# Compiler flags for the CPU code: optimised for the build machine by
# default, or for generic x86-64-v2 with DDPM_PORTABLE (files holding AVX2
# kernels then compile them with target attributes and pick them at run time).
set(DDPM_CPU_FLAGS -O3 -Wall -Wextra -Wno-unused-parameter)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  if(DDPM_PORTABLE)
    list(APPEND DDPM_CPU_FLAGS -march=x86-64-v2 -mtune=generic)
  else()
    list(APPEND DDPM_CPU_FLAGS -march=native)
  endif()
elseif(NOT DDPM_PORTABLE)
  list(APPEND DDPM_CPU_FLAGS -mcpu=native)
endif()
