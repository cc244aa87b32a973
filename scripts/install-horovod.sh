#!/usr/bin/env bash
# Build and install Horovod 0.28.1 (PyTorch + Gloo, CPU) into ./.venv.
#   ./scripts/install-horovod.sh
# Idempotent: does nothing when `import horovod.torch` already works in .venv.
#
# Horovod 0.28.1 (its last release) does not build against torch 2.x as published:
#  - torch's headers need C++17, but Horovod's CMake files ask for C++14;
#  - pip's build isolation would install a second, different torch to build against;
#    the extension must be compiled against the torch already in .venv.
# So: fetch the sdist, switch CMAKE_CXX_STANDARD to 17, build without isolation.
set -euo pipefail
cd "$(dirname "$0")/.."

HOROVOD_VERSION=0.28.1
PY=.venv/bin/python
start=$SECONDS

if [[ ! -x $PY ]]; then
  echo "install-horovod.sh: run ./scripts/install.sh first (no .venv)" >&2
  exit 1
fi
if "$PY" -c "import horovod.torch" 2>/dev/null; then
  echo "install-horovod.sh: horovod.torch already importable, nothing to do"
  exit 0
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "install-horovod.sh: torch is not installed in .venv" >&2
  exit 1
fi

# Build tools: only what is missing, only as root (like install.sh).
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "install-horovod.sh: apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "install-horovod.sh: please install these Debian packages first: ${need[*]}" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

t0=$SECONDS
"$PY" -m pip download -q --no-deps --no-binary :all: -d "$work" "horovod==$HOROVOD_VERSION"
tar -xzf "$work"/horovod-"$HOROVOD_VERSION".tar.gz -C "$work"
src=$work/horovod-$HOROVOD_VERSION
echo "install-horovod.sh: downloaded sdist in $((SECONDS - t0)) s"

for f in "$src/CMakeLists.txt" "$src/horovod/torch/CMakeLists.txt"; do
  sed -i -E 's/(CMAKE_CXX_STANDARD[[:space:]]+)14/\117/' "$f"
  grep -q 'CMAKE_CXX_STANDARD 17' "$f" || {
    echo "install-horovod.sh: could not patch $f" >&2
    exit 1
  }
done

# Without build isolation setup.py runs on the venv's setuptools (it calls the system
# cmake). --no-deps below keeps pip away from torch, so Horovod's own runtime
# dependencies are installed here.
"$PY" -m pip install -q setuptools wheel packaging psutil pyyaml cloudpickle

t0=$SECONDS
log=$work/build.log
echo "install-horovod.sh: building (cmake + make: 2-4 minutes on 2 cores)"
if ! HOROVOD_WITH_PYTORCH=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 \
  HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_CPU_OPERATIONS=gloo \
  MAKEFLAGS="-j$(nproc)" \
  "$PY" -m pip install --no-build-isolation --no-deps "$src" >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "install-horovod.sh: build failed (last lines above)" >&2
  exit 1
fi
echo "install-horovod.sh: built and installed in $((SECONDS - t0)) s"

"$PY" -c "import horovod, horovod.torch as hvd
print('install-horovod.sh: horovod', horovod.__version__, 'gloo:', hvd.gloo_built())"
echo "install-horovod.sh: done in $((SECONDS - start)) s"
