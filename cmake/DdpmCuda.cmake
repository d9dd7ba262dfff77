# Finds what the CUDA backend needs and defines:
#   DDPM_HAVE_CUDA             ON when everything was found
#   DDPM_CUDA_MISSING          what was not found, for messages
#   DDPM_CUDA_ARCHITECTURES    sm_80 and sm_90 machine code plus sm_90 PTX
#   ddpm::cudnn, ddpm::cublas  imported targets (headers + shared libraries)
#
# cuDNN and cuBLAS are looked for under CUDNN_ROOT / CUBLAS_ROOT (CMake or
# environment variables), the CUDA toolkit, the system library folders, and
# the NVIDIA pip wheels (nvidia-cudnn-cu13, nvidia-cublas) of any python3 on
# the PATH. The wheels ship only versioned sonames (libcudnn.so.9), so the
# libraries are found by those names.
include(CheckLanguage)
set(DDPM_HAVE_CUDA OFF)
set(DDPM_CUDA_MISSING "")

if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  set(DDPM_CUDA_MISSING "the CUDA compiler (nvcc)")
  message(STATUS "ddpm4j: CUDA backend skipped: ${DDPM_CUDA_MISSING} not found")
  return()
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit REQUIRED)
if(NOT DEFINED DDPM_CUDA_ARCHITECTURES)
  set(DDPM_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
endif()

# Python wheel locations.
set(_ddpm_wheel_roots "")
find_program(_ddpm_python NAMES python3 python)
if(_ddpm_python)
  execute_process(
    COMMAND ${_ddpm_python} -c "import site,sys; print(';'.join(site.getsitepackages()+[site.getusersitepackages()]))"
    OUTPUT_VARIABLE _ddpm_site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  foreach(_s ${_ddpm_site})
    list(APPEND _ddpm_wheel_roots ${_s}/nvidia/cudnn ${_s}/nvidia/cu13 ${_s}/nvidia/cublas)
  endforeach()
endif()

set(_ddpm_hints $ENV{CUDNN_ROOT} ${CUDNN_ROOT} $ENV{CUBLAS_ROOT} ${CUBLAS_ROOT}
    ${CUDAToolkit_LIBRARY_ROOT} ${_ddpm_wheel_roots} /usr /usr/local/cuda)

find_path(DDPM_CUDNN_INCLUDE cudnn.h HINTS ${_ddpm_hints} PATH_SUFFIXES include include/x86_64-linux-gnu)
find_library(DDPM_CUDNN_LIB NAMES cudnn libcudnn.so.9 HINTS ${_ddpm_hints}
             PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
find_path(DDPM_CUBLAS_INCLUDE cublas_v2.h HINTS ${_ddpm_hints} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
find_library(DDPM_CUBLAS_LIB NAMES cublas libcublas.so.13 HINTS ${_ddpm_hints} ${CUDAToolkit_LIBRARY_DIR}
             PATH_SUFFIXES lib lib64)
find_library(DDPM_CUBLASLT_LIB NAMES cublasLt libcublasLt.so.13 HINTS ${_ddpm_hints} ${CUDAToolkit_LIBRARY_DIR}
             PATH_SUFFIXES lib lib64)

foreach(_v DDPM_CUDNN_INCLUDE DDPM_CUDNN_LIB DDPM_CUBLAS_INCLUDE DDPM_CUBLAS_LIB DDPM_CUBLASLT_LIB)
  if(NOT ${_v})
    list(APPEND DDPM_CUDA_MISSING ${_v})
  endif()
endforeach()
if(DDPM_CUDA_MISSING)
  string(REPLACE ";" ", " DDPM_CUDA_MISSING "${DDPM_CUDA_MISSING}")
  set(DDPM_CUDA_MISSING "${DDPM_CUDA_MISSING} (pip install nvidia-cudnn-cu13 nvidia-cublas, or set CUDNN_ROOT / CUBLAS_ROOT)")
  message(STATUS "ddpm4j: CUDA backend skipped: not found: ${DDPM_CUDA_MISSING}")
  return()
endif()

add_library(ddpm::cudnn SHARED IMPORTED)
set_target_properties(ddpm::cudnn PROPERTIES IMPORTED_LOCATION ${DDPM_CUDNN_LIB}
                      INTERFACE_INCLUDE_DIRECTORIES ${DDPM_CUDNN_INCLUDE})
add_library(ddpm::cublaslt SHARED IMPORTED)
set_target_properties(ddpm::cublaslt PROPERTIES IMPORTED_LOCATION ${DDPM_CUBLASLT_LIB})
add_library(ddpm::cublas SHARED IMPORTED)
set_target_properties(ddpm::cublas PROPERTIES IMPORTED_LOCATION ${DDPM_CUBLAS_LIB}
                      INTERFACE_INCLUDE_DIRECTORIES ${DDPM_CUBLAS_INCLUDE}
                      INTERFACE_LINK_LIBRARIES ddpm::cublaslt)
# Library folders, for running the tests and tools from the build tree.
get_filename_component(DDPM_CUDNN_LIBDIR ${DDPM_CUDNN_LIB} DIRECTORY)
get_filename_component(DDPM_CUBLAS_LIBDIR ${DDPM_CUBLAS_LIB} DIRECTORY)
set(DDPM_CUDA_LIBDIRS "${DDPM_CUDNN_LIBDIR}:${DDPM_CUBLAS_LIBDIR}")
set(DDPM_HAVE_CUDA ON)
message(STATUS "ddpm4j: CUDA backend enabled (cuDNN ${DDPM_CUDNN_LIB}, cuBLAS ${DDPM_CUBLAS_LIB}, archs ${DDPM_CUDA_ARCHITECTURES})")
