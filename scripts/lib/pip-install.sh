# Sourced by the scripts that keep a tool from PyPI in a cached venv.
# The caller sets VENV (the venv's folder), PYTHON (the interpreter that
# makes it) and defines log().
#
#   pip_install STAMP-NAME SPEC
# installs SPEC (pinned, e.g. checkov==3.3.30) into $VENV unless the stamp
# file $VENV/.installed-STAMP-NAME already names that SPEC.
pip_install() {
  local stamp="$VENV/.installed-$1"
  [[ "$(cat "$stamp" 2>/dev/null)" == "$2" ]] && return 0
  log "installing $2 into $VENV (once; cached)"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "$2"
  printf '%s' "$2" >"$stamp"
}
