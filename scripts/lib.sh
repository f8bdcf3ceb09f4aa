# scripts/lib.sh — shared by scripts/test and scripts/demo (sourced, not run).
#
# PostgreSQL refuses to run initdb or a server as root, and CI runs as root
# from a clone the postgres user may not be able to enter. So when we are
# root, everything runs as the postgres user from a copy of the tree in a
# temporary folder that user owns; otherwise it runs as the current user.

GCAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=/usr/bin/python3   # Debian's python: standard library only

if [ "$(id -u)" -eq 0 ]; then
  RUN_AS=postgres
  as_user() { runuser -u postgres -- env PATH="$PATH" HOME=/tmp "$@"; }
  SUDO=""
else
  RUN_AS="$(id -un)"
  as_user() { "$@"; }
  SUDO="sudo"
fi

# copy_tree DEST copies the source tree (no build products) to DEST, owned by RUN_AS.
copy_tree() {
  local dest="$1"
  mkdir -p "$dest"
  local items=() i
  for i in Makefile gcalsync.control META.json sql src test scripts examples bench; do
    [ -e "$GCAL_ROOT/$i" ] && items+=("$i")
  done
  (cd "$GCAL_ROOT" && tar --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
      --exclude='tmp_check*' --exclude='test/regress_out' --exclude='__pycache__' \
      --exclude='test/unit/gcalsync_unit' \
      -cf - "${items[@]}") | tar -xf - -C "$dest"
  [ "$RUN_AS" = "$(id -un)" ] || chown -R "$RUN_AS" "$dest"
}

# build_and_install DIR builds the extension in DIR (warnings are errors) and
# installs it into the PostgreSQL that pg_config names.
build_and_install() {
  local dir="$1"
  as_user make -C "$dir" -j"$(nproc)" GCAL_WERROR=1 >"$dir/build.log" 2>&1 || {
    cat "$dir/build.log"; echo "build failed" >&2; return 1; }
  $SUDO make -C "$dir" install >"$dir/install.log" 2>&1 || {
    cat "$dir/install.log"; echo "make install failed" >&2; return 1; }
}
