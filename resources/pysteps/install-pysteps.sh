#!/bin/sh
# Makes sure a Python with pysteps is ready, and writes its path to $PYSTEPS_INSTALL_OUTPUT (python=...).
#   PYSTEPS_VENV          a venv the agent provides (used as it is when pysteps runs in it), else
#   PYSTEPS_DEFAULT_VENV  a venv made here, holding $PYSTEPS_REQUIREMENT (pip's syntax: `.[az,sdk,storage]`
#                         installs the checked-out pysteps editable); remade when the requirement,
#                         setup.cfg or constraints.txt change.
set -eu
venv=${PYSTEPS_VENV:-$PYSTEPS_DEFAULT_VENV}
case $venv in /*) ;; *) venv=$PWD/$venv ;; esac
stamp_file=$venv/.pysteps-requirement
stamp=$(printf '%s\n' "$PYSTEPS_REQUIREMENT"; cat setup.cfg constraints.txt 2>/dev/null || true)
stamp=$(printf '%s' "$stamp" | sha256sum | cut -c1-16)

ready() {
  "$venv/bin/python" -m pysteps --version >/dev/null 2>&1 || return 1
  [ -n "${PYSTEPS_VENV:-}" ] || [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]
}

if ! ready; then
  if [ -n "${PYSTEPS_VENV:-}" ]; then
    echo "pysteps: PYSTEPS_VENV=$PYSTEPS_VENV has no working pysteps: expected a venv with pysteps[az] installed" >&2
    exit 1
  fi
  echo "pysteps: installing $PYSTEPS_REQUIREMENT into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  set -- "$PYSTEPS_REQUIREMENT"
  case $PYSTEPS_REQUIREMENT in .* | /*) set -- --editable "$@" ;; esac
  [ ! -f constraints.txt ] || set -- --constraint constraints.txt "$@"
  "$venv/bin/python" -m pip install --quiet "$@"
  echo "$stamp" >"$stamp_file"
fi
echo "pysteps: $("$venv/bin/python" -m pysteps --version) in $venv"
printf 'python=%s\n' "$venv/bin/python" >"$PYSTEPS_INSTALL_OUTPUT"
