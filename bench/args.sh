# Sourced by the bench scripts with their arguments: --smoke (a few seconds, proves the script
# works) and --write-docs (the results go into docs/benchmarks.md) set $smoke and $write_docs.
smoke=0
write_docs=0
for arg in "$@"; do
    case "$arg" in
    --smoke) smoke=1 ;;
    --write-docs) write_docs=1 ;;
    *) echo "usage: bench/$(basename "$0") [--smoke] [--write-docs]" >&2; exit 2 ;;
    esac
done
