#!/usr/bin/env bash
# Optional, one-time: build llama-cpp-python (llama.cpp from source) for `mlroundup bench qigen`.
# Never part of the test suite or the default setup. The wheel is cached under
# ${MLROUNDUP_CACHE:-~/.cache/mlroundup}/wheels/<cpu-flags-hash>/ and reinstalled from there.
# llama.cpp's native build uses every ISA the build machine has (AMX included, which crashed on
# Intel machines); we pass explicit GGML_* flags derived from mlroundup.utils.cpu instead.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
version="${LLAMA_CPP_PYTHON_VERSION:-0.3.16}"
args=$("$py" - <<'PY'
from mlroundup.utils.cpu import cpu_features
f = cpu_features()
on = lambda *names: "ON" if all(n in f for n in names) else "OFF"
flags = {
    "GGML_NATIVE": "OFF", "GGML_AVX": on("avx"), "GGML_AVX2": on("avx2"), "GGML_FMA": on("fma"),
    "GGML_F16C": on("f16c"), "GGML_BMI2": on("bmi2"), "GGML_AVX_VNNI": on("avx_vnni"),
    "GGML_AVX512": on("avx512f", "avx512bw", "avx512vl", "avx512dq"),
    "GGML_AVX512_VBMI": on("avx512vbmi"), "GGML_AVX512_VNNI": on("avx512_vnni"),
    "GGML_AVX512_BF16": on("avx512_bf16"),
    "GGML_AMX_TILE": "OFF", "GGML_AMX_INT8": "OFF", "GGML_AMX_BF16": "OFF", "LLAVA_BUILD": "OFF",
}
print(" ".join(f"-D{k}={v}" for k, v in flags.items()))
PY
)
key=$(printf '%s %s' "$version" "$args" | sha256sum | cut -c1-16)
cache="${MLROUNDUP_CACHE:-$HOME/.cache/mlroundup}/wheels/llama-cpp-$key"
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "build_llama_cpp: building llama-cpp-python==$version with: $args (several minutes)"
  mkdir -p "$cache"
  CMAKE_ARGS="$args" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$py" -m pip wheel --no-deps --no-binary llama-cpp-python "llama-cpp-python==$version" -w "$cache"
fi
"$py" -m pip install --no-deps --force-reinstall "$cache"/llama_cpp_python-*.whl
# its runtime dependencies (installed --no-deps above so that pip never rebuilds it)
"$py" -m pip install "diskcache>=5.6.1" "jinja2>=2.11.3" "typing-extensions>=4.5.0"
printf '%s\n' "$args" > "$cache/CMAKE_ARGS"
echo "build_llama_cpp: installed from $cache"
