#!/usr/bin/env bash
# Fails when building one package (`cargo run -p trainer`, what burn's examples and users type)
# would resolve other features than the README's `cargo run --bin trainer` (which resolves the
# whole workspace): then the two builds compile burn twice. The fix is a line in
# crates/workspace-hack/Cargo.toml asking for the feature this prints. Reads the dependency
# graph only (`cargo tree`): compiles nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

features() { # cargo tree's packages and features, one line each: "name version features"
    cargo tree --locked -e normal,build -f '{p} {f}' --prefix none "$@" | sed 's/ (\*)$//' | sort -u
}
workspace=$(features --workspace)
status=0
for package in trainer experiments lenet; do
    alone=$(features -p "$package")
    # The same packages as the whole-workspace build resolves them.
    together=$(grep -F -f <(awk '{print $1" "$2" "}' <<<"$alone") <<<"$workspace")
    if ! difference=$(diff <(echo "$alone") <(echo "$together")); then
        echo "error: cargo build -p $package resolves other features than the workspace (< -p $package, > workspace):" >&2
        echo "$difference" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "features: -p trainer, -p experiments and -p lenet resolve as the workspace does"
exit $status
