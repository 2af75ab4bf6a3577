#!/usr/bin/env bash
# Set up everything the product needs, idempotently and quickly when nothing changed:
#   .venv       Python 3.11: action server, knowledge base, handoff, tests  (pyproject.toml + requirements.lock)
#   .venv-rasa  Python 3.10: the Rasa 3.6 server                             (requirements-rasa.txt + .lock)
#   web/vendor  the rasa-webchat widget from npm
# With --test also the system packages the browser tests need (Chromium, its driver, CJK fonts) and
# the PostgreSQL server the handoff store's PostgreSQL tests start (tests/pg.py) and the redis-server of
# the scale-out tests (tests/scale/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

say()  { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# --- find interpreters ------------------------------------------------------------------------
# Prints the path of a working interpreter of version $1 (e.g. 3.10), or nothing.
find_python() {
  local want=$1 cand v
  local -a cands=()
  command -v "python$want" >/dev/null 2>&1 && cands+=("$(command -v "python$want")")
  command -v python3 >/dev/null 2>&1 && cands+=("$(command -v python3)")
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    for cand in "$root"/versions/"$want".*/bin/python"$want"; do [[ -x "$cand" ]] && cands+=("$cand"); done
  fi
  for cand in "$HOME"/.pyenv/versions/"$want".*/bin/python"$want" /usr/bin/python"$want" /usr/local/bin/python"$want"; do
    [[ -x "$cand" ]] && cands+=("$cand")
  done
  if command -v uv >/dev/null 2>&1; then
    cand=$(uv python find "$want" 2>/dev/null || true)
    [[ -n "$cand" ]] && cands+=("$cand")
  fi
  for cand in "${cands[@]}"; do
    # A pyenv shim may exist and still fail ("version not installed"): run it to be sure.
    v=$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
    if [[ "$v" == "$want" ]]; then echo "$cand"; return 0; fi
  done
  return 0
}

how_to_install() {
  cat >&2 <<MSG
Python $1 is needed ($2) but none was found on PATH, under pyenv or uv.
Install one of these ways, then run the command again:
  pyenv install $1          (https://github.com/pyenv/pyenv)
  uv python install $1      (https://docs.astral.sh/uv/)
  apt-get install python$1 python$1-venv   (Debian/Ubuntu with a repository that has it)
MSG
  exit 1
}

# --- virtual environments ---------------------------------------------------------------------
# ensure_venv DIR PYTHON STAMP_INPUTS... -- INSTALL ARGS
ensure_venv() {
  local dir=$1 py=$2; shift 2
  local -a inputs=() ; while [[ $1 != -- ]]; do inputs+=("$1"); shift; done; shift
  local want; want=$(cat "${inputs[@]}" | sha256sum | cut -c1-16)
  if [[ -f "$dir/.setup-stamp" && "$(cat "$dir/.setup-stamp")" == "$want" && -x "$dir/bin/python" ]]; then
    return 0
  fi
  if [[ ! -x "$dir/bin/python" ]]; then
    say "creating $dir with $("$py" --version 2>&1) ($py)"
    "$py" -m venv "$dir"
  fi
  say "installing into $dir (a few minutes the first time)"
  "$dir/bin/python" -m pip install --disable-pip-version-check -q --upgrade "pip<27"
  # pipefail: a pip failure fails the set-up even though grep filters its output.
  "$dir/bin/python" -m pip install --disable-pip-version-check --progress-bar on "$@" \
    | { grep -v '^Requirement already satisfied' || true; }
  echo "$want" > "$dir/.setup-stamp"
}

PY311=$(find_python 3.11); [[ -n "$PY311" ]] || how_to_install 3.11 "for the action server, knowledge base, handoff and tests"
PY310=$(find_python 3.10); [[ -n "$PY310" ]] || how_to_install 3.10 "Rasa 3.6 supports Python < 3.11 only"

ensure_venv .venv "$PY311" pyproject.toml requirements.lock -- -c requirements.lock -e ".[test]"
ensure_venv .venv-rasa "$PY310" requirements-rasa.txt requirements-rasa.lock -- -c requirements-rasa.lock -r requirements-rasa.txt

# --- web chat widget (npm) --------------------------------------------------------------------
WEBCHAT_VERSION=1.0.1
WEBCHAT_SHA1=918985573aa505d81ab927c5ea5919ae29a5ecfd   # npm's published shasum of the tarball
if [[ ! -f web/vendor/webchat-$WEBCHAT_VERSION.js ]]; then
  command -v npm >/dev/null 2>&1 || fail "npm is needed to fetch the rasa-webchat widget: apt-get install npm"
  say "fetching rasa-webchat@$WEBCHAT_VERSION from npm"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "rasa-webchat@$WEBCHAT_VERSION" >/dev/null 2>&1) || fail "npm pack rasa-webchat failed"
  got=$(sha1sum "$tmp/rasa-webchat-$WEBCHAT_VERSION.tgz" | cut -d' ' -f1)
  [[ "$got" == "$WEBCHAT_SHA1" ]] || fail "rasa-webchat tarball checksum mismatch ($got)"
  tar -xzf "$tmp/rasa-webchat-$WEBCHAT_VERSION.tgz" -C "$tmp" package/lib/index.js package/LICENSE
  mkdir -p web/vendor
  cp "$tmp/package/lib/index.js" "web/vendor/webchat-$WEBCHAT_VERSION.js"
  cp "$tmp/package/LICENSE" web/vendor/LICENSE.rasa-webchat
fi

# --- browser for the tests --------------------------------------------------------------------
if (( WITH_TEST )); then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing chromium, chromium-driver and CJK fonts (Debian packages)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-noto-cjk
    else
      fail "the browser tests need Chromium and ChromeDriver: sudo apt-get install chromium chromium-driver fonts-noto-cjk"
    fi
  fi
fi

# --- PostgreSQL for the tests -----------------------------------------------------------------
# tests/pg.py starts a throwaway server with initdb and pg_ctl, found on PATH or where Debian puts
# them (/usr/lib/postgresql/<version>/bin). initdb and postgres refuse to run as root: as root the
# tests run them as the `postgres` user (or CS_TEST_PG_USER), which Debian's package creates; if the
# binaries came some other way, that user is created here (a system user without login or home).
have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  local bin
  for bin in /usr/lib/postgresql/*/bin/initdb; do [[ -x "$bin" ]] && return 0; done
  return 1
}
if (( WITH_TEST )); then
  if ! have_initdb; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing postgresql (Debian package) for the handoff store's PostgreSQL tests"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends postgresql
    else
      fail "the handoff store's PostgreSQL tests need the server binaries (initdb, pg_ctl): sudo apt-get install postgresql"
    fi
  fi
  PG_USER=${CS_TEST_PG_USER:-postgres}
  if [[ $(id -u) == 0 ]] && ! id -u "$PG_USER" >/dev/null 2>&1; then
    say "creating the system user $PG_USER, who runs the tests' PostgreSQL server (initdb refuses root)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  fi
fi
# --- Redis for the scale-out tests -------------------------------------------------------------
# tests/scale/ starts a throwaway redis-server (several handoff services share live updates through it).
if (( WITH_TEST )); then
  if ! command -v redis-server >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing redis-server (Debian package) for the scale-out tests"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends redis-server
    else
      fail "the scale-out tests need redis-server: sudo apt-get install redis-server"
    fi
  fi
  # the full scale-out test balances two Rasa, two action and two handoff processes with nginx
  if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing nginx (Debian package) for the scale-out tests' load balancer"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends nginx
    else
      fail "the scale-out tests need nginx: sudo apt-get install nginx"
    fi
  fi
fi
say "setup complete"
