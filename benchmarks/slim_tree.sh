#!/usr/bin/env bash
# The tracked tree (61 MB, 42 of them the official test fixtures) leaves about 6 MB of a device call's 64 MiB for
# carried data: too little for a VAE folder or two (10 MB each). For calls that train, the fixtures can stay
# behind for the call:
#   bash benchmarks/slim_tree.sh on      # tests/fixtures untracked and ignored: the tree that travels is 19 MB
#   ... the device calls ...
#   bash benchmarks/slim_tree.sh off     # tracked again, as before (nothing is deleted from the disk either way)
#   bash benchmarks/slim_tree.sh status
# Never commit while it is on: the commit would delete the fixtures from the repository.
set -eu
cd "$(git rev-parse --show-toplevel)"
line=/tests/fixtures/
exclude=.git/info/exclude
case ${1:-status} in
    on)
        git rm -r -q --cached tests/fixtures
        grep -qxF "$line" "$exclude" || echo "$line" >> "$exclude"
        echo "slim: tests/fixtures left out of the tree that travels (run 'bash benchmarks/slim_tree.sh off' after)" ;;
    off)
        sed -i "\\#^$line\$#d" "$exclude"
        git reset -q -- tests/fixtures
        echo "tests/fixtures tracked again" ;;
    status)
        if grep -qxF "$line" "$exclude"; then echo "on: tests/fixtures left out"; else echo "off: the whole tree travels"; fi ;;
    *) echo "usage: bash benchmarks/slim_tree.sh on|off|status"; exit 2 ;;
esac
