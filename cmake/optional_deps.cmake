# Finds the optional data-conversion libraries and defines tessel_opencv,
# tessel_icu and tessel_sndfile (imported targets) for the modules that are ON.
# An ON module whose library is missing stops the configure step with the
# Debian package to install or the option to turn off: never a silent fallback.

if(TESSEL_WITH_OPENCV)
  # Debian's component packages (libopencv-{core,imgproc,imgcodecs}-dev) ship
  # neither OpenCVConfig.cmake nor a .pc file, so look for headers and libraries.
  find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
  add_library(tessel_opencv INTERFACE IMPORTED)
  if(OpenCV_FOUND)
    target_include_directories(tessel_opencv INTERFACE ${OpenCV_INCLUDE_DIRS})
    target_link_libraries(tessel_opencv INTERFACE opencv_core opencv_imgproc opencv_imgcodecs)
  else()
    find_path(TESSEL_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4)
    find_library(TESSEL_OPENCV_CORE opencv_core)
    find_library(TESSEL_OPENCV_IMGPROC opencv_imgproc)
    find_library(TESSEL_OPENCV_IMGCODECS opencv_imgcodecs)
    if(NOT TESSEL_OPENCV_INCLUDE OR NOT TESSEL_OPENCV_CORE OR NOT TESSEL_OPENCV_IMGPROC OR NOT TESSEL_OPENCV_IMGCODECS)
      message(FATAL_ERROR "TESSEL_WITH_OPENCV is ON but OpenCV was not found: install libopencv-core-dev "
        "libopencv-imgproc-dev libopencv-imgcodecs-dev (scripts/setup.sh does) or pass -DTESSEL_WITH_OPENCV=OFF")
    endif()
    target_include_directories(tessel_opencv INTERFACE ${TESSEL_OPENCV_INCLUDE})
    target_link_libraries(tessel_opencv INTERFACE ${TESSEL_OPENCV_IMGCODECS} ${TESSEL_OPENCV_IMGPROC} ${TESSEL_OPENCV_CORE})
  endif()
endif()

if(TESSEL_WITH_ICU)
  find_package(ICU COMPONENTS uc i18n data)
  if(NOT ICU_FOUND)
    message(FATAL_ERROR "TESSEL_WITH_ICU is ON but ICU was not found: install libicu-dev "
      "(scripts/setup.sh does) or pass -DTESSEL_WITH_ICU=OFF")
  endif()
  add_library(tessel_icu INTERFACE IMPORTED)
  target_link_libraries(tessel_icu INTERFACE ICU::i18n ICU::uc ICU::data)
endif()

if(TESSEL_WITH_SNDFILE)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(SNDFILE IMPORTED_TARGET sndfile)
  if(NOT SNDFILE_FOUND)
    message(FATAL_ERROR "TESSEL_WITH_SNDFILE is ON but libsndfile was not found: install libsndfile1-dev "
      "(scripts/setup.sh does) or pass -DTESSEL_WITH_SNDFILE=OFF")
  endif()
  add_library(tessel_sndfile INTERFACE IMPORTED)
  target_link_libraries(tessel_sndfile INTERFACE PkgConfig::SNDFILE)
endif()

if(TESSEL_WITH_ONNX)
  find_package(Protobuf)
  if(NOT Protobuf_FOUND OR NOT Protobuf_PROTOC_EXECUTABLE)
    message(FATAL_ERROR "TESSEL_WITH_ONNX is ON but protobuf was not found: install libprotobuf-dev "
      "protobuf-compiler (scripts/setup.sh does) or pass -DTESSEL_WITH_ONNX=OFF")
  endif()
  # The .proto files come from the Python onnx package (pip), which tracks the
  # current ONNX release; -DTESSEL_ONNX_PROTO_DIR= points elsewhere.
  set(TESSEL_ONNX_PROTO_DIR "" CACHE PATH "Folder holding onnx-ml.proto (default: the Python onnx package)")
  if(NOT TESSEL_ONNX_PROTO_DIR)
    if(NOT Python_EXECUTABLE)
      find_package(Python 3.9 COMPONENTS Interpreter)
    endif()
    if(Python_EXECUTABLE)
      execute_process(COMMAND ${Python_EXECUTABLE} -c "import onnx, os; print(os.path.dirname(onnx.__file__))"
        OUTPUT_VARIABLE _onnx_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _onnx_rc)
      if(_onnx_rc EQUAL 0)
        set(TESSEL_ONNX_PROTO_DIR "${_onnx_dir}" CACHE PATH "Folder holding onnx-ml.proto" FORCE)
      endif()
    endif()
  endif()
  if(NOT EXISTS "${TESSEL_ONNX_PROTO_DIR}/onnx-ml.proto")
    message(FATAL_ERROR "TESSEL_WITH_ONNX is ON but onnx-ml.proto was not found (looked in '${TESSEL_ONNX_PROTO_DIR}'): "
      "pip install onnx into the Python used to configure (scripts/setup.sh does), pass "
      "-DTESSEL_ONNX_PROTO_DIR=<folder with onnx-ml.proto> or -DTESSEL_WITH_ONNX=OFF")
  endif()
  # onnx-ml.proto is the full proto (ONNX_ML=1 semantics), package onnx.
  set(TESSEL_ONNX_GEN_DIR ${CMAKE_BINARY_DIR}/generated/onnx)
  file(MAKE_DIRECTORY ${TESSEL_ONNX_GEN_DIR})
  add_custom_command(
    OUTPUT ${TESSEL_ONNX_GEN_DIR}/onnx-ml.pb.cc ${TESSEL_ONNX_GEN_DIR}/onnx-ml.pb.h
    COMMAND ${Protobuf_PROTOC_EXECUTABLE} --cpp_out=${TESSEL_ONNX_GEN_DIR} -I ${TESSEL_ONNX_PROTO_DIR}
      ${TESSEL_ONNX_PROTO_DIR}/onnx-ml.proto
    DEPENDS ${TESSEL_ONNX_PROTO_DIR}/onnx-ml.proto
    COMMENT "Generating C++ classes from onnx-ml.proto")
  # A target orders the generation before libtessel compiles (src/ adds the sources).
  add_custom_target(tessel_onnx_gen DEPENDS ${TESSEL_ONNX_GEN_DIR}/onnx-ml.pb.cc ${TESSEL_ONNX_GEN_DIR}/onnx-ml.pb.h)
  add_library(tessel_onnx_proto INTERFACE IMPORTED)
  target_include_directories(tessel_onnx_proto INTERFACE ${TESSEL_ONNX_GEN_DIR} ${Protobuf_INCLUDE_DIRS})
  target_link_libraries(tessel_onnx_proto INTERFACE protobuf::libprotobuf)
endif()
