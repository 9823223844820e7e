# Sourced by bin/mmoe and deploy/local-cluster: picks the OpenBLAS kernels for ND4J's bundled
# OpenBLAS (0.3.19), exported as OPENBLAS_CORETYPE. That release predates AMD Zen 4 and 5: left to
# itself on them it falls back to generic kernels (53 GFLOP/s of sgemm on one core here), and a
# machine-wide OPENBLAS_CORETYPE=Haswell, set as a guard for old builds, pins the AVX2 kernels
# (121 GFLOP/s); its AVX-512 kernels (SkylakeX) run at 226 GFLOP/s on the same core. So: SkylakeX
# where the CPU has the AVX-512 subsets those kernels use, Haswell where it has AVX2 and FMA, else
# OpenBLAS's own choice. MMOE_BLAS_CORETYPE overrides the choice (an OpenBLAS core name, or
# "auto" to leave OpenBLAS to detect).
mmoe_blas_coretype() {
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  local f avx512=1
  for f in avx512f avx512cd avx512bw avx512dq avx512vl; do
    [[ "$flags" == *" $f "* ]] || avx512=0
  done
  if ((avx512)); then
    echo SkylakeX
  elif [[ "$flags" == *" avx2 "* && "$flags" == *" fma "* ]]; then
    echo Haswell
  fi
}

blas_choice="${MMOE_BLAS_CORETYPE:-$(mmoe_blas_coretype)}"
if [[ -z "$blas_choice" || "$blas_choice" == auto ]]; then
  unset OPENBLAS_CORETYPE
else
  export OPENBLAS_CORETYPE="$blas_choice"
fi
unset blas_choice
