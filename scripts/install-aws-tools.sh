#!/usr/bin/env bash
# Installs the AWS template tools (cfn-lint, the SAM CLI) into their own venv under
# .cache/aws-tools, apart from the project's venv: their pins may clash with ours; and the
# template's security scanners (checkov, parliament) into another, .cache/scan-tools,
# apart from both: checkov pins boto3 and friends its own way.
# Idempotent: does nothing when the pinned versions are already there.
#
# The venv is made with a Python 3.12 when the machine has one (PATH, or pyenv's
# versions folder), so that .cache/aws-tools/bin also offers the `python3.12` that
# `sam build` needs for the functions' runtime (python3.12) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
AWS_SAM_CLI_VERSION="${AWS_SAM_CLI_VERSION:-1.170.0}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
PARLIAMENT_VERSION="${PARLIAMENT_VERSION:-1.6.4}"
# parliament imports pkg_resources, which setuptools dropped after 80.
SCAN_SETUPTOOLS_VERSION="${SCAN_SETUPTOOLS_VERSION:-80.9.0}"
dest="${AWS_TOOLS_DIR:-$PWD/.cache/aws-tools}"
scan_dest="${SCAN_TOOLS_DIR:-$PWD/.cache/scan-tools}"

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
scan_marker="$scan_dest/.installed-py$python_version-checkov-$CHECKOV_VERSION-parliament-$PARLIAMENT_VERSION-setuptools-$SCAN_SETUPTOOLS_VERSION"

# A fresh venv at $1 with the packages after it; pip's chatter about the venv's location is noise.
new_venv_with() {
    local venv="$1"; shift
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$venv/bin/python" -m pip install --quiet "$@" 2> >(grep -v "^WARNING: Location" >&2)
}

if [ "$python_version" != "3.12" ]; then
    echo "warning: no Python 3.12 found (pyenv install 3.12): sam build will need a python3.12 on PATH" >&2
fi

if ! { [ -f "$marker" ] && [ -x "$dest/bin/cfn-lint" ] && [ -x "$dest/bin/sam" ]; }; then
    new_venv_with "$dest" "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION"
    "$dest/bin/cfn-lint" --version >/dev/null
    SAM_CLI_TELEMETRY=0 "$dest/bin/sam" --version >/dev/null
    touch "$marker"
    echo "cfn-lint $CFN_LINT_VERSION and aws-sam-cli $AWS_SAM_CLI_VERSION installed in $dest (Python $python_version)" >&2
fi

if ! { [ -f "$scan_marker" ] && [ -x "$scan_dest/bin/checkov" ] && [ -x "$scan_dest/bin/parliament" ]; }; then
    new_venv_with "$scan_dest" "checkov==$CHECKOV_VERSION" "parliament==$PARLIAMENT_VERSION" \
        "setuptools==$SCAN_SETUPTOOLS_VERSION"
    "$scan_dest/bin/checkov" --version >/dev/null
    PYTHONWARNINGS=ignore "$scan_dest/bin/parliament" --help >/dev/null  # it warns of pkg_resources
    touch "$scan_marker"
    echo "checkov $CHECKOV_VERSION and parliament $PARLIAMENT_VERSION installed in $scan_dest (Python $python_version)" >&2
fi
