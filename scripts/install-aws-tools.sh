#!/usr/bin/env bash
# Installs the AWS template tools (cfn-lint, the SAM CLI) into their own venv under
# .cache/aws-tools, apart from the project's venv: their pins may clash with ours.
# Idempotent: does nothing when the pinned versions are already there.
#
# The venv is made with a Python 3.12 when the machine has one (PATH, or pyenv's
# versions folder), so that .cache/aws-tools/bin also offers the `python3.12` that
# `sam build` needs for the functions' runtime (python3.12) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
AWS_SAM_CLI_VERSION="${AWS_SAM_CLI_VERSION:-1.170.0}"
dest="${AWS_TOOLS_DIR:-$PWD/.cache/aws-tools}"

find_python312() {
    local candidate
    if [ -n "${AWS_TOOLS_PYTHON:-}" ]; then echo "$AWS_TOOLS_PYTHON"; return; fi
    # A pyenv shim named python3.12 may exist and still fail: run each candidate.
    for candidate in "$(command -v python3.12 || true)" \
        $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | sort -rV); do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo python3
}
python="$(find_python312)"
python_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
marker="$dest/.installed-py$python_version-cfn-lint-$CFN_LINT_VERSION-aws-sam-cli-$AWS_SAM_CLI_VERSION"

if [ -f "$marker" ] && [ -x "$dest/bin/cfn-lint" ] && [ -x "$dest/bin/sam" ]; then
    exit 0
fi
if [ "$python_version" != "3.12" ]; then
    echo "warning: no Python 3.12 found (pyenv install 3.12): sam build will need a python3.12 on PATH" >&2
fi
rm -rf "$dest"
"$python" -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$dest/bin/python" -m pip install --quiet \
    "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION" 2> >(grep -v "^WARNING: Location" >&2)
"$dest/bin/cfn-lint" --version >/dev/null
SAM_CLI_TELEMETRY=0 "$dest/bin/sam" --version >/dev/null
touch "$marker"
echo "cfn-lint $CFN_LINT_VERSION and aws-sam-cli $AWS_SAM_CLI_VERSION installed in $dest (Python $python_version)" >&2
