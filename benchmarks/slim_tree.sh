#!/usr/bin/env bash
# The tracked tree (61 MB, 42 of them the official test fixtures) leaves about 6 MB of a device call's 64 MiB for
# carried data: too little for a VAE folder or two (10 MB each). For calls that train, the fixtures can stay
# behind for the call:
#   bash benchmarks/slim_tree.sh on      # tests/fixtures untracked and ignored: the tree that travels is 40 MB
#   bash benchmarks/slim_tree.sh on --weights   # the shipped default weights too (37 MB since try 16): 3 MB
#                                        # travel (for calls that use no $shipped weights: carry what they start from)
#   ... the device calls ...
#   bash benchmarks/slim_tree.sh off     # tracked again, as before (nothing is deleted from the disk either way)
#   bash benchmarks/slim_tree.sh status
# Never commit while it is on: the commit would delete the fixtures from the repository.
set -eu
cd "$(git rev-parse --show-toplevel)"
line=/tests/fixtures/
weights=(src/sana_streaming/weights/default/model src/sana_streaming/weights/default/vae)
exclude=.git/info/exclude
case ${1:-status} in
    on)
        git rm -r -q --cached tests/fixtures
        grep -qxF "$line" "$exclude" || echo "$line" >> "$exclude"
        if [ "${2:-}" = --weights ]; then
            git rm -r -q --cached "${weights[@]}"
            for folder in "${weights[@]}"; do grep -qxF "/$folder/" "$exclude" || echo "/$folder/" >> "$exclude"; done
            echo "slim: the shipped default weights left out too"
        fi
        echo "slim: tests/fixtures left out of the tree that travels (run 'bash benchmarks/slim_tree.sh off' after)" ;;
    off)
        sed -i "\\#^$line\$#d" "$exclude"
        for folder in "${weights[@]}"; do sed -i "\\#^/$folder/\$#d" "$exclude"; done
        git reset -q -- tests/fixtures "${weights[@]}"
        echo "tests/fixtures tracked again" ;;
    status)
        if grep -qxF "$line" "$exclude"; then echo "on: tests/fixtures left out"; else echo "off: the whole tree travels"; fi ;;
    *) echo "usage: bash benchmarks/slim_tree.sh on|off|status"; exit 2 ;;
esac
