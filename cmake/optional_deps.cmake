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
