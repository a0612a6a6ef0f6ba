#!/usr/bin/env bash
# The runtime half on the other supported Pythons: for each of CPython 3.10 and 3.13 that pyenv
# has on this machine, a fresh venv, a non-editable core install with the test extra (no torch,
# so the wheel's package data, the detector file included, is what gets tested) and the tests
# that need only the runtime. A version pyenv lacks is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME_TESTS=(tests/test_detect.py tests/test_detect_yunet.py tests/test_bundled_photo.py
               tests/test_bench_load.py tests/test_io.py tests/test_align.py tests/test_types.py
               tests/test_pipeline.py tests/test_inputs.py tests/test_views.py)
if ! command -v pyenv >/dev/null 2>&1; then
  echo "pyenv not found: runtime tests on CPython 3.10 and 3.13 skipped"
  exit 0
fi
root=$(pyenv root)
for minor in 3.10 3.13; do
  version=$(pyenv versions --bare | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -1 || true)
  if [ -z "$version" ] || [ ! -x "$root/versions/$version/bin/python" ]; then
    echo "CPython $minor not installed in pyenv: its runtime tests are skipped"
    continue
  fi
  venv=$(mktemp -d "/tmp/litefer-py$minor.XXXXXX")
  echo "CPython $version: core install + [test] in $venv, runtime tests"
  "$root/versions/$version/bin/python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q '.[test]'
  (cd tests && "$venv/bin/python" -c "import litefer, sys; assert 'torch' not in sys.modules; print('litefer from', litefer.__file__)")
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "${RUNTIME_TESTS[@]}"
  rm -rf "$venv"
done
