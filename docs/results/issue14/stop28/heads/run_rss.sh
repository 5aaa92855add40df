#!/usr/bin/env bash
# Peak RSS, one process per setting: 1,000 MLP heads and 200 CNN heads on a trunk (mirrors) vs isolated.
# Usage: run_rss.sh TAG [SRC]   (SRC: the tree whose tfshare to import; default this worktree)
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="${2:-$(cd "$HERE/../../../../.." && pwd)}"
OUT="$HERE/rss_$1.jsonl"
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH="$SRC"
echo "# $(date -u +%FT%TZ) src=$SRC commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) $(uptime)" >> "$OUT"
for spec in "mlp 1000 trunk" "mlp 1000 isolated" "cnn 200 trunk" "cnn 200 isolated"; do
  nice /work/main/.venv/bin/python "$HERE/rss_heads.py" $spec | tail -1 >> "$OUT"
done
echo "# $(date -u +%FT%TZ) $(uptime)" >> "$OUT"
