# Sourced by the upgrade scripts: a private copy of the PostgreSQL installation (binaries,
# libraries, extension scripts), so that another build of sms_otp, or an edited update script,
# can be installed into it without touching the system one that other runs use.
# PostgreSQL finds its library and share directories relative to its binaries, so a copy that
# keeps the layout works as an installation of its own:
#   private_tree DEST      copies the installation found by the pg_config on PATH into DEST and
#                          prints the bin directory of the copy (put it first on PATH to use it)
private_tree() {
    local dest=$1 dir
    for dir in "$(pg_config --bindir)" "$(pg_config --pkglibdir)" "$(pg_config --sharedir)"; do
        mkdir -p "$dest$dir"
        cp -a "$dir/." "$dest$dir/"
    done
    "$dest$(pg_config --bindir)/pg_config" --bindir
}
