# Run at build time (cmake -DSOURCE_DIR=... -DOUT=... -P write_revision.cmake) by the
# specsweep_revision target: writes OUT, a header defining SPECSWEEP_GIT_REVISION, the revision every
# run file records. Build time rather than configure time, so that a rebuild after a commit or a pull
# records the new revision; "-dirty" when tracked files differ from it; "unknown" outside a git
# checkout. OUT is rewritten only when its text changes, so an unchanged revision recompiles nothing.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SOURCE_DIR}"
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
if(failed OR NOT revision)
  set(revision unknown)
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY "${SOURCE_DIR}"
                  OUTPUT_VARIABLE changes ERROR_QUIET)
  if(changes)
    string(APPEND revision "-dirty")
  endif()
endif()
set(text "#pragma once\n// Written by cmake/write_revision.cmake at build time.\n#define SPECSWEEP_GIT_REVISION \"${revision}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
