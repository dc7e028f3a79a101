# specsweep_warnings(target): the project's warning set; warnings are errors in CI
# (SPECSWEEP_WERROR) so a warning cannot land silently.
option(SPECSWEEP_WERROR "Treat compiler warnings as errors" OFF)

function(specsweep_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wpedantic>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${SPECSWEEP_WERROR}>>:-Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${SPECSWEEP_WERROR}>>:-Werror=all-warnings>)
endfunction()
