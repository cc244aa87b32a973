#!/usr/bin/env bash
# Install hopsworks-lab and everything it needs into ./.venv (Debian 12).
#   ./scripts/install.sh          the platform
#   ./scripts/install.sh --test   ... plus test dependencies (PostgreSQL server, Chromium,
#                                 Horovod built by scripts/install-horovod.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[[ "${1:-}" == "--test" ]] && with_test=1

# System packages: only what is missing, only as root (CI runs as root).
need=()
command -v node >/dev/null || need+=(nodejs npm)
command -v git >/dev/null || need+=(git)
command -v setfacl >/dev/null || need+=(acl)  # POSIX ACLs for OS-level project isolation
command -v java >/dev/null || need+=(default-jre-headless)  # Spark (pyspark) runs on a JVM
# sparkmagic pulls in gssapi, built from source against Kerberos' headers.
[[ -e /usr/include/gssapi/gssapi.h ]] || need+=(libkrb5-dev gcc)
if [[ $(id -u) -eq 0 ]]; then
  /usr/bin/python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3 python3-venv)
fi
if ((with_test)); then
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
  command -v chromium >/dev/null || need+=(chromium)
fi
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "install.sh: apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "install.sh: please install these Debian packages first: ${need[*]}" >&2
    exit 1
  fi
fi

# As root, the venv is built on Debian's Python: project-users' servers and kernels run its
# interpreter, and a Python under /root (pyenv) is out of their reach.
if [[ $(id -u) -eq 0 && -x /usr/bin/python3 ]]; then
  PY=${PYTHON:-/usr/bin/python3}
else
  PY=${PYTHON:-python3}
fi
if [[ -x .venv/bin/python && "$(readlink -f .venv/bin/python)" != "$(readlink -f "$(command -v "$PY")")" ]]; then
  echo "install.sh: rebuilding .venv on $PY"
  rm -rf .venv
fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
extra=""
((with_test)) && extra="[test]"
# Editable install; the build hook runs jlpm to build the lab extension.
.venv/bin/python -m pip install -q -e ".${extra}"
# JupyterHub's proxy (a node program), kept inside the venv. 5.3.0 runs on node 20 even
# though its package says node 22.
if [[ ! -x .venv/bin/configurable-http-proxy ]]; then
  npm install --silent --no-audit --no-fund --prefix .venv/share/hwl-node \
    configurable-http-proxy@5.3.0 >/dev/null
  ln -sf ../share/hwl-node/node_modules/.bin/configurable-http-proxy .venv/bin/
fi
((with_test)) && ./scripts/install-horovod.sh  # distributed tests: Horovod, built (~2 min)
echo "install.sh: done ($(.venv/bin/hopsworks-lab --version 2>/dev/null || echo installed))"
